using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// SEND_ZC and SENDMSG_ZC. Their prep takes a second request, the notification, early on; from then on
/// the request's CQE carries IORING_CQE_F_MORE whatever becomes of it (failed, cancelled in a broken
/// chain, or sent), and once that CQE is posted and the request freed, the notification posts its own
/// CQE from task work: the same user_data (or addr3's, where the kernel takes it), IORING_CQE_F_NOTIF, and
/// 0, or IORING_NOTIF_USAGE_ZC_COPIED with IORING_SEND_ZC_REPORT_USAGE (nothing went zero-copy). A
/// descriptor that is no socket is -ENOTSOCK, a socket without zero-copy support (AF_UNIX) -EOPNOTSUPP.
/// A zero-copy send on TCP or UDP is named as unmodelled: its notification waits for the network to let
/// go of the pages (after the ACK), a matter of timing the engine does not follow.
/// </summary>
internal sealed unsafe partial class EngineRing
{
    private const ushort RecvSendFixedBuf = (ushort)Constants.IORING_RECVSEND_FIXED_BUF;
    private const ushort SendZcReportUsage = (ushort)Constants.IORING_SEND_ZC_REPORT_USAGE;
    private const ushort SendVectorized = (ushort)Constants.IORING_SEND_VECTORIZED;

    private const int SockDgram = 2;

    // KMALLOC_MAX_SIZE (4 MiB) in iovecs: more registered-buffer vectors than this cannot be allocated.
    private const uint MaxVectorAllocation = (4u << 20) / 16;

    /// <summary>
    /// io_send_zc_prep: the reserved word after addr3 (and addr3 itself where it is not the notification's
    /// user_data), no CQE_SKIP_SUCCESS, the notification, the flags (before the notification on 6.1:
    /// <see cref="KernelProfile.ZeroCopyFlagsBeforeNotification"/>), a fixed buffer's index where the kernel
    /// looks it up at prep, the SEND's reserved half-word or the SENDMSG's absent address, then the
    /// imports of a SEND's buffer and address or a SENDMSG's msghdr where the kernel makes them at prep.
    /// </summary>
    private int PrepareSendZc(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->__pad2[0] != 0 || (sqe->addr3 != 0 && !profile.ZeroCopyNotificationUserData))
        {
            return -Errno.EINVAL;
        }

        if ((r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS) != 0)
        {
            return -Errno.EINVAL;
        }

        var flagsValid = (r.Ioprio & ~profile.SendZcFlags) == 0;
        if (!flagsValid && profile.ZeroCopyFlagsBeforeNotification)
        {
            return -Errno.EINVAL;
        }

        // io_alloc_notif: from here every outcome posts the notification after the request's CQE. (Prepare
        // keeps a second slot free, so this takes no slot that moves the request held by reference.)
        var n = Alloc();
        ref var notification = ref requests[n];
        notification = default;
        notification.Live = true;
        liveRequests++;
        notification.Next = -1;
        notification.Executed = true;
        notification.Opcode = r.Opcode;
        notification.UserData = sqe->addr3 != 0 ? sqe->addr3 : r.UserData;
        notification.CqeFlags = Constants.IORING_CQE_F_NOTIF;
        notification.Res = (r.Ioprio & SendZcReportUsage) != 0 ? unchecked((int)Constants.IORING_NOTIF_USAGE_ZC_COPIED) : 0;
        r.Notification = n + 1;
        r.CqeFlags |= Constants.IORING_CQE_F_MORE;

        if (!flagsValid)
        {
            return -Errno.EINVAL;
        }

        var fixedBuffer = (r.Ioprio & RecvSendFixedBuf) != 0;
        if (fixedBuffer && profile.FixedBuffers != FixedBufferStage.Issue && !FixedBuffer(r.BufIndex, out _, out _))
        {
            return -Errno.EFAULT;
        }

        if (r.Kind == OpKind.SendZc)
        {
            if (sqe->__pad3[0] != 0)
            {
                return -Errno.EINVAL;
            }

            r.AddrLen = sqe->addr_len;
        }
        else if (sqe->off != 0 || sqe->file_index != 0 || (fixedBuffer && !profile.ZeroCopyMsgTakesFixedBuffer))
        {
            return -Errno.EINVAL;
        }

