using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// SOCKET, BIND, LISTEN, CONNECT and ACCEPT: the kernel's preparation checks, then the real socket calls,
/// never blocking the engine. A connection that is not made at once (CONNECT's -EINPROGRESS) and an
/// accept with nothing queued wait for the socket's readiness through the internal poll the transfers
/// use, and are issued again when it fires; a multishot ACCEPT posts each connection with
/// IORING_CQE_F_MORE and waits again. SOCKET and ACCEPT may put the new socket in the ring's fixed file
/// table instead of the descriptor table (a direct descriptor).
/// </summary>
internal sealed unsafe partial class EngineRing
{
    // IORING_ACCEPT_* in ACCEPT's ioprio.
    private const ushort AcceptMultishot = (ushort)Constants.IORING_ACCEPT_MULTISHOT;
    private const ushort AcceptDontwait = (ushort)Constants.IORING_ACCEPT_DONTWAIT;
    private const ushort AcceptPollFirst = (ushort)Constants.IORING_ACCEPT_POLL_FIRST;

    private const int SockTypeMask = 0xf;
    private const int SockNonblock = 0x800;
    private const int SockCloexec = 0x80000;

    private const int SoError = 4;
    private const int SoProtocol = 38;
    private const int SoDomain = 39;
    private const int AfUnix = 1;
    private const int AfInet = 2;
    private const int AfInet6 = 10;
    private const int IpprotoTcp = 6;

    /// <summary>io_socket_prep: the domain in fd, the type and its flags in off, the protocol in len, a fixed slot in file_index.</summary>
    private static int PrepareSocket(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->addr != 0 || sqe->rw_flags != 0 || sqe->buf_index != 0)
        {
            return -Errno.EINVAL;
        }

        r.FileSlot = sqe->file_index;
        var flags = (int)sqe->off & ~SockTypeMask;
        if (r.FileSlot != 0 && (flags & SockCloexec) != 0)
        {
            return -Errno.EINVAL;
        }

