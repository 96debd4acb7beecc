using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// Requests from SQE to CQE, in the order the kernel produces completions:
/// <list type="number">
/// <item>During the submission loop a request that completes inline joins the completion batch; one
/// that completes through task work (NOP with IORING_NOP_TW) queues a work item at once. Where the
/// kernel posts a failure on its own (<see cref="KernelProfile.FailuresPostAtOnce"/>, 6.1) it is posted
/// there and then, ahead of the batch.</item>
/// <item>When the loop ends the batch is flushed: its CQEs are posted in order, the commit releases
/// what the drain let go, then each completed request's link successor is queued (or its broken
/// chain's remainder, as one item).</item>
/// <item>Task work then runs in generations: every item queued so far, their inline completions
/// batched and flushed at the end of the generation, which queues the next generation.</item>
/// <item>Requests the kernel hands to io-wq (FSYNC, IOSQE_ASYNC, drained ones) complete after that,
/// when the task is idle; their successors start the cycle again.</item>
/// </list>
/// A request lives in a pooled slot from its SQE until its CQE (a drained request can wait across
/// submissions); the pool grows to its high-water mark once and never allocates after that. The
/// differential properties in conformance/ hold this order to the live kernels.
/// </summary>
internal sealed unsafe partial class EngineRing
{
    private Request[] requests;
    private int[] freeSlots;
    private int freeCount;
    private readonly FifoQueue<int> batch;
    private readonly FifoQueue<Work> work;
    private readonly FifoQueue<int> asyncWork;

    // The chain being assembled (the kernel's submit_state.link).
    private int linkHead = -1;
    private int linkLast = -1;

    // Any CQE_SKIP_SUCCESS seen on this ring disables IO_DRAIN for good (drain_disabled).
    private bool drainDisabled;

    // The kernel's drain_active and drain_next.
    private bool drainActive;
    private bool drainNext;

    // (Counting kernels, 6.16 on) the defer list of chain heads, nr_drained (the requests of the chains
    // in it) and nr_req_allocated (requests alive, from their SQE to their CQE).
    private readonly FifoQueue<int> countingDeferList = new(4);
    private int drainedRequests;
    private int liveRequests;

    // (DrainBySequence) the kernel's defer list, each entry a chain head and the sequence it waits for;
    // cached_sq_head, every SQ entry fetched in the ring's life, dropped ones included; and cq_extra,
    // which the sequence is corrected by (a dropped SQ entry posts no CQE).
    private readonly FifoQueue<Deferred> deferList;
    private uint cachedSqHead;
    private uint cqExtra;

    private void BeginSubmission()
    {
        linkHead = linkLast = -1;
    }

    /// <summary>A free request slot (the pool doubles when none is left).</summary>
    private int Alloc()
    {
        if (freeCount == 0)
        {
            Grow();
        }

        return freeSlots[--freeCount];
    }

    private void Grow()
    {
        var old = requests.Length;
        Array.Resize(ref requests, old * 2);
        Array.Resize(ref freeSlots, old * 2);
        for (var k = old * 2 - 1; k >= old; k--)
        {
            freeSlots[freeCount++] = k;
        }
    }

    private void Free(int i)
    {
        requests[i].Live = false;
        liveRequests--;
        freeSlots[freeCount++] = i;
    }

    /// <summary>
    /// A NOP with no flags of any kind, outside a chain, with no drain, restriction or personality to
    /// apply: it completes with 0 in the submission's batch, whatever the kernel. The fast path gives it
    /// just that, with none of the general checks it would pass (NOP round trips are the benchmark of
    /// the engine's own overhead, and of applications' wake-up and cancellation NOPs).
    /// </summary>
    private bool PlainNop(io_uring_sqe* sqe) =>
        sqe->opcode == (byte)io_uring_op.IORING_OP_NOP && sqe->flags == 0 && sqe->ioprio == 0 && sqe->nop_flags == 0
        && sqe->personality == 0 && linkHead < 0 && !drainActive && !drainNext && !restricted;

    /// <summary>A plain NOP (<see cref="PlainNop"/>) in a pooled request, completed into the batch as Prepare, SubmitOne and Issue would.</summary>
    private void QueuePlainNop(io_uring_sqe* sqe)
    {
        var i = Alloc();
        ref var r = ref requests[i];
        r.Live = true;
        liveRequests++;
        r.UserData = sqe->user_data;
        r.Opcode = (byte)io_uring_op.IORING_OP_NOP;
        r.Kind = OpKind.Nop;
        r.SqeFlags = 0;
        r.Res = 0;
        r.Failed = false;
        r.SkipCqe = false;
        r.SkipLinkCqes = false;
        r.Big = false;
        r.CqeFlags = 0;
        r.ForceAsync = false;
        r.Drain = false;
        r.Executed = true;
        r.Next = -1;
        batch.Enqueue(i);
    }

