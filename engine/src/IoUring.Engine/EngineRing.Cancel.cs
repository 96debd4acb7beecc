using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// IORING_OP_ASYNC_CANCEL, as the kernel's cancel.c has it, over what the engine can hold in flight:
/// armed polls and armed timeouts. The kernel looks in turn at io-wq's pending work, armed polls,
/// waitids, futexes and (unless the key is a file) the timeout list; the engine runs io-wq work before
/// the enter returns and arms no waitids, so polls, futex waits and timeouts are what a cancellation can find. Held drained requests
/// wait in the defer list, which cancellation does not search (only the ring's exit does).
/// </summary>
internal sealed unsafe partial class EngineRing
{
    private const uint CancelAll = (uint)IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ALL;
    private const uint CancelFd = (uint)IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_FD;
    private const uint CancelAny = (uint)IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ANY;
    private const uint CancelFdFixed = (uint)IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_FD_FIXED;
    private const uint CancelUserData = (uint)IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_USERDATA;
    private const uint CancelOp = (uint)IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_OP;

    // The kernel's cancel_seq: each cancellation marks what it matched, so ALL and ANY take a request once.
    private uint cancelSeq;

    // Whether the request executing now runs in io-wq (where a cancellation can find itself running).
    private bool runningInIoWq;

    /// <summary>
    /// io_async_cancel_prep: no offset or file index, only the flags this kernel knows, neither a file nor
    /// an opcode key together with ANY; the file key comes from fd, the opcode key from len.
    /// </summary>
    private int PrepareAsyncCancel(ref Request r, io_uring_sqe* sqe)
    {
        var flags = sqe->cancel_flags;
        r.OpFlags = flags;
        if (sqe->off != 0 || sqe->splice_fd_in != 0)
        {
            return -Errno.EINVAL;
        }

        if ((flags & ~profile.CancelFlags) != 0)
        {
            return -Errno.EINVAL;
        }

        if ((flags & (CancelFd | CancelOp)) != 0 && (flags & CancelAny) != 0)
        {
            return -Errno.EINVAL;
        }

        return 0;
    }

    /// <summary>
    /// io_async_cancel: a file key is looked up first (-EBADF; the fixed table with IOSQE_FIXED_FILE or
    /// FD_FIXED). Then __io_async_cancel: the first match is cancelled, or with ALL or ANY every match,
    /// counted (0 when none); a request that finds only running io-wq work gets -EALREADY. A file key never
    /// matches a timeout. The result completes inline, a failure when negative; a cancelled timeout
    /// completes with -ECANCELED after it, through task work.
    /// </summary>
    private void ExecuteAsyncCancel(ref Request r)
    {
        var flags = r.OpFlags;
        if ((flags & CancelFd) != 0)
        {
            var fixedTable = (r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_FIXED_FILE) != 0 || (flags & CancelFdFixed) != 0;
            if (!(fixedTable ? FixedFile(r.Fd) >= 0 : Posix.IsOpen(r.Fd)))
            {
                r.Res = -Errno.EBADF;
                r.SetFail();
                return;
            }
        }

        var all = (flags & (CancelAll | CancelAny)) != 0;
        var seq = ++cancelSeq;
        var cancelled = 0;
        int res;
        while (true)
        {
            res = TryCancel(ref r, seq);
            if (res == -Errno.ENOENT)
            {
                break;
            }

            if (!all)
            {
                Finish(ref r, res);
                return;
            }

            cancelled++;
        }

        // The slow path looks in every io-wq of the ring's tasks again (the engine's process has one).
        res = CancelInIoWq(ref r, seq);
        if (res != -Errno.ENOENT && all)
        {
            cancelled++;
        }

        Finish(ref r, all ? cancelled : res);

        static void Finish(ref Request r, int res)
        {
            r.Res = res;
            if (res < 0)
            {
                r.SetFail();
            }
        }
    }

