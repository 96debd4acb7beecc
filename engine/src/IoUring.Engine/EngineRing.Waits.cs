using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// WAITID and EPOLL_WAIT: requests that wait on something other than a file transfer. EPOLL_WAIT takes
/// what an epoll instance has ready, or waits for it through the internal poll of the epoll file.
/// WAITID answers from the task's children: none that could match is -ECHILD at once, as is a wait with
/// WNOHANG when none is ready. A child the wait finds, or one it would wait for, is named as unmodelled
/// (the engine never reaps a child of the process it runs in: that could be its host's).
/// </summary>
internal sealed unsafe partial class EngineRing
{
    // WNOHANG and WNOWAIT: what the engine adds to look at the children without reaping or waiting.
    private const int WaitNoHang = 1;
    private const int WaitNoWait = 0x0100_0000;

    /// <summary>io_waitid_prep: addr, buf_index, addr3 and the flags must be 0; which in len, the id in fd (no file), the options in file_index, the siginfo at addr2.</summary>
    private static int PrepareWaitid(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->addr != 0 || sqe->buf_index != 0 || sqe->addr3 != 0 || sqe->waitid_flags != 0)
        {
            return -Errno.EINVAL;
        }

        r.FileSlot = sqe->file_index;
        return 0;
    }

    /// <summary>
    /// io_waitid: the arguments checked as waitid(2) checks them (the failure fails the request, nothing
    /// written), then one look at the children. Its answer (-ECHILD, or 0 with WNOHANG) writes signo,
    /// errno, code, pid, uid and status of the siginfo at addr2, all 0, when addr2 is set; a fault there
    /// is -EFAULT instead.
    /// </summary>
    private void ExecuteWaitid(ref Request r)
    {
        var info = stackalloc byte[128];
        var options = (int)r.FileSlot;
        var rc = Posix.Waitid((int)r.Len, r.Fd, info, options | WaitNoHang | WaitNoWait);
        if (rc < 0 && rc != -Errno.ECHILD)
        {
            r.Fail(rc);
            return;
        }

        if (rc == 0 && (*(int*)(info + 16) != 0 || (options & WaitNoHang) == 0))
        {
            engine.ReportUnmodelled(*(int*)(info + 16) != 0 ? "WAITID finding a child" : "WAITID waiting for a child");
            r.Fail(-Errno.EOPNOTSUPP);
            return;
        }

        // io_waitid_copy_si: the six fields only, the union after the three ints at 12 (compat) or 16.
        var fields = stackalloc int[6];
        var union = profile.CompatProcess ? 12u : 16u;
        if (r.Off != 0 && (Posix.CopyToUser(r.Off, fields, 12) != 0 || Posix.CopyToUser(r.Off + union, fields + 3, 12) != 0))
        {
            rc = -Errno.EFAULT;
        }

        if (rc < 0)
        {
            r.Fail(rc);
        }
        else
        {
            r.Res = 0;
        }
    }

    /// <summary>io_epoll_wait_prep: off, the flags, buf_index and splice_fd_in must be 0; the events at addr, at most len.</summary>
    private static int PrepareEpollWait(io_uring_sqe* sqe) =>
        sqe->off != 0 || sqe->rw_flags != 0 || sqe->buf_index != 0 || sqe->splice_fd_in != 0 ? -Errno.EINVAL : 0;

    /// <summary>
    /// io_epoll_wait: epoll_wait(2) without waiting, which checks the count, the events' range and the
    /// file in the kernel's order; an error fails the request, events are its result, and none makes it
    /// wait for the epoll file's readiness (<see cref="Request.NeedsPoll"/>) and look again.
    /// </summary>
    private void ExecuteEpollWait(ref Request r)
    {
        r.NeedsPoll = false;
        if (!FileOf(ref r))
        {
            r.Fail(-Errno.EBADF);
            return;
        }

        var n = Posix.EpollWaitNow(r.File, r.Addr, (int)r.Len);
        if (n < 0)
        {
            r.Fail(n);
        }
        else if (n == 0)
        {
            r.NeedsPoll = true;
        }
        else
        {
            r.Res = n;
        }
    }
}