    /// <summary>A dropped SQ entry: consumed and counted, and (DrainBySequence) owed no CQE.</summary>
    private void Dropped()
    {
        U32(header.SqDropped)++;
        cqExtra--;
    }

    /// <summary>Reads one SQE into a pooled request and validates it (the kernel's io_init_req and the op's prep).</summary>
    private int Prepare(io_uring_sqe* sqe, uint index, ref uint slotsLeft, ref uint head)
    {
        // A zero-copy send takes a second slot for its notification in its prep, while this one is held
        // by reference: the pool must not move under it.
        if (freeCount < 2)
        {
            Grow();
        }

        var i = Alloc();
        ref var r = ref requests[i];
        r = default;
        r.Live = true;
        liveRequests++;
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

        // Named as unmodelled here, before the checks below answer from a definition the engine does
        // not have for it (an ioprio or a flag it would know to accept): whatever the SQE then gets is
        // not the kernel's answer.
        if (op.Kind == OpKind.Unsupported)
        {
            engine.ReportUnmodelled($"opcode {(io_uring_op)r.Opcode}");
        }

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
                cachedSqHead++;
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
            OpKind.ReadvFixed or OpKind.WritevFixed => PrepareRwvFixed(ref r, sqe),
            OpKind.RecvZc => PrepareRecvZc(),
            OpKind.ProvideBuffers or OpKind.RemoveBuffers => PrepareBufferCall(ref r, sqe),
            OpKind.Fsync => PrepareFsync(ref r, sqe),
            OpKind.SyncFileRange => PrepareSyncFileRange(ref r, sqe),
            OpKind.Fallocate => PrepareFallocate(sqe),
            OpKind.Ftruncate => PrepareFtruncate(sqe),
            OpKind.Fadvise => PrepareFadvise(ref r, sqe),
            OpKind.Madvise => PrepareMadvise(ref r, sqe),
            OpKind.Close => PrepareClose(ref r, sqe),
            OpKind.FilesUpdate => PrepareFilesUpdate(ref r, sqe),
            OpKind.FixedFdInstall => PrepareFixedFdInstall(ref r, sqe),
            OpKind.EpollCtl => PrepareEpollCtl(ref r, sqe),
            OpKind.OpenAt => PrepareOpenat(ref r, sqe),
            OpKind.OpenAt2 => PrepareOpenat2(ref r, sqe),
            OpKind.Statx => PrepareStatx(ref r, sqe),
            OpKind.MkdirAt => PrepareMkdirat(ref r, sqe),
            OpKind.UnlinkAt => PrepareUnlinkat(ref r, sqe),
            OpKind.RenameAt or OpKind.SymlinkAt or OpKind.LinkAt => PrepareTwoNames(ref r, sqe),
            OpKind.FgetXattr or OpKind.FsetXattr or OpKind.GetXattr or OpKind.SetXattr => PrepareXattr(ref r, sqe),
            OpKind.Splice or OpKind.Tee => PrepareSplice(ref r, sqe),
            OpKind.Pipe => PreparePipe(ref r, sqe),
            OpKind.UringCmd => PrepareUringCmd(ref r, sqe),
            OpKind.MsgRing => PrepareMsgRing(ref r, sqe),
            OpKind.Waitid => PrepareWaitid(ref r, sqe),
            OpKind.EpollWait => PrepareEpollWait(sqe),
            OpKind.FutexWait or OpKind.FutexWake => PrepareFutex(ref r, sqe),
            OpKind.FutexWaitv => PrepareFutexWaitv(ref r, sqe),
            OpKind.ReadMultishot => PrepareReadMultishot(ref r, sqe),
            OpKind.SendZc or OpKind.SendMsgZc => PrepareSendZc(ref r, sqe),
            OpKind.Mmap => PrepareMmap(ref r, sqe),
            OpKind.Timeout => PrepareTimeout(ref r, sqe),
            OpKind.LinkTimeout => PrepareLinkTimeout(ref r, sqe),
            OpKind.TimeoutRemove => PrepareTimeoutRemove(ref r, sqe),
            OpKind.AsyncCancel => PrepareAsyncCancel(ref r, sqe),
            OpKind.PollAdd => PreparePollAdd(ref r, sqe),
            OpKind.PollRemove => PreparePollRemove(ref r, sqe),
            OpKind.Send or OpKind.Recv or OpKind.SendMsg or OpKind.RecvMsg => PrepareNet(ref r, sqe),
            OpKind.Shutdown => PrepareShutdown(ref r, sqe),
            OpKind.Socket => PrepareSocket(ref r, sqe),
            OpKind.Bind or OpKind.Connect => PrepareAddressed(ref r, sqe),
            OpKind.Listen => PrepareListen(sqe),
            OpKind.Accept => PrepareAccept(ref r, sqe),

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
        if (!r.Failed && linkHead >= 0 && AsyncPrep(ref r) is var error and not 0)
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
        CommitPosted();

        // A DEFER_TASKRUN ring runs its task work only when the task waits for completions; the engine
        // runs it here, which changes what a later wait sees (wake-ups it would have merged). Named, so a
        // test that depends on it is not taken for a wrong answer.
        if (work.Count > 0 && Has(IoUringSetupFlags.IORING_SETUP_DEFER_TASKRUN))
        {
            engine.ReportUnmodelled("DEFER_TASKRUN: task work deferred until the task waits");
        }

        RunTaskWork();
    }

