using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// SEND, RECV, SENDMSG, RECVMSG and SHUTDOWN: the kernel's preparation checks and the transfer with the
/// real socket calls, never blocking the engine. A transfer that would wait waits for the socket's
/// readiness (the poll the engine arms for reads and writes of pipes), and MSG_WAITALL on a stream keeps
/// what it moved and waits again until it has all of it, as io_uring's retry does.
/// </summary>
internal sealed unsafe partial class EngineRing
{
    // The ioprio field of a socket transfer carries these flags (IORING_RECVSEND_*).
    private const ushort RecvSendPollFirst = 1;
    private const ushort RecvMultishot = 2;
    private const ushort RecvSendBundle = 16;

    private const int MsgCtrunc = 0x8;
    private const int MsgTrunc = 0x20;
    private const int MsgDontwait = 0x40;
    private const int MsgWaitall = 0x100;
    private const int MsgNosignal = 0x4000;

    // MULTISHOT_MAX_RETRY: receives a multishot RECV posts in a row before it is requeued.
    private const int MultishotMaxRetry = 32;

    // io_ring_buffers_peek maps at most this many buffers at once (PEEK_MAX_IMPORT).
    private const int PeekMaxImport = 256;

    private const int SockStream = 1;
    private const int SockSeqpacket = 5;
    private const int SockaddrStorageSize = 128;

    private static bool IsNet(OpKind kind) => kind is OpKind.Send or OpKind.Recv or OpKind.SendMsg or OpKind.RecvMsg;

    private static bool IsNetReceive(OpKind kind) => kind is OpKind.Recv or OpKind.RecvMsg;

    /// <summary>io_sendmsg_prep and io_recvmsg_prep, with the import of the buffer, address or msghdr where the kernel does it at prep.</summary>
    private int PrepareNet(ref Request r, io_uring_sqe* sqe)
    {
        var receive = IsNetReceive(r.Kind);
        var multishot = receive && (r.Ioprio & RecvMultishot) != 0;

        // A receive, and a SENDMSG, has no address in addr2 and no file slot (where a multishot RECV
        // takes a limit on its bytes, sqe->optlen, in the same word).
        var totalLimit = multishot && r.Kind == OpKind.Recv && profile.RecvMultishotLength;
        if ((receive || r.Kind == OpKind.SendMsg) && (sqe->addr2 != 0 || (sqe->file_index != 0 && !totalLimit)))
        {
            return -Errno.EINVAL;
        }

        var known = receive ? RecvSendPollFirst | RecvMultishot : RecvSendPollFirst;
        if ((profile.Features & Operations.FeatRecvSendBundle) != 0)
        {
            known |= RecvSendBundle;
        }

        if ((r.Ioprio & ~known) != 0)
        {
            return -Errno.EINVAL;
        }

        // A multishot receive takes provided buffers and never MSG_WAITALL; a RECV's length is a cap on
        // each receive where the kernel takes one (KernelProfile.RecvMultishotLength), else refused.
        if (multishot)
        {
            if ((r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_BUFFER_SELECT) == 0 || ((int)r.OpFlags & MsgWaitall) != 0)
            {
                return -Errno.EINVAL;
            }

            if (r.Kind == OpKind.Recv && r.Len != 0 && !profile.RecvMultishotLength)
            {
                return -Errno.EINVAL;
            }

            r.MultishotLength = r.Kind == OpKind.Recv ? r.Len : 0;
            r.MultishotTotal = totalLimit ? sqe->file_index : 0;
            r.MultishotLoops = 0;
        }

        // A SEND bundle needs provided buffers on 6.12; later kernels send the caller's buffer with
        // MSG_WAITALL as a multishot of its own (ExecuteNet). The message variants never take one.
        if ((r.Ioprio & RecvSendBundle) != 0 && r.Kind != OpKind.Recv)
        {
            if (r.Kind != OpKind.Send || ((r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_BUFFER_SELECT) == 0 && profile.SendBundleNeedsBuffers))
            {
                return -Errno.EINVAL;
            }

            r.OpFlags |= MsgWaitall;
        }

        // What a bundle's selections go by: the socket's msg_inq (0 before the first receive).
        r.BundleQueued = 0;
        r.BundleAppending = false;
        r.BundleCapped = false;
        r.BundleEmptied = false;
        r.BundlePartial = false;

        if (r.Kind == OpKind.Send)
        {
            // sendto's address: its length in addr_len, the u16 after it reserved.
            if (sqe->__pad3[0] != 0)
            {
                return -Errno.EINVAL;
            }

            r.AddrLen = sqe->addr_len;
        }

        return profile.NetImport == RwImportStage.Prep ? ImportNet(ref r) : 0;
    }