        return profile.NetImport == RwImportStage.Prep ? ImportSendZc(ref r) : 0;
    }

    /// <summary>
    /// io_send_setup and io_sendmsg_setup for a zero-copy send: a SEND's address, then its buffer (plain:
    /// access_ok; IORING_SEND_VECTORIZED: the iovec import; a fixed buffer: nothing before the issue, or
    /// with vectors their copy); a SENDMSG's msghdr.
    /// </summary>
    private int ImportSendZc(ref Request r)
    {
        if (r.Kind == OpKind.SendMsgZc)
        {
            return r.Message is null ? ReadMsgHdr(ref r) : 0;
        }

        if (r.Off != 0 && AddressIn(r.Off, r.AddrLen) is var address and not 0)
        {
            return address;
        }

        var vectorized = (r.Ioprio & SendVectorized) != 0 && (profile.SendZcFlags & SendVectorized) != 0;
        if ((r.Ioprio & RecvSendFixedBuf) != 0)
        {
            if (!vectorized)
            {
                return 0;
            }

            // io_prep_reg_iovec: the array is allocated, then copied (iovec_from_user).
            if (r.Len > MaxVectorAllocation)
            {
                return -Errno.ENOMEM;
            }

            if (r.Len > UioMaxIov)
            {
                return -Errno.EINVAL;
            }

            var scratch = new Posix.IoVec[Math.Max((int)r.Len, 1)];
            fixed (Posix.IoVec* into = scratch)
            {
                return Posix.CopyFromUser(into, r.Addr, (nuint)(r.Len * (uint)sizeof(Posix.IoVec))) != 0 ? -Errno.EFAULT : 0;
            }
        }

        if (vectorized)
        {
            return ImportRw(ref r, OpKind.WriteV);
        }

        var len = Math.Min(r.Len, MaxRwCount);
        return r.Addr > UserSpaceEnd || r.Addr + len > UserSpaceEnd ? -Errno.EFAULT : 0;
    }

    /// <summary>
    /// io_send_zc and io_sendmsg_zc: the socket, its zero-copy support (TCP and UDP only), and (6.1) the
    /// imports the later kernels made at prep. Every error is returned by the issue.
    /// </summary>
    private Completion ExecuteSendZc(ref Request r)
    {
        r.Executed = true;
        if (!FileOf(ref r))
        {
            return Returned(ref r, -Errno.EBADF);
        }

        if (r.Kind == OpKind.SendMsgZc && (r.Ioprio & RecvSendFixedBuf) != 0 && profile.ZeroCopyMsgImportsFixedBufferFirst && !VectorsInFixedBuffer(ref r))
        {
            return Returned(ref r, -Errno.EFAULT);
        }

        if (!Posix.IsSocket(r.File))
        {
            return Returned(ref r, -Errno.ENOTSOCK);
        }

        var family = Posix.SocketOption(r.File, SoDomain);
        var type = Posix.SocketType(r.File);
        if (family is not (AfInet or AfInet6) || type is not (SockStream or SockDgram))
        {
            return Returned(ref r, -Errno.EOPNOTSUPP);
        }

        if (profile.NetImport == RwImportStage.Issue && ImportSendZc(ref r) is var import and not 0)
        {
            return Returned(ref r, import);
        }

        engine.ReportUnmodelled($"{(io_uring_op)r.Opcode} on a TCP or UDP socket (its notification waits for the network)");
        return Returned(ref r, -Errno.EOPNOTSUPP);
    }

    /// <summary>io_import_reg_vec: every vector of the message inside the registered buffer buf_index.</summary>
    private bool VectorsInFixedBuffer(ref Request r)
    {
        if (!FixedBuffer(r.BufIndex, out var start, out var length))
        {
            return false;
        }

        foreach (var v in r.Message?.Vectors ?? [])
        {
            if ((ulong)v.Base < start || (ulong)v.Base + (ulong)v.Length > start + length)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The request's notification, if it has one, posts its CQE from task work (io_notif_flush as the request is freed).</summary>
    private void FlushNotification(ref Request r)
    {
        if (r.Notification == 0)
        {
            return;
        }

        work.Enqueue(new Work(WorkKind.Complete, r.Notification - 1, false));
        r.Notification = 0;
    }
}