    /// <summary>A chain (or lone request) leaves the submission loop: issued inline, or the slow way (<see cref="Fallback"/>).</summary>
    private void QueueChain(int first)
    {
        ref var r = ref requests[first];
        if (r.Failed || (r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_ASYNC) != 0 || r.ForceAsync)
        {
            Fallback(first);
        }
        else
        {
            Issue(first);
        }
    }

    /// <summary>
    /// The kernel's io_queue_sqe_fallback: a failed chain is completed whole (its head's hardlink turned
    /// into a plain link, so every other member is cancelled); anything else goes to io-wq, through the
    /// drain when one is active.
    /// </summary>
    private void Fallback(int i)
    {
        ref var r = ref requests[i];
        if (r.Failed)
        {
            r.SqeFlags = (byte)((r.SqeFlags & ~(byte)IoUringSqeFlags.IOSQE_IO_HARDLINK) | (r.Next >= 0 ? (byte)IoUringSqeFlags.IOSQE_IO_LINK : 0));
            CompleteOnItsOwn(i);
            return;
        }

        // Before 6.10 what is punted is prepared for async execution first (io_req_prep_async, the head
        // only: members were prepared as they joined): a buffer that does not import fails it here.
        if (AsyncPrep(ref r) is var error and not 0)
        {
            r.Fail(error);
            CompleteOnItsOwn(i);
            return;
        }

        if (drainActive)
        {
            if (profile.DrainBySequence)
            {
                DrainBySequence(i);
            }
            else
            {
                DrainByCount(i);
            }

            return;
        }

        Punt(i);
    }

    /// <summary>
    /// (Counting kernels, 6.16 on) io_drain_req: while a drain is active every chain joins the defer list,
    /// which is then let go as far as it may (<see cref="QueueDeferredByCount"/>); a chain that does not
    /// drain itself and leaves the list empty ends the drain.
    /// </summary>
    private void DrainByCount(int i)
    {
        var drain = requests[i].Drain;
        countingDeferList.Enqueue(i);
        for (var m = i; m >= 0; m = requests[m].Next)
        {
            drainedRequests++;
        }

        QueueDeferredByCount();
        if (!drain && countingDeferList.Count == 0)
        {
            drainActive = false;
        }
    }

    /// <summary>
    /// (Counting kernels) io_queue_deferred, after each flush of completions while a drain is active and
    /// from io_drain_req: from the front of the defer list, a chain is let go (issued from task work, and
    /// from there to io-wq) unless it is the first looked at, or a drained chain came before it, while a
    /// request outside the list is still alive: a drained request waits for every request before it,
    /// the later members of an earlier chain and armed timeouts included, and so does whatever was
    /// submitted after it.
    /// </summary>
    private void QueueDeferredByCount()
    {
        var drainSeen = false;
        var first = true;
        while (countingDeferList.Count > 0)
        {
            var i = countingDeferList.Peek();
            drainSeen |= requests[i].Drain;
            if ((drainSeen || first) && liveRequests != drainedRequests)
            {
                return;
            }

            countingDeferList.Dequeue();
            for (var m = i; m >= 0; m = requests[m].Next)
            {
                drainedRequests--;
            }

            work.Enqueue(new Work(WorkKind.Issue, i, false));
            first = false;
        }
    }

