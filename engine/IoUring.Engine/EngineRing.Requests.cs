using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// Requests from SQE to CQE, in the order the kernel produces completions:
/// <list type="number">
/// <item>During the submission loop a request that completes inline joins the completion batch; one
/// that completes through task work (NOP with IORING_NOP_TW) queues a work item at once.</item>
/// <item>When the loop ends the batch is flushed: its CQEs are posted in order, then each completed
/// request's link successor is queued (or its broken chain's remainder, as one item).</item>
/// <item>Task work then runs in generations: every item queued so far, their inline completions
/// batched and flushed at the end of the generation, which queues the next generation.</item>
/// <item>Requests the kernel hands to io-wq (FSYNC, IOSQE_ASYNC) complete after that, when the task
/// is idle; their successors start the cycle again.</item>
/// </list>
/// The differential properties in conformance/ hold this order to the live kernel.
/// </summary>
internal sealed unsafe partial class EngineRing
{
    private readonly Request[] requests;
    private readonly int[] completions;
    private readonly FifoQueue<Work> work;
    private readonly FifoQueue<int> asyncWork;
    private int requestCount;
    private int completionCount;

    // The chain being assembled (the kernel's submit_state.link).
    private int linkHead = -1;
    private int linkLast = -1;

    // Any CQE_SKIP_SUCCESS seen on this ring disables IO_DRAIN for good (drain_disabled).
    private bool drainDisabled;

    // The kernel's drain_active and drain_next, and whether this submission deferred a request.
    private bool drainActive;
    private bool drainNext;
    private bool deferredThisSubmission;

    // (DrainStallsPastSequence) the kernel's defer list, chain heads in order, and whether a drained
    // request at its front saw the CQ tail go past its sequence: then the drain never ends.
    private readonly List<int> deferList = new();
    private bool drainStalled;

    // (DrainCountsLostCqes) the SQ positions of CQEs the drain sequence counts and no one posts: the
    // cancelled followers of a failed chain whose head had CQE_SKIP_SUCCESS.
    private readonly List<uint> lostCqes = new();

    // A drained request of this submission had to wait (the tail was short of its sequence): what
    // follows it is deferred behind it, not issued at once.
    private bool drainWaiting;

    private void BeginSubmission()
    {
        // Request slots are reused by every submission; what stalled is simply never completed.
        deferList.Clear();
        drainWaiting = false;
        requestCount = 0;
        completionCount = 0;
        linkHead = linkLast = -1;
        deferredThisSubmission = false;
    }

    private ref Request Req(int i) => ref requests[i];

    /// <summary>Reads one SQE into a pooled request and validates it (the kernel's io_init_req and the op's prep).</summary>
    private int Prepare(io_uring_sqe* sqe, uint index, ref uint slotsLeft, ref uint head)
    {
        var i = requestCount++;
        ref var r = ref requests[i];
        r = default;
        r.Next = -1;
        r.UserData = sqe->user_data;
        r.Opcode = sqe->opcode;
        r.SqeFlags = sqe->flags;
        r.Ioprio = sqe->ioprio;
        r.Fd = sqe->fd;
        r.Addr = sqe->addr;
        r.Len = sqe->len;
        r.Off = sqe->off;
        r.OpFlags = sqe->rw_flags;
        r.BufIndex = sqe->buf_index;
        r.SkipCqe = (r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS) != 0;
        r.Seq = head - 1;
        var error = Validate(ref r, sqe, index, ref slotsLeft, ref head);
        if (error != 0)
        {
            r.Fail(error);
        }

        return i;
    }