    /// <summary>
    /// What the kernel copies or checks before the transfer: a plain transfer's buffer (access_ok) and a
    /// SEND's address, a message's msghdr, its address (a send's) and its iovecs.
    /// </summary>
    private int ImportNet(ref Request r)
    {
        // A provided buffer is selected at issue; a RECVMSG still has its msghdr copied, a SEND its address.
        if ((r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_BUFFER_SELECT) != 0)
        {
            return r.Kind switch
            {
                OpKind.RecvMsg when r.Message is null => ReadMsgHdr(ref r),
                OpKind.Send when r.Off != 0 => AddressIn(r.Off, r.AddrLen),
                _ => 0,
            };
        }

        if (r.Kind is OpKind.Send or OpKind.Recv)
        {
            if (r.Kind == OpKind.Send && r.Off != 0)
            {
                var address = AddressIn(r.Off, r.AddrLen);
                if (address != 0)
                {
                    return address;
                }
            }

            var len = Math.Min(r.Len, MaxRwCount);
            return r.Addr > UserSpaceEnd || r.Addr + len > UserSpaceEnd ? -Errno.EFAULT : 0;
        }

        return r.Message is null ? ReadMsgHdr(ref r) : 0;
    }

    /// <summary>
    /// move_addr_to_kernel: a socket address of at most sockaddr_storage's size, copied into
    /// <paramref name="into"/> (a buffer of that size; null: only checked).
    /// </summary>
    private static int AddressIn(ulong address, int length, byte* into = null)
    {
        if (length < 0 || length > SockaddrStorageSize)
        {
            return -Errno.EINVAL;
        }

        var scratch = stackalloc byte[into == null ? SockaddrStorageSize : 0];
        return length == 0 || Posix.CopyFromUser(into == null ? scratch : into, address, (nuint)length) == 0 ? 0 : -Errno.EFAULT;
    }

    /// <summary>
    /// The kernel's msghdr copy (__copy_msghdr, then the iovec import): the header, the name length,
    /// a send's address, the vector count, then each vector; kept in <see cref="Request.Message"/>.
    /// </summary>
    private int ReadMsgHdr(ref Request r)
    {
        Posix.MsgHdr m;
        if (Posix.CopyFromUser(&m, r.Addr, (nuint)sizeof(Posix.MsgHdr)) != 0)
        {
            return -Errno.EFAULT;
        }

        var nameLength = m.Name == 0 ? 0 : m.NameLength;
        if (nameLength < 0)
        {
            return -Errno.EINVAL;
        }

        nameLength = Math.Min(nameLength, SockaddrStorageSize);
        if (r.Kind is OpKind.SendMsg or OpKind.SendMsgZc && m.Name != 0 && nameLength != 0 && AddressIn((ulong)m.Name, nameLength) is var address and not 0)
        {
            return address;
        }

        // With a provided buffer a RECVMSG's vectors only say how much it asks for: none (0: the
        // buffer's length) or one (its length); more is -EINVAL.
        if (r.Kind == OpKind.RecvMsg && (r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_BUFFER_SELECT) != 0)
        {
            if (m.IovLength > 1)
            {
                return -Errno.EINVAL;
            }

            Posix.IoVec asked = default;
            if (m.IovLength == 1 && Posix.CopyFromUser(&asked, (ulong)m.Iov, (nuint)sizeof(Posix.IoVec)) != 0)
            {
                return -Errno.EFAULT;
            }

            // A multishot RECVMSG lays each buffer out by the caller's own lengths (the name's as given,
            // unclamped, with or without a name pointer): a header that does not fit an int is -EOVERFLOW.
            var layout = default(MultishotLayout);
            if ((r.Ioprio & RecvMultishot) != 0)
            {
                var control = (ulong)m.ControlLength;
                if (m.NameLength < 0 || m.NameLength > int.MaxValue - MultishotLayout.OutSize || control > (ulong)(int.MaxValue - MultishotLayout.OutSize - m.NameLength))
                {
                    return -Errno.EOVERFLOW;
                }

                layout = new MultishotLayout(m.NameLength, (int)control);
            }

            r.Len = (uint)asked.Length;
            r.MultishotLength = r.Len;
            m.NameLength = nameLength;
            r.Message = new NetMessage(m, []) { Layout = layout };
            return 0;
        }

        if ((ulong)m.IovLength > UioMaxIov)
        {
            return profile.MsgTooManyVectorsIsEmsgsize ? -Errno.EMSGSIZE : -Errno.EINVAL;
        }

        var vectors = new Posix.IoVec[(int)m.IovLength];
        fixed (Posix.IoVec* into = vectors)
        {
            if (vectors.Length > 0 && Posix.CopyFromUser(into, (ulong)m.Iov, (nuint)(vectors.Length * sizeof(Posix.IoVec))) != 0)
            {
                return -Errno.EFAULT;
            }
        }

        foreach (var v in vectors)
        {
            if ((long)v.Length < 0)
            {
                return -Errno.EINVAL;
            }
        }

        ulong total = 0;
        foreach (var v in vectors)
        {
            var length = Math.Min((ulong)v.Length, MaxRwCount - total);
            if ((ulong)v.Base > UserSpaceEnd || (ulong)v.Base + length > UserSpaceEnd)
            {
                return -Errno.EFAULT;
            }

            total += length;
        }

        m.NameLength = nameLength;
        r.Message = new NetMessage(m, vectors);
        return 0;
    }

