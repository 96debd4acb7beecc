using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// MSG_RING: a CQE posted on another ring (or this one), or a fixed file of this ring installed in
/// another's table. The target is the request's file, which must be a ring: an engine ring of the same
/// engine. A kernel's own ring is one the engine cannot post to, and is named as unmodelled. The target's
/// CQE is posted at once, while the source's completion joins the batch, so on the same ring it lands
/// ahead of the batch (io_post_aux_cqe does not flush it). Every error fails the request (req_set_fail).
/// </summary>
internal sealed unsafe partial class EngineRing
{
    private const uint MsgRingCqeSkip = Constants.IORING_MSG_RING_CQE_SKIP;
    private const uint MsgRingFlagsPass = Constants.IORING_MSG_RING_FLAGS_PASS;

    /// <summary>
    /// io_msg_ring_prep: buf_index and personality must be 0, the flags known
    /// (<see cref="KernelProfile.MsgRingFlags"/>). The command (addr) and the source slot (addr3) are
    /// 32-bit, their high halves ignored; everything else is checked at issue.
    /// </summary>
    private int PrepareMsgRing(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->buf_index != 0)
        {
            return -Errno.EINVAL;
        }

        r.Addr = (uint)sqe->addr;
        r.Addr3 = (uint)sqe->addr3;
        r.FileSlot = sqe->file_index;
        r.OpFlags = sqe->msg_ring_flags;
        return (r.OpFlags & ~profile.MsgRingFlags) != 0 ? -Errno.EINVAL : 0;
    }

    /// <summary>
    /// io_msg_ring: the target must be a ring (-EBADFD), then the command: DATA, SEND_FD, or -EINVAL. A
    /// target that cannot be looked up fails the issue itself (io_assign_file), as for any opcode.
    /// </summary>
    private Completion ExecuteMsgRing(ref Request r)
    {
        r.Executed = true;
        var fixedFile = (r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_FIXED_FILE) != 0;

        // No ring can be registered as a fixed file, so a fixed target is never one.
        var target = fixedFile ? null : engine.RingAt(r.Fd);
        if (target is null)
        {
            if (!FileOf(ref r))
            {
                r.Fail(-Errno.EBADF);
                return Completion.Failed;
            }

            if (!fixedFile && Posix.IsIoUring(r.File))
            {
                engine.ReportUnmodelled("MSG_RING to a ring of the kernel's");
                r.Fail(-Errno.EOPNOTSUPP);
                return Completion.Inline;
            }

            r.Fail(-Errno.EBADFD);
            return Completion.Inline;
        }

        var res = r.Addr switch
        {
            (uint)io_uring_msg_ring_flags.IORING_MSG_DATA => SendMessageData(ref r, target),
            (uint)io_uring_msg_ring_flags.IORING_MSG_SEND_FD => SendMessageFile(ref r, target),
            _ => -Errno.EINVAL,
        };
        if (res < 0)
        {
            r.Fail(res);
        }
        else
        {
            r.Res = res;
        }

        return Completion.Inline;
    }

    /// <summary>
    /// io_msg_ring_data: a CQE of user_data off and res len on the target, its flags file_index's with
    /// FLAGS_PASS (which alone may be set). A disabled target is -EBADFD; IORING_CQE_F_32 for a ring
    /// without 32-byte CQEs is -EINVAL where the kernel checks it (<see cref="KernelProfile.MsgRingRefusesBigCqeFlag"/>).
    /// </summary>
    private int SendMessageData(ref Request r, EngineRing target)
    {
        var pass = (r.OpFlags & MsgRingFlagsPass) != 0;
        if (r.Addr3 != 0 || (r.OpFlags & ~MsgRingFlagsPass) != 0 || (!pass && r.FileSlot != 0))
        {
            return -Errno.EINVAL;
        }

        if (target.disabled)
        {
            return -Errno.EBADFD;
        }

        // The flags are passed as they are, IORING_CQE_F_32 included: on a CQE_MIXED target it makes the
        // CQE a 32-byte one.
        var flags = pass ? r.FileSlot : 0;
        var big = (flags & Constants.IORING_CQE_F_32) != 0;
        if (big && profile.MsgRingRefusesBigCqeFlag && !target.Has(IoUringSetupFlags.IORING_SETUP_CQE32) && !target.Has(IoUringSetupFlags.IORING_SETUP_CQE_MIXED))
        {
            return -Errno.EINVAL;
        }

        if (!target.CanPostMessage())
        {
            return -Errno.EOPNOTSUPP;
        }

        target.PostMessage(new PendingCqe(r.Off, (int)r.Len, flags, big && target.Has(IoUringSetupFlags.IORING_SETUP_CQE_MIXED), 0, 0));
        return 0;
    }

    /// <summary>
    /// io_msg_send_fd: this ring's fixed file at addr3 installed in the target's slot file_index (1-based,
    /// or IORING_FILE_INDEX_ALLOC), and a CQE of user_data off and res the install's result posted there
    /// unless IORING_MSG_RING_CQE_SKIP. Never to this ring itself; len must be 0 and the target enabled
    /// where the kernel checks them (<see cref="KernelProfile.MsgRingSendFdChecksTarget"/>).
    /// </summary>
    private int SendMessageFile(ref Request r, EngineRing target)
    {
        if (profile.MsgRingSendFdChecksTarget && r.Len != 0)
        {
            return -Errno.EINVAL;
        }

        if (target == this)
        {
            return -Errno.EINVAL;
        }

        if (profile.MsgRingSendFdChecksTarget && target.disabled)
        {
            return -Errno.EBADFD;
        }

        var source = FixedFile((int)r.Addr3);
        if (source < 0)
        {
            return -Errno.EBADF;
        }

        if (!target.CanPostMessage())
        {
            return -Errno.EOPNOTSUPP;
        }

        // Slot 0 wraps to the last index there is: past any table, or no table at all.
        var installed = r.FileSlot == 0 ? (target.fixedFiles == null ? -Errno.ENXIO : -Errno.EINVAL) : target.InstallFixedFile(Posix.Dup(source), r.FileSlot);
        if (installed >= 0 && (r.OpFlags & MsgRingCqeSkip) == 0)
        {
            target.PostMessage(new PendingCqe(r.Off, installed, 0, false, 0, 0));
        }

        return installed;
    }

    /// <summary>Whether the engine can deliver to this ring as the kernel would: a DEFER_TASKRUN ring takes messages through its task's work (from 6.12 on), which the engine does not model.</summary>
    private bool CanPostMessage()
    {
        if (Has(IoUringSetupFlags.IORING_SETUP_DEFER_TASKRUN))
        {
            engine.ReportUnmodelled("MSG_RING to a DEFER_TASKRUN ring (delivered through its task's work)");
            return false;
        }

        return true;
    }

    /// <summary>
    /// io_post_aux_cqe on this ring: posted now (or to the overflow list), ahead of any batch, and counted
    /// as extra for drains; a thread waiting on this ring is woken.
    /// </summary>
    private void PostMessage(in PendingCqe cqe)
    {
        cqExtra++;
        Post(cqe);
        Volatile.Write(ref U32(header.CqTail), cqTail);
        Committed();
        if (messageWake >= 0)
        {
            var one = 1ul;
            var iov = new Posix.IoVec { Base = (nint)(&one), Length = 8 };
            Posix.pwritev2(messageWake, &iov, 1, -1, 0);
        }
    }

    // An eventfd a wait on this ring sleeps on while another ring of the engine may message it (made by
    // the first such wait, under the engine's lock, so a message posted before it is seen by the wait's
    // own check of the CQ).
    private int messageWake = -1;

    /// <summary>
    /// Sleeps, outside the engine's lock, until another ring's MSG_RING posts here or <paramref name="timeoutMs"/>
    /// passes (another thread's submission is the only other thing that could end such a wait).
    /// </summary>
    public void WaitForMessage(int timeoutMs)
    {
        if (messageWake < 0)
        {
            messageWake = Posix.Eventfd();
        }

        var wake = messageWake;
        engine.Block(() => Posix.WaitReadable(wake, timeoutMs));
        var count = 0ul;
        var iov = new Posix.IoVec { Base = (nint)(&count), Length = 8 };
        Posix.preadv2(wake, &iov, 1, -1, 0x8); // RWF_NOWAIT: taken if it was written
    }
}