    private int Validate(ref Request r, io_uring_sqe* sqe, uint index, ref uint slotsLeft, ref uint head)
    {
        if (r.Opcode >= profile.OpLast)
        {
            return -Errno.EINVAL;
        }

        // The kernel's io_init_req settles a 128-byte opcode's size straight after the opcode, before
        // any flag: an invalid flag on a 128-byte SQE of a mixed ring still takes both slots, and one
        // on a 64-byte-only ring is -EINVAL whatever else is wrong (7.2 under qemu, hostile bytes).
        var op = Operations.Of(r.Opcode, profile);
        r.Kind = op.Kind;
        if (op.Is128)
        {
            // A 128-byte request on a mixed ring takes this slot and the next one.
            if (Has(IoUringSetupFlags.IORING_SETUP_SQE_MIXED))
            {
                if (index == sqEntries - 1 || slotsLeft == 0)
                {
                    return -Errno.EINVAL;
                }

                head++;
                slotsLeft--;
            }
            else if (!Has(IoUringSetupFlags.IORING_SETUP_SQE128))
            {
                return -Errno.EINVAL;
            }
        }

        if ((r.SqeFlags & ~profile.SqeFlags) != 0)
        {
            return -Errno.EINVAL;
        }
        if ((r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_BUFFER_SELECT) != 0 && !op.BufferSelect)
        {
            return -Errno.EOPNOTSUPP;
        }

        if (r.SkipCqe)
        {
            drainDisabled = true;
        }

        if ((r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_IO_DRAIN) != 0)
        {
            if (drainDisabled)
            {
                return -Errno.EOPNOTSUPP;
            }

            // io_init_drain: a drain inside a chain drains the chain's head and the request after the chain.
            drainActive = true;
            if (linkHead >= 0)
            {
                requests[linkHead].Drain = true;
                requests[linkHead].ForceAsync = true;
                drainNext = true;
            }
            else
            {
                r.Drain = true;
            }
        }

        // While a drain is active every request takes the slow path: deferred behind the drain and
        // issued from io-wq when it is released.
        if (drainActive)
        {
            r.ForceAsync = true;
        }

        if (drainNext && linkHead < 0)
        {
            drainNext = false;
            drainActive = true;
            r.Drain = true;
            r.ForceAsync = true;
        }

        if (!RestrictionAllows(r.Opcode, r.SqeFlags))
        {
            return -Errno.EACCES;
        }

        if (!op.Ioprio && r.Ioprio != 0)
        {
            return -Errno.EINVAL;
        }

        // Credentials registered as a personality: the engine registers none, so any is unknown
        // (io_init_req looks it up before the opcode's prep; found by hostile bytes on 6.1).
        if (sqe->personality != 0)
        {
            return -Errno.EINVAL;
        }

        return op.Kind switch
        {
            OpKind.Nop => PrepareNop(ref r, sqe),
            OpKind.Read or OpKind.Write or OpKind.ReadV or OpKind.WriteV => PrepareRw(ref r, sqe, op.Kind),
            OpKind.ReadFixed or OpKind.WriteFixed => PrepareRwFixed(ref r, sqe),
            OpKind.Fsync => PrepareFsync(ref r, sqe),
            OpKind.Mmap => PrepareMmap(ref r, sqe),

            // Opcodes the engine does not execute yet are refused loudly, never faked as successes.
            _ => -Errno.EOPNOTSUPP,
        };
    }

    /// <summary>
    /// Adds a prepared request to the submission (the kernel's io_submit_sqe): chains are assembled
    /// to their end even when a member failed preparation, then issued or failed whole. False when a
    /// failed request ended its chain: the submission stops there unless the ring has SUBMIT_ALL.
    /// </summary>
    private bool SubmitOne(int i)
    {
        ref var r = ref requests[i];

        // Before 6.10 a chain member is prepared for async execution as it joins the chain
        // (io_req_prep_async): its buffer is imported then, and a failure there fails it like a bad SQE.
        if (!r.Failed && linkHead >= 0 && profile.RwImport == RwImportStage.Issue && AsyncPrep(ref r) is var error and not 0)
        {
            r.Fail(error);
        }

        if (r.Failed)
        {
            // The kernel's io_submit_fail_init: the member keeps its error, the head is failed with
            // -ECANCELED, and the chain is assembled on if this member asked for a link.
            if (linkHead >= 0 && !requests[linkHead].Failed)
            {
                requests[linkHead].Fail(-Errno.ECANCELED);
            }

            if (!r.Linked)
            {
                var first = i;
                if (linkHead >= 0)
                {
                    requests[linkLast].Next = i;
                    first = linkHead;
                    linkHead = linkLast = -1;
                }

                QueueChain(first);
                return false;
            }

            Append(i);
            return true;
        }

        if (linkHead >= 0)
        {
            Append(i);
            if (!r.Linked)
            {
                var first = linkHead;
                linkHead = linkLast = -1;
                QueueChain(first);
            }
        }
        else if (r.Linked)
        {
            Append(i);
        }
        else
        {
            QueueChain(i);
        }

        return true;
    }

