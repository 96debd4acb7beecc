using System.Runtime.InteropServices;
using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// The calls that name files by path: OPENAT, OPENAT2, STATX, MKDIRAT, UNLINKAT, RENAMEAT, SYMLINKAT and
/// LINKAT. io_uring's part is the prep: which SQE fields each refuses, where each argument sits, and that
/// every path is copied then (the kernel's getname: -EFAULT, -ENAMETOOLONG past PATH_MAX, -ENOENT for an
/// empty name unless the call takes one), so a bad name fails the request at prep, ahead of anything the
/// call would check, and the application may reuse the memory once it has submitted. The calls
/// themselves are the system calls of the same name on the copied names, so their errors are the
/// kernel's own. None takes a fixed file for its directory (-EBADF). OPENAT and OPENAT2 are tried inline
/// unless they may create or truncate, and put the new file into a fixed slot when file_index asks;
/// the others always run from io-wq. Only the opens fail the request on error: for the rest the error
/// is only the result, and a chain goes on past it.
/// </summary>
internal sealed unsafe partial class EngineRing
{
    // PATH_MAX: a name of this many bytes without its NUL is too long.
    private const int PathMax = 4096;

    private const int AtRemovedir = 0x200;
    private const int AtEmptyPath = 0x1000;

    // The open flags whose values the architectures share, and those they place differently
    // (O_DIRECT, O_LARGEFILE, O_DIRECTORY, O_NOFOLLOW: asm-generic on x86_64, their own on arm64).
    private const ulong OCreat = 0x40;
    private const ulong OTrunc = 0x200;
    private const ulong OCloexec = 0x80000;
    private const ulong OPath = 0x200000;
    private const ulong OTmpfile = 0x400000;
    private static readonly bool Arm64 = RuntimeInformation.ProcessArchitecture == Architecture.Arm64;
    private static readonly ulong ODirectory = Arm64 ? 0x4000UL : 0x10000UL;
    private static readonly ulong ONofollow = Arm64 ? 0x8000UL : 0x20000UL;
    private static readonly ulong OLargefile = Arm64 ? 0x20000UL : 0x8000UL;

    // VALID_OPEN_FLAGS: the access mode and every flag from O_CREAT (0x40) to __O_TMPFILE (0x400000);
    // the four the architectures place differently stay inside that range on both.
    private const ulong ValidOpenFlags = 0x7fffc3;

    // S_IALLUGO: the permission bits with set-id and sticky.
    private const ulong ModeBits = 0xfff;

    /// <summary>
    /// io_openat_prep: openat(2)'s flags in open_flags and mode in len, made into an open_how as the
    /// system call makes it (build_open_how: unknown flags dropped, O_PATH keeping only its own, a mode
    /// only for a call that creates).
    /// </summary>
    private int PrepareOpenat(ref Request r, io_uring_sqe* sqe)
    {
        var flags = sqe->open_flags & ValidOpenFlags;
        var mode = (ushort)sqe->len & ModeBits;
        if ((flags & OPath) != 0)
        {
            flags &= ODirectory | ONofollow | OPath | OCloexec;
        }

        if ((flags & (OCreat | OTmpfile)) == 0)
        {
            mode = 0;
        }

        r.How = new Posix.OpenHow { Flags = flags, Mode = mode };
        return PrepareOpen(ref r, sqe);
    }

    /// <summary>
    /// io_openat2_prep: the open_how at addr2, len bytes of it (copy_struct_from_user: fewer than the
    /// first version's 24 is -EINVAL, more must be zeros past the 24 the kernel knows, or -E2BIG).
    /// </summary>
    private int PrepareOpenat2(ref Request r, io_uring_sqe* sqe)
    {
        var size = sqe->len;
        if (size < (uint)sizeof(Posix.OpenHow))
        {
            return -Errno.EINVAL;
        }

        var error = CopyStructFromUser(sqe->addr2, size, out r.How);
        return error != 0 ? error : PrepareOpen(ref r, sqe);
    }

