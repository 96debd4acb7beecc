using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

internal enum OpKind : byte
{
    Unsupported,
    Nop,
    Read,
    Write,
    ReadV,
    WriteV,
    Fsync,
    ReadFixed,
    WriteFixed,
    Mmap,
    Timeout,
    TimeoutRemove,
    AsyncCancel,
    LinkTimeout,
    PollAdd,
    PollRemove,
    Send,
    Recv,
    SendMsg,
    RecvMsg,
    Shutdown,
    Socket,
    Bind,
    Listen,
    Connect,
    Accept,
    SyncFileRange,
    Fallocate,
    Ftruncate,
    Fadvise,
    Madvise,
    Close,
    FilesUpdate,
    FixedFdInstall,
    EpollCtl,
    OpenAt,
    OpenAt2,
    Statx,
    MkdirAt,
    UnlinkAt,
    RenameAt,
    SymlinkAt,
    LinkAt,
    FgetXattr,
    FsetXattr,
    GetXattr,
    SetXattr,
    Splice,
    Tee,
    Pipe,
    UringCmd,
    ReadvFixed,
    WritevFixed,
    RecvZc,
    ProvideBuffers,
    RemoveBuffers,
    MsgRing,
    Waitid,
    EpollWait,
    FutexWait,
    FutexWake,
    FutexWaitv,
    ReadMultishot,
    SendZc,
    SendMsgZc,
}

/// <summary>How a request's completion reaches the CQ.</summary>
internal enum Completion : byte
{
    /// <summary>In the current batch (issued from the submission loop or from task work).</summary>
    Inline,

    /// <summary>An error returned by the issue rather than a completion (6.1 posts it at once; see KernelProfile.FailuresPostAtOnce).</summary>
    Failed,

    /// <summary>Completed by the opcode itself through io_req_complete_post: posted at once where failures are (6.1), batched elsewhere.</summary>
    Posted,

    /// <summary>Through a task-work item queued now.</summary>
    TaskWork,

    /// <summary>From io-wq, after the task's own work.</summary>
    Async,

    /// <summary>Armed: completes later, when a timer fires, a count is met or it is cancelled (a TIMEOUT).</summary>
    Armed,

    /// <summary>Waits for its file's readiness (a POLL_ADD, or a read or write that would block): armed already.</summary>
    Polled,
}

/// <summary>What the kernel's io_issue_defs says about an opcode, for the opcodes the engine executes.</summary>
internal readonly record struct OpDef(OpKind Kind, bool Ioprio, bool BufferSelect, bool Is128)
{
    public static readonly OpDef Unknown = new(OpKind.Unsupported, false, false, false);
}

internal static class Operations
{
    private static readonly OpDef[] Table = Build();

    public static OpDef Of(byte opcode) => Table[opcode];

    /// <summary>As <see cref="Of(byte)"/>, plus a proposal's opcode when the profile has one.</summary>
    public static OpDef Of(byte opcode, KernelProfile profile) =>
        profile.Mmap is { } mmap && opcode == mmap.Opcode ? new OpDef(OpKind.Mmap, false, false, false)
        : opcode == (byte)io_uring_op.IORING_OP_SEND ? Table[opcode] with { BufferSelect = (profile.Features & FeatRecvSendBundle) != 0 }
        : Table[opcode].Kind == OpKind.UringCmd ? Table[opcode] with { BufferSelect = profile.UringCmdMultishot }
        : Table[opcode];

    /// <summary>
    /// IORING_FEAT_RECVSEND_BUNDLE (6.10): the kernel takes IORING_RECVSEND_BUNDLE, and SEND takes
    /// provided buffers, which came with bundles.
    /// </summary>
    public const uint FeatRecvSendBundle = 1u << 14;

