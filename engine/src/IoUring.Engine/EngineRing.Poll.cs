using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// Readiness, as the kernel's poll.c has it: IORING_OP_POLL_ADD (one-shot and multishot), IORING_OP_POLL_REMOVE
/// (removal and update), and the internal poll a read or write of a pipe or socket arms when it would
/// wait (the kernel's async poll):
/// <list type="bullet">
/// <item>At issue the file's readiness is asked (vfs_poll). A one-shot poll that finds its events
/// completes at once with them; a multishot one posts them from task work and stays armed. A file
/// without a wait queue (a regular file) completes at once with the default mask, or -EINVAL when
/// nothing asked for is in it.</item>
/// <item>An armed poll waits for a wake-up of its file: each write to a pipe or eventfd, each change of
/// a socket. The wake queues task work, which asks the file again: a one-shot poll completes with what
/// it finds, a multishot one posts it with IORING_CQE_F_MORE and waits for the next wake-up. Wake-ups
/// that come before the task work runs are one.</item>
/// <item>A read or write that would wait arms a one-shot poll for POLLIN or POLLOUT and is issued
/// again from task work when it fires.</item>
/// <item>Cancellation (ASYNC_CANCEL, POLL_REMOVE) marks the poll and completes it from task work with
/// -ECANCELED.</item>
/// </list>
/// The engine learns of wake-ups from the running kernel itself: each armed poll's file is watched by a
/// duplicate descriptor in an edge-triggered epoll set of the ring's own, whose callbacks run on exactly
/// the wake-ups io_uring's would. The set is read after every request the engine executes on a pipe,
/// eventfd or socket, whenever the ring is entered, and while it waits.
/// </summary>
internal sealed unsafe partial class EngineRing
{
    private const uint PollIn = 0x001;
    private const uint PollPri = 0x002;
    private const uint PollOut = 0x004;
    private const uint PollErr = 0x008;
    private const uint PollHup = 0x010;
    private const uint PollNval = 0x020;
    private const uint PollRdNorm = 0x040;
    private const uint PollWrNorm = 0x100;
    private const uint PollRdHup = 0x2000;

    // demangle_poll: the event bits a poll may ask for (POLLIN ... POLLMSG, and POLLRDHUP).
    private const uint PollKnownEvents = 0x27ff;
    private const uint EpollExclusive = 1u << 28;
    private const uint EpollOneshot = 1u << 30;
    private const uint EpollEt = 1u << 31;

    // IO_POLL_UNMASK: always asked for, whatever the request named.
    private const uint PollUnmask = PollErr | PollHup | PollNval | PollRdHup;

    // What a wake-up of each kind carries (the key the file wakes its waiters with): input (with the
    // error and hang-up events, which every entry is woken for) or output.
    private const uint PollRdBand = 0x080;
    private const uint PollWrBand = 0x200;
    private const uint InputEvents = PollIn | PollPri | PollRdNorm | PollRdBand | PollRdHup | PollErr | PollHup | PollNval;
    private const uint OutputEvents = PollOut | PollWrNorm | PollWrBand;
    private const uint AnyEvents = uint.MaxValue;
    private const ulong OutputEntry = 0x8000_0000;

    private const uint PollAddMulti = Constants.IORING_POLL_ADD_MULTI;
    private const uint PollUpdateEvents = Constants.IORING_POLL_UPDATE_EVENTS;
    private const uint PollUpdateUserData = Constants.IORING_POLL_UPDATE_USER_DATA;
    private const uint PollAddLevel = Constants.IORING_POLL_ADD_LEVEL;

    // The ring's armed polls (request slots), in the order they were armed; the kernel's cancel hash
    // table orders them for a search (PollSearchOrder).
    private readonly List<int> polls = new(4);

    // The epoll set that watches the armed polls' files (-1 until the first poll), and a serial number
    // per arming, so a wake-up read late never reaches a slot's next request.
    private int pollWatch = -1;
    private uint pollSerial;


