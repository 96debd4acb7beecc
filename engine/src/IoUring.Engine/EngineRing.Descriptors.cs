using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// The opcodes that work on descriptor tables: CLOSE (of a descriptor, or of a fixed slot), FILES_UPDATE
/// (IORING_REGISTER_FILES_UPDATE as a request, or with IORING_FILE_INDEX_ALLOC into free slots whose
/// numbers it writes back), FIXED_FD_INSTALL (a fixed file made a descriptor again) and EPOLL_CTL (an
/// epoll instance's interest list, as epoll_ctl(2)) and PIPE (a new pipe's two ends as descriptors, or
/// into fixed slots). All complete inline; their errors fail the request.
/// </summary>
internal sealed unsafe partial class EngineRing
{
    /// <summary>io_close_prep: the descriptor in fd or a fixed slot + 1 in file_index, never both; no other argument.</summary>
    private static int PrepareClose(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->off != 0 || sqe->addr != 0 || sqe->len != 0 || sqe->rw_flags != 0 || sqe->buf_index != 0)
        {
            return -Errno.EINVAL;
        }

        if ((r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_FIXED_FILE) != 0)
        {
            return -Errno.EBADF;
        }

        r.FileSlot = sqe->file_index;
        return r.FileSlot != 0 && r.Fd != 0 ? -Errno.EINVAL : 0;
    }

    /// <summary>io_files_update_prep: the first slot in off, the count in len, the descriptors' array at addr.</summary>
    private static int PrepareFilesUpdate(ref Request r, io_uring_sqe* sqe)
    {
        if ((r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_FIXED_FILE) != 0 || sqe->rw_flags != 0 || sqe->splice_fd_in != 0)
        {
            return -Errno.EINVAL;
        }

        return sqe->len == 0 ? -Errno.EINVAL : 0;
    }

    /// <summary>io_install_fixed_fd_prep: a fixed file only, IORING_FIXED_FD_NO_CLOEXEC the only flag, no other argument.</summary>
    private static int PrepareFixedFdInstall(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->off != 0 || sqe->addr != 0 || sqe->len != 0 || sqe->buf_index != 0 || sqe->splice_fd_in != 0 || sqe->addr3 != 0)
        {
            return -Errno.EINVAL;
        }

        if ((r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_FIXED_FILE) == 0)
        {
            return -Errno.EBADF;
        }

        r.OpFlags = sqe->install_fd_flags;
        return (r.OpFlags & ~Constants.IORING_FIXED_FD_NO_CLOEXEC) != 0 ? -Errno.EINVAL : 0;
    }

    /// <summary>
    /// io_epoll_ctl_prep: the epoll instance in fd, the operation in len, the target in off; the event at
    /// addr is copied now (-EFAULT) for every operation but EPOLL_CTL_DEL. Request.Extra1 and Extra2 keep
    /// the copy (struct epoll_event, 12 or 16 bytes as the architecture lays it out).
    /// </summary>
    private static int PrepareEpollCtl(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->buf_index != 0 || sqe->splice_fd_in != 0)
        {
            return -Errno.EINVAL;
        }

        if (r.Len != EpollCtlDel)
        {
            var ev = stackalloc ulong[2];
            if (Posix.CopyFromUser(ev, sqe->addr, (nuint)Posix.EpollEventBytes) != 0)
            {
                return -Errno.EFAULT;
            }

            (r.Extra1, r.Extra2) = (ev[0], ev[1]);
        }

        return 0;
    }

    private const uint EpollCtlDel = 2;

    /// <summary>do_epoll_ctl, as epoll_ctl(2) calls it once it has the event: the answers are the call's own.</summary>
    private int EpollCtl(ref Request r)
    {
        var ev = stackalloc ulong[2] { r.Extra1, r.Extra2 };
        return Posix.EpollCtlRaw(r.Fd, (int)r.Len, (int)r.Off, r.Len == EpollCtlDel ? null : (byte*)ev);
    }

    private void ExecuteDescriptorCall(ref Request r)
    {
        r.Res = r.Kind switch
        {
            OpKind.EpollCtl => EpollCtl(ref r),
            OpKind.Close => r.FileSlot != 0 ? CloseFixedSlot(r.FileSlot - 1) : CloseDescriptor(r.Fd),
            OpKind.FilesUpdate => r.Off == Constants.IORING_FILE_INDEX_ALLOC ? UpdateFilesAllocating(r.Addr, r.Len) : UpdateFiles((uint)r.Off, r.Addr, r.Len),
            _ => InstallDescriptor(ref r),
        };

        if (r.Res < 0)
        {
            r.SetFail();
        }
    }

    /// <summary>
    /// io_close of a descriptor: -EBADF when nothing is open there or it is an io_uring instance (the
    /// engine's rings included); otherwise close(2)'s result.
    /// </summary>
    private int CloseDescriptor(int fd) =>
        !Posix.IsOpen(fd) || engine.IsRing(fd) ? -Errno.EBADF : (int)Posix.Result(Posix.Close(fd));

    /// <summary>io_fixed_fd_remove: -ENXIO without a table, -EINVAL past it, -EBADF for an empty slot; the slot becomes the allocation hint.</summary>
    private int CloseFixedSlot(uint index)
    {
        if (fixedFiles == null)
        {
            return -Errno.ENXIO;
        }

        if (index >= (uint)fixedFiles.Length)
        {
            return -Errno.EINVAL;
        }

        if (fixedFiles[index] < 0)
        {
            return -Errno.EBADF;
        }

        Posix.Close(fixedFiles[index]);
        fixedFiles[index] = -1;
        fileAllocHint = (int)index;
        return 0;
    }

    /// <summary>
    /// io_files_update_with_index_alloc: each descriptor of the array into a free slot, whose number is
    /// written back over it (a write that faults empties the slot again: -EFAULT). The count done, or the
    /// first error when none was.
    /// </summary>
    private int UpdateFilesAllocating(ulong fds, uint count)
    {
        if (fixedFiles == null)
        {
            return -Errno.ENXIO;
        }

        var done = 0;
        var error = 0;
        for (; done < count; done++)
        {
            var at = fds + ((ulong)done * sizeof(int));
            int fd;
            if (Posix.CopyFromUser(&fd, at, sizeof(int)) != 0)
            {
                error = -Errno.EFAULT;
                break;
            }

            var held = Posix.IsOpen(fd) ? Posix.Dup(fd) : -1;
            if (held < 0)
            {
                error = -Errno.EBADF;
                break;
            }

            // A ring is refused once a slot is found for it (io_install_fixed_file).
            if (engine.IsRing(fd))
            {
                Posix.Close(held);
                var free = FreeFixedSlot();
                error = free < 0 ? free : -Errno.EBADF;
                break;
            }

            var slot = InstallFixedFile(held, Constants.IORING_FILE_INDEX_ALLOC);
            if (slot < 0)
            {
                error = slot;
                break;
            }

            if (Posix.CopyToUser(at, &slot, sizeof(int)) != 0)
            {
                CloseFixedSlot((uint)slot);
                error = -Errno.EFAULT;
                break;
            }
        }

        return done > 0 ? done : error;
    }

    /// <summary>io_install_fixed_fd: the fixed file as a new descriptor, close-on-exec unless IORING_FIXED_FD_NO_CLOEXEC.</summary>
    private int InstallDescriptor(ref Request r) => FileOf(ref r)
        ? (int)Posix.Result(Posix.DupLowest(r.File, cloexec: (r.OpFlags & Constants.IORING_FIXED_FD_NO_CLOEXEC) == 0))
        : -Errno.EBADF;

    /// <summary>
    /// Where a descriptor call completes: inline, its error a failure; FIXED_FD_INSTALL's fixed file
    /// that is not there fails the issue itself (-EBADF, as for any request that needs a file).
    /// </summary>
    private Completion ExecuteDescriptorCallNow(ref Request r)
    {
        if (r.Kind == OpKind.FixedFdInstall && !FileOf(ref r))
        {
            r.Executed = true;
            r.Fail(-Errno.EBADF);
            return Completion.Failed;
        }

        ExecuteNow(ref r);
        return Completion.Inline;
    }

    // The pipe2(2) flags PIPE takes: O_CLOEXEC, O_NONBLOCK, O_DIRECT (as each architecture places it) and O_NOTIFICATION_PIPE.
    private static readonly uint PipeFlags = (uint)(0x80000 | 0x800 | 0x80 | (Arm64 ? 0x10000 : 0x4000));

    /// <summary>io_pipe_prep: the int[2] at addr, the flags in pipe_flags, the fixed slots from file_index; fd, off and addr3 0.</summary>
    private static int PreparePipe(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->fd != 0 || sqe->off != 0 || sqe->addr3 != 0)
        {
            return -Errno.EINVAL;
        }

        r.OpFlags = sqe->pipe_flags;
        r.FileSlot = sqe->file_index;
        return (r.OpFlags & ~PipeFlags) != 0 ? -Errno.EINVAL : 0;
    }

    /// <summary>
    /// io_pipe: pipe2(2), then the two ends as descriptors whose numbers are written to addr (-EFAULT:
    /// neither is kept), or into fixed slots (file_index and the one after it, or two allocated; O_CLOEXEC
    /// is -EINVAL then) whose indexes are written there. The result is 0; an error is returned by the issue.
    /// </summary>
    private Completion ExecutePipe(ref Request r)
    {
        r.Executed = true;
        var ends = stackalloc int[2];
        var flags = (int)r.OpFlags | (r.FileSlot != 0 ? 0x80000 : 0); // the engine's own ends until they are in the table
        if (Posix.pipe2(ends, flags) != 0)
        {
            r.Fail((int)Posix.Result(-1));
            return Completion.Failed;
        }

        r.Res = r.FileSlot == 0 ? PipeDescriptors(r.Addr, ends) : PipeFixed(ref r, ends);
        if (r.Res < 0)
        {
            r.SetFail();
            return Completion.Failed;
        }

        return Completion.Inline;
    }

    private static int PipeDescriptors(ulong fds, int* ends)
    {
        if (Posix.CopyToUser(fds, ends, 2 * sizeof(int)) == 0)
        {
            return 0;
        }

        Posix.Close(ends[0]);
        Posix.Close(ends[1]);
        return -Errno.EFAULT;
    }

    private int PipeFixed(ref Request r, int* ends)
    {
        if ((r.OpFlags & OCloexec) != 0)
        {
            Posix.Close(ends[0]);
            Posix.Close(ends[1]);
            return -Errno.EINVAL;
        }

        var alloc = r.FileSlot == Constants.IORING_FILE_INDEX_ALLOC;
        var slots = stackalloc int[2] { -1, -1 };
        var error = 0;
        for (var k = 0; k < 2; k++)
        {
            var slot = alloc ? r.FileSlot : r.FileSlot + (uint)k;
            var res = InstallFixedFile(ends[k], slot);
            if (res < 0)
            {
                error = res;
                if (k == 0)
                {
                    Posix.Close(ends[1]);
                }

                break;
            }

            slots[k] = alloc ? res : (int)slot - 1;
        }

        if (error == 0 && Posix.CopyToUser(r.Addr, slots, 2 * sizeof(int)) != 0)
        {
            error = -Errno.EFAULT;
        }

        if (error != 0)
        {
            for (var k = 0; k < 2; k++)
            {
                if (slots[k] >= 0)
                {
                    CloseFixedSlot((uint)slots[k]);
                }
            }
        }

        return error;
    }
}