    private static OpDef[] Build()
    {
        var t = new OpDef[256];
        Array.Fill(t, OpDef.Unknown);
        t[(int)io_uring_op.IORING_OP_NOP] = new(OpKind.Nop, false, false, false);
        t[(int)io_uring_op.IORING_OP_NOP128] = new(OpKind.Nop, false, false, true);
        t[(int)io_uring_op.IORING_OP_READV] = new(OpKind.ReadV, true, true, false);
        t[(int)io_uring_op.IORING_OP_WRITEV] = new(OpKind.WriteV, true, false, false);
        t[(int)io_uring_op.IORING_OP_READ] = new(OpKind.Read, true, true, false);
        t[(int)io_uring_op.IORING_OP_WRITE] = new(OpKind.Write, true, false, false);
        t[(int)io_uring_op.IORING_OP_FSYNC] = new(OpKind.Fsync, false, false, false);
        t[(int)io_uring_op.IORING_OP_READ_FIXED] = new(OpKind.ReadFixed, true, false, false);
        t[(int)io_uring_op.IORING_OP_WRITE_FIXED] = new(OpKind.WriteFixed, true, false, false);
        t[(int)io_uring_op.IORING_OP_READV_FIXED] = new(OpKind.ReadvFixed, true, false, false);
        t[(int)io_uring_op.IORING_OP_WRITEV_FIXED] = new(OpKind.WritevFixed, true, false, false);
        t[(int)io_uring_op.IORING_OP_TIMEOUT] = new(OpKind.Timeout, false, false, false);
        t[(int)io_uring_op.IORING_OP_TIMEOUT_REMOVE] = new(OpKind.TimeoutRemove, false, false, false);
        t[(int)io_uring_op.IORING_OP_ASYNC_CANCEL] = new(OpKind.AsyncCancel, false, false, false);
        t[(int)io_uring_op.IORING_OP_LINK_TIMEOUT] = new(OpKind.LinkTimeout, false, false, false);
        t[(int)io_uring_op.IORING_OP_POLL_ADD] = new(OpKind.PollAdd, false, false, false);
        t[(int)io_uring_op.IORING_OP_POLL_REMOVE] = new(OpKind.PollRemove, false, false, false);

        // Socket transfers take their flags in ioprio. Provided buffers (SEND's from 6.10, see Of) are
        // named as unmodelled by their prep.
        t[(int)io_uring_op.IORING_OP_SEND] = new(OpKind.Send, true, false, false);
        t[(int)io_uring_op.IORING_OP_RECV] = new(OpKind.Recv, true, true, false);
        t[(int)io_uring_op.IORING_OP_SENDMSG] = new(OpKind.SendMsg, true, false, false);
        t[(int)io_uring_op.IORING_OP_RECVMSG] = new(OpKind.RecvMsg, true, true, false);
        t[(int)io_uring_op.IORING_OP_SHUTDOWN] = new(OpKind.Shutdown, false, false, false);

        // ACCEPT takes IORING_ACCEPT_* in ioprio; the other socket calls take no ioprio.
        t[(int)io_uring_op.IORING_OP_SOCKET] = new(OpKind.Socket, false, false, false);
        t[(int)io_uring_op.IORING_OP_BIND] = new(OpKind.Bind, false, false, false);
        t[(int)io_uring_op.IORING_OP_LISTEN] = new(OpKind.Listen, false, false, false);
        t[(int)io_uring_op.IORING_OP_CONNECT] = new(OpKind.Connect, false, false, false);
        t[(int)io_uring_op.IORING_OP_ACCEPT] = new(OpKind.Accept, true, false, false);
        t[(int)io_uring_op.IORING_OP_RECV_ZC] = new(OpKind.RecvZc, true, false, false);
        t[(int)io_uring_op.IORING_OP_PROVIDE_BUFFERS] = new(OpKind.ProvideBuffers, false, false, false);
        t[(int)io_uring_op.IORING_OP_REMOVE_BUFFERS] = new(OpKind.RemoveBuffers, false, false, false);

        t[(int)io_uring_op.IORING_OP_SYNC_FILE_RANGE] = new(OpKind.SyncFileRange, false, false, false);
        t[(int)io_uring_op.IORING_OP_FALLOCATE] = new(OpKind.Fallocate, false, false, false);
        t[(int)io_uring_op.IORING_OP_FTRUNCATE] = new(OpKind.Ftruncate, false, false, false);
        t[(int)io_uring_op.IORING_OP_FADVISE] = new(OpKind.Fadvise, false, false, false);
        t[(int)io_uring_op.IORING_OP_MADVISE] = new(OpKind.Madvise, false, false, false);

        t[(int)io_uring_op.IORING_OP_CLOSE] = new(OpKind.Close, false, false, false);
        t[(int)io_uring_op.IORING_OP_FILES_UPDATE] = new(OpKind.FilesUpdate, false, false, false);
        t[(int)io_uring_op.IORING_OP_FIXED_FD_INSTALL] = new(OpKind.FixedFdInstall, false, false, false);
        t[(int)io_uring_op.IORING_OP_EPOLL_CTL] = new(OpKind.EpollCtl, false, false, false);

        t[(int)io_uring_op.IORING_OP_OPENAT] = new(OpKind.OpenAt, false, false, false);
        t[(int)io_uring_op.IORING_OP_OPENAT2] = new(OpKind.OpenAt2, false, false, false);
        t[(int)io_uring_op.IORING_OP_STATX] = new(OpKind.Statx, false, false, false);
        t[(int)io_uring_op.IORING_OP_MKDIRAT] = new(OpKind.MkdirAt, false, false, false);
        t[(int)io_uring_op.IORING_OP_UNLINKAT] = new(OpKind.UnlinkAt, false, false, false);
        t[(int)io_uring_op.IORING_OP_RENAMEAT] = new(OpKind.RenameAt, false, false, false);
        t[(int)io_uring_op.IORING_OP_SYMLINKAT] = new(OpKind.SymlinkAt, false, false, false);
        t[(int)io_uring_op.IORING_OP_LINKAT] = new(OpKind.LinkAt, false, false, false);

        t[(int)io_uring_op.IORING_OP_FGETXATTR] = new(OpKind.FgetXattr, false, false, false);
        t[(int)io_uring_op.IORING_OP_FSETXATTR] = new(OpKind.FsetXattr, false, false, false);
        t[(int)io_uring_op.IORING_OP_GETXATTR] = new(OpKind.GetXattr, false, false, false);
        t[(int)io_uring_op.IORING_OP_SETXATTR] = new(OpKind.SetXattr, false, false, false);

        t[(int)io_uring_op.IORING_OP_SPLICE] = new(OpKind.Splice, false, false, false);
        t[(int)io_uring_op.IORING_OP_TEE] = new(OpKind.Tee, false, false, false);
        t[(int)io_uring_op.IORING_OP_PIPE] = new(OpKind.Pipe, false, false, false);

        t[(int)io_uring_op.IORING_OP_URING_CMD] = new(OpKind.UringCmd, false, false, false);
        t[(int)io_uring_op.IORING_OP_URING_CMD128] = new(OpKind.UringCmd, false, false, true);
        t[(int)io_uring_op.IORING_OP_MSG_RING] = new(OpKind.MsgRing, false, false, false);
        t[(int)io_uring_op.IORING_OP_WAITID] = new(OpKind.Waitid, false, false, false);
        t[(int)io_uring_op.IORING_OP_EPOLL_WAIT] = new(OpKind.EpollWait, false, false, false);
        t[(int)io_uring_op.IORING_OP_FUTEX_WAIT] = new(OpKind.FutexWait, false, false, false);
        t[(int)io_uring_op.IORING_OP_FUTEX_WAKE] = new(OpKind.FutexWake, false, false, false);
        t[(int)io_uring_op.IORING_OP_FUTEX_WAITV] = new(OpKind.FutexWaitv, false, false, false);
        t[(int)io_uring_op.IORING_OP_READ_MULTISHOT] = new(OpKind.ReadMultishot, false, true, false);
        t[(int)io_uring_op.IORING_OP_SEND_ZC] = new(OpKind.SendZc, true, false, false);
        t[(int)io_uring_op.IORING_OP_SENDMSG_ZC] = new(OpKind.SendMsgZc, true, false, false);
        return t;
    }
}