    /// <summary>6.1's prep for async execution of a socket transfer: a message's msghdr, a SEND's address.</summary>
    private int AsyncPrepNet(ref Request r) => r.Kind switch
    {
        OpKind.SendMsg or OpKind.RecvMsg or OpKind.SendMsgZc => r.Message is null ? ReadMsgHdr(ref r) : 0,
        OpKind.Send or OpKind.SendZc when r.Off != 0 => AddressIn(r.Off, r.AddrLen),
        _ => 0,
    };

    /// <summary>
    /// io_send, io_recv, io_sendmsg, io_recvmsg. Returns how the result reaches the CQ: Failed for an
    /// error the issue returns (no file, not a socket, a failed import before 6.10, -EAGAIN with
    /// MSG_DONTWAIT), Polled when it waits for readiness (<see cref="Request.NeedsPoll"/>), else Inline.
    /// </summary>
    private Completion ExecuteNet(ref Request r)
    {
        r.Executed = true;
        r.NeedsPoll = false;
        if (!FileOf(ref r))
        {
            return Returned(ref r, -Errno.EBADF);
        }

        var receive = IsNetReceive(r.Kind);
        var pollFirst = (r.Ioprio & RecvSendPollFirst) != 0 && !r.Polled;

        // SEND and RECV looked at POLL_FIRST before they looked for the socket (KernelProfile.SendChecksSocketFirst, RecvChecksSocketFirst).
        var pollFirstBeforeSocket = r.Kind switch
        {
            OpKind.Send => !profile.SendChecksSocketFirst,
            OpKind.Recv => !profile.RecvChecksSocketFirst,
            _ => false,
        };
        if (pollFirst && pollFirstBeforeSocket)
        {
            return WouldWait(ref r);
        }

        if (!Posix.IsSocket(r.File))
        {
            return Returned(ref r, -Errno.ENOTSOCK);
        }

        // A message's header is copied before POLL_FIRST is looked at (before 6.10, at the first issue).
        if (r.Kind is OpKind.SendMsg or OpKind.RecvMsg && r.Message is null && ReadMsgHdr(ref r) is var header and not 0)
        {
            return Returned(ref r, header);
        }

        if (pollFirst)
        {
            return WouldWait(ref r);
        }

        if (profile.NetImport == RwImportStage.Issue && r.Kind != OpKind.SendMsg && r.Kind != OpKind.RecvMsg && ImportNet(ref r) is var import and not 0)
        {
            // 6.1's io_recv completes a bad buffer as a result; the others return it.
            if (r.Kind == OpKind.Recv)
            {
                r.Fail(import);
                return Completion.Inline;
            }

            return Returned(ref r, import);
        }

        if ((r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_BUFFER_SELECT) != 0)
        {
            return receive ? ReceiveIntoProvidedBuffer(ref r) : SendFromProvidedBuffers(ref r);
        }

        // The kernel's iterator over the vectors: a copy, advanced past what earlier issues moved.
        var vectorCount = r.Message is { } message ? Math.Max(message.Vectors.Length, 1) : 1;
        var iovs = stackalloc Posix.IoVec[vectorCount];
        Posix.MsgHdr msg;
        if (r.Message is not null)
        {
            msg = r.Message.Header;
            r.Message.Vectors.CopyTo(new Span<Posix.IoVec>(iovs, vectorCount));
        }
        else
        {
            iovs[0] = new Posix.IoVec { Base = (nint)r.Addr, Length = Math.Min(r.Len, MaxRwCount) };
            msg = new Posix.MsgHdr { Iov = (nint)iovs, IovLength = 1 };
            if (r.Kind == OpKind.Send && r.Off != 0)
            {
                msg.Name = (nint)r.Off;
                msg.NameLength = r.AddrLen;
            }
        }

        // What an earlier issue moved of a MSG_WAITALL transfer is skipped (the kernel's iterator has advanced).
        var remaining = SkipDone(iovs, (int)msg.IovLength, r.DoneIo, out var first);
        msg.Iov = (nint)(iovs + first);
        msg.IovLength -= first;
        msg.Flags = 0;

        var flags = (int)r.OpFlags | (receive ? 0 : MsgNosignal);
        var waitAll = (flags & MsgWaitall) != 0;

        // RECVMSG with ancillary data takes what comes even with MSG_WAITALL.
        var minimum = waitAll && !(r.Kind == OpKind.RecvMsg && msg.ControlLength != 0) ? (long)remaining : 0;
        var res = Posix.Result(receive ? Posix.RecvMsg(r.File, &msg, flags | MsgDontwait) : Posix.SendMsg(r.File, &msg, flags | MsgDontwait));
        if (r.Kind == OpKind.RecvMsg && res >= 0)
        {
            WriteBackMsgHdr(r.Addr, r.Message!.Header.Name != 0, &msg);
        }

        if (res < minimum)
        {
            if (res == -Errno.EAGAIN)
            {
                return WouldWait(ref r);
            }

            // A stream keeps what moved and waits for the rest.
            if (res > 0 && waitAll && Posix.SocketType(r.File) is SockStream or SockSeqpacket)
            {
                r.DoneIo += (int)res;
                return WouldWait(ref r);
            }

            r.SetFail();
        }
        else if (receive && waitAll && (msg.Flags & (MsgTrunc | MsgCtrunc)) != 0)
        {
            r.SetFail();
        }

        if (res >= 0)
        {
            res += r.DoneIo;
        }
        else if (r.DoneIo != 0)
        {
            res = r.DoneIo;
        }

        r.Res = (int)res;
        if (receive && res >= 0 && QueuedAfterReceive(r.File))
        {
            r.CqeFlags |= Constants.IORING_CQE_F_SOCK_NONEMPTY;
        }

        // A SEND bundle without provided buffers posts what it sent with IORING_CQE_F_MORE and sends
        // again from where it ended, which is nothing: its final CQE is 0. One that had to wait for the
        // socket posts its result alone.
        if (r.Kind == OpKind.Send && (r.Ioprio & RecvSendBundle) != 0 && res > 0 && !r.Polled && PostMultishot(r.UserData, (int)res, Constants.IORING_CQE_F_MORE))
        {
            r.Res = 0;
        }

        return Completion.Inline;
    }

