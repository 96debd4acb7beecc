using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// SPLICE and TEE: bytes moved between a pipe and a file (or two pipes), or a pipe's bytes duplicated
/// into another pipe, by splice(2) and tee(2). io_uring's part: the output is the request's file, the
/// input splice_fd_in (a fixed file with SPLICE_F_FD_IN_FIXED); an offset of -1 means none (the file's
/// position); both descriptors are looked up, from io-wq, before a length of 0 answers 0 (the system
/// calls answer 0 first); and a transfer shorter than asked fails the request, so a chain stops there.
/// </summary>
internal sealed unsafe partial class EngineRing
{
    // SPLICE_F_MOVE, NONBLOCK, MORE and GIFT (SPLICE_F_ALL), and io_uring's SPLICE_F_FD_IN_FIXED.
    private const uint SpliceFlagsAll = 0xf;
    private const uint SpliceFdInFixed = 1u << 31;

    /// <summary>io_splice_prep and io_tee_prep: TEE takes no offsets; the flags SPLICE_F_ALL and SPLICE_F_FD_IN_FIXED.</summary>
    private static int PrepareSplice(ref Request r, io_uring_sqe* sqe)
    {
        if (r.Kind == OpKind.Tee && (sqe->splice_off_in != 0 || sqe->off != 0))
        {
            return -Errno.EINVAL;
        }

        r.OpFlags = sqe->splice_flags;
        if ((r.OpFlags & ~(SpliceFlagsAll | SpliceFdInFixed)) != 0)
        {
            return -Errno.EINVAL;
        }

        r.FdIn = sqe->splice_fd_in;
        r.ForceAsync = true;
        return 0;
    }

    /// <summary>io_splice and io_tee, from io-wq: the output file, then the input, then the call.</summary>
    private void ExecuteSpliceNow(ref Request r)
    {
        if (!FileOf(ref r))
        {
            r.Fail(-Errno.EBADF);
            return;
        }

        var input = (r.OpFlags & SpliceFdInFixed) != 0 ? FixedFile(r.FdIn) : Posix.IsOpen(r.FdIn) ? r.FdIn : -1;
        var flags = r.OpFlags & SpliceFlagsAll;
        long offIn = (long)r.Addr, offOut = (long)r.Off;
        if (input < 0 || r.Len == 0 || r.Kind == OpKind.Tee)
        {
            r.Res = input < 0 ? -Errno.EBADF : r.Len == 0 ? 0 : (int)Posix.Result(Posix.tee(input, r.File, r.Len, flags));
        }
        else if (!Posix.OpenedForReading(input) || !Posix.OpenedForWriting(r.File))
        {
            // do_splice checks the ends' access modes first; splice(2) checks a pipe's offset before.
            r.Res = -Errno.EBADF;
        }
        else
        {
            // splice(2), unlike the kernel's SPLICE, takes FMODE_NOWAIT off the pipe ends it is given,
            // and the application's later RWF_NOWAIT reads and writes of them would be refused: the call
            // gets descriptions of its own of those ends.
            var ownIn = Posix.IsPipe(input) ? Posix.ReopenPipeEnd(input) : -1;
            var ownOut = Posix.IsPipe(r.File) ? Posix.ReopenPipeEnd(r.File) : -1;
            r.Res = (int)Posix.Result(Posix.splice(ownIn >= 0 ? ownIn : input, offIn == -1 ? null : &offIn, ownOut >= 0 ? ownOut : r.File, offOut == -1 ? null : &offOut, r.Len, flags));
            foreach (var own in (ReadOnlySpan<int>)[ownIn, ownOut])
            {
                if (own >= 0)
                {
                    Posix.Close(own);
                }
            }
        }

        if (r.Res != (long)r.Len)
        {
            r.SetFail();
        }
    }
}