/// <summary>The opcodes: preparation checks and execution with the real system calls.</summary>
internal sealed unsafe partial class EngineRing
{
    // MAX_RW_COUNT: INT_MAX rounded down to a page; larger lengths are clamped, as read(2) does.
    private const uint MaxRwCount = 0x7ffff000;

    // The top of user space (TASK_SIZE_MAX) for the architecture this process runs as, whose addresses
    // the programs hand the engine: access_ok fails above it with -EFAULT at prep. x86_64: 47 bits less
    // a guard page. arm64: 48 bits (the VA_BITS of Debian's arm64 kernels), where mmap hands out
    // addresses above x86_64's limit, so a check written for x86_64 alone failed valid buffers there.
    private static readonly ulong UserSpaceEnd = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.Arm64
        ? 1UL << 48
        : 0x00007ffffffff000;

    private const int UioMaxIov = 1024;
    private const uint RwfHipri = 0x1;
    private const uint RwfNowait = 0x8;

    // RWF_SUPPORTED: HIPRI, DSYNC, SYNC, NOWAIT, APPEND, NOAPPEND, ATOMIC, DONTCACHE.
    private const uint RwfKnown = 0xff;

    private int PrepareNop(ref Request r, io_uring_sqe* sqe)
    {
        var nopFlags = sqe->nop_flags;
        r.OpFlags = nopFlags;
        if ((nopFlags & ~profile.NopFlags) != 0)
        {
            return -Errno.EINVAL;
        }

        r.Res = (nopFlags & (uint)IoUringNopFlags.IORING_NOP_INJECT_RESULT) != 0 ? (int)sqe->len : 0;
        if ((nopFlags & (uint)IoUringNopFlags.IORING_NOP_CQE32) != 0)
        {
            if (!Has(IoUringSetupFlags.IORING_SETUP_CQE32) && !Has(IoUringSetupFlags.IORING_SETUP_CQE_MIXED))
            {
                return -Errno.EINVAL;
            }

            r.Big = true;
            r.Extra1 = sqe->off;
            r.Extra2 = sqe->addr;
        }

        return 0;
    }

    private int PrepareRw(ref Request r, io_uring_sqe* sqe, OpKind kind)
    {
        if (r.Ioprio != 0 && !IoprioValid(r.Ioprio))
        {
            return -Errno.EINVAL;
        }

        if (sqe->attr_type_mask != 0)
        {
            return -Errno.EINVAL;
        }

        if ((r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_BUFFER_SELECT) != 0)
        {
            // The buffer is picked at issue; a vectored request selects exactly one, and its single
            // iovec is read now for the length it asks for (io_iov_buffer_select_prep, 6.1 too).
            if (kind != OpKind.ReadV)
            {
                return 0;
            }

            if (r.Len != 1)
            {
                return -Errno.EINVAL;
            }

            Posix.IoVec one;
            if (Posix.CopyFromUser(&one, r.Addr, (nuint)sizeof(Posix.IoVec)) != 0)
            {
                return -Errno.EFAULT;
            }

            r.Len = (uint)one.Length;
            return 0;
        }

        return profile.RwImport == RwImportStage.Prep ? ImportRw(ref r, kind) : 0;
    }

    /// <summary>The buffer import of a plain or vectored read or write (at prep or at issue, as the profile says).</summary>
    private static int ImportRw(ref Request r, OpKind kind)
    {
        if ((r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_BUFFER_SELECT) != 0)
        {
            return 0; // selected at issue
        }

        // The buffer is imported at prep: a vectored request copies its iovec array now.
        if (kind is OpKind.Read or OpKind.Write)
        {
            var len = Math.Min(r.Len, MaxRwCount);
            return r.Addr > UserSpaceEnd || r.Addr + len > UserSpaceEnd ? -Errno.EFAULT : 0;
        }

        if (r.Len > UioMaxIov)
        {
            return -Errno.EINVAL;
        }

        // The kernel copies the iovec array at prep (__import_iovec) and checks every vector.
        var iovs = stackalloc Posix.IoVec[Math.Max((int)r.Len, 1)];
        if (Posix.CopyFromUser(iovs, r.Addr, (nuint)(r.Len * (uint)sizeof(Posix.IoVec))) != 0)
        {
            return -Errno.EFAULT;
        }

        for (var k = 0; k < r.Len; k++)
        {
            var length = Math.Min((ulong)iovs[k].Length, MaxRwCount);
            if ((ulong)iovs[k].Base > UserSpaceEnd || (ulong)iovs[k].Base + length > UserSpaceEnd)
            {
                return -Errno.EFAULT;
            }
        }

        return 0;
    }

