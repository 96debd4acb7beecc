using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// IORING_OP_TIMEOUT, IORING_OP_LINK_TIMEOUT and IORING_OP_TIMEOUT_REMOVE, as the kernel's timeout.c has them:
/// <list type="bullet">
/// <item>An armed timeout waits in the ring's timeout list: those that wait for a count of completions
/// first, in the order of the CQ sequence they wait for, then the pure timers (no count, or multishot)
/// in the order they were armed.</item>
/// <item>A count is met at a commit of the CQ (io_flush_timeouts): the sequence is the CQ tail (the
/// kernel's cached one: slots, so fillers and the second half of a 32-byte CQE on a CQE_MIXED ring count,
/// and a completion waiting in the overflow list does not yet) less the CQEs of timeouts that fired or
/// were met. The timeout completes with 0 through task work.</item>
/// <item>A timer that expires completes with -ETIME through task work, as a failure unless
/// IORING_TIMEOUT_ETIME_SUCCESS; a multishot one posts -ETIME with IORING_CQE_F_MORE and is armed again
/// until its count of firings is spent (with none, for ever).</item>
/// <item>A LINK_TIMEOUT times the request before it in its chain: armed when that request does not
/// complete at once (it waits, goes to io-wq, or completes through task work); when the request
/// completes, the timeout leaves the chain and completes with -ECANCELED; when its timer fires first,
/// it cancels the request by user_data and completes with -ETIME.</item>
/// <item>TIMEOUT_REMOVE cancels an armed timeout by user_data (-ECANCELED, a failure, through task
/// work; its own CQE 0, or -ENOENT), or with IORING_TIMEOUT_UPDATE gives it a new time and makes it a
/// pure timer. A removed timeout's CQE counts toward other timeouts' counts; a fired or met one's does not.</item>
/// </list>
/// The engine's timers are real: the deadline is taken on the timer's clock when it is armed, expired
/// timers fire whenever the engine is entered, and a wait sleeps until the next timer when that comes
/// before the wait's own timeout (ReferenceEngine.Enter).
/// </summary>
internal sealed unsafe partial class EngineRing
{
    private const long KtimeMax = long.MaxValue;
    private const long KtimeSecMax = KtimeMax / 1_000_000_000;

    private const uint TimeoutAbs = (uint)IoUringTimeoutFlags.IORING_TIMEOUT_ABS;
    private const uint TimeoutUpdate = (uint)IoUringTimeoutFlags.IORING_TIMEOUT_UPDATE;
    private const uint TimeoutBoottime = (uint)IoUringTimeoutFlags.IORING_TIMEOUT_BOOTTIME;
    private const uint TimeoutRealtime = (uint)IoUringTimeoutFlags.IORING_TIMEOUT_REALTIME;
    private const uint TimeoutClockMask = TimeoutBoottime | TimeoutRealtime;
    private const uint LinkTimeoutUpdate = (uint)IoUringTimeoutFlags.IORING_LINK_TIMEOUT_UPDATE;
    private const uint TimeoutUpdateMask = TimeoutUpdate | LinkTimeoutUpdate;
    private const uint TimeoutEtimeSuccess = (uint)IoUringTimeoutFlags.IORING_TIMEOUT_ETIME_SUCCESS;
    private const uint TimeoutMultishot = (uint)IoUringTimeoutFlags.IORING_TIMEOUT_MULTISHOT;
    private const uint TimeoutImmediateArg = (uint)IoUringTimeoutFlags.IORING_TIMEOUT_IMMEDIATE_ARG;

    // The kernel's timeout_list (request slots), cq_timeouts (CQEs of timeouts that fired or whose count
    // was met: they do not count toward other timeouts), cq_last_tm_flush and off_timeout_used.
    private readonly List<int> timeouts = new(4);

    // The kernel's ltimeout_list: armed LINK_TIMEOUTs.
    private readonly List<int> linkTimeouts = new(4);
    private uint cqTimeouts;
    private uint cqLastTimeoutFlush;
    private bool countTimeoutsUsed;

    /// <summary>Whether a timeout is armed: held requests may be waiting for it to complete.</summary>
    private bool TimeoutsArmed => timeouts.Count > 0 || linkTimeouts.Count > 0;

