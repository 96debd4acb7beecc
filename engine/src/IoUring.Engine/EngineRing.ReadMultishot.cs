using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// READ_MULTISHOT: reads from a file that has a poll method (a pipe, socket, eventfd) into provided
/// buffers, a CQE with IORING_CQE_F_MORE for each read, until the end of the file, an error, an empty
/// group (-ENOBUFS), a full CQ (the last read's data in the final CQE) or a cancellation. Each read is one
/// issue: with data it posts and looks again, without it the buffer goes back to its group and the
/// request waits for the file's readiness. Issued from its poll's task work, it reads again at once in
/// the same task work while the file is ready (io_poll_multishot_retry), so it drains the file before
/// another waiter's task work runs; its wait-queue entry stays where it was. A file without a
/// poll method (a regular file, a memfd) is -EBADFD before any buffer is taken.
/// </summary>
internal sealed unsafe partial class EngineRing
{
    /// <summary>io_read_mshot_prep: IOSQE_BUFFER_SELECT required, then the read's own prep; addr and len must be 0 (the buffer gives both).</summary>
    private int PrepareReadMultishot(ref Request r, io_uring_sqe* sqe)
    {
        if ((r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_BUFFER_SELECT) == 0)
        {
            return -Errno.EINVAL;
        }

        var rw = PrepareRw(ref r, sqe, OpKind.Read);
        return rw != 0 ? rw : r.Addr != 0 || r.Len != 0 ? -Errno.EINVAL : 0;
    }

    /// <summary>One issue of io_read_mshot: the file's poll method, a buffer, a read that does not wait, and what it found.</summary>
    private Completion ExecuteReadMultishot(int i)
    {
        Completion done;
        while ((done = ReadOnce(i)) == Completion.Polled && issuingFromPoll && requests[i].PollArmed
            && (Posix.PollNow(requests[i].File) & requests[i].PollEvents) != 0)
        {
            // Issued again from the same task work: not waiting on its poll unless this read says so.
            requests[i].AsyncPoll = false;
        }

        return done;
    }

    private Completion ReadOnce(int i)
    {
        ref var r = ref requests[i];
        r.Executed = true;
        if (!FileOf(ref r))
        {
            r.Fail(-Errno.EBADF);
            return Completion.Failed;
        }

        if (!Posix.CanPoll(r.File))
        {
            r.Fail(-Errno.EBADFD);
            return Completion.Failed;
        }

        r.Addr = 0;
        r.Len = 0;
        ExecuteRw(ref r);
        if (r.NeedsPoll)
        {
            GiveBufferBack(ref r);
            ArmAsyncPoll(i);
            return Completion.Polled;
        }

        if (r.Res <= 0)
        {
            // The end of the file (not a failure) or an error ends it; the buffer goes back.
            GiveBufferBack(ref r);
            r.Failed = r.Res < 0;
            return Completion.Inline;
        }

        // A short read is no failure here: each read takes what there is.
        r.Failed = false;
        FinishRingBuffer(ref r);
        if (!PostWithBuffer(ref r))
        {
            // The CQ has no room: this read's data goes in the final CQE, with its buffer.
            return Completion.Inline;
        }

        // Posted: the next read takes another buffer, now if the file is still ready: in this task work
        // when issued from the poll's (ExecuteReadMultishot), else from the poll's task work.
        r.Res = 0;
        if (issuingFromPoll && r.PollArmed)
        {
            r.AsyncPoll = true;
            return Completion.Polled;
        }

        ArmAsyncPoll(i);
        return Completion.Polled;
    }
}