    private int PrepareRwFixed(ref Request r, io_uring_sqe* sqe)
    {
        // 6.1 checks the index against the table before anything else of the SQE.
        if (profile.FixedBuffers == FixedBufferStage.LookupAtPrep && (buffers == null || r.BufIndex >= buffers.Length))
        {
            return -Errno.EFAULT;
        }

        if (r.Ioprio != 0 && !IoprioValid(r.Ioprio))
        {
            return -Errno.EINVAL;
        }

        if (sqe->attr_type_mask != 0)
        {
            return -Errno.EINVAL;
        }

        return profile.FixedBuffers == FixedBufferStage.Prep ? FixedRange(ref r) : 0;
    }

    /// <summary>
    /// 6.1's io_readv_prep_async/io_writev_prep_async: the vectored buffer import (io_import_iovec) done
    /// ahead of an async issue; plain and fixed reads and writes have no such step (measured under
    /// qemu: a chain member READ with a kernel address is cancelled, not -EFAULT). A provided buffer is
    /// selected there too (-ENOBUFS when the group has none).
    /// </summary>
    private int AsyncPrep(ref Request r)
    {
        if (IsNet(r.Kind) || r.Kind is OpKind.SendZc or OpKind.SendMsgZc)
        {
            return profile.NetImport == RwImportStage.Issue ? AsyncPrepNet(ref r) : 0;
        }

        // io_connect_prep_async: the address is copied for the async issue.
        if (r.Kind == OpKind.Connect)
        {
            return r.Address is null ? KeepAddress(ref r) : 0;
        }

        if (profile.RwImport != RwImportStage.Issue || r.Kind is not (OpKind.ReadV or OpKind.WriteV))
        {
            return 0;
        }

        return (r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_BUFFER_SELECT) == 0 ? ImportRw(ref r, r.Kind)
            : SelectBuffer(ref r) ? 0
            : -Errno.ENOBUFS;
    }

    /// <summary>
    /// io_prep_readv_fixed and io_prep_writev_fixed: the checks of a fixed READ or WRITE (never 6.1's, which
    /// lacks these opcodes), then the iovec array copied (iovec_from_user: more than UIO_MAXIOV is
    /// -EINVAL, a vector that cannot be read -EFAULT, a length past a signed size -EINVAL, vector by vector).
    /// </summary>
    private static int PrepareRwvFixed(ref Request r, io_uring_sqe* sqe)
    {
        if (r.Ioprio != 0 && !IoprioValid(r.Ioprio))
        {
            return -Errno.EINVAL;
        }

        if (sqe->attr_type_mask != 0)
        {
            return -Errno.EINVAL;
        }

        if (r.Len > UioMaxIov)
        {
            return -Errno.EINVAL;
        }

        r.Vectors = new Posix.IoVec[r.Len];
        for (var k = 0; k < r.Vectors.Length; k++)
        {
            fixed (Posix.IoVec* v = &r.Vectors[k])
            {
                if (Posix.CopyFromUser(v, r.Addr + ((ulong)k * (ulong)sizeof(Posix.IoVec)), (nuint)sizeof(Posix.IoVec)) != 0)
                {
                    return -Errno.EFAULT;
                }

                if ((long)v->Length < 0)
                {
                    return -Errno.EINVAL;
                }
            }
        }

        return 0;
    }

    /// <summary>
    /// io_import_reg_vec, first thing in the issue: the registered buffer must be there (-EFAULT); the
    /// pages the vectors span, two more each, may not pass INT_MAX (-EOVERFLOW); each vector must lie
    /// inside the buffer, be at most MAX_RW_COUNT and not empty (-EFAULT); their total may not pass
    /// MAX_RW_COUNT (-EINVAL).
    /// </summary>
    private int FixedVectors(ref Request r)
    {
        if (!FixedBuffer(r.BufIndex, out var bufAddress, out var bufLength))
        {
            return -Errno.EFAULT;
        }

        var vectors = r.Vectors!;
        ulong pages = 0;
        foreach (var v in vectors)
        {
            pages += ((ulong)v.Length >> 12) + 2;
            if (pages > int.MaxValue)
            {
                return -Errno.EOVERFLOW;
            }
        }

        ulong total = 0;
        foreach (var v in vectors)
        {
            var start = (ulong)v.Base;
            var length = (ulong)v.Length;
            var end = start + length;
            if (end < start || start < bufAddress || end > bufAddress + bufLength || length > MaxRwCount || length == 0)
            {
                return -Errno.EFAULT;
            }

            total += length;
        }

        return total > MaxRwCount ? -Errno.EINVAL : 0;
    }

    /// <summary>io_import_fixed: the range must lie inside the registered buffer (a sparse slot is none).</summary>
    private int FixedRange(ref Request r)
    {
        var end = r.Addr + r.Len;
        return !FixedBuffer(r.BufIndex, out var bufAddress, out var bufLength) || end < r.Addr || r.Addr < bufAddress || end > bufAddress + bufLength
            ? -Errno.EFAULT
            : 0;
    }

    private static bool IoprioValid(ushort ioprio)
    {
        // ioprio_check_cap: class in the top 3 bits, level in the low 3 (the engine runs as the
        // tests do; RT needs CAP_SYS_NICE, which root has).
        var cls = ioprio >> 13;
        var level = ioprio & 0x7;
        return cls switch
        {
            1 or 2 => level < 8 && (ioprio & 0x1ff8) == 0,
            3 => true,
            0 => level == 0,
            _ => false,
        };
    }