    private void Append(int i)
    {
        if (linkHead < 0)
        {
            linkHead = i;
        }
        else
        {
            requests[linkLast].Next = i;
        }

        linkLast = i;
    }

    private void EndSubmission()
    {
        // A link flag on the last SQE of a submission (or before an SQE that was dropped): the kernel
        // queues the open chain as it is, to io-wq (io_queue_sqe_fallback), so it completes late.
        if (linkHead >= 0)
        {
            var first = linkHead;
            linkHead = linkLast = -1;
            requests[first].ForceAsync = true;
            QueueChain(first);
        }

        FlushCompletions();
        RunTaskWork();
    }

    /// <summary>
    /// A chain (or lone request) leaves the submission loop. With a drain active it goes through the
    /// kernel's io_drain_req: the first one of a submission finds nothing deferred before it and, unless
    /// it drains itself, ends the drain; after that everything in this submission queues behind it.
    /// </summary>
    private void QueueChain(int first)
    {
        ref var r = ref requests[first];
        if (r.ForceAsync && (drainActive || r.Drain) && !r.Failed)
        {
            // io_drain_req's first look: the tail already equals the sequence (and nothing waits).
            r.DrainMet = r.Drain && !drainStalled && deferList.Count == 0 && cqTail == r.Seq;
            drainWaiting |= r.Drain && !r.DrainMet;
            if (profile.DrainStallsPastSequence && !r.DrainMet && (r.Drain || deferList.Count > 0 || drainStalled))
            {
                deferList.Add(first);
            }

            if (!deferredThisSubmission && !r.Drain && !drainStalled)
            {
                drainActive = false;
            }

            deferredThisSubmission = true;
        }

        Queue(first);
    }

    /// <summary>Issues a chain head or a lone request from the submission loop.</summary>
    private void Queue(int i)
    {
        ref var r = ref requests[i];
        if (r.Failed)
        {
            // A chain that failed preparation is not submitted: the kernel turns the head's
            // hardlink into a plain link so that every other member is cancelled (io_queue_sqe_fallback).
            r.SqeFlags = (byte)((r.SqeFlags & ~(byte)IoUringSqeFlags.IOSQE_IO_HARDLINK) | (r.Next >= 0 ? (byte)IoUringSqeFlags.IOSQE_IO_LINK : 0));
            Complete(i);
            return;
        }

        if ((r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_ASYNC) != 0 || r.ForceAsync)
        {
            // Before 6.10 what is punted to io-wq is prepared for it first (io_queue_sqe_fallback,
            // io_drain_req): a buffer that does not import fails the request here, before its file.
            // A drained request that passes its drain check at once is queued as task work instead,
            // with no prep for io-wq (6.1's io_drain_req).
            if (profile.RwImport == RwImportStage.Issue && !(drainActive && (r.Drain ? r.DrainMet : !drainWaiting)) && AsyncPrep(ref r) is var error and not 0)
            {
                r.Fail(error);
                Complete(i);
                return;
            }

            asyncWork.Enqueue(i);
            return;
        }

        Issue(i);
    }

    private void Issue(int i)
    {
        ref var r = ref requests[i];
        switch (Execute(ref r))
        {
            case Completion.Inline:
                Complete(i);
                break;
            case Completion.TaskWork:
                work.Enqueue(new Work(WorkKind.Complete, i, false));
                break;
            case Completion.Async:
                asyncWork.Enqueue(i);
                break;
        }
    }

    private void Complete(int i) => completions[completionCount++] = i;