    /// <summary>io_poll_parse_events: one-shot unless IORING_POLL_ADD_MULTI, edge-triggered unless IORING_POLL_ADD_LEVEL; only known bits kept.</summary>
    private static uint ParsePollEvents(uint events, uint flags)
    {
        if ((flags & PollAddMulti) == 0)
        {
            events |= EpollOneshot;
        }

        if ((flags & PollAddLevel) == 0)
        {
            events |= EpollEt;
        }

        return (events & PollKnownEvents) | (events & (EpollExclusive | EpollOneshot | EpollEt));
    }

    /// <summary>io_poll_add_prep: no buffer index, offset or address; only IORING_POLL_ADD_MULTI, and not with CQE_SKIP_SUCCESS.</summary>
    private int PreparePollAdd(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->buf_index != 0 || sqe->off != 0 || sqe->addr != 0)
        {
            return -Errno.EINVAL;
        }

        var flags = sqe->len;
        r.OpFlags = flags;
        if ((flags & ~PollAddMulti) != 0)
        {
            return -Errno.EINVAL;
        }

        if ((flags & PollAddMulti) != 0 && r.SkipCqe)
        {
            return -Errno.EINVAL;
        }

        r.PollEvents = ParsePollEvents(sqe->poll32_events, flags) | PollUnmask;
        return 0;
    }

    /// <summary>
    /// io_poll_remove_prep: no buffer index or file index; flags UPDATE_EVENTS, UPDATE_USER_DATA and
    /// ADD_MULTI (which alone means nothing); a new user_data only with UPDATE_USER_DATA, events only with
    /// UPDATE_EVENTS. The poll it names is in addr, the new user_data in off.
    /// </summary>
    private int PreparePollRemove(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->buf_index != 0 || sqe->splice_fd_in != 0)
        {
            return -Errno.EINVAL;
        }

        var flags = sqe->len;
        r.OpFlags = flags;
        if ((flags & ~(PollUpdateEvents | PollUpdateUserData | PollAddMulti)) != 0 || flags == PollAddMulti)
        {
            return -Errno.EINVAL;
        }

        r.Addr = sqe->addr;
        r.Off = sqe->off;
        if ((flags & PollUpdateUserData) == 0 && r.Off != 0)
        {
            return -Errno.EINVAL;
        }

        if ((flags & PollUpdateEvents) != 0)
        {
            r.PollEvents = ParsePollEvents(sqe->poll32_events, flags);
        }
        else if (sqe->poll32_events != 0)
        {
            return -Errno.EINVAL;
        }

        return 0;
    }

    /// <summary>
    /// io_poll_add: the file's readiness now (<see cref="Posix.PollNow"/>, as vfs_poll). A file with no
    /// wait queue completes at once with what it has (edge-triggered), or fails -EINVAL; a one-shot poll
    /// that is ready completes at once; otherwise the poll is armed, and a multishot one that is ready
    /// posts from task work.
    /// </summary>
    private Completion ExecutePollAdd(int i)
    {
        ref var r = ref requests[i];
        r.Executed = true;
        if (!FileOf(ref r))
        {
            r.Fail(-Errno.EBADF);
            return Completion.Failed;
        }

        var mask = Posix.PollNow(r.File) & r.PollEvents;
        if (Posix.IsRegularFile(r.File))
        {
            if (mask != 0 && (r.PollEvents & EpollEt) != 0)
            {
                r.Res = (int)mask;
                return Completion.Inline;
            }

            r.Fail(-Errno.EINVAL);
            return Completion.Failed;
        }

        if (mask != 0 && (r.PollEvents & EpollOneshot) != 0)
        {
            r.Res = (int)mask;
            return Completion.Inline;
        }

        ArmPoll(i, ready: mask != 0);
        return Completion.Polled;
    }

    /// <summary>
    /// io_arm_poll_handler: a read or write of a pollable file that would wait (-EAGAIN without RWF_NOWAIT;
    /// O_NONBLOCK on the file does not stop it, as liburing's fifo-nonblock-read shows on the host) waits
    /// for POLLIN or POLLOUT instead, and is issued again when it comes.
    /// </summary>

    private void ArmAsyncPoll(int i)
    {
        ref var r = ref requests[i];

        // A multishot receive whose entry is still armed waits on it; readiness it already has (it
        // stopped after MULTISHOT_MAX_RETRY receives, or a bundle took its whole length) runs it again
        // from task work, as a requeue does: with no wake-up's events, so the task work asks the file
        // again when it runs and waits on if another waiter emptied it meanwhile (found by the soak).
        if (r.PollArmed && KeepsPollArmed(ref r))
        {
            r.AsyncPoll = true;
            if ((Posix.PollNow(r.File) & r.PollEvents) != 0)
            {
                FirePoll(i, 0);
            }

            return;
        }

        var read = r.Kind is OpKind.Read or OpKind.ReadV or OpKind.ReadFixed or OpKind.ReadvFixed or OpKind.Recv or OpKind.RecvMsg or OpKind.Accept or OpKind.EpollWait or OpKind.ReadMultishot;
        r.PollEvents = PollPri | PollErr | EpollEt | EpollOneshot | (read ? PollIn | PollRdNorm : PollOut | PollWrNorm) | PollUnmask;
        r.AsyncPoll = true;
        r.Polled = true;

        // A multishot ACCEPT keeps its place in the listener's wait queue; anything else joins at its end.
        var multishot = (IsExclusive(ref r) && (r.Ioprio & AcceptMultishot) != 0) || KeepsPollArmed(ref r);
        if (!(multishot && r.WaitQueuedAt != 0))
        {
            r.WaitQueuedAt = pollSerial + 1;
        }

        // A one-shot internal poll whose file is ready as it is armed does not stay on the file's wait
        // queue: the kernel takes its entry off again and issues the request anew from task work
        // (IO_APOLL_READY), so a wake-up meanwhile does not reach it, and if it must wait after all it
        // joins the queue then, behind requests that armed in between (found by the soak: a POLL_FIRST
        // RECV armed on a socket that had data, then re-armed after a WAITALL receive had taken it, was
        // the first woken by the next send). io-wq retries at once by itself; a multishot ACCEPT's entry
        // stays armed and fires.
        var ready = (Posix.PollNow(r.File) & r.PollEvents) != 0;
        if (ready && !multishot && !runningInIoWq)
        {
            r.AsyncPoll = false;
            work.Enqueue(new Work(WorkKind.Issue, i, false));
            return;
        }

        ArmPoll(i, ready);
    }

    /// <summary>Arms a poll: watched for its file's wake-ups; one already ready fires from task work.</summary>
    private void ArmPoll(int i, bool ready)
    {
        ref var r = ref requests[i];
        if (pollWatch < 0)
        {
            pollWatch = Posix.EpollCreate();
        }

        r.PollArmed = true;
        r.PollCancelled = false;
        r.PollSerial = ++pollSerial;
        r.PollFd = Posix.Dup(r.File);
        polls.Add(i);

        // The epoll set is edge-triggered: a wake-up of the file that carries an event asked for marks the
        // entry (io_poll_wake's key check). The entry's own first report (the file ready when added) is
        // read at once and passed over: readiness found at arming is the arming's to act on. Input and
        // output events are watched through two entries, so a wake-up tells which kind it carried (a
        // socket that receives data wakes with input events only, though it is writable too).
        var watched = (r.PollEvents & PollKnownEvents & ~PollPri & InputEvents) | PollRdHup | EpollEt;
        Posix.EpollCtl(pollWatch, Posix.EpollCtlAdd, r.PollFd, watched, Cookie(i, output: false));
        var output = r.PollEvents & OutputEvents;
        r.PollOutFd = output != 0 ? Posix.Dup(r.File) : -1;
        if (output != 0)
        {
            Posix.EpollCtl(pollWatch, Posix.EpollCtlAdd, r.PollOutFd, output | EpollEt, Cookie(i, output: true));
        }

        HarvestWakes(ignore: i);

        // Readiness that came after the caller looked and before the entry was added is in the entry's
        // first report, which is passed over: looked for again now, or that wake-up is lost (liburing's
        // pipe-eof: the writer thread's write landed in that window and the read waited for ever).
        if (ready || (Posix.PollNow(r.File) & r.PollEvents) != 0)
        {
            FirePoll(i, AnyEvents);
        }
    }

    // The epoll cookie of a poll's entry: its arming's serial number, whether it is the output entry, its request.
    private ulong Cookie(int i, bool output) => ((ulong)requests[i].PollSerial << 32) | (output ? OutputEntry : 0) | (uint)i;

    /// <summary>Stops watching a poll's file: it left the armed list (completed, cancelled or removed).</summary>
    private void DisarmPoll(int i)
    {
        ref var r = ref requests[i];
        if (!r.PollArmed)
        {
            return;
        }

        r.PollArmed = false;
        polls.Remove(i);
        Posix.EpollCtl(pollWatch, Posix.EpollCtlDel, r.PollFd, 0, 0);
        Posix.Close(r.PollFd);
        r.PollFd = -1;
        if (r.PollOutFd >= 0)
        {
            Posix.EpollCtl(pollWatch, Posix.EpollCtlDel, r.PollOutFd, 0, 0);
            Posix.Close(r.PollOutFd);
            r.PollOutFd = -1;
        }
    }

    /// <summary>
    /// Queues a poll's task work unless it is queued already (the kernel's poll_refs ownership: wake-ups
    /// before it runs are one). The events the file has now are kept with it, as the kernel keeps the
    /// wake-up's key: a single wake-up posts them even if the file has lost them by the time the task
    /// work runs (a read took the data); after several, the task work asks the file again.
    /// </summary>
    private void FirePoll(int i, uint carried)
    {
        ref var r = ref requests[i];
        if (r.PollFiring)
        {
            r.PollWakeMask = 0;
            return;
        }

        // A ring's eventfd signal wakes with EPOLL_URING_WAKE: a multishot POLL_ADD it wakes turns one-shot
        // (io_poll_wake), or each of its CQEs would signal and wake it again. Another multishot request
        // reading the eventfd is not modelled: its wake-up is dropped, which ends the loop the same way.
        if (uringWake && Posix.IsEventfd(r.File) && (r.PollEvents & EpollOneshot) == 0)
        {
            if (r.Kind != OpKind.PollAdd)
            {
                engine.ReportUnmodelled("a multishot request on an eventfd woken by a ring's signal (EPOLL_URING_WAKE)");
                return;
            }

            r.PollEvents |= EpollOneshot;
        }

        r.PollFiring = true;
        r.PollWakeMask = r.PollCancelled || !r.PollArmed ? 0 : Posix.PollNow(r.File) & r.PollEvents & carried;
        work.Enqueue(new Work(WorkKind.PollFired, i, false));
    }

    /// <summary>
    /// Reads the wake-ups the armed polls' files had since last asked and queues each poll's task work
    /// (io_poll_wake), in the order the epoll set reports them. <paramref name="ignore"/>: a poll being
    /// armed, whose own first report is not a wake-up.
    /// </summary>
    public void HarvestWakes(int ignore = -1)
    {
        if (polls.Count == 0)
        {
            return;
        }

        Span<ulong> cookies = stackalloc ulong[32];

        // Every ACCEPT waiting on a listener sees the listener's wake-up in the epoll set; one wake-up
        // reaches one of them (WakeExclusive), so a listener is woken once per reading of the set. More
        // connections than that go to the next waiter when an accept leaves some queued (ExecuteAccept).
        Span<int> listenersWoken = stackalloc int[32];
        var woken = 0;
        int n;
        do
        {
            n = Posix.EpollWait(pollWatch, cookies, 0);
            for (var k = 0; k < n; k++)
            {
                var i = (int)(cookies[k] & ~OutputEntry & uint.MaxValue);
                var output = (cookies[k] & OutputEntry) != 0;
                if (i != ignore && i < requests.Length && requests[i].PollArmed && Cookie(i, output) == cookies[k])
                {
                    if (IsExclusive(ref requests[i]))
                    {
                        var listener = requests[i].File;
                        if (!listenersWoken[..woken].Contains(listener))
                        {
                            if (woken < listenersWoken.Length)
                            {
                                listenersWoken[woken++] = listener;
                            }

                            WakeExclusive(listener);
                        }
                    }
                    else
                    {
                        FirePoll(i, output ? OutputEvents | PollErr | PollHup : InputEvents);
                    }
                }
            }
        }
        while (n == cookies.Length);
    }

    private static bool IsMultishotReceive(ref Request r) => IsNetReceive(r.Kind) && (r.Ioprio & RecvMultishot) != 0;

    /// <summary>A request whose internal poll is multishot (REQ_F_APOLL_MULTISHOT): a multishot receive, a READ_MULTISHOT. Its entry stays on the file's wait queue, where it was, until the request ends.</summary>
    private static bool KeepsPollArmed(ref Request r) => IsMultishotReceive(ref r) || r.Kind == OpKind.ReadMultishot;

    /// <summary>An ACCEPT waiting for its listener: its wait-queue entry is exclusive (EPOLLEXCLUSIVE), so a wake-up reaches one of them.</summary>
    private static bool IsExclusive(ref Request r) => r.AsyncPoll && r.Kind == OpKind.Accept;

    /// <summary>
    /// A wake-up of a listener that ACCEPTs wait on: the kernel wakes the first exclusive entry of the
    /// listener's wait queue only, which is the one queued longest (a one-shot entry leaves the queue when
    /// woken; a multishot ACCEPT's stays where it was). Every waiter of the listener sees the wake-up in the
    /// engine's epoll set; only that one fires.
    /// </summary>
    private void WakeExclusive(int listener)
    {
        var first = -1;
        foreach (var j in polls)
        {
            ref var w = ref requests[j];
            if (IsExclusive(ref w) && w.File == listener && !(w.PollFiring && (w.Ioprio & AcceptMultishot) == 0)
                && (first < 0 || w.WaitQueuedAt < requests[first].WaitQueuedAt))
            {
                first = j;
            }
        }

        if (first >= 0)
        {
            FirePoll(first, InputEvents);
        }
    }

    /// <summary>Reads the wake-ups (waiting up to <paramref name="timeoutMs"/> for one) and runs the task work they queued.</summary>
    public void RunPollWakes(int timeoutMs = 0)
    {
        if (polls.Count == 0)
        {
            return;
        }

        if (timeoutMs > 0)
        {
            WaitForWake(timeoutMs);
            if (Closed)
            {
                return;
            }
        }

        HarvestWakes();
        RunTaskWork();
    }

    /// <summary>
    /// Blocks until a watched file has a wake-up, outside the engine's lock (ReferenceEngine.Blocking): the
    /// wake-up may be another thread's send through another ring. A method of its own, so the closure is
    /// allocated only by a wait that blocks, never on the enter's hot path.
    /// </summary>
    private void WaitForWake(int timeoutMs)
    {
        var watch = pollWatch;
        engine.Block(() => Posix.WaitReadable(watch, timeoutMs));
    }

    /// <summary>Whether the ring holds armed polls: a wait can be ended by a file's wake-up.</summary>
    public bool PollsArmed => polls.Count > 0;

    /// <summary>
    /// io_poll_task_func and io_apoll_task_func: a cancelled poll completes with -ECANCELED; otherwise the
    /// file is asked again. Nothing there (a stale wake-up): it stays armed. A one-shot poll completes
    /// with the events; a multishot one posts them with IORING_CQE_F_MORE and stays armed, unless the
    /// CQE cannot be posted (<see cref="KernelProfile.MultishotCqFull"/>), when it completes with them as
    /// its last. An internal poll issues its read or write again.
    /// </summary>
    // Set while a request is issued from its internal poll's task work (IO_URING_F_MULTISHOT).
    private bool issuingFromPoll;

    private void PollFired(int i)
    {
        ref var r = ref requests[i];
        r.PollFiring = false;
        if (!r.PollArmed)
        {
            return;
        }

        if (r.PollCancelled)
        {
            DisarmPoll(i);
            r.Fail(-Errno.ECANCELED);
            if (r.AsyncPoll)
            {
                CompleteOnItsOwn(i);
            }
            else
            {
                Complete(i);
            }

            return;
        }

        // Woken, but the file has nothing now (another waiter took it): a multishot poll waits on; a
        // request's one-shot internal poll is issued again all the same (IOU_POLL_REISSUE), which selects
        // a provided buffer before it finds it must wait (found by the soak: -ENOBUFS from an empty ring).
        var mask = r.PollWakeMask != 0 ? r.PollWakeMask : Posix.PollNow(r.File) & r.PollEvents;
        if (mask == 0 && !(r.AsyncPoll && !KeepsPollArmed(ref r)))
        {
            return;
        }

        if (r.AsyncPoll)
        {
            // A multishot receive's or read's entry stays on the file's wait queue, where it was, until
            // the request ends (so it keeps its turn among the file's waiters).
            var keep = KeepsPollArmed(ref r);
            if (!keep)
            {
                DisarmPoll(i);
            }

            r.AsyncPoll = false;
            issuingFromPoll = true;
            Issue(i);
            issuingFromPoll = false;
            if (keep && !requests[i].AsyncPoll)
            {
                DisarmPoll(i);
            }

            return;
        }

        if ((r.PollEvents & EpollOneshot) != 0 || !PostMultishot(r.UserData, (int)mask))
        {
            DisarmPoll(i);
            r.Res = (int)mask;
            Complete(i);
        }
    }

    /// <summary>
    /// A multishot CQE (IORING_CQE_F_MORE), posted at once as an auxiliary CQE (it counts as extra for
    /// drains); false when this kernel ends the multishot request instead (<see cref="KernelProfile.MultishotCqFull"/>).
    /// </summary>
    /// <param name="rule">What a full CQ does to it: the profile's (<see cref="KernelProfile.MultishotCqFull"/>, a poll's) unless given.</param>
    private bool PostMultishot(ulong userData, int res, uint flags = 0, MultishotCqFull? rule = null)
    {
        cqExtra++;

        // Completions already batched are flushed first, so CQEs keep their order (io_req_post_cqe;
        // measured on the host: a NOP completed through task work just before posts first), and the
        // room is what they leave (found by the soak: a multishot RECV woken after a RECV's task work).
        // Older kernels write this CQE at once and the batch follows (KernelProfile.MultishotCqeJumpsBatch).
        if (!profile.MultishotCqeJumpsBatch)
        {
            FlushCompletions();
        }

        var full = cqTail - Volatile.Read(ref U32(header.CqHead)) >= cqEntries;
        var stops = (rule ?? profile.MultishotCqFull) switch
        {
            MultishotCqFull.StopsWhenFull => full || overflow.Count > 0,
            MultishotCqFull.StopsAfterOverflow => overflow.Count > 0,
            _ => false,
        };
        if (stops)
        {
            return false;
        }

        Post(new PendingCqe(userData, res, Constants.IORING_CQE_F_MORE | flags, false, 0, 0));
        Volatile.Write(ref U32(header.CqTail), cqTail);
        postedSinceCommit = true;
        return true;
    }

    /// <summary>
    /// io_poll_remove: the POLL_ADD named by user_data (-ENOENT; -EALREADY when its task work is queued),
    /// disarmed; with an update its events or user_data change and it is armed again (completing at once
    /// if now ready, <see cref="KernelProfile.PollUpdateLosesInlineCompletion"/>); without one it completes
    /// with -ECANCELED (<see cref="KernelProfile.PollRemoveCompletesInline"/>: in this batch, before
    /// the removal's own CQE, or from task work after it).
    /// </summary>
    private void ExecutePollRemove(ref Request remove)
    {
        // A removal names a user_data, so the kernel searches that user_data's bucket alone, most
        // recently armed first: the last match in arming order (PollSearchOrder sorts every armed poll,
        // which a program with thousands armed cannot afford per removal).
        var found = -1;
        for (var k = polls.Count - 1; k >= 0; k--)
        {
            var i = polls[k];
            if (requests[i].Kind == OpKind.PollAdd && requests[i].UserData == remove.Addr)
            {
                found = i;
                break;
            }
        }

        if (found < 0 || requests[found].PollFiring || requests[found].PollCancelled)
        {
            remove.Res = found < 0 ? -Errno.ENOENT : -Errno.EALREADY;
            remove.SetFail();
            return;
        }

        DisarmPoll(found);
        ref var p = ref requests[found];
        var flags = remove.OpFlags;
        if ((flags & (PollUpdateEvents | PollUpdateUserData)) != 0)
        {
            if ((flags & PollUpdateEvents) != 0)
            {
                p.PollEvents = (p.PollEvents & ~0xffffu) | (remove.PollEvents & 0xffff) | PollUnmask;
            }

            if ((flags & PollUpdateUserData) != 0)
            {
                p.UserData = remove.Off;
            }

            switch (ExecutePollAdd(found))
            {
                case Completion.Polled:
                    remove.Res = 0;
                    return;
                case Completion.Inline when profile.PollUpdateLosesInlineCompletion:
                    // The completion is lost: the request is freed without a CQE.
                    Free(found);
                    remove.Res = 0;
                    return;
                case Completion.Inline:
                    break;
                default:
                    p.Fail(-Errno.ECANCELED);
                    break;
            }
        }
        else
        {
            p.Fail(-Errno.ECANCELED);
        }

        if (p.Res < 0)
        {
            p.SetFail();
        }

        if (profile.PollRemoveCompletesInline)
        {
            Complete(found);
        }
        else
        {
            work.Enqueue(new Work(WorkKind.Complete, found, false));
        }

        remove.Res = 0;
    }

    /// <summary>
    /// io_poll_cancel: the first armed poll the key matches (a file key or ANY searches every bucket;
    /// otherwise the bucket of the user_data), marked cancelled (again, if an earlier cancellation did and
    /// its task work has not run); its task work completes it.
    /// </summary>
    private bool CancelOnePoll(ref Request cancel, uint seq)
    {
        foreach (var i in PollSearchOrder())
        {
            ref var p = ref requests[i];
            // 6.1 searches its poll table by user_data, or by file with a file key or ANY, whatever other
            // key the cancellation names (TimeoutCancelByUserDataOnly: its timeout list alike).
            var byUserData = (cancel.OpFlags & CancelFd) == 0;
            // A poll already cancelled stays in the cancel hash until its task work runs, so another
            // cancellation meanwhile finds it again and counts it (found by the soak on the host).
            if (!CancelMatches(ref cancel, ref p, seq, fileMatches: FileKeyMatches(ref cancel, ref p), timeoutList: byUserData))
            {
                continue;
            }

            p.PollCancelled = true;
            FirePoll(i, AnyEvents);
            return true;
        }

        return false;
    }

    /// <summary>Whether the request holds the file a cancellation's file key names (the same descriptor).</summary>
    private bool FileKeyMatches(ref Request cancel, ref Request req)
    {
        if ((cancel.OpFlags & CancelFd) == 0)
        {
            return false;
        }

        var fixedTable = (cancel.SqeFlags & (byte)IoUringSqeFlags.IOSQE_FIXED_FILE) != 0 || (cancel.OpFlags & CancelFdFixed) != 0;
        var key = fixedTable ? FixedFile(cancel.Fd) : cancel.Fd;
        return key >= 0 && key == req.File;
    }

    /// <summary>
    /// The armed polls in the order the kernel's cancel hash table gives them: by bucket
    /// (hash_64 of the user_data, ilog2(CQ entries) - 5 bits, at least 1 and at most 8), and in a
    /// bucket the most recently armed first.
    /// </summary>
    private IEnumerable<int> PollSearchOrder()
    {
        var bits = Math.Clamp(System.Numerics.BitOperations.Log2(cqEntries) - 5, 1, 8);
        var order = new List<(ulong Bucket, int Age, int Slot)>(polls.Count);
        for (var k = 0; k < polls.Count; k++)
        {
            var i = polls[k];
            order.Add((unchecked(requests[i].UserData * 0x61C8864680B583EBUL) >> (64 - bits), -k, i));
        }

        order.Sort();
        foreach (var (_, _, slot) in order)
        {
            yield return slot;
        }
    }

    /// <summary>Closes the epoll set and the armed polls' duplicate descriptors (the ring's exit).</summary>
    private void ReleasePolls()
    {
        foreach (var i in polls.ToArray())
        {
            DisarmPoll(i);
        }

        polls.Clear();

        if (pollWatch >= 0)
        {
            Posix.Close(pollWatch);
            pollWatch = -1;
        }
    }
}