    private static int CopyStructFromUser(ulong address, uint size, out Posix.OpenHow how)
    {
        how = default;
        var chunk = stackalloc byte[256];
        for (ulong at = address + (ulong)sizeof(Posix.OpenHow), end = address + size; at < end;)
        {
            var n = (int)Math.Min(256UL, end - at);
            if (Posix.CopyFromUser(chunk, at, (nuint)n) != 0)
            {
                return -Errno.EFAULT;
            }

            if (new ReadOnlySpan<byte>(chunk, n).ContainsAnyExcept((byte)0))
            {
                return -Errno.E2BIG;
            }

            at += (ulong)n;
        }

        fixed (Posix.OpenHow* to = &how)
        {
            return Posix.CopyFromUser(to, address, (nuint)sizeof(Posix.OpenHow)) != 0 ? -Errno.EFAULT : 0;
        }
    }

    /// <summary>__io_openat_prep: the directory in fd, the name at addr, the fixed slot in file_index (never with O_CLOEXEC).</summary>
    private int PrepareOpen(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->buf_index != 0)
        {
            return -Errno.EINVAL;
        }

        if ((r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_FIXED_FILE) != 0)
        {
            return -Errno.EBADF;
        }

        // force_o_largefile: a 64-bit kernel opens every file large, unless it is only a path.
        if ((r.How.Flags & OPath) == 0)
        {
            r.How.Flags |= OLargefile;
        }

        var error = GetName(sqe->addr, allowEmpty: false, out r.Path);
        if (error != 0)
        {
            return error;
        }

        r.FileSlot = sqe->file_index;
        if (r.FileSlot != 0 && (r.How.Flags & OCloexec) != 0)
        {
            return -Errno.EINVAL;
        }

        // io_openat_force_async: a call that may create or truncate is not tried without blocking.
        if ((r.How.Flags & (OCreat | OTrunc | OTmpfile)) != 0)
        {
            r.ForceAsync = true;
        }