    /// <summary>
    /// IORING_REGISTER_SYNC_CANCEL (io_sync_cancel): the key of an ASYNC_CANCEL in a struct
    /// io_uring_sync_cancel_reg (its padding zero, its flags this kernel's), a file key looked up first
    /// (-EBADF), then the same search. The first match, or with ALL or ANY the count, is the result, and
    /// no match is -ENOENT; the cancelled requests' CQEs are posted by the task work that runs before the
    /// call returns. Only a match running in io-wq makes the kernel wait (up to the struct's timeout), and
    /// the engine's io-wq runs nothing between calls.
    /// </summary>
    private int SyncCancel(void* arg, uint nrArgs)
    {
        if (arg == null || nrArgs != 1)
        {
            return -Errno.EINVAL;
        }

        io_uring_sync_cancel_reg sc;
        if (Posix.CopyFromUser(&sc, (ulong)arg, (nuint)sizeof(io_uring_sync_cancel_reg)) != 0)
        {
            return -Errno.EFAULT;
        }

        if ((sc.flags & ~profile.CancelFlags) != 0)
        {
            return -Errno.EINVAL;
        }

        // Where the header has no opcode key, its byte is padding too.
        var pad = (byte*)&sc.pad;
        for (var k = 0; k < 7; k++)
        {
            if (pad[k] != 0 || (!profile.SyncCancelTakesOpcode && sc.opcode != 0))
            {
                return -Errno.EINVAL;
            }
        }

        var pad2 = (ulong*)&sc.pad2;
        if (pad2[0] != 0 || pad2[1] != 0 || pad2[2] != 0)
        {
            return -Errno.EINVAL;
        }

        var key = new Request { OpFlags = sc.flags, Addr = sc.addr, Len = sc.opcode, Fd = sc.fd, Next = -1 };
        if ((sc.flags & CancelFd) != 0 && !((sc.flags & CancelFdFixed) != 0 ? FixedFile(sc.fd) >= 0 : Posix.IsOpen(sc.fd)))
        {
            return -Errno.EBADF;
        }

        var all = (sc.flags & (CancelAll | CancelAny)) != 0;
        var seq = ++cancelSeq;
        var cancelled = 0;
        var res = -Errno.ENOENT;
        while ((res = TryCancel(ref key, seq)) != -Errno.ENOENT && all)
        {
            cancelled++;
        }

        RunTaskWork();
        return all ? cancelled : res;
    }

    /// <summary>
    /// io_try_cancel: io-wq first (0 only for work not yet started; a running match falls through), then
    /// armed polls, waitids (the engine arms none) and futexes, then, unless the key is a file, the timeouts.
    /// </summary>
    private int TryCancel(ref Request r, uint seq)
    {
        if (CancelInIoWq(ref r, seq) == 0)
        {
            return 0;
        }

        if (CancelOnePoll(ref r, seq))
        {
            return 0;
        }

        // A futex cancellation answers how many it took (1, not 0, for one).
        if (CancelFutexes(ref r, seq) is > 0 and var futexes)
        {
            return futexes;
        }

        return (r.OpFlags & CancelFd) == 0 && CancelOneTimeout(ref r, seq) ? 0 : -Errno.ENOENT;
    }

    /// <summary>
    /// io_async_cancel_one: io-wq work the key matches. The engine's io-wq has nothing pending while a
    /// request runs; what it can find is the cancellation itself, when it runs there (IOSQE_ASYNC, a
    /// drain) and its key matches it (a file key: it holds that file; ANY): -EALREADY, as for any running work.
    /// </summary>
    private int CancelInIoWq(ref Request r, uint seq) =>
        runningInIoWq && CancelMatches(ref r, ref r, seq, fileMatches: true) ? -Errno.EALREADY : -Errno.ENOENT;

    /// <summary>io_timeout_cancel with io_cancel_req_match: the first armed timeout the key matches leaves the list and is cancelled.</summary>
    private bool CancelOneTimeout(ref Request cancel, uint seq)
    {
        for (var k = 0; k < timeouts.Count; k++)
        {
            var i = timeouts[k];
            if (!CancelMatches(ref cancel, ref requests[i], seq, fileMatches: false, timeoutList: true))
            {
                continue;
            }

            timeouts.RemoveAt(k);
            requests[i].Res = -Errno.ECANCELED;
            work.Enqueue(new Work(WorkKind.Cancel, i, false));
            return true;
        }

        return false;
    }

    /// <summary>
    /// io_cancel_req_match: ANY matches everything not yet taken by this cancellation; otherwise the file
    /// (FD: <paramref name="fileMatches"/>, whether the request holds the key's file), the opcode (OP) and
    /// the user_data (USERDATA, or when neither FD nor OP is the key) must match, and with ALL each request
    /// is taken once.
    /// </summary>
    private bool CancelMatches(ref Request cancel, ref Request req, uint seq, bool fileMatches, bool timeoutList = false)
    {
        var flags = cancel.OpFlags;

        // 6.1's timeout list is searched by user_data alone, or for anything with ANY, and ALL and ANY
        // take each timeout once.
        if (profile.TimeoutCancelByUserDataOnly && timeoutList)
        {
            if ((flags & CancelAny) == 0 && req.UserData != cancel.Addr)
            {
                return false;
            }

            if ((flags & (CancelAll | CancelAny)) == 0)
            {
                return true;
            }

            if (req.CancelSeq == seq)
            {
                return false;
            }

            req.CancelSeq = seq;
            return true;
        }

        if ((flags & CancelAny) == 0)
        {
            if ((flags & CancelFd) != 0 && !fileMatches)
            {
                return false;
            }

            var matchUserData = (flags & CancelUserData) != 0 || (flags & (CancelFd | CancelOp)) == 0;
            if ((flags & CancelOp) != 0 && req.Opcode != (byte)cancel.Len)
            {
                return false;
            }

            if (matchUserData && req.UserData != cancel.Addr)
            {
                return false;
            }

            if ((flags & CancelAll) == 0)
            {
                return true;
            }
        }

        if (req.CancelSeq == seq)
        {
            return false;
        }

        req.CancelSeq = seq;
        return true;
    }
}