    private Completion Execute(int i)
    {
        ref var r = ref requests[i];
        switch (r.Kind)
        {
            case OpKind.PollAdd:
                return ExecutePollAdd(i);
            case OpKind.PollRemove:
                // io_poll_remove returns its error from the issue: a failure, posted as failures are.
                ExecuteNow(ref r);
                return r.Res < 0 ? Completion.Failed : Completion.Inline;
            case OpKind.Shutdown:
                // SHUTDOWN is marked for io-wq at prep.
                return Completion.Async;
            case OpKind.Fsync or OpKind.SyncFileRange or OpKind.Fallocate or OpKind.Ftruncate or OpKind.Fadvise or OpKind.Madvise:
                return ExecuteFileCall(ref r);
            case OpKind.Close or OpKind.FilesUpdate or OpKind.FixedFdInstall or OpKind.EpollCtl:
                return ExecuteDescriptorCallNow(ref r);
            case OpKind.Send or OpKind.Recv or OpKind.SendMsg or OpKind.RecvMsg or OpKind.Connect or OpKind.Accept:
                var net = r.Kind switch
                {
                    OpKind.Connect => ExecuteConnect(ref r),
                    OpKind.Accept => ExecuteAccept(ref r),
                    _ => ExecuteNet(ref r),
                };
                HarvestWakes();
                if (net == Completion.Polled)
                {
                    ArmAsyncPoll(i);
                }

                return net;
            case OpKind.Bind or OpKind.Listen:
                return ExecuteBindOrListen(ref r);
            case OpKind.Statx or OpKind.MkdirAt or OpKind.UnlinkAt or OpKind.RenameAt or OpKind.SymlinkAt or OpKind.LinkAt
                or OpKind.FgetXattr or OpKind.FsetXattr or OpKind.GetXattr or OpKind.SetXattr or OpKind.Splice or OpKind.Tee:
                // Marked for io-wq at prep; 6.1, which issues such a chain member inline, has them answer
                // -EAGAIN to a non-blocking issue, which sends them there all the same.
                return Completion.Async;
            case OpKind.OpenAt or OpKind.OpenAt2 when r.ForceAsync:
                return Completion.Async;
            case OpKind.ProvideBuffers or OpKind.RemoveBuffers:
                // 6.1's io_provide_buffers and io_remove_buffers post their CQE themselves (__io_req_complete).
                ExecuteNow(ref r);
                return Completion.Posted;
            case OpKind.Pipe:
                return ExecutePipe(ref r);
            case OpKind.UringCmd:
                return ExecuteUringCmd(ref r);
            case OpKind.MsgRing:
                return ExecuteMsgRing(ref r);
            case OpKind.ReadMultishot:
                return ExecuteReadMultishot(i);
            case OpKind.SendZc or OpKind.SendMsgZc:
                return ExecuteSendZc(ref r);
            case OpKind.FutexWait or OpKind.FutexWaitv:
                // Armed: completes from task work when woken or cancelled.
                return ExecuteFutexWait(i) ? Completion.Polled : Completion.Inline;
            case OpKind.EpollWait:
                ExecuteNow(ref r);
                if (r.NeedsPoll)
                {
                    ArmAsyncPoll(i);
                    return Completion.Polled;
                }

                return Completion.Inline;
            case OpKind.Timeout:
                r.Executed = true;
                return Completion.Armed;
            case OpKind.LinkTimeout:
                // Never issued on its own: the request before it arms or disarms it. Were it reached
                // (the kernel's io_no_issue), it fails.
                r.Executed = true;
                r.Fail(-Errno.EINVAL);
                return Completion.Inline;
            case OpKind.Nop:
                ExecuteNow(ref r);
                return (r.OpFlags & (uint)IoUringNopFlags.IORING_NOP_TW) != 0 ? Completion.TaskWork : Completion.Inline;
            case OpKind.Read or OpKind.ReadV or OpKind.Write or OpKind.WriteV or OpKind.ReadFixed or OpKind.WriteFixed or OpKind.ReadvFixed or OpKind.WritevFixed:
                var check = CheckRw(ref r);
                if (check != 0)
                {
                    r.Res = check;
                    r.SetFail();
                    r.Executed = true;
                    return Completion.Failed;
                }

                // A request the kernel cannot do without blocking is not tried inline: -EAGAIN sends it
                // to io-wq (see TriedInline), after waiting once for the readiness of a file that has a
                // poll method (io_arm_poll_handler; a pipe on 6.1).
                if (!TriedInline(ref r))
                {
                    // The non-blocking issue selected a buffer before it found it would block: it goes back.
                    RecycleBuffer(ref r);
                    if (!r.Polled && !Posix.IsRegularFile(r.File) && Posix.CanPoll(r.File))
                    {
                        ArmAsyncPoll(i);
                        return Completion.Polled;
                    }

                    return Completion.Async;
                }

                ExecuteNow(ref r);
                if (r.NeedsPoll)
                {
                    RecycleBuffer(ref r);
                    ArmAsyncPoll(i);
                    return Completion.Polled;
                }

                FinishRingBuffer(ref r);

                // A short read of a regular file is retried in blocking mode from io-wq unless the
                // request said RWF_NOWAIT (need_complete_io), so its completion comes late.
                // An error from the transfer is returned by the issue (6.1's io_read returns it); a short
                // count is a completion.
                var read = r.Kind is OpKind.Read or OpKind.ReadV or OpKind.ReadFixed or OpKind.ReadvFixed;
                return read && r.Failed && r.Res > 0 && (r.OpFlags & RwfNowait) == 0 && Posix.IsPositional(r.File) ? Completion.Async
                    : r.Res < 0 ? Completion.Failed : Completion.Inline;
            default:
                ExecuteNow(ref r);
                return Completion.Inline;
        }
    }

