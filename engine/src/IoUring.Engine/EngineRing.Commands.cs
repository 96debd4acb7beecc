using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// URING_CMD and URING_CMD128: a command for the file's own driver. Of the files a program has, only
/// sockets take commands (from 6.7): SIOCINQ and SIOCOUTQ (the protocol's own ioctl, which AF_UNIX
/// lacks: -EOPNOTSUPP), GETSOCKOPT (SOL_SOCKET only; the length passed and answered as a value),
/// SETSOCKOPT, TX_TIMESTAMP (6.17) and GETSOCKNAME (6.19), as many as <see cref="KernelProfile.SocketCommands"/>
/// says; any other file answers -EOPNOTSUPP once its prep passed. URING_CMD128 is the same command in a
/// 128-byte SQE.
/// </summary>
internal sealed unsafe partial class EngineRing
{
    private const uint SocketSiocinq = 0;
    private const uint SocketSiocoutq = 1;
    private const uint SocketGetsockopt = 2;
    private const uint SocketSetsockopt = 3;
    private const uint SocketTxTimestamp = 4;
    private const uint SocketGetsockname = 5;
    private const int SolSocket = 1;

    /// <summary>
    /// io_uring_cmd_prep: the upper half of off (__pad1) 0; the flags IORING_URING_CMD_FIXED and, where the
    /// kernel has it, MULTISHOT (only with provided buffers, never with FIXED); before that, a fixed
    /// buffer's index past the table is -EFAULT here. Request.Off keeps the command (cmd_op), Addr3 and
    /// FdIn the socket commands' optval and optlen.
    /// </summary>
    private int PrepareUringCmd(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->__pad1 != 0)
        {
            return -Errno.EINVAL;
        }

        var flags = sqe->uring_cmd_flags;
        var known = profile.UringCmdMultishot ? Constants.IORING_URING_CMD_FIXED | Constants.IORING_URING_CMD_MULTISHOT : Constants.IORING_URING_CMD_FIXED;
        if ((flags & ~known) != 0)
        {
            return -Errno.EINVAL;
        }

        var multishot = (flags & Constants.IORING_URING_CMD_MULTISHOT) != 0;
        if ((flags & Constants.IORING_URING_CMD_FIXED) != 0)
        {
            if (multishot)
            {
                return -Errno.EINVAL;
            }

            if (!profile.UringCmdMultishot && r.BufIndex >= (buffers?.Length ?? 0))
            {
                return -Errno.EFAULT;
            }
        }

        if (profile.UringCmdMultishot && multishot != ((r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_BUFFER_SELECT) != 0))
        {
            return -Errno.EINVAL;
        }

        r.OpFlags = flags;
        r.Off = sqe->cmd_op;
        r.Addr3 = sqe->addr3;
        r.FdIn = sqe->splice_fd_in;
        return 0;
    }

    /// <summary>io_uring_cmd: the file, then whether it takes commands at all (an error the issue returns), then the command.</summary>
    private Completion ExecuteUringCmd(ref Request r)
    {
        r.Executed = true;
        if (!FileOf(ref r))
        {
            r.Fail(-Errno.EBADF);
            return Completion.Failed;
        }

        if (!Posix.IsSocket(r.File) || profile.SocketCommands == 0)
        {
            r.Fail(-Errno.EOPNOTSUPP);
            return Completion.Failed;
        }

        r.Res = SocketCommand(ref r);
        if (r.Res < 0)
        {
            r.SetFail();
        }

        return Completion.Inline;
    }

    /// <summary>io_uring_cmd_sock: the socket commands this kernel knows, each answered inline.</summary>
    private int SocketCommand(ref Request r)
    {
        var op = (uint)r.Off;
        if (op >= profile.SocketCommands)
        {
            return -Errno.EOPNOTSUPP;
        }

        var fd = r.File;
        switch (op)
        {
            case SocketSiocinq or SocketSiocoutq:
                // sk_prot->ioctl, which the inet protocols have and AF_UNIX does not.
                var family = Posix.SocketOption(fd, 39); // SO_DOMAIN
                if (family == 1)
                {
                    return -Errno.EOPNOTSUPP;
                }

                if (family is not (2 or 10))
                {
                    engine.ReportUnmodelled($"URING_CMD socket ioctl of address family {family}");
                    return -Errno.EOPNOTSUPP;
                }

                return Posix.IoctlInt(fd, op == SocketSiocinq ? 0x541Bu : 0x5411u);
            case SocketGetsockopt:
                var level = (int)(uint)r.Addr;
                return level != SolSocket ? -Errno.EOPNOTSUPP : Posix.GetSockOptAt(fd, level, (int)(r.Addr >> 32), (nint)r.Addr3, r.FdIn);
            case SocketSetsockopt:
                return (int)Posix.Result(Posix.SetSockOptAt(fd, (int)(uint)r.Addr, (int)(r.Addr >> 32), (nint)r.Addr3, r.FdIn));
            case SocketTxTimestamp:
                // Needs 32-byte CQEs for the timestamps; then it arms on the socket's error queue.
                if (!Has(IoUringSetupFlags.IORING_SETUP_CQE32) && !Has(IoUringSetupFlags.IORING_SETUP_CQE_MIXED))
                {
                    return -Errno.EINVAL;
                }

                engine.ReportUnmodelled("URING_CMD SOCKET_URING_OP_TX_TIMESTAMP (timestamps from the error queue)");
                return -Errno.EOPNOTSUPP;
            default:
                // GETSOCKNAME: len and the flags 0, optlen 0 (the local address) or 1 (the peer's).
                if (r.Len != 0 || r.OpFlags != 0 || (uint)r.FdIn > 1)
                {
                    return -Errno.EINVAL;
                }

                return (int)Posix.Result(Posix.SocketNameAt(fd, r.FdIn == 1, (nint)r.Addr, (nint)r.Addr3));
        }
    }
}
