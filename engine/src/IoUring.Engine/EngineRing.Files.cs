using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// The calls on an open file and on the task's memory: FSYNC, SYNC_FILE_RANGE, FALLOCATE, FTRUNCATE,
/// FADVISE and MADVISE. Each is the system call of the same name on the request's file (or memory), so
/// its errors are the kernel's own; what io_uring adds is checked here: the SQE fields each prep refuses,
/// where the arguments sit in the SQE, that all but three FADVISE advices run from io-wq, and which
/// errors fail the request, and one check the system call does not make (FADVISE at a negative offset on
/// some kernels: <see cref="KernelProfile.FadviseRefusesNegativeOffset"/>). Only FADVISE marks its own
/// error a failure (req_set_fail): for the others the
/// system call's error is only the result, and a chain goes on past it (measured on the host). A file
/// that is not there fails any of them (-EBADF), as it fails every request that needs a file.
/// </summary>
internal sealed unsafe partial class EngineRing
{
    // POSIX_FADV_NORMAL, RANDOM and SEQUENTIAL only set the file's readahead mode: io_fadvise_force_async
    // lets these run inline; every other advice may block and goes to io-wq.
    private const uint FadvSequential = 2;

    private static int PrepareFsync(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->addr != 0 || sqe->buf_index != 0 || sqe->splice_fd_in != 0)
        {
            return -Errno.EINVAL;
        }

        r.OpFlags = sqe->fsync_flags;
        return (r.OpFlags & ~Constants.IORING_FSYNC_DATASYNC) != 0 ? -Errno.EINVAL : 0;
    }

    /// <summary>io_sfr_prep: the range in off and len, the flags in sync_range_flags.</summary>
    private static int PrepareSyncFileRange(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->addr != 0 || sqe->buf_index != 0 || sqe->splice_fd_in != 0)
        {
            return -Errno.EINVAL;
        }

        r.OpFlags = sqe->sync_range_flags;
        return 0;
    }

    /// <summary>io_fallocate_prep: the offset in off, the length in addr, the mode in len.</summary>
    private static int PrepareFallocate(io_uring_sqe* sqe) =>
        sqe->buf_index != 0 || sqe->rw_flags != 0 || sqe->splice_fd_in != 0 ? -Errno.EINVAL : 0;

    /// <summary>io_ftruncate_prep: the new length in off, every other argument word 0.</summary>
    private static int PrepareFtruncate(io_uring_sqe* sqe) =>
        sqe->rw_flags != 0 || sqe->addr != 0 || sqe->len != 0 || sqe->buf_index != 0 || sqe->splice_fd_in != 0 || sqe->addr3 != 0
            ? -Errno.EINVAL
            : 0;

    /// <summary>
    /// io_fadvise_prep: the offset in off, the advice in fadvise_advice, the length in len, or where the
    /// kernel takes 64-bit lengths (<see cref="KernelProfile.AdviseLength64"/>) in addr when that is not 0.
    /// Request.Addr keeps the length the call gets.
    /// </summary>
    private int PrepareFadvise(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->buf_index != 0 || sqe->splice_fd_in != 0 || (!profile.AdviseLength64 && sqe->addr != 0))
        {
            return -Errno.EINVAL;
        }

        r.Addr = sqe->addr != 0 ? sqe->addr : sqe->len;
        r.OpFlags = sqe->fadvise_advice;
        return 0;
    }

    /// <summary>
    /// io_madvise_prep: the address in addr, the advice in fadvise_advice, the length in len, or where
    /// the kernel takes 64-bit lengths in off when that is not 0. Request.Off keeps the length the call gets.
    /// </summary>
    private int PrepareMadvise(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->buf_index != 0 || sqe->splice_fd_in != 0 || (!profile.AdviseLength64 && sqe->off != 0))
        {
            return -Errno.EINVAL;
        }

        r.Off = sqe->off != 0 ? sqe->off : sqe->len;
        r.OpFlags = sqe->fadvise_advice;
        return 0;
    }

    /// <summary>
    /// Where a file call completes: FADVISE with an advice that only sets the readahead mode inline (its
    /// error a failure the issue posts); everything else from io-wq, which each kernel reaches either by
    /// marking the request at prep or by -EAGAIN from the non-blocking issue.
    /// </summary>
    private Completion ExecuteFileCall(ref Request r)
    {
        if (r.Kind != OpKind.Fadvise || r.OpFlags > FadvSequential)
        {
            return Completion.Async;
        }

        if (!FileOf(ref r))
        {
            r.Executed = true;
            r.Fail(-Errno.EBADF);
            return Completion.Failed;
        }

        ExecuteNow(ref r);
        return Completion.Inline;
    }

    /// <summary>The call itself, on the request's file (MADVISE: on the task's memory, no file).</summary>
    private void ExecuteFileCallNow(ref Request r)
    {
        if (r.Kind == OpKind.Madvise)
        {
            r.Res = (int)Posix.Result(Posix.madvise((nint)r.Addr, (nuint)r.Off, (int)r.OpFlags));
            return;
        }

        if (!FileOf(ref r))
        {
            r.Fail(-Errno.EBADF);
            return;
        }

        var file = r.File;
        if (r.Kind == OpKind.Fadvise && profile.FadviseRefusesNegativeOffset && (long)r.Off < 0 && !Posix.IsPipe(file))
        {
            r.Fail(-Errno.EINVAL);
            return;
        }

        // vfs_fallocate's first checks, before the host's fallocate(2) answers from what its own kernel
        // knows: the range, then the mode bits this kernel knows (KernelProfile.FallocateModes).
        if (r.Kind == OpKind.Fallocate && (long)r.Off >= 0 && (long)r.Addr > 0 && (r.Len & ~profile.FallocateModes) != 0)
        {
            r.Res = -Errno.EOPNOTSUPP;
            return;
        }

        r.Res = r.Kind switch
        {
            OpKind.Fsync => (int)Posix.Result((r.OpFlags & Constants.IORING_FSYNC_DATASYNC) != 0 ? Posix.fdatasync(file) : Posix.fsync(file)),
            OpKind.SyncFileRange => (int)Posix.Result(Posix.sync_file_range(file, (long)r.Off, r.Len, r.OpFlags)),
            OpKind.Fallocate => (int)Posix.Result(Posix.fallocate(file, (int)r.Len, (long)r.Off, (long)r.Addr)),
            OpKind.Ftruncate => (int)Posix.Result(Posix.ftruncate(file, (long)r.Off)),
            _ => -Posix.posix_fadvise(file, (long)r.Off, (long)r.Addr, (int)r.OpFlags),
        };

        if (r.Kind == OpKind.Fadvise && r.Res < 0)
        {
            r.SetFail();
        }
    }

}