    /// <summary>Posts the batch's CQEs in order, then queues each request's successor (io_submit_flush_completions).</summary>
    private void FlushCompletions()
    {
        for (var k = 0; k < completionCount; k++)
        {
            ref var r = ref requests[completions[k]];
            if (!r.SkipCqe)
            {
                Post(new PendingCqe(r.UserData, r.Res, 0, r.Big, r.Extra1, r.Extra2));
            }
        }

        for (var k = 0; k < completionCount; k++)
        {
            ref var r = ref requests[completions[k]];
            if (r.Next < 0)
            {
                continue;
            }

            if (r.Failed && !r.Hardlink)
            {
                work.Enqueue(new Work(WorkKind.FailLinks, r.Next, r.SkipLinkCqes && !faults.HasFlag(EngineFaults.NoLinkCqeSuppression)));
            }
            else
            {
                work.Enqueue(new Work(WorkKind.Issue, r.Next, false));
            }
        }

        completionCount = 0;
        ReleaseDeferred();
    }

    /// <summary>Whether a CQE of an SQE before position <paramref name="seq"/> was suppressed for good.</summary>
    private bool LostBefore(uint seq)
    {
        foreach (var position in lostCqes)
        {
            if (position < seq)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// (DrainStallsPastSequence) the kernel's io_queue_deferred after each flush: from the front of the
    /// defer list, a drained request goes once the CQ tail equals its sequence, the others with it; a
    /// tail already past it never comes back, so the list waits for good.
    /// </summary>
    private void ReleaseDeferred()
    {
        while (deferList.Count > 0 && !drainStalled)
        {
            ref var r = ref requests[deferList[0]];
            if (r.Drain && cqTail != r.Seq)
            {
                drainStalled = cqTail > r.Seq;
                return;
            }

            r.DrainMet = true;
            deferList.RemoveAt(0);
        }
    }

    private void RunTaskWork()
    {
        while (true)
        {
            while (work.Count > 0)
            {
                // One generation: what is queued now; what it queues runs in the next one.
                for (var n = work.Count; n > 0; n--)
                {
                    var item = work.Dequeue();
                    switch (item.Kind)
                    {
                        case WorkKind.Issue:
                            Queue(item.Request);
                            break;
                        case WorkKind.Complete:
                            Complete(item.Request);
                            break;
                        case WorkKind.FailLinks:
                            for (var m = item.Request; m >= 0; m = requests[m].Next)
                            {
                                ref var member = ref requests[m];
                                member.Res = member.Failed ? member.Res : -Errno.ECANCELED;
                                member.Big = false;
                                member.SkipCqe = item.IgnoreCqes;
                                if (item.IgnoreCqes && profile.DrainCountsLostCqes)
                                {
                                    lostCqes.Add(member.Seq);
                                }

                                Complete(m);
                            }

                            // The remainder is completed here; none of its links is followed again.
                            MarkCancelled(item.Request);
                            break;
                    }
                }

                FlushCompletions();
            }

            if (asyncWork.Count == 0)
            {
                return;
            }

            // io-wq: runs and completes; the completions come back to the task as task work.
            while (asyncWork.Count > 0)
            {
                var i = asyncWork.Dequeue();
                ref var r = ref requests[i];

                // (6.12 emulation) a drained request waits for the CQ tail to equal its sequence; once
                // a batch of completions carried the tail past it, it and everything deferred behind it
                // wait for good (the ring keeps them until it is closed).
                if (drainStalled && !r.DrainMet && deferList.Contains(i))
                {
                    continue;
                }

                // (DrainCountsLostCqes) a drained request waits for a CQ tail that CQEs suppressed
                // with a failed chain keep short for good: it and all that is deferred after it wait.
                if (profile.DrainCountsLostCqes && !r.Failed && !r.DrainMet && ((r.Drain && LostBefore(r.Seq)) || (drainStalled && r.ForceAsync)))
                {
                    drainStalled = true;
                    continue;
                }

                if (!r.Failed && !r.Executed)
                {
                    ExecuteNow(ref r);
                }

                work.Enqueue(new Work(WorkKind.Complete, i, false));
            }
        }
    }

    /// <summary>A broken chain's remainder completes together; their own links end here.</summary>
    private void MarkCancelled(int first)
    {
        for (var m = first; m >= 0;)
        {
            var next = requests[m].Next;
            requests[m].Next = -1;
            m = next;
        }
    }
}