    /// <summary>
    /// A RECV or RECVMSG with IOSQE_BUFFER_SELECT: a buffer of its group (none: -ENOBUFS), a receive into
    /// it without waiting, and then: data commits the buffer (IORING_CQE_F_BUFFER and its id); the end of
    /// the stream, an error, or a receive that must wait leaves it in its group. A multishot receive
    /// posts each receive with IORING_CQE_F_MORE and goes on until the socket has nothing more (then it
    /// waits), an error or the end of the stream (its final CQE), no buffer (-ENOBUFS), a CQE that
    /// cannot be posted (that receive's data in the final CQE), or 7.x's byte limit.
    /// </summary>
    private Completion ReceiveIntoProvidedBuffer(ref Request r)
    {
        // A bundle issued inline peeks at a buffer ring; from io-wq (the ring unlocked) it takes one
        // buffer as any receive does, as from a legacy group.
        if ((r.Ioprio & RecvSendBundle) != 0 && !runningInIoWq)
        {
            if (bufferRings != null && bufferRings.TryGetValue(r.BufIndex, out var ring))
            {
                return ReceiveBundle(ref r, ring);
            }

            return IsLegacyGroup(r.BufIndex) ? ReceiveBundle(ref r, null) : Returned(ref r, -Errno.ENOENT);
        }

        var multishot = (r.Ioprio & RecvMultishot) != 0;
        var flags = (int)r.OpFlags;
        while (true)
        {
            // A RECV keeps the length each selection cut it to (sr->len); a RECVMSG asks anew each time.
            if (r.Kind == OpKind.RecvMsg && !r.BufferSelected)
            {
                r.Len = r.MultishotLength;
            }

            if (!r.BufferSelected && !SelectBuffer(ref r))
            {
                return Returned(ref r, -Errno.ENOBUFS);
            }

            long res;
            long used;
            bool finished;
            var messageFlags = 0;
            if (multishot && r.Kind == OpKind.RecvMsg)
            {
                // The buffer must hold the header, name and control data; if not, it goes back, and the
                // multishot ends there.
                if (r.Len < r.Message!.Layout.HeaderLength)
                {
                    GiveBufferBack(ref r);
                    return Returned(ref r, -Errno.EFAULT);
                }

                res = ReceiveIntoLayout(ref r, flags, out finished);
                used = res;
            }
            else
            {
                // A RECVMSG keeps its msghdr's address in addr: the buffer is the selected one.
                var iov = new Posix.IoVec { Base = (nint)r.Selected.Address, Length = Math.Min(r.Len, MaxRwCount) };
                var msg = r.Message is { } message ? message.Header : default;
                msg.Iov = (nint)(&iov);
                msg.IovLength = 1;
                msg.Flags = 0;
                res = Posix.Result(Posix.RecvMsg(r.File, &msg, flags | MsgDontwait));
                if (r.Kind == OpKind.RecvMsg && res >= 0)
                {
                    WriteBackMsgHdr(r.Addr, r.Message!.Header.Name != 0, &msg);
                }

                if (res > 0 && res < (long)iov.Length && (flags & MsgWaitall) != 0 && Posix.SocketType(r.File) is SockStream or SockSeqpacket)
                {
                    engine.ReportUnmodelled("MSG_WAITALL into a provided buffer (the kernel keeps part of it for the rest)");
                }

                // MSG_TRUNC may report more than the buffer took: only what it took is used up.
                finished = res <= 0;
                used = Math.Min(res, (long)iov.Length);
                messageFlags = msg.Flags;
            }

            // A receive that must wait, or finds the end of the stream or an error, gives its buffer back
            // (io_kbuf_recycle, legacy groups too).
            if (res == -Errno.EAGAIN)
            {
                GiveBufferBack(ref r);
                return WouldWait(ref r);
            }

            r.Res = (int)res;
            r.CqeFlags &= ~Constants.IORING_CQE_F_SOCK_NONEMPTY;
            if (res >= 0 && QueuedAfterReceive(r.File))
            {
                r.CqeFlags |= Constants.IORING_CQE_F_SOCK_NONEMPTY;
            }

            if (res < 0 || ((flags & MsgWaitall) != 0 && (messageFlags & (MsgTrunc | MsgCtrunc)) != 0))
            {
                r.SetFail();
            }

            if (res <= 0)
            {
                GiveBufferBack(ref r);
                return Completion.Inline;
            }

            PutRingBuffer(ref r, (int)used);
            if (!multishot)
            {
                return Completion.Inline;
            }

            // A multishot RECVMSG's end of stream still fills a header: a final CQE that uses its buffer.
            var last = finished;
            if (r.MultishotTotal != 0)
            {
                r.MultishotTotal = (uint)Math.Max(0L, r.MultishotTotal - res);
                last = r.MultishotTotal == 0;
            }

            var posted = r.CqeFlags;
            if (last || !PostWithBuffer(ref r))
            {
                // This receive's CQE is the final one.
                return Completion.Inline;
            }

            // Posted: the next receive takes a new buffer and asks for the multishot length again (6.1
            // keeps what the last buffer cut it to); a RECVMSG asks for the whole buffer from now on.
            if (r.Kind == OpKind.RecvMsg)
            {
                r.MultishotLength = 0;
            }

            if (!profile.RecvMultishotKeepsLength)
            {
                r.Len = r.MultishotLength;
            }

            // 6.1 receives again at once (KernelProfile.RecvMultishotRetriesAlways); later kernels only
            // while the socket says it holds more, or cannot say, and after MULTISHOT_MAX_RETRY receives
            // in a row requeue it behind other task work (the engine waits for the socket's readiness,
            // which is there). Otherwise it waits for more data, and an empty ring is not noticed until then.
            if (!profile.RecvMultishotRetriesAlways)
            {
                var more = (posted & Constants.IORING_CQE_F_SOCK_NONEMPTY) != 0 || !ReportsQueued(r.File);
                if (!more || ++r.MultishotLoops > MultishotMaxRetry)
                {
                    r.MultishotLoops = more ? 0 : r.MultishotLoops;
                    return WaitForReadiness(ref r);
                }
            }
        }
    }