    private void ExecuteNow(ref Request r)
    {
        r.Executed = true;
        switch (r.Kind)
        {
            case OpKind.Mmap:
                ExecuteMmap(ref r);
                break;
            case OpKind.Nop:
                ExecuteNop(ref r);
                break;
            case OpKind.Read or OpKind.Write or OpKind.ReadV or OpKind.WriteV or OpKind.ReadFixed or OpKind.WriteFixed or OpKind.ReadvFixed or OpKind.WritevFixed:
                ExecuteRw(ref r);
                break;
            case OpKind.Fsync or OpKind.SyncFileRange or OpKind.Fallocate or OpKind.Ftruncate or OpKind.Fadvise or OpKind.Madvise:
                ExecuteFileCallNow(ref r);
                break;
            case OpKind.Close or OpKind.FilesUpdate or OpKind.FixedFdInstall or OpKind.EpollCtl:
                ExecuteDescriptorCall(ref r);
                break;
            case OpKind.OpenAt or OpKind.OpenAt2 or OpKind.Statx or OpKind.MkdirAt or OpKind.UnlinkAt or OpKind.RenameAt or OpKind.SymlinkAt or OpKind.LinkAt:
                ExecutePathCallNow(ref r);
                break;
            case OpKind.FgetXattr or OpKind.FsetXattr or OpKind.GetXattr or OpKind.SetXattr:
                ExecuteXattrNow(ref r);
                break;
            case OpKind.Splice or OpKind.Tee:
                ExecuteSpliceNow(ref r);
                break;
            case OpKind.Pipe:
                ExecutePipe(ref r);
                break;
            case OpKind.UringCmd:
                ExecuteUringCmd(ref r);
                break;
            case OpKind.MsgRing:
                ExecuteMsgRing(ref r);
                break;
            case OpKind.Waitid:
                ExecuteWaitid(ref r);
                break;
            case OpKind.EpollWait:
                ExecuteEpollWait(ref r);
                break;
            case OpKind.FutexWake:
                ExecuteFutexWake(ref r);
                break;
            case OpKind.SendZc or OpKind.SendMsgZc:
                ExecuteSendZc(ref r);
                break;
            case OpKind.ProvideBuffers or OpKind.RemoveBuffers:
                ExecuteBufferCall(ref r);
                break;
            case OpKind.TimeoutRemove:
                ExecuteTimeoutRemove(ref r);
                break;
            case OpKind.AsyncCancel:
                ExecuteAsyncCancel(ref r);
                break;
            case OpKind.PollRemove:
                ExecutePollRemove(ref r);
                break;
            case OpKind.Send or OpKind.Recv or OpKind.SendMsg or OpKind.RecvMsg:
                ExecuteNet(ref r);
                break;
            case OpKind.Shutdown:
                ExecuteShutdown(ref r);
                break;
            case OpKind.Socket:
                ExecuteSocket(ref r);
                break;
            case OpKind.Bind or OpKind.Listen:
                ExecuteBindOrListen(ref r);
                break;
            case OpKind.Connect:
                ExecuteConnect(ref r);
                break;
            case OpKind.Accept:
                ExecuteAccept(ref r);
                break;
        }

        // A pipe, eventfd or socket this request read or wrote may have woken an armed poll.
        HarvestWakes();
    }

    private void ExecuteNop(ref Request r)
    {
        var flags = r.OpFlags;
        var injected = r.Res;
        var ret = injected;
        if ((flags & (uint)IoUringNopFlags.IORING_NOP_FILE) != 0)
        {
            // IOSQE_FIXED_FILE on the SQE selects the fixed table as IORING_NOP_FIXED_FILE does (measured on 6.18).
            var fixedTable = (flags & (uint)IoUringNopFlags.IORING_NOP_FIXED_FILE) != 0 || (r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_FIXED_FILE) != 0;
            var found = fixedTable ? FixedFile(r.Fd) >= 0 : Posix.IsOpen(r.Fd);
            if (!found)
            {
                ret = -Errno.EBADF;
            }
        }

        if (ret >= 0 && (flags & (uint)IoUringNopFlags.IORING_NOP_FIXED_BUFFER) != 0 && !FixedBuffer(r.BufIndex, out _, out _))
        {
            ret = -Errno.EFAULT;
        }

        if (ret < 0)
        {
            r.SetFail();
        }

        // Before the 2026 fix a failed lookup still posted the (injected) result, not the errno.
        r.Res = ret != injected && profile.NopLookupFailurePostsZero ? injected : ret;
    }