    /// <summary>Whether io-wq's worker posts the request's CQE itself: not a NOP with IORING_NOP_TW, which completes through task work wherever it was issued.</summary>
    private static bool PostedByWorker(ref Request r) => !(r.Kind == OpKind.Nop && (r.OpFlags & (uint)IoUringNopFlags.IORING_NOP_TW) != 0);

    private void Punt(int i)
    {
        // io_queue_async: the request goes to io-wq and its linked timeout is armed.
        ArmLinkTimeout(i);

        if (profile.DrainBySequence)
        {
            ref var r = ref requests[i];
            if (!r.Failed && !r.Executed && RunFromIoWq(i))
            {
                return;
            }

            PostNow(i, PostedByWorker(ref r));
            return;
        }

        asyncWork.Enqueue(i);
    }

    /// <summary>
    /// (DrainBySequence) the kernel's io_drain_req before 6.16: a request whose drain is already met
    /// and that finds nothing deferred ends the drain and is issued from task work; anything else waits
    /// in the defer list with the sequence it was submitted at.
    /// </summary>
    private void DrainBySequence(int i)
    {
        // io_get_sequence: the SQ entries fetched so far, less the chain's own.
        var seq = cachedSqHead;
        for (var m = i; m >= 0; m = requests[m].Next)
        {
            seq--;
        }

        if (!NeedsDefer(i, seq) && deferList.Count == 0)
        {
            drainActive = false;
            work.Enqueue(new Work(WorkKind.Issue, i, false));
            return;
        }

        deferList.Enqueue(new Deferred(i, seq));
    }

    /// <summary>req_need_defer: a drained request waits until the CQ tail, corrected by cq_extra, is exactly its sequence.</summary>
    private bool NeedsDefer(int i, uint seq) => requests[i].Drain && seq + cqExtra != cqTail;

    /// <summary>
    /// A commit of the CQ (io_commit_cqring_flush): timeouts whose count is met complete first
    /// (<see cref="FlushTimeouts"/>); then (DrainBySequence) the kernel's io_queue_deferred, while a drain is
    /// active: from the front of the defer list, each request whose drain is met is issued from task
    /// work; the first that still waits stops it. A tail that went past a sequence never comes back to
    /// it, so that request and everything behind it wait until the ring is closed (a kernel bug, 6.12).
    /// </summary>
    /// <param name="fromWorker">The commit is io-wq's (for an eventfd registered with _ASYNC, <see cref="SignalEventfd"/>).</param>
    private void Committed(bool fromWorker = false)
    {
        FlushTimeouts();
        if (profile.DrainBySequence && drainActive)
        {
            while (deferList.Count > 0 && !NeedsDefer(deferList.Peek().Request, deferList.Peek().Seq))
            {
                work.Enqueue(new Work(WorkKind.Issue, deferList.Dequeue().Request, false));
            }
        }

        SignalEventfd(fromWorker);
    }

    /// <summary>
    /// io_req_task_submit: a chain successor, or a request the drain let go, issued from task work.
    /// From 6.10 one marked for async execution goes to io-wq; 6.1 issues it inline like any other.
    /// </summary>
    private void TaskSubmit(int i)
    {
        ref var r = ref requests[i];
        var async = (r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_ASYNC) != 0 || r.ForceAsync;
        if (async && !profile.TaskSubmitIssuesInline)
        {
            Punt(i);
            return;
        }

        Issue(i);
    }

    /// <summary>io_queue_sqe: issued inline; its completion joins the batch, task work or io-wq as the opcode says.</summary>
    private void Issue(int i)
    {
        ref var r = ref requests[i];
        switch (Execute(i))
        {
            case Completion.Inline:
                Complete(i);
                break;
            case Completion.Failed or Completion.Posted:
                CompleteOnItsOwn(i);
                break;
            case Completion.TaskWork:
                // Completes later (IOU_ISSUE_SKIP_COMPLETE): its linked timeout is armed meanwhile.
                work.Enqueue(new Work(WorkKind.Complete, i, false));
                ArmLinkTimeout(i);
                break;
            case Completion.Async:
                Punt(i);
                break;
            case Completion.Armed:
                ArmTimeout(i);
                ArmLinkTimeout(i);
                break;
            case Completion.Polled:
                ArmLinkTimeout(i);
                break;
        }
    }