    /// <summary>
    /// io_recvmsg_multishot: one receive into the selected buffer laid out as io_uring_recvmsg_out, the
    /// name (the caller's msg_namelen of room, asked for only when that is not 0), the control data (its
    /// msg_controllen) and the payload. The header says what the socket gave: the name's whole length,
    /// the control bytes used, the payload's whole length and the message flags; only as much of the name
    /// as there is room for is written, and nothing after it. The result counts the header, both rooms
    /// and the payload the buffer took. The end of the stream still writes a header (payload 0) and ends
    /// the multishot; a header that cannot be written is -EFAULT, the data lost.
    /// </summary>
    private long ReceiveIntoLayout(ref Request r, int flags, out bool finished)
    {
        var layout = r.Message!.Layout;
        var buffer = r.Selected.Address;
        var room = r.Len - (uint)layout.HeaderLength;
        var header = stackalloc byte[MultishotLayout.OutSize + SockaddrStorageSize];
        var iov = new Posix.IoVec { Base = (nint)(buffer + (ulong)layout.HeaderLength), Length = Math.Min(room, MaxRwCount) };
        var msg = new Posix.MsgHdr
        {
            Name = layout.NameLength != 0 ? (nint)(header + MultishotLayout.OutSize) : 0,
            NameLength = layout.NameLength != 0 ? SockaddrStorageSize : 0,
            Iov = (nint)(&iov),
            IovLength = 1,
            Control = layout.ControlLength != 0 ? (nint)(buffer + (ulong)(layout.HeaderLength - layout.ControlLength)) : 0,
            ControlLength = layout.ControlLength,
        };

        var received = Posix.Result(Posix.RecvMsg(r.File, &msg, flags | MsgDontwait));
        finished = received <= 0;
        if (received < 0)
        {
            return received;
        }

        // recvmsg(2) reports the name's whole length only when it was given somewhere to put it.
        var nameLength = layout.NameLength != 0 ? msg.NameLength : 0;
        *(io_uring_recvmsg_out*)header = new io_uring_recvmsg_out
        {
            namelen = (uint)nameLength,
            controllen = (uint)msg.ControlLength,
            payloadlen = (uint)received,
            flags = (uint)msg.Flags,
        };

        if (Posix.CopyToUser(buffer, header, (nuint)(MultishotLayout.OutSize + Math.Min(nameLength, layout.NameLength))) != 0)
        {
            finished = true;
            return -Errno.EFAULT;
        }

        return layout.HeaderLength + Math.Min(received, room);
    }