        return 0;
    }

    /// <summary>io_statx_prep: the directory in fd, the name at addr, the mask in len, the buffer at addr2, the flags in statx_flags.</summary>
    private int PrepareStatx(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->buf_index != 0 || sqe->splice_fd_in != 0)
        {
            return -Errno.EINVAL;
        }

        if ((r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_FIXED_FILE) != 0)
        {
            return -Errno.EBADF;
        }

        r.OpFlags = sqe->statx_flags;
        r.ForceAsync = true;
        return GetName(sqe->addr, allowEmpty: (r.OpFlags & AtEmptyPath) != 0, out r.Path);
    }

    /// <summary>io_mkdirat_prep: the directory in fd, the name at addr, the mode in len.</summary>
    private int PrepareMkdirat(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->off != 0 || sqe->rw_flags != 0 || sqe->buf_index != 0 || sqe->splice_fd_in != 0)
        {
            return -Errno.EINVAL;
        }

        if ((r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_FIXED_FILE) != 0)
        {
            return -Errno.EBADF;
        }

        r.ForceAsync = true;
        return GetName(sqe->addr, allowEmpty: false, out r.Path);
    }

    /// <summary>io_unlinkat_prep: the directory in fd, the name at addr, AT_REMOVEDIR the only flag (unlink_flags).</summary>
    private int PrepareUnlinkat(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->off != 0 || sqe->len != 0 || sqe->buf_index != 0 || sqe->splice_fd_in != 0)
        {
            return -Errno.EINVAL;
        }

        if ((r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_FIXED_FILE) != 0)
        {
            return -Errno.EBADF;
        }

        r.OpFlags = sqe->unlink_flags;
        if ((r.OpFlags & ~(uint)AtRemovedir) != 0)
        {
            return -Errno.EINVAL;
        }

        r.ForceAsync = true;
        return GetName(sqe->addr, allowEmpty: false, out r.Path);
    }

    /// <summary>
    /// io_renameat_prep, io_symlinkat_prep and io_linkat_prep: two names, at addr and addr2. RENAMEAT and
    /// LINKAT: the old directory in fd, the new one in len, the flags in rename_flags / hardlink_flags
    /// (LINKAT's AT_EMPTY_PATH lets the old name be empty). SYMLINKAT: the link's directory in fd, the
    /// target at addr, the link at addr2, len 0.
    /// </summary>
    private int PrepareTwoNames(ref Request r, io_uring_sqe* sqe)
    {
        var symlink = r.Kind == OpKind.SymlinkAt;
        if ((symlink && (sqe->len != 0 || sqe->rw_flags != 0)) || sqe->buf_index != 0 || sqe->splice_fd_in != 0)
        {
            return -Errno.EINVAL;
        }

        if ((r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_FIXED_FILE) != 0)
        {
            return -Errno.EBADF;
        }

        r.OpFlags = sqe->rename_flags;
        r.ForceAsync = true;
        var error = GetName(sqe->addr, allowEmpty: r.Kind == OpKind.LinkAt && (r.OpFlags & AtEmptyPath) != 0, out r.Path);
        return error != 0 ? error : GetName(sqe->addr2, allowEmpty: false, out r.Path2);
    }

    /// <summary>
    /// The kernel's getname: the NUL-terminated name at <paramref name="address"/>, at most PATH_MAX bytes
    /// with the NUL (-ENAMETOOLONG), readable (-EFAULT), and not empty unless the call allows it (-ENOENT).
    /// </summary>
    private static int GetName(ulong address, bool allowEmpty, out byte[]? name)
    {
        var length = CopyString(address, PathMax, out name);
        return length < 0 ? length
            : length == PathMax ? -Errno.ENAMETOOLONG
            : length == 0 && !allowEmpty ? -Errno.ENOENT
            : 0;
    }

    /// <summary>
    /// strncpy_from_user: the string at <paramref name="address"/> read a page at a time (an unreadable
    /// page before its NUL is -EFAULT) up to <paramref name="max"/> bytes. Its length, with
    /// <paramref name="copy"/> holding it and its NUL; or <paramref name="max"/> when no NUL came in that
    /// many bytes (and no copy).
    /// </summary>
    private static int CopyString(ulong address, int max, out byte[]? copy)
    {
        copy = null;
        var buffer = new byte[max];
        var length = 0;
        while (length < max)
        {
            var at = address + (ulong)length;
            var chunk = (int)Math.Min((ulong)(max - length), 4096 - (at & 4095));
            fixed (byte* to = &buffer[length])
            {
                if (Posix.CopyFromUser(to, at, (nuint)chunk) != 0)
                {
                    return -Errno.EFAULT;
                }
            }

            var nul = buffer.AsSpan(length, chunk).IndexOf((byte)0);
            if (nul >= 0)
            {
                length += nul;
                copy = buffer[..(length + 1)];
                return length;
            }

            length += chunk;
        }

        return max;
    }

    /// <summary>The call itself on the copied names.</summary>
    private void ExecutePathCallNow(ref Request r)
    {
        fixed (byte* path = r.Path, path2 = r.Path2)
        {
            switch (r.Kind)
            {
                case OpKind.OpenAt or OpKind.OpenAt2:
                    ExecuteOpen(ref r, path);
                    return;
                case OpKind.Statx:
                    r.Res = (int)Posix.Result(Posix.statx(r.Fd, path, (int)r.OpFlags, r.Len, (nint)r.Off));
                    return;
                case OpKind.MkdirAt:
                    r.Res = (int)Posix.Result(Posix.mkdirat(r.Fd, path, r.Len));
                    return;
                case OpKind.UnlinkAt:
                    r.Res = (int)Posix.Result(Posix.unlinkat(r.Fd, path, (int)r.OpFlags));
                    return;
                case OpKind.RenameAt:
                    r.Res = (int)Posix.Result(Posix.renameat2(r.Fd, path, (int)r.Len, path2, r.OpFlags));
                    return;
                case OpKind.SymlinkAt:
                    r.Res = (int)Posix.Result(Posix.symlinkat(path, r.Fd, path2));
                    return;
                default:
                    r.Res = (int)Posix.Result(Posix.linkat(r.Fd, path, (int)r.Len, path2, (int)r.OpFlags));
                    return;
            }
        }
    }

    /// <summary>
    /// io_openat2: openat2(2) with the open_how built at prep; the new file a descriptor at the lowest
    /// free number, or into the fixed slot file_index names (the result then 0, or with
    /// IORING_FILE_INDEX_ALLOC the slot found). An error fails the request.
    /// </summary>
    private void ExecuteOpen(ref Request r, byte* path)
    {
        var how = r.How;
        if (r.FileSlot != 0)
        {
            // The engine's own descriptor for the file until it is in the table.
            how.Flags |= OCloexec;
        }

        var fd = Posix.Openat2(r.Fd, path, &how);
        r.Res = fd < 0 ? (int)Posix.Result(fd) : r.FileSlot != 0 ? InstallFixedFile(fd, r.FileSlot) : fd;
        if (r.Res < 0)
        {
            r.SetFail();
        }
    }
}