    private void Complete(int i) => batch.Enqueue(i);

    /// <summary>
    /// A failure, or a request that posts its own CQE (io_req_complete_post): 6.1 posts it at once, later
    /// kernels add it to the batch like any completion (io_req_defer_failed).
    /// </summary>
    private void CompleteOnItsOwn(int i)
    {
        if (profile.FailuresPostAtOnce)
        {
            PostNow(i);
        }
        else
        {
            Complete(i);
        }
    }

    /// <summary>io_req_complete_post: one request's CQE posted on its own, its link handled, and the CQ committed.</summary>
    /// <param name="fromWorker">io-wq posts it (<see cref="Committed"/>).</param>
    private void PostNow(int i, bool fromWorker = false)
    {
        ref var r = ref requests[i];
        if (!r.SkipCqe)
        {
            Post(new PendingCqe(r.UserData, r.Res, r.CqeFlags, r.Big, r.Extra1, r.Extra2));
        }

        QueueNext(i);
        Committed(fromWorker);
    }

    /// <summary>
    /// Posts the batch's CQEs in order, commits (which lets the drain release what it may), then queues
    /// each request's successor (io_submit_flush_completions, io_free_batch_list).
    /// </summary>
    private void FlushCompletions()
    {
        if (batch.Count == 0)
        {
            return;
        }

        // The head is read once for the batch, as the kernel caches the free CQ space; a plain 16-byte
        // CQE with room and nothing in the overflow list is written straight into its slot, and the
        // tail published once at the end.
        var head = Volatile.Read(ref U32(header.CqHead));
        var plain = cqeSize == 16 && !Has(IoUringSetupFlags.IORING_SETUP_CQE_MIXED);
        for (var k = 0; k < batch.Count; k++)
        {
            ref var r = ref requests[batch.At(k)];
            if (r.SkipCqe)
            {
                continue;
            }

            if (plain && !r.Big && overflow.Count == 0 && cqTail - head < cqEntries)
            {
                var cqe = (io_uring_cqe*)(Rings + header.Cqes + ((cqTail & (cqEntries - 1)) * 16));
                cqe->user_data = r.UserData;
                cqe->res = r.Res;
                cqe->flags = r.CqeFlags;
                cqTail++;
                continue;
            }

            Post(new PendingCqe(r.UserData, r.Res, r.CqeFlags, r.Big, r.Extra1, r.Extra2));
        }

        Volatile.Write(ref U32(header.CqTail), cqTail);

        var fromWorker = workerCompletionsInBatch;
        workerCompletionsInBatch = false;
        Committed(fromWorker);
        while (batch.Count > 0)
        {
            QueueNext(batch.Dequeue());
        }

        if (!profile.DrainBySequence && drainActive)
        {
            QueueDeferredByCount();
        }
    }

    /// <summary>After a request's CQE: its successor is issued from task work, or a broken chain's remainder completed as one item; then its slot is free.</summary>
    private void QueueNext(int i)
    {
        ref var r = ref requests[i];
        DisarmLinkTimeout(ref r);
        if (r.Next >= 0)
        {
            if (r.Failed && !r.Hardlink)
            {
                work.Enqueue(new Work(WorkKind.FailLinks, r.Next, r.SkipLinkCqes && !faults.HasFlag(EngineFaults.NoLinkCqeSuppression)));
            }
            else
            {
                work.Enqueue(new Work(WorkKind.Issue, r.Next, false));
            }
        }

        FlushNotification(ref r);
        Free(i);
    }