    /// <summary>
    /// io_recv with IORING_RECVSEND_BUNDLE from a buffer ring: each receive maps as many of the ring's
    /// buffers as its length needs (<see cref="PeekRing"/>), receives into all of them at once and uses
    /// up those the data reached (an incremental ring: the bytes); the CQE names the first. A receive that
    /// filled every buffer while the socket says it holds more (msg_inq above 1) receives again at once
    /// for that much and adds it to the same CQE, once, unless the ring ran empty or the last buffer was
    /// cut short; if that second selection finds no buffer the request still completes with what it had,
    /// but fails its links. A multishot bundle posts each CQE with IORING_CQE_F_MORE and ends when a
    /// selection empties the ring; one that filled its whole length is requeued rather than retried at once.
    /// A legacy group (<paramref name="ring"/> null) gives one buffer a selection, taken off the group at
    /// once, and is empty when its list is.
    /// </summary>
    private Completion ReceiveBundle(ref Request r, BufferRing? ring)
    {
        const uint CarriedFlags = Constants.IORING_CQE_F_SOCK_NONEMPTY | Constants.IORING_CQE_F_MORE | Constants.IORING_CQE_F_BUF_MORE;
        var multishot = (r.Ioprio & RecvMultishot) != 0;
        var flags = (int)r.OpFlags;
        var iovs = stackalloc Posix.IoVec[PeekMaxImport];
        while (true)
        {
            // The length asked for, else what the socket said it still held; a multishot's byte limit caps it.
            var maxLen = r.Len != 0 ? r.Len : r.BundleQueued > 1 ? (uint)r.BundleQueued : 0;
            if (r.MultishotTotal != 0)
            {
                maxLen = maxLen == 0 ? r.MultishotTotal : Math.Min(maxLen, r.MultishotTotal);
            }

            int count;
            ushort firstId;
            bool partial;
            bool emptied;
            if (ring is not null)
            {
                count = PeekRing(ring, maxLen, iovs, out firstId, out partial, out emptied);
            }
            else
            {
                r.Len = maxLen;
                count = SelectBuffer(ref r) ? 1 : -Errno.ENOBUFS;
                firstId = r.Selected.Id;
                partial = false;
                emptied = count == 1 && bufferGroups![r.BufIndex].Count == 0;
                iovs[0] = new Posix.IoVec { Base = (nint)r.Selected.Address, Length = Math.Min(r.Len, MaxRwCount) };
            }

            // That a selection emptied the group stays with the request (REQ_F_BL_EMPTY) until its next
            // multishot CQE, though a receive that must wait gives the buffers back.
            r.BundleEmptied |= emptied;

            // So does a selection cut short (IORING_RECV_PARTIAL_MAP): no going back for more.
            r.BundlePartial |= partial;

            // One buffer mapped becomes the request's length (sr->len), which a receive that must wait
            // asks for again when it is woken.
            if (count == 1)
            {
                r.Len = (uint)iovs[0].Length;
            }

            long res;
            long consumed;
            var queued = -1;
            ulong unfilled = 0;
            if (count < 0)
            {
                r.SetFail();
                res = count;
                consumed = count;
            }
            else
            {
                ulong mapped = 0;
                for (var k = 0; k < count; k++)
                {
                    mapped += (ulong)iovs[k].Length;
                }

                var msg = new Posix.MsgHdr { Iov = (nint)iovs, IovLength = count };
                res = Posix.Result(Posix.RecvMsg(r.File, &msg, flags | MsgDontwait));
                if (res == -Errno.EAGAIN)
                {
                    // Nothing was used: the buffers stay in the ring for the next try (a legacy one goes back).
                    GiveBufferBack(ref r);
                    return WouldWait(ref r);
                }

                if ((flags & MsgWaitall) != 0 && res > 0 && (ulong)res < mapped)
                {
                    engine.ReportUnmodelled("MSG_WAITALL into a provided buffer (the kernel keeps part of it for the rest)");
                }

                if (res < 0)
                {
                    r.SetFail();
                }

                consumed = res > 0 ? (long)Math.Min((ulong)res, mapped) : res;
                unfilled = res > 0 ? mapped - (ulong)consumed : mapped;
                queued = QueuedOrUnknown(r.File);
            }

            var thisReceive = Math.Max(res, 0);
            var finished = res <= 0;
            res = res > 0 ? res + r.DoneIo : r.DoneIo > 0 ? r.DoneIo : res;

            // io_recv_finish: the buffers the data reached are used up.
            var cflags = queued > 0 ? Constants.IORING_CQE_F_SOCK_NONEMPTY : 0u;
            var limitReached = false;
            if (res > 0 && r.MultishotTotal != 0)
            {
                r.MultishotTotal -= (uint)Math.Min(res, r.MultishotTotal);
                limitReached = r.MultishotTotal == 0;
                finished |= limitReached;
            }

            if (ring is null && r.BufferSelected)
            {
                // A legacy buffer left its group at selection: nothing used gives it back.
                if (consumed <= 0 && r.DoneIo == 0)
                {
                    GiveBufferBack(ref r);
                }

                ForgetBuffer(ref r);
            }

            if (count > 0 && consumed >= 0 && (consumed > 0 || r.DoneIo > 0))
            {
                cflags |= Constants.IORING_CQE_F_BUFFER | ((uint)firstId << (int)Constants.IORING_CQE_BUFFER_SHIFT);
                if (ring is { Incremental: true })
                {
                    if (!IncrementalCommit(ring, (uint)consumed))
                    {
                        cflags |= Constants.IORING_CQE_F_BUF_MORE;
                    }
                }
                else if (ring is not null)
                {
                    ring.Head += (ushort)BuffersReached(iovs, count, consumed, unfilled);
                }
            }

            if (r.BundleAppending)
            {
                cflags = r.BundleFirstFlags | (cflags & CarriedFlags);
            }

            // A multishot bundle that took its whole length goes back for no more, and is requeued
            // after its CQE rather than receiving again at once (until then it stays so).
            r.BundleCapped |= r.MultishotLength != 0 && res >= r.MultishotLength;
            if (!r.BundleEmptied && !r.BundleAppending && !r.BundlePartial && !r.BundleCapped && !limitReached && queued > 1 && thisReceive > 0 && unfilled == 0)
            {
                // Everything mapped was filled and the socket holds more: receive that too, into this CQE.
                r.BundleFirstFlags = cflags & ~CarriedFlags;
                r.Len = (uint)queued;
                r.DoneIo += (int)thisReceive;
                r.BundleAppending = true;
                r.BundleQueued = queued;
                continue;
            }

            r.BundleQueued = queued;
            if (multishot && !finished && !r.BundleEmptied && PostMultishot(r.UserData, (int)res, cflags | Constants.IORING_CQE_F_MORE))
            {
                // io_mshot_prep_retry: the next receive starts afresh, asking for the multishot length.
                r.DoneIo = 0;
                r.BundleAppending = false;
                r.BundleEmptied = false;
                r.BundlePartial = false;
                r.Len = r.MultishotLength;
                if ((cflags & Constants.IORING_CQE_F_SOCK_NONEMPTY) != 0 || queued < 0)
                {
                    if (r.MultishotLoops++ < MultishotMaxRetry && !r.BundleCapped)
                    {
                        continue;
                    }

                    r.MultishotLoops = 0;
                    r.BundleCapped = false;
                }

                return WaitForReadiness(ref r);
            }

            r.Res = (int)res;
            r.CqeFlags = cflags;
            return Completion.Inline;
        }
    }