    /// <summary>
    /// io_timeout_prep: one timespec (len 1), no buffer index or file index, only the timeout flags
    /// this kernel knows, one clock, multishot only relative; then the time, read from user memory
    /// (-EFAULT), or with IORING_TIMEOUT_IMMEDIATE_ARG taken from addr as nanoseconds.
    /// </summary>
    private int PrepareTimeout(ref Request r, io_uring_sqe* sqe)
    {
        var flags = sqe->timeout_flags;
        r.OpFlags = flags;
        if (sqe->buf_index != 0 || sqe->len != 1 || sqe->splice_fd_in != 0)
        {
            return -Errno.EINVAL;
        }

        if ((flags & ~profile.TimeoutFlags) != 0 || System.Numerics.BitOperations.PopCount(flags & TimeoutClockMask) > 1)
        {
            return -Errno.EINVAL;
        }

        if ((flags & (TimeoutMultishot | TimeoutAbs)) == (TimeoutMultishot | TimeoutAbs))
        {
            return -Errno.EINVAL;
        }

        r.TimeoutCount = (uint)sqe->off;
        countTimeoutsUsed |= r.TimeoutCount != 0;
        r.Repeats = (flags & TimeoutMultishot) != 0 ? r.TimeoutCount : 0;
        r.Absolute = (flags & TimeoutAbs) != 0;
        r.Clock = (flags & TimeoutClockMask) switch
        {
            TimeoutBoottime => Posix.ClockBoottime,
            TimeoutRealtime => Posix.ClockRealtime,
            _ => Posix.ClockMonotonic,
        };
        return ReadTime(sqe->addr, flags, out r.TimeNs);
    }

    /// <summary>
    /// io_link_timeout_prep: a TIMEOUT's checks with no count (off must be 0), then it must follow a
    /// request in a chain being built that is not itself a LINK_TIMEOUT; that request arms it.
    /// </summary>
    private int PrepareLinkTimeout(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->buf_index != 0 || sqe->len != 1 || sqe->splice_fd_in != 0 || sqe->off != 0)
        {
            r.OpFlags = sqe->timeout_flags;
            return -Errno.EINVAL;
        }

        var error = PrepareTimeout(ref r, sqe);
        if (error != 0)
        {
            return error;
        }

        if (linkHead < 0 || requests[linkLast].Kind == OpKind.LinkTimeout)
        {
            return -Errno.EINVAL;
        }