    private void ExecuteRw(ref Request r)
    {
        var kind = r.Kind;
        var write = kind is OpKind.Write or OpKind.WriteV or OpKind.WriteFixed or OpKind.WritevFixed;
        long res;
        long expected;
        var check = CheckRw(ref r);
        if (check != 0)
        {
            res = check;
            expected = 0;
        }
        else if (kind is OpKind.ReadFixed or OpKind.WriteFixed)
        {
            // CheckRw found the range inside the registered buffer.
            var iov = new Posix.IoVec { Base = (nint)r.Addr, Length = Math.Min(r.Len, MaxRwCount) };
            expected = (long)iov.Length;
            res = Transfer(r.File, &iov, 1, (long)r.Off, (int)r.OpFlags, kind == OpKind.WriteFixed);
        }
        else if (kind is OpKind.ReadvFixed or OpKind.WritevFixed)
        {
            // CheckRw found every vector inside the registered buffer.
            var count = r.Vectors!.Length;
            expected = 0;
            fixed (Posix.IoVec* iovs = r.Vectors)
            {
                for (var k = 0; k < count; k++)
                {
                    expected += (long)iovs[k].Length;
                }

                res = Transfer(r.File, iovs, count, (long)r.Off, (int)r.OpFlags, write);
            }
        }
        else if (kind is OpKind.Read or OpKind.Write || r.BufferSelected)
        {
            // A READV with a provided buffer reads into that one buffer.
            var iov = new Posix.IoVec { Base = (nint)r.Addr, Length = Math.Min(r.Len, MaxRwCount) };
            expected = (long)iov.Length;
            res = Transfer(r.File, &iov, 1, (long)r.Off, (int)r.OpFlags, write);
        }
        else
        {
            var count = (int)r.Len;
            var iovs = stackalloc Posix.IoVec[Math.Max(count, 1)];
            var copied = Posix.CopyFromUser(iovs, r.Addr, (nuint)(count * sizeof(Posix.IoVec)));
            expected = 0;
            if (copied < 0)
            {
                res = copied;
            }
            else
            {
                for (var k = 0; k < count; k++)
                {
                    expected += (long)iovs[k].Length;
                }

                res = Transfer(r.File, iovs, count, (long)r.Off, (int)r.OpFlags, write);
            }
        }

        r.Res = (int)res;

        // A transfer that would wait on a pipe or socket waits for its readiness instead (not a failure).
        r.NeedsPoll = res == -Errno.EAGAIN && (r.OpFlags & RwfNowait) == 0 && !Posix.IsRegularFile(r.File);
        if (r.NeedsPoll)
        {
            return;
        }

        // A short transfer fails the request: its link is broken even though the result is positive.
        if (res < 0 || res != expected)
        {
            r.SetFail();
        }
    }

    /// <summary>What the kernel refuses before any transfer (file lookup, io_rw_init_file).</summary>
    private int CheckRw(ref Request r)
    {
        // The file is looked up before the request is issued; the buffer is selected first thing in the issue.
        if (!FileOf(ref r))
        {
            return -Errno.EBADF;
        }

        // Kernels that import at issue do it right after the file lookup (io_import_iovec first thing in io_read).
        if (profile.RwImport == RwImportStage.Issue && r.Kind is OpKind.Read or OpKind.Write or OpKind.ReadV or OpKind.WriteV)
        {
            var import = ImportRw(ref r, r.Kind);
            if (import != 0)
            {
                return import;
            }
        }

        // A provided buffer is taken first thing in the issue (io_import_rw_buffer); what fails after
        // that has used it up, and says so in its CQE.
        if ((r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_BUFFER_SELECT) != 0 && !r.BufferSelected && !SelectBuffer(ref r))
        {
            return -Errno.ENOBUFS;
        }

        // READ_FIXED/WRITE_FIXED import the registered buffer first thing in the issue (unless the
        // kernel did at prep): the range must lie inside it (io_import_fixed).
        if (r.Kind is OpKind.ReadFixed or OpKind.WriteFixed && profile.FixedBuffers != FixedBufferStage.Prep)
        {
            var range = FixedRange(ref r);
            if (range != 0)
            {
                return range;
            }
        }

        if (r.Kind is OpKind.ReadvFixed or OpKind.WritevFixed)
        {
            var range = FixedVectors(ref r);
            if (range != 0)
            {
                return range;
            }
        }

        if ((r.OpFlags & RwfHipri) != 0 && !Has(IoUringSetupFlags.IORING_SETUP_IOPOLL))
        {
            return -Errno.EINVAL; // polled I/O needs an IOPOLL ring
        }

        if ((r.OpFlags & ~RwfKnown) != 0 || ((r.OpFlags & RwfNowait) != 0 && !FileNowait(r.File)))
        {
            // kiocb_set_rw_flags refuses these before any transfer, even of zero bytes (where
            // preadv2 would return 0 without looking at the flags).
            return -Errno.EOPNOTSUPP;
        }

        return 0;
    }

    /// <summary>
    /// FMODE_NOWAIT, which RWF_NOWAIT needs: a shmem file (the generated programs' memfds), a pipe and a
    /// socket have it as the profile says (a pipe opened O_NONBLOCK counts as having it), so the answer does
    /// not depend on the kernel the engine runs on; anything else (a file of a disk filesystem) is asked of
    /// the running kernel.
    /// </summary>
    private bool FileNowait(int fd) => Posix.IsShmem(fd) ? profile.ShmemNowait
        : Posix.IsPipe(fd) ? profile.PipeNowait || Posix.IsNonblocking(fd)
        : Posix.IsSocket(fd) ? profile.SocketNowait
        : Posix.SupportsNowait(fd);

    /// <summary>
    /// Whether the kernel tries the transfer inline before punting it to io-wq: a file it counts as
    /// non-blocking, except a buffered write to a regular file (no FMODE_BUF_WASYNC on shmem). 6.1
    /// counts any regular file on a filesystem without a block device as non-blocking, so a memfd is
    /// read inline there (<see cref="KernelProfile.ShmemReadsInline"/>). A file of a disk filesystem
    /// (a C program's own file) is tried inline, reads and writes alike, when the running kernel gives
    /// it FMODE_NOWAIT: the filesystems of the kernels of the corpus (ext4, xfs, btrfs, overlayfs over
    /// them) take buffered writes without blocking too (FMODE_BUF_WASYNC); found by liburing's
    /// link_drain, whose write on a file beside it completes before a drained chain.
    /// </summary>
    private bool TriedInline(ref Request r)
    {
        if (!Posix.IsSeekable(r.File) || !Posix.IsShmem(r.File))
        {
            return FileNowait(r.File);
        }

        var write = r.Kind is OpKind.Write or OpKind.WriteV or OpKind.WriteFixed or OpKind.WritevFixed;
        return !write && (profile.ShmemReadsInline || profile.ShmemNowait);
    }