    /// <summary>
    /// io_bundle_nbufs: how many of the mapped buffers <paramref name="consumed"/> bytes reached (all of
    /// them when nothing is left unfilled, else each counted up to its length).
    /// </summary>
    private static int BuffersReached(Posix.IoVec* iovs, int count, long consumed, ulong unfilled)
    {
        if (consumed <= 0)
        {
            return 0;
        }

        if (count == 1 || unfilled == 0)
        {
            return count;
        }

        var n = 0;
        while (consumed > 0 && n < count)
        {
            consumed -= (long)Math.Min((ulong)consumed, (ulong)iovs[n].Length);
            n++;
        }

        return n;
    }

    /// <summary>A transfer that would wait: with MSG_DONTWAIT -EAGAIN is its result; otherwise it waits (<see cref="WaitForReadiness"/>).</summary>
    private Completion WouldWait(ref Request r) =>
        ((int)r.OpFlags & MsgDontwait) != 0 ? Returned(ref r, -Errno.EAGAIN) : WaitForReadiness(ref r);

    /// <summary>
    /// A socket call that waits for its file's readiness (the internal poll). A file without a poll method
    /// (a RECV or ACCEPT with POLL_FIRST of a regular file) cannot be waited on: io-wq issues it again,
    /// still not polled, and -EAGAIN is its result from there.
    /// </summary>
    private Completion WaitForReadiness(ref Request r)
    {
        if (!Posix.CanPoll(r.File))
        {
            if (!runningInIoWq)
            {
                r.Executed = false;
                return Completion.Async;
            }

            r.Fail(-Errno.EAGAIN);
            return Completion.Inline;
        }

        r.NeedsPoll = true;
        return Completion.Polled;
    }

