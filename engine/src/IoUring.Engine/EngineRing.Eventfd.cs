using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// IORING_REGISTER_EVENTFD, IORING_REGISTER_EVENTFD_ASYNC and IORING_UNREGISTER_EVENTFD: an eventfd the
/// ring signals when it commits new completions.
/// <list type="bullet">
/// <item>A commit of the CQ (a batch flushed, a completion posted on its own, the overflow list
/// flushed) adds 1 to the eventfd's count when the CQ tail moved since the tail the signal last
/// measured, as io_eventfd_signal does: an application may count on the count changing only when a
/// CQE came.</item>
/// <item>Nothing is signalled while the application sets IORING_CQ_EVENTFD_DISABLED in the CQ ring's
/// flags, nor, for an eventfd registered with _ASYNC, by a commit outside io-wq (a completion of the
/// submission itself or of the task's work).</item>
/// <item>Kernels differ in whether such a skipped commit still moves the measured tail
/// (<see cref="KernelProfile.EventfdSkipKeepsTail"/>).</item>
/// <item>The engine holds a duplicate of the eventfd, as the kernel holds its eventfd context: closing the
/// application's descriptor does not stop the signals.</item>
/// </list>
/// </summary>
internal sealed unsafe partial class EngineRing
{
    // The duplicate of the registered eventfd (-1: none), whether it was registered with _ASYNC, and the
    // CQ tail the last signal measured from.
    private int notifyFd = -1;
    private bool notifyAsyncOnly;
    private uint notifyTail;

    // Completions io-wq finished are waiting in the batch: the flush that posts them is the worker's.
    private bool workerCompletionsInBatch;

    // The eventfd signal's own wake-ups are being read (EPOLL_URING_WAKE, see FirePoll).
    private bool uringWake;

    // A multishot CQE was posted since the last commit: the flush that ends the task work (or the
    // submission) commits it even with an empty batch (the kernel's cq_flush).
    private bool postedSinceCommit;

    /// <summary>The commit that follows CQEs posted on their own (multishot CQEs), when no batch was flushed after them.</summary>
    private void CommitPosted()
    {
        if (postedSinceCommit)
        {
            SignalEventfd(runningInIoWq);
        }
    }

    /// <summary>io_eventfd_register: -EBUSY with one registered, -EFAULT for an unreadable descriptor, -EBADF for no file, -EINVAL for a file that is not an eventfd.</summary>
    private int RegisterEventfd(void* arg, uint nrArgs, bool asyncOnly)
    {
        if (nrArgs != 1)
        {
            return -Errno.EINVAL;
        }

        if (notifyFd >= 0)
        {
            return -Errno.EBUSY;
        }

        int fd;
        if (Posix.CopyFromUser(&fd, (ulong)arg, sizeof(int)) != 0)
        {
            return -Errno.EFAULT;
        }

        // An engine ring's descriptor (an eventfd of the engine's own, or a number only the engine knows)
        // is a ring to the application: a file, but not an eventfd.
        if (engine.IsRing(fd))
        {
            return -Errno.EINVAL;
        }

        if (!Posix.IsOpen(fd))
        {
            return -Errno.EBADF;
        }

        if (!Posix.IsEventfd(fd))
        {
            return -Errno.EINVAL;
        }

        notifyFd = Posix.Dup(fd);
        notifyAsyncOnly = asyncOnly;
        notifyTail = cqTail;
        return 0;
    }

    /// <summary>io_eventfd_unregister: -EINVAL for an argument, -ENXIO with none registered.</summary>
    private int UnregisterEventfd(void* arg, uint nrArgs)
    {
        if (arg != null || nrArgs != 0)
        {
            return -Errno.EINVAL;
        }

        if (notifyFd < 0)
        {
            return -Errno.ENXIO;
        }

        ReleaseEventfd();
        return 0;
    }

    private void ReleaseEventfd()
    {
        if (notifyFd >= 0)
        {
            Posix.Close(notifyFd);
            notifyFd = -1;
        }
    }

    /// <summary>
    /// The eventfd part of a CQ commit (io_eventfd_signal). <paramref name="fromWorker"/>: the commit is
    /// io-wq's, the only one an eventfd registered with _ASYNC hears.
    /// </summary>
    private void SignalEventfd(bool fromWorker)
    {
        postedSinceCommit = false;
        if (notifyFd < 0)
        {
            return;
        }

        var skipped = (Volatile.Read(ref U32(header.CqFlags)) & Constants.IORING_CQ_EVENTFD_DISABLED) != 0 || (notifyAsyncOnly && !fromWorker);
        if (skipped && profile.EventfdSkipKeepsTail)
        {
            return;
        }

        var moved = cqTail != notifyTail;
        notifyTail = cqTail;
        if (skipped || !moved)
        {
            return;
        }

        // A write like any other: pollers of the eventfd (this ring's included) are woken by it.
        var one = 1ul;
        var iov = new Posix.IoVec { Base = (nint)(&one), Length = 8 };
        Posix.pwritev2(notifyFd, &iov, 1, -1, 0);
        uringWake = true;
        HarvestWakes();
        uringWake = false;
    }
}