        requests[linkLast].ArmsLinkTimeout = true;
        return 0;
    }

    /// <summary>
    /// io_timeout_remove_prep: no fixed file or buffer selection, no buffer index, len or file index.
    /// Without an update flag no flag at all; with one, ABS (and IMMEDIATE_ARG where the kernel has it)
    /// besides, and the new time read from addr2.
    /// </summary>
    private int PrepareTimeoutRemove(ref Request r, io_uring_sqe* sqe)
    {
        var flags = sqe->timeout_flags;
        r.OpFlags = flags;
        if ((r.SqeFlags & (byte)(IoUringSqeFlags.IOSQE_FIXED_FILE | IoUringSqeFlags.IOSQE_BUFFER_SELECT)) != 0)
        {
            return -Errno.EINVAL;
        }

        if (sqe->buf_index != 0 || sqe->len != 0 || sqe->splice_fd_in != 0)
        {
            return -Errno.EINVAL;
        }

        if ((flags & TimeoutUpdateMask) == 0)
        {
            return flags != 0 ? -Errno.EINVAL : 0;
        }

        if (System.Numerics.BitOperations.PopCount(flags & TimeoutClockMask) > 1
            || (flags & ~(TimeoutUpdateMask | TimeoutAbs | (profile.TimeoutFlags & TimeoutImmediateArg))) != 0)
        {
            return -Errno.EINVAL;
        }

        r.Absolute = (flags & TimeoutAbs) != 0;
        return ReadTime(sqe->off, flags, out r.TimeNs);
    }

    /// <summary>
    /// The time a timeout or an update carries (io_parse_user_time): a __kernel_timespec at
    /// <paramref name="arg"/> (-EFAULT when it cannot be read, -EINVAL when either field is negative;
    /// a 32-bit process's tv_nsec is its low 32 bits),
    /// or with IMMEDIATE_ARG the nanoseconds in <paramref name="arg"/> itself (-EINVAL when negative as
    /// a ktime). Converted as timespec64_to_ktime does, saturating at KTIME_MAX.
    /// </summary>
    private int ReadTime(ulong arg, uint flags, out long ns)
    {
        ns = 0;
        if ((flags & TimeoutImmediateArg) != 0 && (profile.TimeoutFlags & TimeoutImmediateArg) != 0)
        {
            ns = (long)arg;
            return ns < 0 ? -Errno.EINVAL : 0;
        }

        __kernel_timespec ts;
        if (Posix.CopyFromUser(&ts, arg, (nuint)sizeof(__kernel_timespec)) != 0)
        {
            return -Errno.EFAULT;
        }

        // get_timespec64 in a compat (32-bit) system call keeps only the low 32 bits of tv_nsec, the
        // field's padding there: a tv_nsec of -1 is then 4294967295, not negative (found by the
        // matrix's 32-bit columns on every kernel).
        if (profile.CompatProcess)
        {
            ts.tv_nsec &= 0xFFFFFFFF;
        }

        if (ts.tv_sec < 0 || ts.tv_nsec < 0)
        {
            return -Errno.EINVAL;
        }

        ns = Ktime(ts);
        return 0;
    }

    /// <summary>timespec64_to_ktime: nanoseconds, saturating at KTIME_MAX.</summary>
    internal static long Ktime(__kernel_timespec ts) =>
        ts.tv_sec >= KtimeSecMax ? KtimeMax : Math.Min(KtimeMax, (ts.tv_sec * 1_000_000_000) + ts.tv_nsec);

    /// <summary>Nanoseconds until a timer's deadline on its clock (0: due).</summary>
    private static long DueIn(ref Request timer) =>
        timer.Deadline == KtimeMax ? KtimeMax : Math.Max(0, timer.Deadline - Posix.ClockNs(timer.Clock));

    /// <summary>
    /// io_timeout: arms the timer and enters the timeout list. A timeout waiting for a count takes the
    /// CQ sequence it waits for from the tail as it is now, and goes in front of the first one (from the
    /// back, pure timers passed over) that waits for no more than it does.
    /// </summary>
    private void ArmTimeout(int i)
    {
        ref var r = ref requests[i];
        r.Deadline = DeadlineOf(r.Clock, r.TimeNs, r.Absolute);
        if (IsPureTimer(ref r))
        {
            timeouts.Add(i);
            return;
        }

        var tail = cqTail - cqTimeouts;
        r.TargetSeq = tail + r.TimeoutCount;
        cqLastTimeoutFlush = tail;
        var at = timeouts.Count;
        while (at > 0)
        {
            ref var before = ref requests[timeouts[at - 1]];
            if (!IsPureTimer(ref before) && r.TimeoutCount >= before.TargetSeq - tail)
            {
                break;
            }

            at--;
        }

        timeouts.Insert(at, i);
    }

    private static bool IsPureTimer(ref Request r) => r.TimeoutCount == 0 || (r.OpFlags & TimeoutMultishot) != 0;

    private static long DeadlineOf(int clock, long ns, bool absolute)
    {
        if (absolute)
        {
            return ns;
        }

        var now = Posix.ClockNs(clock);
        return ns > KtimeMax - now ? KtimeMax : now + ns;
    }

    /// <summary>
    /// io_flush_timeouts, at every commit once a timeout with a count was prepared: from the front of
    /// the list, each timeout whose count the CQ sequence has reached completes (0, through task work);
    /// a pure timer or one still short ends the walk.
    /// </summary>
    private void FlushTimeouts()
    {
        if (!countTimeoutsUsed)
        {
            return;
        }

        var seq = cqTail - cqTimeouts;
        while (timeouts.Count > 0)
        {
            var i = timeouts[0];
            ref var r = ref requests[i];
            if (IsPureTimer(ref r) || seq - cqLastTimeoutFlush < r.TargetSeq - cqLastTimeoutFlush)
            {
                break;
            }

            timeouts.RemoveAt(0);
            cqTimeouts++;
            r.Res = 0;
            work.Enqueue(new Work(WorkKind.Complete, i, false));
        }

        cqLastTimeoutFlush = seq;
    }

    /// <summary>
    /// io_timeout_fn for every timer whose deadline has passed: out of the list, counted as a timeout's
    /// CQE, -ETIME (a failure unless ETIME_SUCCESS), completed through task work, which then runs.
    /// </summary>
    public void RunTimers()
    {
        // A multishot timer armed again by its own firing may be due again at once (an interval of 0):
        // it fires again, as the kernel's would, as many times as its count allows. Without a count the
        // kernel's would fire for ever; the engine stops after a bound per enter.
        for (var pass = 0; pass < 1024 && TimeoutsArmed && FireExpired(); pass++)
        {
            RunTaskWork();
        }
    }

    private bool FireExpired()
    {
        var fired = false;

        // io_link_timeout_fn: the timeout leaves the timed request's chain (which keeps the rest of it)
        // and the list; task work then cancels the timed request.
        for (var k = 0; k < linkTimeouts.Count;)
        {
            var i = linkTimeouts[k];
            ref var lt = ref requests[i];
            if (DueIn(ref lt) > 0)
            {
                k++;
                continue;
            }

            linkTimeouts.RemoveAt(k);
            lt.LinkTimeoutArmed = false;
            ref var timed = ref requests[lt.TimedRequest];
            timed.ArmsLinkTimeout = false;
            timed.Next = lt.Next;
            lt.Next = -1;
            work.Enqueue(new Work(WorkKind.LinkTimerFired, i, false));
            fired = true;
        }

        for (var k = 0; k < timeouts.Count;)
        {
            var i = timeouts[k];
            ref var r = ref requests[i];
            if (DueIn(ref r) > 0)
            {
                k++;
                continue;
            }

            timeouts.RemoveAt(k);
            cqTimeouts++;
            if ((r.OpFlags & TimeoutEtimeSuccess) == 0)
            {
                r.SetFail();
            }

            r.Res = -Errno.ETIME;
            work.Enqueue(new Work(WorkKind.TimerFired, i, false));
            fired = true;
        }

        return fired;
    }

    /// <summary>
    /// io_queue_linked_timeout: the request <paramref name="i"/> does not complete at once (it waits, goes
    /// to io-wq, or completes through task work), so the LINK_TIMEOUT after it starts its timer.
    /// </summary>
    private void ArmLinkTimeout(int i)
    {
        ref var r = ref requests[i];
        if (!r.ArmsLinkTimeout || r.Next < 0 || requests[r.Next].Kind != OpKind.LinkTimeout || requests[r.Next].LinkTimeoutArmed)
        {
            return;
        }

        ref var lt = ref requests[r.Next];
        lt.LinkTimeoutArmed = true;
        lt.TimedRequest = i;
        lt.Deadline = DeadlineOf(lt.Clock, lt.TimeNs, lt.Absolute);
        linkTimeouts.Add(r.Next);
    }

    /// <summary>
    /// io_disarm_next, as a request completes: the LINK_TIMEOUT after it leaves the chain (which goes on
    /// from the request after the timeout) and completes with -ECANCELED through task work, armed or not.
    /// </summary>
    private void DisarmLinkTimeout(ref Request r)
    {
        if (!r.ArmsLinkTimeout)
        {
            return;
        }

        r.ArmsLinkTimeout = false;
        if (r.Next < 0 || requests[r.Next].Kind != OpKind.LinkTimeout)
        {
            return;
        }

        var k = r.Next;
        ref var lt = ref requests[k];
        r.Next = lt.Next;
        lt.Next = -1;
        if (lt.LinkTimeoutArmed)
        {
            lt.LinkTimeoutArmed = false;
            linkTimeouts.Remove(k);
        }

        lt.Res = -Errno.ECANCELED;
        work.Enqueue(new Work(WorkKind.Complete, k, false));
    }

    /// <summary>
    /// io_req_task_link_timeout, from task work after the timer fired: the timed request is cancelled by
    /// its user_data (a TIMEOUT it times is found and completes with -ECANCELED); the LINK_TIMEOUT itself
    /// completes with -ETIME, or with the cancellation's error when it found nothing.
    /// </summary>
    private void LinkTimerFired(int k)
    {
        ref var lt = ref requests[k];
        var cancel = new Request { UserData = lt.UserData, Addr = requests[lt.TimedRequest].UserData, OpFlags = 0 };
        // io_try_cancel, as an ASYNC_CANCEL by user_data: the timed request may be an armed poll or a
        // read waiting for readiness, or a TIMEOUT.
        var res = TryCancel(ref cancel, ++cancelSeq);
        lt.Res = res == 0 ? -Errno.ETIME : res;
        Complete(k);
    }

    /// <summary>How long until the next armed timer fires, in nanoseconds (0: it is due), or null with none armed.</summary>
    public long? NextTimerIn()
    {
        long? next = null;
        foreach (var list in (ReadOnlySpan<List<int>>)[timeouts, linkTimeouts])
        {
            foreach (var i in list)
            {
                var due = DueIn(ref requests[i]);
                next = next is { } n ? Math.Min(n, due) : due;
            }
        }

        return next;
    }

    /// <summary>
    /// io_timeout_complete, from task work: a multishot timeout that has firings left posts -ETIME with
    /// IORING_CQE_F_MORE there and then and is armed again at the back of the list; anything else
    /// completes in the batch.
    /// </summary>
    private void TimerFired(int i)
    {
        ref var r = ref requests[i];
        // A firing that is not the last posts with IORING_CQE_F_MORE and the timer is armed again, but only
        // while that CQE goes straight into the CQ (io_timeout_complete posts it without overflowing): with
        // the CQ full, or CQEs waiting in the overflow list, the timeout completes instead, its -ETIME the
        // last CQE (found by the soak on 6.12, 7.2 and 7.3-rc with a two-slot CQ).
        var again = (r.OpFlags & TimeoutMultishot) != 0 && (r.TimeoutCount == 0 || (r.Repeats != 0 && --r.Repeats != 0));
        if (!again || !PostMultishot(r.UserData, -Errno.ETIME, rule: MultishotCqFull.StopsWhenFull))
        {
            Complete(i);
            return;
        }

        Committed();
        r.Deadline = DeadlineOf(r.Clock, r.TimeNs, r.Absolute);
        timeouts.Add(i);
    }

    /// <summary>
    /// io_timeout_remove: without IORING_TIMEOUT_UPDATE, cancels the first armed timeout with the user_data
    /// in addr (io_timeout_cancel: it completes with -ECANCELED, as a failure, through task work); with it,
    /// gives that timeout the new time and makes it a pure timer at the back of the list (its clock kept).
    /// A linked timeout's update looks only among armed linked timeouts. 0, or -ENOENT when none matches;
    /// the result completes inline either way, a failure when negative.
    /// </summary>
    private void ExecuteTimeoutRemove(ref Request r)
    {
        int res;
        var found = -1;
        for (var k = 0; k < timeouts.Count && found < 0; k++)
        {
            found = requests[timeouts[k]].UserData == r.Addr ? k : -1;
        }

        if ((r.OpFlags & TimeoutUpdate) == 0)
        {
            res = found < 0 ? -Errno.ENOENT : 0;
            if (found >= 0)
            {
                var k = timeouts[found];
                timeouts.RemoveAt(found);
                requests[k].Res = -Errno.ECANCELED;
                work.Enqueue(new Work(WorkKind.Cancel, k, false));
            }
        }
        else if ((r.OpFlags & LinkTimeoutUpdate) != 0)
        {
            // io_linked_timeout_update: an armed LINK_TIMEOUT with that user_data gets the new time.
            res = -Errno.ENOENT;
            foreach (var k in linkTimeouts)
            {
                ref var lt = ref requests[k];
                if (lt.UserData == r.Addr)
                {
                    lt.TimeNs = r.TimeNs;
                    lt.Absolute = r.Absolute;
                    lt.Deadline = DeadlineOf(lt.Clock, lt.TimeNs, lt.Absolute);
                    res = 0;
                    break;
                }
            }
        }
        else
        {
            res = found < 0 ? -Errno.ENOENT : 0;
            if (found >= 0)
            {
                var k = timeouts[found];
                timeouts.RemoveAt(found);
                ref var t = ref requests[k];
                t.TimeoutCount = 0;
                t.TimeNs = r.TimeNs;
                t.Absolute = r.Absolute;
                t.Deadline = DeadlineOf(t.Clock, t.TimeNs, t.Absolute);
                timeouts.Add(k);
            }
        }

        r.Res = res;
        if (res < 0)
        {
            r.SetFail();
        }
    }
}