    /// <summary>Runs task work, then io-wq, until neither has anything left (what the kernel does before enter returns, or while it waits).</summary>
    public void RunTaskWork()
    {
        while (true)
        {
            while (work.Count > 0)
            {
                // One generation: what is queued now (newest first on 6.1, whose lock-less list is not
                // reversed); what it queues runs in the next one.
                var n = work.Count;
                for (var k = 0; k < n; k++)
                {
                    var item = work.At(profile.TaskWorkNewestFirst ? n - 1 - k : k);
                    switch (item.Kind)
                    {
                        case WorkKind.Issue:
                            TaskSubmit(item.Request);
                            break;
                        case WorkKind.Complete:
                            Complete(item.Request);
                            break;
                        case WorkKind.WorkerCompleted:
                            workerCompletionsInBatch = true;
                            Complete(item.Request);
                            break;
                        case WorkKind.Cancel:
                            requests[item.Request].SetFail();
                            CompleteOnItsOwn(item.Request);
                            break;
                        case WorkKind.TimerFired:
                            TimerFired(item.Request);
                            break;
                        case WorkKind.LinkTimerFired:
                            LinkTimerFired(item.Request);
                            break;
                        case WorkKind.PollFired:
                            PollFired(item.Request);
                            break;
                        case WorkKind.FutexWoken:
                            FutexWaitvWoken(item.Request);
                            break;
                        case WorkKind.FailLinks:
                            for (var m = item.Request; m >= 0; m = requests[m].Next)
                            {
                                ref var member = ref requests[m];
                                member.Res = member.Failed ? member.Res : -Errno.ECANCELED;

                                // io_req_set_res(link, res, 0): no flags (a zero-copy send's F_MORE
                                // neither, though its notification still follows).
                                member.CqeFlags = 0;
                                member.Big = false;
                                member.SkipCqe = item.IgnoreCqes;
                                Complete(m);
                            }

                            // The remainder is completed here; none of its links is followed again.
                            MarkCancelled(item.Request);
                            break;
                    }
                }

                // Later kernels run what was queued, flush its completions (which queues their links'
                // successors), then run what came meanwhile. 6.1's loop runs generation after generation
                // until the list stays empty and flushes once at the end, so a successor is issued after
                // task work that came in meanwhile (found under qemu on 6.1: a receive woken by a send
                // took the data before the receive linked behind the send).
                work.Drop(n);
                if (!profile.TaskWorkNewestFirst || work.Count == 0)
                {
                    FlushCompletions();
                    CommitPosted();
                }
            }

            if (asyncWork.Count == 0)
            {
                return;
            }

            // io-wq: runs and posts each completion from the worker, on its own (io_req_complete_post);
            // its successor is issued from task work. From 6.10 the worker's completion goes through task
            // work instead.
            var queued = asyncWork.Count;
            for (var k = 0; k < queued; k++)
            {
                var i = asyncWork.Dequeue();
                ref var r = ref requests[i];
                if (!r.Failed && !r.Executed && RunFromIoWq(i))
                {
                    continue;
                }

                // Whether io-wq posts a failure itself (a result the issue set) or fails the request from task
                // work (an error the issue returned, io_req_task_queue_fail) depends on the opcode, the error
                // and the kernel (a NOP sets its result); only an eventfd registered with _ASYNC can tell the two apart.
                if (r.Failed && r.Kind != OpKind.Nop && notifyFd >= 0 && notifyAsyncOnly)
                {
                    engine.ReportUnmodelled("a request failing in io-wq, on a ring whose eventfd hears io-wq only (posted by the worker or failed from task work)");
                }

                var fromWorker = PostedByWorker(ref r);
                if (profile.DrainBySequence)
                {
                    PostNow(i, fromWorker);
                }
                else
                {
                    work.Enqueue(new Work(fromWorker ? WorkKind.WorkerCompleted : WorkKind.Complete, i, false));
                }
            }
        }
    }

    /// <summary>A request io-wq runs: executed there, or armed (a TIMEOUT, which completes later: true).</summary>
    private bool RunFromIoWq(int i)
    {
        ref var r = ref requests[i];
        if (r.Kind == OpKind.Timeout)
        {
            r.Executed = true;
            ArmTimeout(i);
            return true;
        }

        // A poll armed from io-wq waits like one armed inline; one that completes at once posts from the worker.
        if (r.Kind == OpKind.PollAdd)
        {
            return ExecutePollAdd(i) == Completion.Polled;
        }

        // A multishot ACCEPT, and a SEND bundle (a multishot request too), are armed rather than tried.
        if ((r.Kind == OpKind.Accept && (r.Ioprio & AcceptMultishot) != 0) || (r.Kind == OpKind.Send && (r.Ioprio & RecvSendBundle) != 0))
        {
            return ArmMultishotFromIoWq(i);
        }

        if (r.Kind is OpKind.FutexWait or OpKind.FutexWaitv)
        {
            return ExecuteFutexWait(i);
        }

        if (r.Kind == OpKind.ReadMultishot)
        {
            return ExecuteReadMultishot(i) == Completion.Polled;
        }

        runningInIoWq = true;
        ExecuteNow(ref r);
        runningInIoWq = false;

        // io-wq arms the poll of a pollable file itself rather than block (io_wq_submit_work).
        if (r.NeedsPoll)
        {
            RecycleBuffer(ref r);
            ArmAsyncPoll(i);
            return true;
        }

        FinishRingBuffer(ref r);
        return false;
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