        return (flags & ~(SockCloexec | SockNonblock)) != 0 ? -Errno.EINVAL : 0;
    }

    /// <summary>
    /// io_socket: socket(2), into the descriptor table or a fixed slot. Failing to create the socket
    /// fails the request; failing to install it in the table is only its result (no REQ_F_FAIL).
    /// </summary>
    private void ExecuteSocket(ref Request r)
    {
        var direct = r.FileSlot != 0;
        var type = (int)r.Off;
        var fd = Posix.Socket(r.Fd, direct ? type | SockCloexec : type, (int)r.Len);
        if (fd < 0)
        {
            r.Fail((int)Posix.Result(fd));
            return;
        }

        r.Res = direct ? InstallFixedFile(fd, r.FileSlot) : fd;
    }

    /// <summary>io_bind_prep and io_connect_prep: no len, buf_index, flags or splice_fd_in; the address and its length (addr2), copied where this kernel copies it.</summary>
    private int PrepareAddressed(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->len != 0 || sqe->buf_index != 0 || sqe->rw_flags != 0 || sqe->splice_fd_in != 0)
        {
            return -Errno.EINVAL;
        }

        r.AddressLength = (int)sqe->addr2;

        // BIND came (6.11) after CONNECT's address moved to prep (6.10).
        return r.Kind == OpKind.Bind || profile.NetImport == RwImportStage.Prep ? KeepAddress(ref r) : 0;
    }

    /// <summary>move_addr_to_kernel (<see cref="AddressIn"/>) into the request, which keeps the copy.</summary>
    private static int KeepAddress(ref Request r)
    {
        var copy = new byte[SockaddrStorageSize];
        fixed (byte* into = copy)
        {
            var error = AddressIn(r.Addr, r.AddressLength, into);
            if (error != 0)
            {
                return error;
            }
        }

        r.Address = copy;
        return 0;
    }

    /// <summary>io_listen_prep: the backlog in len; no address, buffer index, flags, splice_fd_in or addr2.</summary>
    private static int PrepareListen(io_uring_sqe* sqe) =>
        sqe->addr != 0 || sqe->buf_index != 0 || sqe->rw_flags != 0 || sqe->splice_fd_in != 0 || sqe->addr2 != 0 ? -Errno.EINVAL : 0;

    /// <summary>
    /// io_bind and io_listen: no file (-EBADF) or not a socket (-ENOTSOCK) is an error the issue returns;
    /// what bind(2) or listen(2) answers is the result, a failure when negative.
    /// </summary>
    private Completion ExecuteBindOrListen(ref Request r)
    {
        r.Executed = true;
        if (!FileOf(ref r))
        {
            return Returned(ref r, -Errno.EBADF);
        }

        if (!Posix.IsSocket(r.File))
        {
            return Returned(ref r, -Errno.ENOTSOCK);
        }

        long rc;
        if (r.Kind == OpKind.Bind)
        {
            fixed (byte* address = r.Address)
            {
                rc = Posix.Result(Posix.Bind(r.File, address, r.AddressLength));
            }
        }
        else
        {
            rc = Posix.Result(Posix.Listen(r.File, (int)r.Len));
        }

        r.Res = (int)rc;
        if (rc < 0)
        {
            r.SetFail();
        }

        return Completion.Inline;
    }

    /// <summary>
    /// io_connect: a connection not made at once (-EINPROGRESS, -EAGAIN) waits for the socket to become
    /// writable and is tried again; the second try's -EISCONN (or -EBADFD) means the first one's outcome,
    /// the socket's pending error. Every error is the result and fails the request; before 6.10 the
    /// address is copied here, and a bad one is such an error too.
    /// </summary>
    private Completion ExecuteConnect(ref Request r)
    {
        r.Executed = true;
        r.NeedsPoll = false;
        if (!FileOf(ref r))
        {
            return Returned(ref r, -Errno.EBADF);
        }

        if (r.Address is null && KeepAddress(ref r) is var copy and not 0)
        {
            r.Fail(copy);
            return Completion.Inline;
        }

        if (!Posix.IsSocket(r.File))
        {
            r.Fail(-Errno.ENOTSOCK);
            return Completion.Inline;
        }

        long res;
        var flags = Posix.BeginNonblocking(r.File);
        fixed (byte* address = r.Address)
        {
            res = Posix.Result(Posix.Connect(r.File, address, r.AddressLength));
        }

        Posix.EndNonblocking(r.File, flags);
        if (res is -Errno.EAGAIN or -Errno.EINPROGRESS)
        {
            r.InProgress |= res == -Errno.EINPROGRESS;
            r.NeedsPoll = true;
            return Completion.Polled;
        }

        if (r.InProgress && res is -Errno.EISCONN or -Errno.EBADFD)
        {
            res = -Posix.SocketOption(r.File, SoError);
        }

        r.Res = (int)res;
        if (res < 0)
        {
            r.SetFail();
        }

        return Completion.Inline;
    }

    /// <summary>
    /// io_accept_prep: no len or buf_index; the peer address and its length's pointer (addr, addr2), the
    /// new socket's flags (SOCK_CLOEXEC, SOCK_NONBLOCK), IORING_ACCEPT_* in ioprio as this kernel knows
    /// them, a fixed slot (not with SOCK_CLOEXEC; a multishot accept only allocates slots).
    /// </summary>
    private int PrepareAccept(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->len != 0 || sqe->buf_index != 0)
        {
            return -Errno.EINVAL;
        }

        if ((r.Ioprio & ~profile.AcceptFlags) != 0)
        {
            return -Errno.EINVAL;
        }

        r.FileSlot = sqe->file_index;
        var flags = (int)r.OpFlags;
        if (r.FileSlot != 0 && ((flags & SockCloexec) != 0 || ((r.Ioprio & AcceptMultishot) != 0 && r.FileSlot != Constants.IORING_FILE_INDEX_ALLOC)))
        {
            return -Errno.EINVAL;
        }

        return (flags & ~(SockCloexec | SockNonblock)) != 0 ? -Errno.EINVAL : 0;
    }

    /// <summary>
    /// io_accept: accept4(2) without blocking, the new socket into the descriptor table or a fixed slot.
    /// Nothing queued: -EAGAIN with IORING_ACCEPT_DONTWAIT, otherwise it waits for the listener's
    /// readiness (POLL_FIRST waits before trying). A multishot accept posts every connection it takes
    /// with IORING_CQE_F_MORE and waits again; its error, or a CQE it cannot post, ends it. Where the
    /// kernel reports it (<see cref="KernelProfile.AcceptNonEmpty"/>), a TCP listener with more
    /// connections queued sets IORING_CQE_F_SOCK_NONEMPTY.
    /// </summary>
    private Completion ExecuteAccept(ref Request r)
    {
        r.Executed = true;
        r.NeedsPoll = false;
        if (!FileOf(ref r))
        {
            return Returned(ref r, -Errno.EBADF);
        }

        var multishot = (r.Ioprio & AcceptMultishot) != 0;
        if ((r.Ioprio & AcceptPollFirst) != 0 && !r.Polled)
        {
            return WaitForReadiness(ref r);
        }

        while (true)
        {
            var flags = Posix.BeginNonblocking(r.File);
            var direct = r.FileSlot != 0;
            var accepted = Posix.Accept4(r.File, (nint)r.Addr, (nint)r.Off, direct ? (int)r.OpFlags | SockCloexec : (int)r.OpFlags);
            var res = accepted >= 0 ? accepted : (int)Posix.Result(accepted);
            Posix.EndNonblocking(r.File, flags);
            if (res == -Errno.EAGAIN && (r.Ioprio & AcceptDontwait) == 0)
            {
                return WaitForReadiness(ref r);
            }

            var cflags = res >= 0 && ListenerHasMore(r.File) ? Constants.IORING_CQE_F_SOCK_NONEMPTY : 0u;
            if (res >= 0 && direct)
            {
                res = InstallFixedFile(res, r.FileSlot);
            }

            if (res >= 0 && multishot && PostMultishot(r.UserData, res, cflags))
            {
                continue;
            }

            // Each connection that arrived woke a waiter: one taken here leaves the others queued for the
            // next waiter in line.
            if (accepted >= 0 && (Posix.PollNow(r.File) & PollIn) != 0)
            {
                WakeExclusive(r.File);
            }

            r.Res = res;
            r.CqeFlags = cflags;
            if (res < 0)
            {
                r.SetFail();
            }

            return Completion.Inline;
        }
    }

    /// <summary>The kernel's is_empty of an accept: only TCP's accept reports it, and only where <see cref="KernelProfile.AcceptNonEmpty"/>.</summary>
    private bool ListenerHasMore(int listener) =>
        profile.AcceptNonEmpty
        && Posix.SocketOption(listener, SoDomain) is AfInet or AfInet6
        && Posix.SocketOption(listener, SoProtocol) == IpprotoTcp
        && (Posix.PollNow(listener) & PollIn) != 0;

    /// <summary>
    /// io-wq's handling of a multishot request, an ACCEPT or a SEND bundle (io_wq_submit_work): it is not
    /// tried there but armed to wait for its socket; a file that cannot be polled fails it with -EBADFD.
    /// </summary>
    private bool ArmMultishotFromIoWq(int i)
    {
        ref var r = ref requests[i];
        r.Executed = true;
        if (!FileOf(ref r))
        {
            r.Fail(-Errno.EBADF);
            return false;
        }

        if (!Posix.CanPoll(r.File))
        {
            r.Fail(-Errno.EBADFD);
            return false;
        }

        ArmAsyncPoll(i);
        return true;
    }
}