    /// <summary>
    /// The transfer, with the real system call. A write copies from the caller's memory as it goes: only
    /// the leading vectors that can be read are written (a short write), and when not one byte can be
    /// copied the result is -EFAULT without the system call, because what a faulting write leaves in the
    /// file differs between kernels (<see cref="KernelProfile.FaultingWriteExtendsFile"/>) and must not
    /// depend on the kernel the engine happens to run on.
    /// </summary>
    private long Transfer(int fd, Posix.IoVec* iov, int count, long offset, int flags, bool write)
    {
        // io_uring hands the position to the file's read_iter or write_iter itself, and never asks for
        // FMODE_PREAD as preadv2 does (-ESPIPE): a pipe, FIFO or socket, which ignores the position,
        // transfers at any offset. Found by liburing's pipe and socket tests.
        // Except a socket: its read_iter and write_iter refuse any position but 0 (found by soak on the
        // host, a READ of a direct socket at offset 8000), even for nothing to transfer.
        if (offset > 0 && Posix.IsSocket(fd))
        {
            return -Errno.ESPIPE;
        }

        var stream = !Posix.IsPositional(fd);
        if (stream && offset >= 0)
        {
            offset = -1;
        }

        // A position below -1 is refused whatever the file (rw_verify_area), a stream's too.
        if (offset < -1)
        {
            return -Errno.EINVAL;
        }

        // An eventfd reads a whole count or nothing: read_iter refuses fewer than eight bytes, even none
        // (io_uring calls it for a zero-length read, which read(2) would answer with 0 first).
        if (!write && TotalLength(iov, count) < 8 && Posix.IsEventfd(fd))
        {
            return -Errno.EINVAL;
        }

        if (!write)
        {
            var read = stream ? StreamTransfer(fd, iov, count, flags, write: false) : Posix.Result(Posix.preadv2(fd, iov, count, offset, flags));

            // A file that can be positioned but not read at a position (an eventfd: no FMODE_PREAD) is
            // read from where it is, as io_uring's read_iter call does.
            return read == -Errno.ESPIPE && !stream ? StreamTransfer(fd, iov, count, flags, write: false) : read;
        }

        var readable = 0;
        while (readable < count && Posix.Readable((ulong)iov[readable].Base, iov[readable].Length))
        {
            readable++;
        }

        if (readable == 0 && count > 0 && offset >= -1)
        {
            if (profile.FaultingWriteExtendsFile)
            {
                Posix.ExtendTo(fd, offset == -1 ? Posix.Position(fd) : offset);
            }

            return -Errno.EFAULT;
        }

        var written = stream ? StreamTransfer(fd, iov, readable, flags, write: true) : Posix.Result(Posix.pwritev2(fd, iov, readable, offset, flags));
        return written == -Errno.ESPIPE && !stream ? StreamTransfer(fd, iov, readable, flags, write: true) : written;
    }

    private static ulong TotalLength(Posix.IoVec* iov, int count)
    {
        ulong total = 0;
        for (var k = 0; k < count; k++)
        {
            total += iov[k].Length;
        }

        return total;
    }

    /// <summary>
    /// A transfer on a pipe, FIFO or socket, never blocking the engine: one that would wait returns
    /// -EAGAIN, and the request then waits for the file's readiness (<see cref="ArmAsyncPoll"/>) as
    /// the kernel's does, never blocking the process (whose own later write is often what makes it ready).
    /// </summary>
    private static long StreamTransfer(int fd, Posix.IoVec* iov, int count, int flags, bool write)
    {
        // pwritev2(2), as writev(2), answers 0 for nothing to write before asking the file; io_uring calls
        // the file's write_iter, and a socket sends even nothing (a shut-down or unconnected one: -EPIPE).
        // A socket's read_iter answers 0 for nothing itself, as the system calls do.
        if (write && TotalLength(iov, count) == 0 && Posix.IsSocket(fd))
        {
            var empty = default(Posix.MsgHdr);
            return Posix.Result(Posix.SendMsg(fd, &empty, MsgDontwait));
        }

        var nowait = flags | (int)RwfNowait;
        var res = Posix.Result(write ? Posix.pwritev2(fd, iov, count, -1, nowait) : Posix.preadv2(fd, iov, count, -1, nowait));

        // A file without FMODE_NOWAIT refuses RWF_NOWAIT. io_uring then asks its poll method whether it is
        // ready (io_file_supports_nowait): not ready, the request waits for readiness (an eventfd with a
        // count of 0); ready, or without a poll method (a character device), the transfer cannot wait.
        if (res != -Errno.EOPNOTSUPP || (flags & RwfNowait) != 0)
        {
            return res;
        }

        var ready = Posix.PollNow(fd) & (write ? PollOut | PollWrNorm : PollIn | PollRdNorm);
        return ready == 0 && Posix.CanPoll(fd)
            ? -Errno.EAGAIN
            : Posix.Result(write ? Posix.pwritev2(fd, iov, count, -1, flags) : Posix.preadv2(fd, iov, count, -1, flags));
    }

    /// <summary>Resolves the request's file: a descriptor, or with IOSQE_FIXED_FILE an index into the fixed table.</summary>
    private bool FileOf(ref Request r)
    {
        r.File = (r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_FIXED_FILE) != 0 ? FixedFile(r.Fd) : Posix.IsOpen(r.Fd) ? r.Fd : -1;
        return r.File >= 0;
    }
}