    private static Completion Returned(ref Request r, int error)
    {
        r.Fail(error);
        return Completion.Failed;
    }

    /// <summary>Skips <paramref name="done"/> bytes of the vectors; the bytes left, and the first vector with any.</summary>
    private static ulong SkipDone(Posix.IoVec* iovs, int count, int done, out int first)
    {
        first = 0;
        ulong total = 0;
        ulong skip = (ulong)done;
        for (var k = 0; k < count; k++)
        {
            var length = (ulong)iovs[k].Length;
            if (skip >= length && skip > 0)
            {
                skip -= length;
                first = k + 1;
                continue;
            }

            iovs[k].Base += (nint)skip;
            iovs[k].Length = (nuint)(length - skip);
            skip = 0;
            total += (ulong)iovs[k].Length;
        }

        first = Math.Min(first, count);
        return Math.Min(total, MaxRwCount);
    }

    /// <summary>What the kernel's recvmsg writes back into the caller's msghdr: the name's length (when it has a name), the flags, the control length.</summary>
    private static void WriteBackMsgHdr(ulong user, bool named, Posix.MsgHdr* msg)
    {
        if (named)
        {
            Posix.CopyToUser(user + 8, &msg->NameLength, sizeof(int));
        }

        Posix.CopyToUser(user + 48, &msg->Flags, sizeof(int));
        Posix.CopyToUser(user + 40, &msg->ControlLength, (nuint)sizeof(nint));
    }

    /// <summary>Whether a receive learns how much the socket still holds (msg_inq): TCP, and an AF_UNIX stream where <see cref="KernelProfile.UnixStreamInq"/> says so.</summary>
    private bool ReportsQueued(int fd) =>
        (Posix.SocketOption(fd, SoDomain) is AfInet or AfInet6 && Posix.SocketOption(fd, SoProtocol) == IpprotoTcp)
        || (Posix.SocketType(fd) == SockStream && Posix.SocketOption(fd, SoDomain) == AfUnix && profile.UnixStreamInq == UnixStreamInq.WhenQueued);

    /// <summary>msg_inq after a receive: the bytes the socket still holds where it says (<see cref="ReportsQueued"/>), else -1.</summary>
    private int QueuedOrUnknown(int fd) => ReportsQueued(fd) ? Posix.Queued(fd) : -1;

    /// <summary>
    /// IORING_CQE_F_SOCK_NONEMPTY: the receive left data queued, as the socket reports it (msg_inq). An
    /// AF_UNIX stream socket reports it only on kernels that have that (<see cref="KernelProfile.UnixStreamInq"/>).
    /// </summary>
    private bool QueuedAfterReceive(int fd) => Posix.SocketType(fd) == SockStream && profile.UnixStreamInq switch
    {
        UnixStreamInq.WhenQueued => Posix.Queued(fd) > 0,
        UnixStreamInq.Always => true,
        _ => false,
    };

    /// <summary>
    /// io_recvzc_prep: RECV_ZC receives into a zero-copy receive queue registered with
    /// IORING_REGISTER_ZCRX_IFQ, which needs a network card's queue; the engine registers none (the
    /// register call is reported as unmodelled), so the prep ends where the kernel's does on a ring
    /// without one: -EINVAL (addr, addr2 and addr3 that are not 0 are -EINVAL before that).
    /// </summary>
    private static int PrepareRecvZc() => -Errno.EINVAL;

    /// <summary>io_shutdown_prep: nothing but the descriptor and how (in len); always run from io-wq.</summary>
    private static int PrepareShutdown(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->off != 0 || sqe->addr != 0 || sqe->rw_flags != 0 || sqe->buf_index != 0 || sqe->splice_fd_in != 0)
        {
            return -Errno.EINVAL;
        }

        r.ForceAsync = true;
        return 0;
    }

    /// <summary>
    /// io_shutdown: no file or not a socket is an error the issue returns (a failure); what shutdown(2)
    /// answers is only the result, and does not break a chain.
    /// </summary>
    private void ExecuteShutdown(ref Request r)
    {
        if (!FileOf(ref r) || !Posix.IsSocket(r.File))
        {
            r.Fail(r.File < 0 ? -Errno.EBADF : -Errno.ENOTSOCK);
            return;
        }

        r.Res = (int)Posix.Result(Posix.Shutdown(r.File, (int)r.Len));
    }
}
