using FsCheck;
using FsCheck.Fluent;
using IoUring.Bindings;

namespace IoUring.Conformance;

/// <summary>Which descriptor an SQE names.</summary>
public enum FdChoice
{
    /// <summary>The program's memfd (8 KiB of known bytes at the start).</summary>
    File,

    /// <summary>-1.</summary>
    Negative,

    /// <summary>A number no descriptor has (-EBADF).</summary>
    Closed,

    /// <summary>The read end of the program's pipe (empty at the start).</summary>
    PipeRead,

    /// <summary>The write end of the program's pipe.</summary>
    PipeWrite,

    /// <summary>The program's eventfd (count 0 at the start).</summary>
    EventFd,

    /// <summary>One end of the program's connected AF_UNIX stream socket pair (both empty at the start).</summary>
    SocketA,

    /// <summary>The other end.</summary>
    SocketB,

    /// <summary>The program's TCP socket listening on 127.0.0.1.</summary>
    Listener,

    /// <summary>The program's UDP socket bound on 127.0.0.1.</summary>
    Udp,

    /// <summary>Fixed slot 1, where the program's direct sockets go (with IOSQE_FIXED_FILE; a closed descriptor without).</summary>
    DirectSlot,

    /// <summary>A duplicate of the program's file that only a CLOSE closes (<see cref="Workspace.Spare"/>).</summary>
    Spare,

    /// <summary>Descriptor 0 in the SQE's fd field: a CLOSE of a fixed slot names no descriptor.</summary>
    None,

    /// <summary>The program's epoll instance (empty at the start), which EPOLL_CTL changes.</summary>
    Epoll,

    /// <summary>The program's scratch directory (empty at the start), where the path calls work.</summary>
    Directory,

    /// <summary>The program's own ring (a MSG_RING's target); through the fixed table, slot 5.</summary>
    Ring,

    /// <summary>The read end of the pipe only SPLICE and TEE touch (<see cref="SpliceChoices"/>; empty at the start).</summary>
    SplicePipeRead,

    /// <summary>Its write end.</summary>
    SplicePipeWrite,

    /// <summary>The read end of the second pipe only SPLICE and TEE touch: TEE's usual output.</summary>
    TeePipeRead,

    /// <summary>Its write end.</summary>
    TeePipeWrite,
}

/// <summary>The descriptors of a program's files, as <see cref="Runner.Descriptor"/> hands them out.</summary>
public readonly record struct ProgramFds(int File, int PipeRead, int PipeWrite, int EventFd, int SocketA, int SocketB, int Listener, int Udp, int Spare, int Epoll, int Directory, int SplicePipeRead, int SplicePipeWrite, int TeePipeRead, int TeePipeWrite);

/// <summary>Which memory an SQE's address points at.</summary>
public enum BufChoice
{
    /// <summary>The program's buffer area at <see cref="SqeSpec.BufOffset"/> (READV/WRITEV: its iovec array).</summary>
    Area,

    /// <summary>Address 0.</summary>
    Null,

    /// <summary>A user address with nothing mapped (the copy faults at issue).</summary>
    Unmapped,

    /// <summary>A kernel address (access_ok fails at preparation).</summary>
    Kernel,
}

/// <summary>
/// One SQE of a generated program. <paramref name="Target"/>: for a TIMEOUT_REMOVE or ASYNC_CANCEL, which
/// earlier TIMEOUT it names, counting back in program order (1: the nearest; 0 or past the first: none, a user_data no
/// request has); <paramref name="Names"/> is that request's user_data, filled in by
/// <see cref="ProgramGen.Number"/>.
/// </summary>
public sealed record SqeSpec(
    byte Opcode,
    byte Flags,
    ushort Ioprio,
    uint NopFlags,
    int Inject,
    FdChoice Fd,
    BufChoice Buf,
    int BufOffset,
    uint Len,
    ulong Off,
    uint OpFlags,
    ulong UserData,
    ushort BufIndex = 0,
    int Target = 0,
    ulong Names = 0,
    uint FileIndex = 0,
    int Domain = 0,
    ulong Length = 0)
{
    public override string ToString()
    {
        var op = Enum.IsDefined(typeof(io_uring_op), (uint)Opcode) ? ((io_uring_op)Opcode).ToString().Replace("IORING_OP_", string.Empty) : $"op{Opcode}";
        var text = $"{{{op} ud {UserData}";
        text += Flags != 0 ? $" flags 0x{Flags:x}" : string.Empty;
        text += Ioprio != 0 ? $" ioprio 0x{Ioprio:x}" : string.Empty;
        if (Opcode is (byte)io_uring_op.IORING_OP_NOP or (byte)io_uring_op.IORING_OP_NOP128)
        {
            text += NopFlags != 0 ? $" nop 0x{NopFlags:x} inject {Inject} fd {Fd} off {Off} addr {BufOffset} buf_index {BufIndex}" : string.Empty;
        }
        else if (PollChoices.IsAdd(this))
        {
            text += $" fd {Fd} events 0x{OpFlags:x} flags 0x{Len:x}" + (Off != 0 ? $" off {Off}" : string.Empty) + (Buf != BufChoice.Area ? " addr set" : string.Empty);
            text += BufIndex != 0 ? $" buf_index {BufIndex}" : string.Empty;
        }
        else if (PollChoices.IsRemove(this))
        {
            text += $" names ud {Names} flags 0x{Len:x} events 0x{OpFlags:x} new ud {Off}";
            text += BufIndex != 0 ? $" buf_index {BufIndex}" : string.Empty;
        }
        else if (ConnectionChoices.IsConnectionOpcode(Opcode))
        {
            text += ConnectionChoices.Describe(this);
        }
        else if (FileCallChoices.IsFileCall(this))
        {
            text += FileCallChoices.Describe(this);
        }
        else if (DescriptorChoices.IsDescriptorCall(this))
        {
            text += DescriptorChoices.Describe(this);
        }
        else if (PathChoices.IsPathCall(this))
        {
            text += PathChoices.Describe(this);
        }
        else if (BufferChoices.IsBufferCall(this))
        {
            text += BufferChoices.Describe(this);
        }
        else if (MessageAndWaitChoices.IsCall(this))
        {
            text += MessageAndWaitChoices.Describe(this);
        }
        else if (SpliceChoices.IsSpliceCall(this))
        {
            text += SpliceChoices.Describe(this);
        }
        else if (TimeoutChoices.IsCancel(this))
        {
            text += $" flags 0x{OpFlags:x} names ud {Names} fd {Fd} opcode {Len} off {Off}";
        }
        else if (TimeoutChoices.CarriesTime(this) || TimeoutChoices.IsRemove(this))
        {
            text += $" time {Buf}+{TimeoutChoices.Choice(this)} ({TimeoutChoices.When(this)}) len {Len} flags 0x{OpFlags:x}";
            text += TimeoutChoices.CarriesTime(this) ? $" count {Off}" : $" names ud {Names}";
            text += BufIndex != 0 ? $" buf_index {BufIndex}" : string.Empty;
        }
        else
        {
            text += $" fd {Fd} buf {Buf}+{BufOffset} len {Len} off {(long)Off} opflags 0x{OpFlags:x}";
            text += BufIndex != 0 ? $" buf_index {BufIndex}" : string.Empty;
            text += SocketChoices.IsMessage(this) && Length != 0 ? $" namelen {SocketChoices.NameLength(this)} controllen {SocketChoices.ControlLength(this)}" : string.Empty;
        }

        return text + "}";
    }
}

/// <summary>The io_uring_register calls a program makes.</summary>
public enum RegisterKind
{
    Probe,
    Query,
    Files,
    UnregisterFiles,
    FilesUpdate,
    Buffers,
    UnregisterBuffers,
    Restrictions,
    EnableRings,
    MemRegion,
    SyncCancel,
    BufferRing,
    UnregisterBufferRing,
    BufferRingStatus,
    Eventfd,
    UnregisterEventfd,

    /// <summary>Not a register call: IORING_CQ_EVENTFD_DISABLED set (variant 1) or cleared (0) in the CQ ring's flags.</summary>
    EventfdDisabled,
}

/// <summary>One io_uring_restriction entry: its opcode and the byte it carries (register op, SQE op or flags).</summary>
public sealed record RestrictionSpec(ushort Opcode, byte Value)
{
    public override string ToString() => $"{Opcode}:{Value}";
}

/// <summary>
/// A register call made before a step's batch. Count is nr_args (or the probe's op count, the query's
/// opcode); Variant picks the argument's shape (see Runner.Register); Dirty corrupts one reserved or
/// otherwise-checked field.
/// </summary>
public sealed record RegisterSpec(RegisterKind Kind, uint Count, uint Variant, bool Dirty, RestrictionSpec[]? Restrictions = null)
{
    public override string ToString() =>
        $"{Kind}(count {Count}, variant {Variant}{(Dirty ? ", dirty" : string.Empty)}{(Restrictions is null ? string.Empty : ", [" + string.Join(" ", Restrictions.Select(r => r.ToString())) + "]")})";
}

/// <summary>
/// An optional register call, a batch of SQEs, one enter (with or without GETEVENTS), then up to Reap
/// completions read, then optionally a wait through a registered wait argument (Runner.RegisteredWait).
/// BadIndexAt: the batch position whose SQ index array entry is overwritten with an invalid index.
/// </summary>
public sealed record Step(SqeSpec[] Batch, bool GetEvents, uint Reap, int BadIndexAt, RegisterSpec? Register, int RegWait = -1)
{
    /// <summary>A step of one SQE, its CQEs waited for and reaped: what the scenarios are made of.</summary>
    public static Step Alone(SqeSpec s) => new([s], true, 12, -1, null);

    public override string ToString() =>
        (Register is null ? string.Empty : $"{Register} then ")
        + $"[{string.Join(" ", Batch.Select(b => b.ToString()))}] getevents={GetEvents} reap={Reap}"
        + (BadIndexAt >= 0 ? $" bad-index-at={BadIndexAt}" : string.Empty)
        + (RegWait >= 0 ? $" then registered-wait({RegWait})" : string.Empty);
}

/// <summary>Setup parameters and steps: what both backends are asked to do.</summary>
public sealed record RingProgram(uint Entries, uint SetupFlags, uint CqEntries, Step[] Steps)
{
    public override string ToString() => $"setup(entries {Entries}, flags 0x{SetupFlags:x}, cq {CqEntries})\n  " + string.Join("\n  ", Steps.Select(s => s.ToString()));
}

/// <summary>FsCheck generators of conformance programs.</summary>
public static class ProgramGen
{
    private const uint Sqe128Mixed = (uint)IoUringSetupFlags.IORING_SETUP_SQE_MIXED;

    private static readonly uint[] SetupFlagChoices =
    [
        0, 0, 0, 0, 0, 0,
        (uint)IoUringSetupFlags.IORING_SETUP_CQSIZE,
        (uint)IoUringSetupFlags.IORING_SETUP_CQSIZE,
        (uint)IoUringSetupFlags.IORING_SETUP_CLAMP,
        (uint)IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL,
        (uint)IoUringSetupFlags.IORING_SETUP_R_DISABLED,
        (uint)IoUringSetupFlags.IORING_SETUP_R_DISABLED,
        (uint)IoUringSetupFlags.IORING_SETUP_NO_SQARRAY,
        (uint)IoUringSetupFlags.IORING_SETUP_CQE32,
        (uint)IoUringSetupFlags.IORING_SETUP_SQE128,
        (uint)IoUringSetupFlags.IORING_SETUP_CQE_MIXED,
        (uint)IoUringSetupFlags.IORING_SETUP_CQE_MIXED,
        (uint)(IoUringSetupFlags.IORING_SETUP_CQE_MIXED | IoUringSetupFlags.IORING_SETUP_CQSIZE),
        (uint)(IoUringSetupFlags.IORING_SETUP_CQE_MIXED | IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL),
        Sqe128Mixed,
        (uint)(IoUringSetupFlags.IORING_SETUP_SQ_REWIND | IoUringSetupFlags.IORING_SETUP_NO_SQARRAY),
        (uint)IoUringSetupFlags.IORING_SETUP_SQ_REWIND,
        (uint)(IoUringSetupFlags.IORING_SETUP_CQE32 | IoUringSetupFlags.IORING_SETUP_CQE_MIXED),
        (uint)(IoUringSetupFlags.IORING_SETUP_SQE128 | IoUringSetupFlags.IORING_SETUP_SQE_MIXED),
        1u << 30,
    ];

    private static readonly byte[] SqeFlagChoices =
    [
        0, 0, 0, 0, 0,
        (byte)IoUringSqeFlags.IOSQE_IO_LINK,
        (byte)IoUringSqeFlags.IOSQE_IO_LINK,
        (byte)IoUringSqeFlags.IOSQE_IO_HARDLINK,
        (byte)IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS,
        (byte)(IoUringSqeFlags.IOSQE_IO_LINK | IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS),
        (byte)(IoUringSqeFlags.IOSQE_IO_HARDLINK | IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS),
        (byte)IoUringSqeFlags.IOSQE_ASYNC,
        (byte)IoUringSqeFlags.IOSQE_IO_DRAIN,
        (byte)(IoUringSqeFlags.IOSQE_IO_DRAIN | IoUringSqeFlags.IOSQE_IO_LINK),
        (byte)IoUringSqeFlags.IOSQE_BUFFER_SELECT,
        (byte)IoUringSqeFlags.IOSQE_FIXED_FILE,
        0x80,
    ];

    private static readonly uint[] NopFlagChoices =
    [
        0, 0, 0, 0,
        (uint)IoUringNopFlags.IORING_NOP_INJECT_RESULT,
        (uint)IoUringNopFlags.IORING_NOP_INJECT_RESULT,
        (uint)IoUringNopFlags.IORING_NOP_FILE,
        (uint)(IoUringNopFlags.IORING_NOP_FILE | IoUringNopFlags.IORING_NOP_FIXED_FILE),
        (uint)IoUringNopFlags.IORING_NOP_FIXED_FILE,
        (uint)IoUringNopFlags.IORING_NOP_FIXED_BUFFER,
        (uint)IoUringNopFlags.IORING_NOP_TW,
        (uint)(IoUringNopFlags.IORING_NOP_TW | IoUringNopFlags.IORING_NOP_INJECT_RESULT),
        (uint)IoUringNopFlags.IORING_NOP_CQE32,
        (uint)IoUringNopFlags.IORING_NOP_CQE32,
        (uint)(IoUringNopFlags.IORING_NOP_CQE32 | IoUringNopFlags.IORING_NOP_INJECT_RESULT),
        0x80,
    ];

    private static readonly ulong[] OffsetChoices = [0, 0, 100, 4000, 8000, 8192, 20000, ulong.MaxValue, unchecked((ulong)-2L)];

    // RWF_HIPRI (needs IOPOLL), RWF_DSYNC, RWF_NOWAIT, and a bit no kernel knows.
    private static readonly uint[] RwFlagChoices = [0, 0, 0, 0, 1, 2, 8, 8, 0x40000000];

    // TIMEOUT: the flags of each kernel, combinations that are refused, an update bit (TIMEOUT_REMOVE's)
    // and a bit no kernel knows.
    private static readonly uint[] TimeoutFlagChoices =
    [
        0, 0, 0, 0,
        (uint)IoUringTimeoutFlags.IORING_TIMEOUT_ABS,
        (uint)IoUringTimeoutFlags.IORING_TIMEOUT_BOOTTIME,
        (uint)(IoUringTimeoutFlags.IORING_TIMEOUT_REALTIME | IoUringTimeoutFlags.IORING_TIMEOUT_ABS),
        (uint)(IoUringTimeoutFlags.IORING_TIMEOUT_BOOTTIME | IoUringTimeoutFlags.IORING_TIMEOUT_REALTIME),
        (uint)IoUringTimeoutFlags.IORING_TIMEOUT_ETIME_SUCCESS,
        (uint)IoUringTimeoutFlags.IORING_TIMEOUT_ETIME_SUCCESS,
        (uint)IoUringTimeoutFlags.IORING_TIMEOUT_MULTISHOT,
        (uint)(IoUringTimeoutFlags.IORING_TIMEOUT_MULTISHOT | IoUringTimeoutFlags.IORING_TIMEOUT_ABS),
        (uint)IoUringTimeoutFlags.IORING_TIMEOUT_IMMEDIATE_ARG,
        (uint)(IoUringTimeoutFlags.IORING_TIMEOUT_IMMEDIATE_ARG | IoUringTimeoutFlags.IORING_TIMEOUT_ABS),
        (uint)IoUringTimeoutFlags.IORING_TIMEOUT_UPDATE,
        0x100,
    ];

    // TIMEOUT_REMOVE: removal, update (relative, absolute, immediate), the linked-timeout bits, and flags refused with them.
    private static readonly uint[] TimeoutRemoveFlagChoices =
    [
        0, 0, 0, 0,
        (uint)IoUringTimeoutFlags.IORING_TIMEOUT_UPDATE,
        (uint)IoUringTimeoutFlags.IORING_TIMEOUT_UPDATE,
        (uint)(IoUringTimeoutFlags.IORING_TIMEOUT_UPDATE | IoUringTimeoutFlags.IORING_TIMEOUT_ABS),
        (uint)(IoUringTimeoutFlags.IORING_TIMEOUT_UPDATE | IoUringTimeoutFlags.IORING_TIMEOUT_IMMEDIATE_ARG),
        (uint)(IoUringTimeoutFlags.IORING_TIMEOUT_UPDATE | IoUringTimeoutFlags.IORING_TIMEOUT_BOOTTIME),
        (uint)IoUringTimeoutFlags.IORING_LINK_TIMEOUT_UPDATE,
        (uint)(IoUringTimeoutFlags.IORING_TIMEOUT_UPDATE | IoUringTimeoutFlags.IORING_LINK_TIMEOUT_UPDATE),
        (uint)IoUringTimeoutFlags.IORING_TIMEOUT_ABS,
    ];

    // ASYNC_CANCEL: each key alone and with ALL, ANY, combinations refused (a file or opcode key with
    // ANY), and a bit no kernel knows.
    private static readonly uint[] CancelFlagChoices =
    [
        0, 0, 0,
        (uint)IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_USERDATA,
        (uint)IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ALL,
        (uint)IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ANY,
        (uint)(IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ANY | IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ALL),
        (uint)IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_FD,
        (uint)(IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_FD | IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_FD_FIXED),
        (uint)(IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_FD | IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ALL),
        (uint)IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_OP,
        (uint)(IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_OP | IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ALL),
        (uint)(IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_OP | IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_USERDATA),
        (uint)(IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_FD | IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ANY),
        0x80,
    ];

    public static Gen<SqeSpec> Sqe(uint opLast)
    {
        var op = Gen.Frequency(
            (10, Gen.Constant((byte)io_uring_op.IORING_OP_NOP)),
            (3, Gen.Constant((byte)io_uring_op.IORING_OP_READ)),
            (3, Gen.Constant((byte)io_uring_op.IORING_OP_WRITE)),
            (2, Gen.Constant((byte)io_uring_op.IORING_OP_READV)),
            (1, Gen.Constant((byte)io_uring_op.IORING_OP_READ_MULTISHOT)),
            (2, Gen.Constant((byte)io_uring_op.IORING_OP_WRITEV)),
            (1, Gen.Constant((byte)io_uring_op.IORING_OP_FSYNC)),
            (2, Gen.Constant((byte)io_uring_op.IORING_OP_READ_FIXED)),
            (2, Gen.Constant((byte)io_uring_op.IORING_OP_WRITE_FIXED)),
            (1, Gen.Constant((byte)io_uring_op.IORING_OP_NOP128)),
            (3, Gen.Constant((byte)io_uring_op.IORING_OP_TIMEOUT)),
            (2, Gen.Constant((byte)io_uring_op.IORING_OP_TIMEOUT_REMOVE)),
            (2, Gen.Constant((byte)io_uring_op.IORING_OP_ASYNC_CANCEL)),
            (2, Gen.Constant((byte)io_uring_op.IORING_OP_LINK_TIMEOUT)),
            (4, Gen.Constant((byte)io_uring_op.IORING_OP_POLL_ADD)),
            (2, Gen.Constant((byte)io_uring_op.IORING_OP_POLL_REMOVE)),
            (3, Gen.Constant((byte)io_uring_op.IORING_OP_SEND)),
            (3, Gen.Constant((byte)io_uring_op.IORING_OP_RECV)),
            (2, Gen.Constant((byte)io_uring_op.IORING_OP_SENDMSG)),
            (2, Gen.Constant((byte)io_uring_op.IORING_OP_RECVMSG)),
            (1, Gen.Constant((byte)io_uring_op.IORING_OP_SHUTDOWN)),
            (1, Gen.Elements((byte)io_uring_op.IORING_OP_SOCKET, (byte)io_uring_op.IORING_OP_BIND, (byte)io_uring_op.IORING_OP_LISTEN, (byte)io_uring_op.IORING_OP_CONNECT, (byte)io_uring_op.IORING_OP_ACCEPT)),
            (3, Gen.Elements(FileCallChoices.Opcodes)),
            (2, Gen.Elements(DescriptorChoices.Opcodes)),
            (3, Gen.Elements(PathChoices.Opcodes)),
            (2, Gen.Elements(BufferChoices.Opcodes)),
            (3, Gen.Elements(MessageAndWaitChoices.Opcodes)),
            (1, Gen.Elements(SpliceChoices.Opcodes)),
            (1, Gen.Constant((byte)255)),
            (1, Gen.Constant((byte)Math.Min(opLast, 255))));
        return from opcode in op
               from spec in ConnectionChoices.IsConnectionOpcode(opcode) ? ConnectionChoices.Alone(opcode)
                   : FileCallChoices.IsFileCall(opcode) ? FileCallChoices.Sqe(opcode, Gen.Elements(SqeFlagChoices)).Select(NoSkipWhereAsync)
                   : DescriptorChoices.IsDescriptorCall(opcode) ? DescriptorChoices.Sqe(opcode, Gen.Elements(SqeFlagChoices)).Select(NoSkipWhereAsync)
                   : PathChoices.IsPathCall(opcode) ? PathChoices.Sqe(opcode, Gen.Elements(SqeFlagChoices)).Select(NoSkipWhereAsync)
                   : BufferChoices.IsBufferCall(opcode) ? BufferChoices.Sqe(opcode, Gen.Elements(SqeFlagChoices)).Select(NoSkipWhereAsync)
                   : MessageAndWaitChoices.IsCall(opcode) ? MessageAndWaitChoices.Sqe(opcode, Gen.Elements(SqeFlagChoices))
                   : SpliceChoices.IsSpliceCall(opcode) ? SpliceChoices.Sqe(opcode, Gen.Elements(SqeFlagChoices)).Select(NoSkipWhereAsync)
                   : Sqe(opcode)
               select spec;
    }

    /// <summary>An SQE of any other opcode, its fields drawn by what the opcode makes of them.</summary>
    private static Gen<SqeSpec> Sqe(byte opcode)
    {
        return from flags in Gen.Elements(SqeFlagChoices)
               from ioprio in SocketChoices.IsSocketOpcode(opcode) ? Gen.Elements(SocketChoices.Ioprios) : Gen.Frequency((12, Gen.Constant((ushort)0)), (1, Gen.Constant((ushort)1)), (1, Gen.Constant((ushort)0x4003)))
               from nop in Gen.Elements(NopFlagChoices)
               from inject in Gen.Elements(-5, 0, 7, -125)
               from fd in Fds(opcode)
               from buf in Gen.Frequency((12, Gen.Constant(BufChoice.Area)), (1, Gen.Constant(BufChoice.Null)), (1, Gen.Constant(BufChoice.Unmapped)), (1, Gen.Constant(BufChoice.Kernel)))
               from bufOffset in Gen.Choose(0, 7).Select(k => k * 4096)
               from len in Lengths(opcode)
               from off in opcode switch
               {
                   (byte)io_uring_op.IORING_OP_TIMEOUT => Gen.Elements(0ul, 0ul, 0ul, 1ul, 2ul, 4ul),
                   (byte)io_uring_op.IORING_OP_ASYNC_CANCEL or (byte)io_uring_op.IORING_OP_LINK_TIMEOUT or (byte)io_uring_op.IORING_OP_POLL_ADD => Gen.Elements(0ul, 0ul, 0ul, 0ul, 0ul, 1ul),
                   (byte)io_uring_op.IORING_OP_POLL_REMOVE => Gen.Elements(0ul, 0ul, 0ul, PollChoices.UpdatedUserData, PollChoices.UpdatedUserData, 1ul),
                   _ when SocketChoices.IsSocketOpcode(opcode) => Gen.Constant(0ul),
                   _ => Gen.Elements(OffsetChoices),
               }
               from opFlags in opcode switch
               {
                   (byte)io_uring_op.IORING_OP_FSYNC => Gen.Elements(0u, 0u, 1u, 2u),
                   (byte)io_uring_op.IORING_OP_TIMEOUT or (byte)io_uring_op.IORING_OP_LINK_TIMEOUT => Gen.Elements(TimeoutFlagChoices),
                   (byte)io_uring_op.IORING_OP_TIMEOUT_REMOVE => Gen.Elements(TimeoutRemoveFlagChoices),
                   (byte)io_uring_op.IORING_OP_ASYNC_CANCEL => Gen.Elements(CancelFlagChoices),
                   (byte)io_uring_op.IORING_OP_POLL_ADD or (byte)io_uring_op.IORING_OP_POLL_REMOVE => Gen.Elements(PollChoices.Events),
                   (byte)io_uring_op.IORING_OP_SHUTDOWN => Gen.Constant(0u),
                   _ when SocketChoices.IsSocketOpcode(opcode) => Gen.Elements(SocketChoices.MsgFlags),
                   _ => Gen.Elements(RwFlagChoices),
               }
               from bufIndex in Gen.Elements((ushort)0, (ushort)0, (ushort)1, (ushort)3, (ushort)9)
               from target in Gen.Frequency((1, Gen.Constant(0)), (4, Gen.Constant(1)), (2, Gen.Choose(2, 3)))
               select NoSkipWhereAsync(new SqeSpec(
                   opcode, flags, ioprio, nop, inject, fd, buf, bufOffset, len, off, opFlags, 0,
                   (opcode is (byte)io_uring_op.IORING_OP_POLL_ADD or (byte)io_uring_op.IORING_OP_POLL_REMOVE || SocketChoices.IsSocketOpcode(opcode)) && bufIndex != 9 ? (ushort)0 : bufIndex,
                   opcode is (byte)io_uring_op.IORING_OP_TIMEOUT_REMOVE or (byte)io_uring_op.IORING_OP_ASYNC_CANCEL or (byte)io_uring_op.IORING_OP_POLL_REMOVE ? target : 0));
    }

    /// <summary>
    /// The descriptors an opcode is drawn with: a poll mostly the pipe's read end or the eventfd, a read the
    /// program's file mostly and the pipe and eventfd often, a write the file or the pipe, a cancellation's
    /// file key the pipe's read end sometimes; any of them now and then a bad descriptor. No write goes to
    /// the eventfd: it has no write_iter, so io_uring writes it from io-wq, at the scheduler's time
    /// (a wake-up of its polls from there would race their task work).
    /// </summary>
    private static Gen<FdChoice> Fds(byte opcode)
    {
        var bad = new[] { (1, Gen.Constant(FdChoice.Negative)), (1, Gen.Constant(FdChoice.Closed)) };
        return opcode switch
        {
            (byte)io_uring_op.IORING_OP_POLL_ADD => Gen.Frequency([(6, Gen.Constant(FdChoice.PipeRead)), (4, Gen.Constant(FdChoice.EventFd)), (3, Gen.Constant(FdChoice.SocketB)), (1, Gen.Constant(FdChoice.SocketA)), (1, Gen.Constant(FdChoice.PipeWrite)), (1, Gen.Constant(FdChoice.File)), .. bad]),
            (byte)io_uring_op.IORING_OP_READ => Gen.Frequency([(10, Gen.Constant(FdChoice.File)), (4, Gen.Constant(FdChoice.PipeRead)), (2, Gen.Constant(FdChoice.EventFd)), .. bad]),

            // READ_MULTISHOT: a file without a poll method (the memfd) is -EBADFD.
            (byte)io_uring_op.IORING_OP_READ_MULTISHOT => Gen.Frequency([(8, Gen.Constant(FdChoice.PipeRead)), (2, Gen.Constant(FdChoice.File)), .. bad]),
            (byte)io_uring_op.IORING_OP_WRITE => Gen.Frequency([(10, Gen.Constant(FdChoice.File)), (5, Gen.Constant(FdChoice.PipeWrite)), .. bad]),

            // FSYNC of a pipe: -EINVAL, only the result (a chain goes on).
            (byte)io_uring_op.IORING_OP_FSYNC => Gen.Frequency([(10, Gen.Constant(FdChoice.File)), (2, Gen.Constant(FdChoice.PipeRead)), .. bad]),
            (byte)io_uring_op.IORING_OP_ASYNC_CANCEL => Gen.Frequency([(10, Gen.Constant(FdChoice.File)), (3, Gen.Constant(FdChoice.PipeRead)), (2, Gen.Constant(FdChoice.SocketB)), .. bad]),
            _ when SocketChoices.IsSocketOpcode(opcode) => Gen.Frequency([(8, Gen.Constant(FdChoice.SocketA)), (8, Gen.Constant(FdChoice.SocketB)), (1, Gen.Constant(FdChoice.File)), (1, Gen.Constant(FdChoice.PipeRead)), .. bad]),
            _ => Gen.Frequency([(10, Gen.Constant(FdChoice.File)), .. bad]),
        };
    }

    /// <summary>
    /// Where CQE_SKIP_SUCCESS is not generated, and why:
    /// - a request that may complete from io-wq always posts a CQE here: without one, nothing tells
    ///   the runner it has finished, and the file and memory digests would race it (see Runner);
    /// - a NOP with IORING_NOP_CQE32 whose CQE is skipped leaves its two extra words in the kernel's
    ///   recycled request, and the next CQE filled from that request on a CQE32 ring carries them
    ///   (measured on 6.18); which request is recycled is the kernel's allocator's business.
    /// </summary>
    private static SqeSpec NoSkipWhereAsync(SqeSpec s)
    {
        // Provided buffers are not drawn for socket transfers yet: the engine names them as unmodelled.
        if (SocketChoices.IsTransfer(s))
        {
            s = s with { Flags = (byte)(s.Flags & ~(byte)IoUringSqeFlags.IOSQE_BUFFER_SELECT) };
        }

        return Runner.MayCompleteLate(s) || (s.NopFlags & (uint)IoUringNopFlags.IORING_NOP_CQE32) != 0
            ? s with { Flags = (byte)(s.Flags & ~(byte)IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS) }
            : s;
    }

    private static Gen<uint> Lengths(byte opcode) => opcode switch
    {
        (byte)io_uring_op.IORING_OP_READV or (byte)io_uring_op.IORING_OP_WRITEV => Gen.Elements(0u, 1u, 2u, 4u, 4u, 1025u),

        // A TIMEOUT carries one timespec; a TIMEOUT_REMOVE none.
        (byte)io_uring_op.IORING_OP_TIMEOUT or (byte)io_uring_op.IORING_OP_LINK_TIMEOUT => Gen.Elements(1u, 1u, 1u, 1u, 1u, 0u, 2u),
        (byte)io_uring_op.IORING_OP_TIMEOUT_REMOVE => Gen.Elements(0u, 0u, 0u, 0u, 0u, 1u),

        // An ASYNC_CANCEL's len is its opcode key.
        (byte)io_uring_op.IORING_OP_ASYNC_CANCEL => Gen.Elements((uint)io_uring_op.IORING_OP_TIMEOUT, (uint)io_uring_op.IORING_OP_TIMEOUT, (uint)io_uring_op.IORING_OP_POLL_ADD, (uint)io_uring_op.IORING_OP_NOP),

        // A poll's len is its flags.
        (byte)io_uring_op.IORING_OP_POLL_ADD => Gen.Elements(PollChoices.AddFlags),
        (byte)io_uring_op.IORING_OP_POLL_REMOVE => Gen.Elements(PollChoices.RemoveFlags),
        (byte)io_uring_op.IORING_OP_SEND or (byte)io_uring_op.IORING_OP_RECV => Gen.Elements(SocketChoices.Lengths),
        (byte)io_uring_op.IORING_OP_SENDMSG or (byte)io_uring_op.IORING_OP_RECVMSG => Gen.Elements(SocketChoices.VectorCounts),
        (byte)io_uring_op.IORING_OP_SHUTDOWN => Gen.Elements(SocketChoices.Hows),
        _ => Gen.Elements(0u, 1u, 512u, 4096u, 4096u, 9000u),
    };

    public static Gen<RingProgram> Program(uint opLast)
    {
        var restriction = Gen.OneOf(
            Gen.Elements(2, 8, 12, 0, 3, 200).Select(op => new RestrictionSpec(0, (byte)op)),
            Gen.Elements((byte)io_uring_op.IORING_OP_NOP, (byte)io_uring_op.IORING_OP_READ, (byte)io_uring_op.IORING_OP_WRITE, (byte)io_uring_op.IORING_OP_READ_FIXED, (byte)250).Select(op => new RestrictionSpec(1, op)),
            Gen.Elements((byte)0, (byte)IoUringSqeFlags.IOSQE_IO_LINK, (byte)(IoUringSqeFlags.IOSQE_IO_LINK | IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS), (byte)IoUringSqeFlags.IOSQE_FIXED_FILE).Select(f => new RestrictionSpec(2, f)),
            Gen.Elements((byte)0, (byte)IoUringSqeFlags.IOSQE_IO_LINK).Select(f => new RestrictionSpec(3, f)),
            Gen.Constant(new RestrictionSpec(9, 0)));
        var register = Gen.Frequency(
            (2, from kind in Gen.Constant(RegisterKind.Probe) from count in Gen.Elements(0u, 4u, 64u, 256u, 300u) from dirty in Gen.Frequency((5, Gen.Constant(false)), (1, Gen.Constant(true))) select new RegisterSpec(kind, count, 0, dirty)),
            (2, from count in Gen.Elements(0u, 0u, 0u, 1u, 200u) from size in Gen.Elements(0u, 8u, 40u, 48u, 64u) from dirty in Gen.Frequency((5, Gen.Constant(false)), (1, Gen.Constant(true))) select new RegisterSpec(RegisterKind.Query, count, size, dirty)),
            (4, from count in Gen.Elements(0u, 1u, 2u, 4u, 4u) from variant in Gen.Elements(0u, 0u, 0u, 1u, 2u, 3u) select new RegisterSpec(RegisterKind.Files, count, variant, false)),
            (1, Gen.Elements(false, false, true).Select(d => new RegisterSpec(RegisterKind.UnregisterFiles, 0, 0, d))),
            (2, from count in Gen.Elements(0u, 1u, 2u, 3u) from variant in Gen.Elements(0u, 1u, 2u, 3u) from dirty in Gen.Elements(false, false, true) select new RegisterSpec(RegisterKind.FilesUpdate, count, variant, dirty)),
            (4, from count in Gen.Elements(0u, 1u, 4u, 4u) from variant in Gen.Elements(0u, 0u, 0u, 1u, 2u, 3u) from dirty in Gen.Frequency((6, Gen.Constant(false)), (1, Gen.Constant(true))) select new RegisterSpec(RegisterKind.Buffers, count, variant, dirty)),
            (1, Gen.Elements(false, false, true).Select(d => new RegisterSpec(RegisterKind.UnregisterBuffers, 0, 0, d))),
            (3, from entries in restriction.ArrayOf().Select(a => a.Take(5).ToArray()) select new RegisterSpec(RegisterKind.Restrictions, (uint)entries.Length, 0, false, entries)),
            (3, Gen.Elements(false, false, true).Select(d => new RegisterSpec(RegisterKind.EnableRings, 0, 0, d))),
            (3, from variant in Gen.Choose(0, 8) select new RegisterSpec(RegisterKind.MemRegion, 1, (uint)variant, false)),
            (3, from count in Gen.Elements(1u, 1u, 1u, 1u, 0u, 2u) from variant in Gen.Choose(0, Runner.SyncCancelKeys - 1) from dirty in Gen.Frequency((6, Gen.Constant(false)), (1, Gen.Constant(true))) select new RegisterSpec(RegisterKind.SyncCancel, count, (uint)variant, dirty)),
            (3, from entries in Gen.Elements(1u, 2u, 4u, 8u, 8u, 3u, 0u, 65536u)
                from shape in Gen.Elements(Enum.GetValues<BufferChoices.RingShape>())
                from bgid in Gen.Elements((ushort)0, (ushort)1, (ushort)2, (ushort)3)
                from dirty in Gen.Frequency((6, Gen.Constant(false)), (1, Gen.Constant(true)))
                select new RegisterSpec(RegisterKind.BufferRing, entries, BufferChoices.RingVariant(shape, bgid), dirty)),
            (1, from count in Gen.Elements(1u, 1u, 1u, 0u) from bgid in Gen.Elements(0u, 1u, 2u, 3u) from dirty in Gen.Frequency((6, Gen.Constant(false)), (1, Gen.Constant(true))) select new RegisterSpec(RegisterKind.UnregisterBufferRing, count, bgid, dirty)),
            (1, from count in Gen.Elements(1u, 1u, 1u, 2u) from bgid in Gen.Elements(0u, 1u, 2u, 3u) from dirty in Gen.Frequency((6, Gen.Constant(false)), (1, Gen.Constant(true))) select new RegisterSpec(RegisterKind.BufferRingStatus, count, bgid, dirty)),
            (3, from count in Gen.Elements(1u, 1u, 1u, 1u, 1u, 2u) from variant in Gen.Elements(Runner.EventfdVariants) select new RegisterSpec(RegisterKind.Eventfd, count, variant, false)),
            (1, from count in Gen.Elements(0u, 0u, 0u, 1u) from dirty in Gen.Elements(false, false, false, true) select new RegisterSpec(RegisterKind.UnregisterEventfd, count, 0, dirty)),
            (2, from set in Gen.Elements(0u, 1u, 1u) select new RegisterSpec(RegisterKind.EventfdDisabled, 0, set, false)));
        var step = from batch in Sqe(opLast).ArrayOf().Select(a => a.Take(8).ToArray())
                   from getEvents in Gen.Frequency((3, Gen.Constant(true)), (1, Gen.Constant(false)))
                   from reap in Gen.Choose(0, 12)
                   from badIndex in Gen.Frequency((12, Gen.Constant(-1)), (1, Gen.Choose(0, 7)))
                   from reg in Gen.Frequency((5, Gen.Constant<RegisterSpec?>(null)), (2, register.Select(r => (RegisterSpec?)r)))
                   from regWait in Gen.Frequency((5, Gen.Constant(-1)), (1, Gen.Choose(0, 5)))
                   select new Step(batch, getEvents, (uint)reap, badIndex, reg, regWait);
        // A ring created R_DISABLED usually goes through its life cycle first: restrictions, a
        // wait-argument region over the buffer area, then ENABLE_RINGS (each step an empty batch).
        Step Setup(RegisterSpec reg) => new(Array.Empty<SqeSpec>(), true, 0, -1, reg);
        var lifecycle = from restrict in Gen.Elements(false, true)
                        from entries in restriction.ArrayOf().Select(a => a.Take(5).ToArray())
                        from waitRegion in Gen.Elements(false, true)
                        from enable in Gen.Frequency((4, Gen.Constant(true)), (1, Gen.Constant(false)))
                        select new[]
                        {
                            restrict ? Setup(new RegisterSpec(RegisterKind.Restrictions, (uint)entries.Length, 0, false, entries)) : null,
                            waitRegion ? Setup(new RegisterSpec(RegisterKind.MemRegion, 1, 8, false)) : null,
                            enable ? Setup(new RegisterSpec(RegisterKind.EnableRings, 0, 0, false)) : null,
                        }.OfType<Step>().ToArray();
        return from entries in Gen.Frequency((10, Gen.Choose(1, 8)), (1, Gen.Constant(0)), (1, Gen.Constant(40000)))
               from setup in Gen.Elements(SetupFlagChoices)
               from cq in Gen.Frequency((4, Gen.Choose(1, 20)), (1, Gen.Constant(0)), (1, Gen.Constant(70000)))
               from prefix in (setup & (uint)IoUringSetupFlags.IORING_SETUP_R_DISABLED) != 0
                   ? Gen.Frequency((3, lifecycle), (1, Gen.Constant(Array.Empty<Step>())))
                   : Gen.Constant(Array.Empty<Step>())
               from steps in step.ArrayOf().Select(a => a.Take(6).ToArray())
               from shutdown in Gen.Frequency((8, Gen.Constant(Array.Empty<Step>())), (1, FinalShutdown))
               from connections in Gen.Frequency((3, Gen.Constant(Array.Empty<Step>())), (1, ConnectionChoices.Connection.ArrayOf().Select(a => a.Take(2).ToArray())))
               from connectionsFirst in Gen.Elements(true, false)
               from paths in Gen.Frequency((3, Gen.Constant(Array.Empty<Step>())), (1, PathChoices.Scenario))
               from buffers in Gen.Frequency((3, Gen.Constant(Array.Empty<Step>())), (1, BufferChoices.Scenario))
               from rings in Gen.Frequency((4, Gen.Constant(Array.Empty<Step>())), (1, BufferChoices.RingScenario))
               from futexes in Gen.Frequency((5, Gen.Constant(Array.Empty<Step>())), (1, MessageAndWaitChoices.FutexScenario))
               from eventfds in Gen.Frequency((7, Gen.Constant(Array.Empty<Step>())), (1, MessageAndWaitChoices.EventfdScenario))
               from splices in Gen.Frequency((7, Gen.Constant(Array.Empty<Step>())), (1, SpliceChoices.Scenario))
               from pipes in Gen.Frequency((11, Gen.Constant(Array.Empty<Step>())), (1, DescriptorChoices.PipeScenario))
               from epolls in Gen.Frequency((9, Gen.Constant(Array.Empty<Step>())), (1, DescriptorChoices.EpollScenario))
               let body = paths.Concat(buffers).Concat(rings).Concat(futexes).Concat(eventfds).Concat(splices).Concat(pipes).Concat(epolls).Concat(steps.Select(s => ReadinessPairs(TimedWaits(s))))
               select Normalize(Number(new RingProgram((uint)entries, setup, (uint)cq, prefix.Concat(connectionsFirst ? connections.Concat(body) : body.Concat(connections)).Concat(shutdown).ToArray())));
    }

    /// <summary>
    /// A last step that shuts one of the program's sockets down: where a SHUTDOWN of a socket is kept
    /// (<see cref="ReadinessOnTime"/>), so a ninth of programs end with one.
    /// </summary>
    private static Gen<Step[]> FinalShutdown =>
        from how in Gen.Elements(SocketChoices.Hows)
        from fd in Gen.Elements(FdChoice.SocketA, FdChoice.SocketB)
        select new[] { new Step([new SqeSpec((byte)io_uring_op.IORING_OP_SHUTDOWN, 0, 0, 0, 0, fd, BufChoice.Area, 0, how, 0, 0, 0)], true, 1, -1, null) };

    /// <summary>
    /// Pairs that random draws make too rare to show, each from a quarter of its kind (those drawn with
    /// the injected result 7, which these opcodes do not use): a LINK_TIMEOUT after a linked TIMEOUT that
    /// never fires (the linked timeout fires at once and cancels it), and a TIMEOUT_REMOVE or ASYNC_CANCEL
    /// naming a TIMEOUT that never fires just before it (a removal, an update or a cancellation that finds
    /// its timeout armed).
    /// </summary>
    private static Step TimedWaits(Step step)
    {
        static bool Paired(SqeSpec s) => s.Inject == 7 && (TimeoutChoices.IsLinkTimeout(s) || TimeoutChoices.IsRemove(s) || TimeoutChoices.IsCancel(s));
        var batch = step.Batch;
        if (!batch.Where((s, k) => k > 0 && Paired(s)).Any())
        {
            return step;
        }

        batch = batch.ToArray();
        for (var k = 1; k < batch.Length; k++)
        {
            if (!Paired(batch[k]))
            {
                continue;
            }

            var linked = TimeoutChoices.IsLinkTimeout(batch[k]);
            batch[k - 1] = new SqeSpec((byte)io_uring_op.IORING_OP_TIMEOUT, linked ? (byte)IoUringSqeFlags.IOSQE_IO_LINK : (byte)0, 0, 0, 0, FdChoice.File, BufChoice.Area, 2 * 4096, 1, 0, 0, 0);
            batch[k] = linked
                ? batch[k] with { Buf = BufChoice.Area, BufOffset = 0, OpFlags = batch[k].OpFlags & ~TimeoutChoices.Immediately }
                : batch[k] with { Target = 1 };
        }

        return step with { Batch = batch };
    }

    /// <summary>
    /// Pairs that random draws make too rare to show, from the POLL_ADDs and POLL_REMOVEs drawn with the
    /// injected result 7 (which polls do not use): a POLL_ADD of the pipe followed by a write to it (the
    /// wake-up, one-shot or multishot as drawn), and a POLL_REMOVE just after a POLL_ADD of the empty pipe
    /// that it names (a removal or an update that finds its poll armed). A POLL_ADD drawn on a socket
    /// polls socket B and is woken by a send on socket A. From half the socket transfers (those drawn
    /// with the injected result 7 or -125): a receive on socket B followed by the send on socket A that
    /// it waits for (MSG_WAITALL waiting for a second one), or a send followed by the receive that takes
    /// it, or half of it. A READ of the pipe drawn with the injected result 7: followed by the write it
    /// waits for.
    /// </summary>
    private static Step ReadinessPairs(Step step)
    {
        var batch = step.Batch;
        static bool Paired(SqeSpec s) => s.Inject == 7 || (s.Inject == -125 && SocketChoices.IsTransfer(s));
        static bool PipeRead(SqeSpec s) => s.Opcode == (byte)io_uring_op.IORING_OP_READ && s.Fd == FdChoice.PipeRead;
        if (!batch.Any(s => Paired(s) && (PollChoices.IsPoll(s) || SocketChoices.IsTransfer(s) || PipeRead(s))))
        {
            return step;
        }

        batch = batch.ToArray();
        for (var k = 0; k < batch.Length; k++)
        {
            var s = batch[k];
            if (!Paired(s))
            {
                continue;
            }

            if (PollChoices.IsAdd(s) && k + 1 < batch.Length && SocketChoices.IsSocket(s.Fd))
            {
                batch[k] = s with { Fd = FdChoice.SocketB, OpFlags = PollChoices.In, Buf = BufChoice.Area, Off = 0, BufIndex = 0, Len = s.Len & PollChoices.AddMulti };
                batch[k + 1] = SocketChoices.Send(FdChoice.SocketA, 1, s.BufOffset);
                k++;
            }
            else if (PipeRead(s) && k + 1 < batch.Length)
            {
                batch[k + 1] = new SqeSpec((byte)io_uring_op.IORING_OP_WRITE, 0, 0, 0, 0, FdChoice.PipeWrite, BufChoice.Area, 0, 1, 0, 0, 0);
                k++;
            }
            else if (PollChoices.IsAdd(s) && k + 1 < batch.Length)
            {
                batch[k] = s with { Fd = FdChoice.PipeRead, OpFlags = PollChoices.In, Buf = BufChoice.Area, Off = 0, BufIndex = 0, Len = s.Len & PollChoices.AddMulti };
                batch[k + 1] = new SqeSpec((byte)io_uring_op.IORING_OP_WRITE, 0, 0, 0, 0, FdChoice.PipeWrite, BufChoice.Area, 0, 1, 0, 0, 0);
                k++;
            }
            else if (SocketChoices.IsTransfer(s) && k + 1 < batch.Length)
            {
                var clean = s with { Buf = BufChoice.Area, Ioprio = (ushort)(s.Ioprio & SocketChoices.PollFirst), OpFlags = s.OpFlags & (SocketChoices.WaitAll | SocketChoices.Peek), Flags = (byte)(s.Flags & (byte)(IoUringSqeFlags.IOSQE_IO_LINK | IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS)) };
                var bytes = SocketChoices.IsMessage(s) ? Math.Min(s.Len, (uint)Workspace.MsgVectors) * (uint)Workspace.MsgVectorLength : s.Len;
                batch[k] = clean with { Fd = SocketChoices.IsSend(s) ? FdChoice.SocketA : FdChoice.SocketB };
                // Half the receives after a send take part of it, leaving the rest queued (IORING_CQE_F_SOCK_NONEMPTY).
                batch[k + 1] = SocketChoices.IsSend(s)
                    ? SocketChoices.Receive(FdChoice.SocketB, s.Inject == 7 ? bytes : Math.Max(1, bytes / 2), s.BufOffset + 4096)
                    : SocketChoices.Send(FdChoice.SocketA, (clean.OpFlags & SocketChoices.WaitAll) != 0 ? Math.Max(1, bytes / 2) : bytes, s.BufOffset + 4096);
                k++;
            }
            else if (PollChoices.IsRemove(s) && k > 0)
            {
                batch[k - 1] = new SqeSpec((byte)io_uring_op.IORING_OP_POLL_ADD, 0, 0, 0, 0, FdChoice.PipeRead, BufChoice.Area, 0, s.Len & PollChoices.AddMulti, 0, PollChoices.In, 0);
                batch[k] = s with { Target = 1, BufIndex = 0 };
            }
        }

        return step with { Batch = batch };
    }

    /// <summary>
    /// A program moved toward the host kernel's waiting livelock (KernelProfile.MixedOverflowWaitSpins):
    /// a CQE_MIXED ring of one or two SQ entries (a CQ of two or four slots), every other NOP asking for
    /// a 32-byte CQE, and at most one CQE reaped per step, so 32-byte CQEs pile up in the overflow list
    /// where a wait would spin. A disabled ring stays disabled (its life cycle, registered waits
    /// included, is kept). The generator's rules still apply (<see cref="Normalize"/>).
    /// </summary>
    public static RingProgram TowardMixedOverflow(RingProgram p, int index)
    {
        var setup = (uint)IoUringSetupFlags.IORING_SETUP_CQE_MIXED | (p.SetupFlags & (uint)IoUringSetupFlags.IORING_SETUP_R_DISABLED);
        var k = 0;
        var steps = p.Steps.Select(step => step with
        {
            Reap = Math.Min(step.Reap, 1u),
            Batch = step.Batch.Select(s => s.Opcode == (byte)io_uring_op.IORING_OP_NOP && (k++ % 2) == 0
                ? s with { NopFlags = s.NopFlags | (uint)IoUringNopFlags.IORING_NOP_CQE32, Flags = (byte)(s.Flags & ~(byte)IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS) }
                : s).ToArray(),
        }).ToArray();
        return Normalize(p with { Entries = 1u + (uint)(index % 2), SetupFlags = setup, CqEntries = 0, Steps = steps });
    }

    /// <summary>
    /// Smaller programs first: fewer steps, fewer SQEs, then each SQE and step made plainer (no flags,
    /// no NOP flags, ordinary fd, buffer, length and offset; no register call or bad index), so a
    /// failure reaches a minimal program.
    /// </summary>
    public static IEnumerable<RingProgram> Shrink(RingProgram p)
    {
        for (var i = 0; i < p.Steps.Length; i++)
        {
            yield return Number(p with { Steps = p.Steps.Where((_, k) => k != i).ToArray() });
        }

        // Two or four neighbouring steps at once: where the CQ's wrap matters (a 32-byte CQE at the ring's
        // end), the count of CQEs before it must keep its place modulo the ring's size, which removing one
        // step at a time cannot do (on a four-slot ring, four one-CQE steps must go together).
        foreach (var run in new[] { 2, 4 })
        {
            for (var i = 0; i + run <= p.Steps.Length; i++)
            {
                yield return Number(p with { Steps = p.Steps.Where((_, k) => k < i || k >= i + run).ToArray() });
            }
        }

        // Two neighbouring steps as one: the same SQEs and CQEs in fewer steps (the second step must have
        // no register call and neither a spoiled SQ index).
        for (var i = 0; i + 1 < p.Steps.Length; i++)
        {
            var (a, b) = (p.Steps[i], p.Steps[i + 1]);
            if (b.Register is null && a.BadIndexAt < 0 && b.BadIndexAt < 0 && (a.RegWait < 0 || b.RegWait < 0))
            {
                var merged = b with { Batch = [.. a.Batch, .. b.Batch], Reap = a.Reap + b.Reap, Register = a.Register, RegWait = Math.Max(a.RegWait, b.RegWait) };
                yield return Number(p with { Steps = [.. p.Steps.Take(i), merged, .. p.Steps.Skip(i + 2)] });
            }
        }

        // Smaller rings reach a wrap or a full queue with fewer SQEs: tried before the SQEs one by one, so
        // that the steps a wrap needed can go next.
        if (p.Entries > 1)
        {
            yield return p with { Entries = 1 };
        }

        // Halved, a CQ keeps a tail's place modulo its size: a wrap at its end stays at its end.
        if (p.CqEntries > 2)
        {
            yield return p with { CqEntries = 2 };
            if (p.CqEntries > 4)
            {
                yield return p with { CqEntries = p.CqEntries / 2 };
            }
        }

        for (var i = 0; i < p.Steps.Length; i++)
        {
            var step = p.Steps[i];
            for (var j = 0; j < step.Batch.Length; j++)
            {
                var batch = step.Batch.Where((_, k) => k != j).ToArray();
                yield return Number(WithStep(p, i, step with { Batch = batch }));
            }
        }

        for (var i = 0; i < p.Steps.Length; i++)
        {
            var step = p.Steps[i];
            if (step.Register is not null)
            {
                yield return WithStep(p, i, step with { Register = null });
            }

            if (step.BadIndexAt >= 0)
            {
                yield return WithStep(p, i, step with { BadIndexAt = -1 });
            }

            if (step.RegWait >= 0)
            {
                yield return WithStep(p, i, step with { RegWait = -1 });
            }

            if (!step.GetEvents)
            {
                yield return WithStep(p, i, step with { GetEvents = true });
            }

            for (var j = 0; j < step.Batch.Length; j++)
            {
                foreach (var simpler in Simplify(step.Batch[j]))
                {
                    var batch = step.Batch.ToArray();
                    batch[j] = simpler;
                    yield return WithStep(p, i, step with { Batch = batch });
                }
            }
        }

    }

    private static IEnumerable<SqeSpec> Simplify(SqeSpec s)
    {
        if (s.Opcode != (byte)io_uring_op.IORING_OP_NOP)
        {
            yield return s with { Opcode = (byte)io_uring_op.IORING_OP_NOP };
        }

        if (s.Flags != 0)
        {
            yield return s with { Flags = 0 };
        }

        if (s.NopFlags != 0)
        {
            yield return s with { NopFlags = 0 };
        }

        if (s.Ioprio != 0)
        {
            yield return s with { Ioprio = 0 };
        }

        if (s.OpFlags != 0)
        {
            yield return s with { OpFlags = 0 };
        }

        if (s.Fd != FdChoice.File)
        {
            yield return s with { Fd = FdChoice.File };
        }

        if (s.Buf != BufChoice.Area)
        {
            yield return s with { Buf = BufChoice.Area };
        }

        if (s.Off != 0)
        {
            yield return s with { Off = 0 };
        }

        if (s.Inject != 0)
        {
            yield return s with { Inject = 0 };
        }
    }

    private static RingProgram WithStep(RingProgram p, int index, Step step)
    {
        var steps = p.Steps.ToArray();
        steps[index] = step;
        return p with { Steps = steps };
    }

    /// <summary>The shrink candidates of a program, each kept inside the generator's rules (<see cref="Normalize"/>).</summary>
    public static IEnumerable<RingProgram> Smaller(RingProgram p) => Shrink(p).Select(Normalize);

    /// <summary>
    /// The generator's rules, applied to every program it makes and to every shrink candidate; each
    /// keeps one nondeterminism of the kernels out of the traces: <see cref="OneTransferChain"/>,
    /// <see cref="NoDrainRacingIoWq"/>, <see cref="NoBigCqesWhereAsync"/>, <see cref="ReadinessOnTime"/>,
    /// <see cref="TimeoutsOnTime"/>, <see cref="NoSyncCancelRacingIoWq"/>, <see cref="FileChangesAlone"/>,
    /// <see cref="TableChangesAlone"/>, <see cref="PathCallsAlone"/>, <see cref="BufferCallsAlone"/>,
    /// <see cref="FutexCallsAlone"/>, <see cref="SplicesAlone"/>.
    /// </summary>
    public static RingProgram Normalize(RingProgram p) =>
        AsyncEventfdHearsNops(ResolveNames(SplicesAlone(FutexCallsAlone(BufferCallsAlone(PathCallsAlone(TableChangesAlone(FileChangesAlone(NoSyncCancelRacingIoWq(TimeoutsOnTime(ReadinessOnTime(NoBigCqesWhereAsync(p with { Steps = p.Steps.Select(s => NoDrainRacingIoWq(OneTransferChain(s))).ToArray() }))))))))))));

    /// <summary>
    /// An eventfd registered with _ASYNC hears only completions io-wq's worker posts itself. Which failures
    /// those are depends on the opcode, the error and the kernel (a result the issue set is posted by the
    /// worker, an error it returned is failed from task work), so in a program that registers one only
    /// NOPs go to io-wq (with IOSQE_ASYNC they always succeed there): every other request that may
    /// complete from io-wq becomes a NOP with its user_data and link flags, nothing drains, and no SQ
    /// index is spoiled (which would punt an open chain).
    /// </summary>
    public static RingProgram AsyncEventfdHearsNops(RingProgram p)
    {
        if (!p.Steps.Any(step => step.Register is { Kind: RegisterKind.Eventfd, Variant: 1 }))
        {
            return p;
        }

        const byte Drain = (byte)IoUringSqeFlags.IOSQE_IO_DRAIN;
        const byte Kept = (byte)(IoUringSqeFlags.IOSQE_IO_LINK | IoUringSqeFlags.IOSQE_IO_HARDLINK | IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS | IoUringSqeFlags.IOSQE_ASYNC);
        static SqeSpec Inline(SqeSpec s) =>
            Runner.FilledAsNop(s) ? s with { Flags = (byte)(s.Flags & ~Drain) }
            : Runner.MayCompleteLate(s) || (s.Flags & Drain) != 0 ? s with { Opcode = (byte)io_uring_op.IORING_OP_NOP, Flags = (byte)(s.Flags & Kept), NopFlags = 0, Inject = 0 }
            : s;
        return p with { Steps = p.Steps.Select(step => step with { BadIndexAt = -1, Batch = step.Batch.Select(Inline).ToArray() }).ToArray() };
    }

    /// <summary>
    /// A CLOSE of a fixed slot or a FILES_UPDATE changes the table inline, while a request that looks a
    /// fixed file up from io-wq does so when its worker gets to it: in the same enter (its own step, or
    /// the next when it was left in the SQ) it would find the slot before or after the change as the
    /// scheduler decides. So in a program that changes its table, a request that may complete from
    /// io-wq names its descriptor directly (no IOSQE_FIXED_FILE, no IORING_NOP_FIXED_FILE); the
    /// connection steps keep their slot, as their chains are whole steps of their own.
    /// </summary>
    public static RingProgram TableChangesAlone(RingProgram p)
    {
        if (!p.Steps.Any(step => step.Batch.Any(s => DescriptorChoices.ChangesTable(s) || PathChoices.ChangesTable(s))))
        {
            return p;
        }

        const byte FixedFile = (byte)IoUringSqeFlags.IOSQE_FIXED_FILE;
        static SqeSpec Plain(SqeSpec s) =>
            !Runner.MayCompleteLate(s) || ConnectionChoices.IsConnectionOpcode(s.Opcode) ? s
            : Runner.FilledAsNop(s) ? s with { Flags = (byte)(s.Flags & ~FixedFile), NopFlags = s.NopFlags & ~(uint)IoUringNopFlags.IORING_NOP_FIXED_FILE }
            : s with { Flags = (byte)(s.Flags & ~FixedFile) };
        return p with { Steps = p.Steps.Select(step => step with { Batch = step.Batch.Select(Plain).ToArray() }).ToArray() };
    }

    /// <summary>
    /// Every path call but a plain open runs from io-wq, whose workers run beside each other, and an
    /// open inline meanwhile: two path calls of one step would find the scratch directory as the
    /// scheduler leaves it, and so would one of a step and one of the step after it (an SQE left in the
    /// SQ behind a refused one is submitted with the next step). So a step keeps its first path call
    /// unless the step before it kept one that could be left behind (one not first in its step), and points the others at a closed directory descriptor,
    /// which fails them (-EBADF) once their prep has checked everything else, without looking at the
    /// directory; an attribute call gets a NULL name instead, which its prep refuses (-EFAULT).
    /// </summary>
    public static RingProgram PathCallsAlone(RingProgram p) => OnePerStep(
        p,
        PathChoices.IsPathCall,
        s => PathChoices.IsXattr(s) ? s with { Buf = BufChoice.Null }
            : PathChoices.HasSecondDirectory(s) ? s with { Fd = FdChoice.Closed, Len = (uint)FdChoice.Closed }
            : s with { Fd = FdChoice.Closed });

    /// <summary>
    /// A READ that selects a provided buffer takes whatever is first in its group when it is issued, and
    /// PROVIDE_BUFFERS and REMOVE_BUFFERS change what that is: the selection is kept only where it
    /// cannot race (<see cref="BufferChoices.OnlyWhereItCannotRace"/>), and as for path calls a step
    /// keeps one such request (unless the step before kept one that could have been left in the SQ);
    /// another selecting read drops IOSQE_BUFFER_SELECT, another buffer call is made harmless
    /// (<see cref="BufferChoices.Harmless"/>).
    /// </summary>
    public static RingProgram BufferCallsAlone(RingProgram p) => OnePerStep(
        p with { Steps = p.Steps.Select(step => step with { Batch = step.Batch.Select(BufferChoices.OnlyWhereItCannotRace).ToArray() }).ToArray() },
        BufferChoices.UsesGroups,
        s => BufferChoices.IsBufferCall(s) ? BufferChoices.Harmless(s) : s with { Flags = (byte)(s.Flags & ~(byte)IoUringSqeFlags.IOSQE_BUFFER_SELECT) });

    /// <summary>
    /// SPLICE and TEE run from io-wq, beside the submitter and each other: two of them would share the
    /// splice pipes as the scheduler decides, and one that reads or writes the memfd would race every
    /// other request of its step there. So a call that names the memfd is kept only as the only SQE of
    /// its step, with nothing left in the SQ by the step before (no spoiled SQ index there, no ring
    /// created disabled, whose steps are submitted together), and then a step keeps one call
    /// (<see cref="OnePerStep"/>); the others are made harmless (<see cref="SpliceChoices.Harmless"/>).
    /// </summary>
    public static RingProgram SplicesAlone(RingProgram p)
    {
        var disabled = (p.SetupFlags & (uint)IoUringSetupFlags.IORING_SETUP_R_DISABLED) != 0;
        var steps = p.Steps.Select((step, k) =>
        {
            var alone = !disabled && step.Batch.Length == 1 && step.BadIndexAt < 0 && (k == 0 || p.Steps[k - 1].BadIndexAt < 0);
            return alone || !step.Batch.Any(SpliceChoices.TouchesFile)
                ? step
                : step with { Batch = [.. step.Batch.Select(s => SpliceChoices.TouchesFile(s) ? SpliceChoices.Harmless(s) : s)] };
        }).ToArray();
        return OnePerStep(p with { Steps = steps }, SpliceChoices.IsSpliceCall, SpliceChoices.Harmless);
    }

    /// <summary>
    /// A futex wait is armed when it is issued and a wake takes the waits armed by then, so the two must
    /// not run beside each other: a step keeps one futex call (unless the step before kept one that could
    /// have been left in the SQ), and the others are made harmless (<see cref="MessageAndWaitChoices.Harmless"/>).
    /// From the first step with an IO_DRAIN or a spoiled SQ index on, any request may be issued from
    /// io-wq, where a wait arms when its worker runs: those are all made harmless.
    /// </summary>
    public static RingProgram FutexCallsAlone(RingProgram p)
    {
        var first = Array.FindIndex(p.Steps, step => step.BadIndexAt >= 0 || step.Batch.Any(s => (s.Flags & (byte)IoUringSqeFlags.IOSQE_IO_DRAIN) != 0));
        var steps = p.Steps.Select((step, k) => first >= 0 && k >= first
            ? step with { Batch = step.Batch.Select(s => MessageAndWaitChoices.IsFutexCall(s) ? MessageAndWaitChoices.Harmless(s) : s).ToArray() }
            : step).ToArray();
        return OnePerStep(p with { Steps = steps }, MessageAndWaitChoices.IsFutexCall, MessageAndWaitChoices.Harmless);
    }

    /// <summary>
    /// Keeps the first SQE of each step that <paramref name="racy"/> picks, unless the step before kept
    /// one that could have been left in the SQ (one not first in its step, or behind a spoiled index),
    /// and makes every other <paramref name="tame"/>.
    /// </summary>
    private static RingProgram OnePerStep(RingProgram p, Func<SqeSpec, bool> racy, Func<SqeSpec, SqeSpec> tame)
    {
        var steps = p.Steps.ToArray();
        var keptBefore = false;

        // A ring created disabled refuses every submission until ENABLE_RINGS: what its steps queue
        // before that is submitted together, by the step that enables it.
        var disabled = (p.SetupFlags & (uint)IoUringSetupFlags.IORING_SETUP_R_DISABLED) != 0;
        for (var i = 0; i < steps.Length; i++)
        {
            var pendingBefore = keptBefore && disabled;
            disabled &= steps[i].Register is not { Kind: RegisterKind.EnableRings, Dirty: false };
            var kept = keptBefore ? null : steps[i].Batch.FirstOrDefault(racy);

            // One first in its step (no spoiled SQ index) is always submitted by that step's enter.
            keptBefore = (pendingBefore && disabled) || (kept is not null && (disabled || !(ReferenceEquals(kept, steps[i].Batch[0]) && steps[i].BadIndexAt < 0)));
            if (steps[i].Batch.Any(s => racy(s) && !ReferenceEquals(s, kept)))
            {
                steps[i] = steps[i] with { Batch = [.. steps[i].Batch.Select(s => ReferenceEquals(s, kept) || !racy(s) ? s : tame(s))] };
            }
        }

        return p with { Steps = steps };
    }

    /// <summary>
    /// A FALLOCATE or FTRUNCATE of the program's file, or a MADV_DONTNEED of its buffer area
    /// (<see cref="FileCallChoices.Changes"/>), runs from io-wq, whose workers run beside each other: a
    /// write of the file, or a read that comes up short and is retried there, would see the change or
    /// not as the scheduler decides, and not only in its own step (an SQE left in the SQ by a failed one
    /// before it is submitted with the next step). So a program keeps its first such call and points
    /// every other read or write of the file or the area at a closed descriptor, and every later such
    /// call at a closed descriptor (MADVISE: at address 0).
    /// </summary>
    public static RingProgram FileChangesAlone(RingProgram p)
    {
        // A wait-argument region registered over the area is pinned: after MADV_DONTNEED the kernel reads
        // the old pages and the program writes new ones, which the engine (reading the program's memory)
        // cannot tell apart (found by the host soak). Such a program's MADVISE of the area gets address 0.
        if (p.Steps.Any(step => step.Register is { Kind: RegisterKind.MemRegion }))
        {
            p = p with { Steps = [.. p.Steps.Select(step => step with { Batch = [.. step.Batch.Select(s => FileCallChoices.IsMadvise(s) && s.Buf == BufChoice.Area ? s with { Buf = BufChoice.Null } : s)] })] };
        }

        var kept = p.Steps.SelectMany(step => step.Batch).FirstOrDefault(FileCallChoices.Changes);
        if (kept is null)
        {
            return p;
        }

        static bool Transfer(SqeSpec s) => s.Opcode is (byte)io_uring_op.IORING_OP_READ or (byte)io_uring_op.IORING_OP_WRITE
            or (byte)io_uring_op.IORING_OP_READV or (byte)io_uring_op.IORING_OP_WRITEV
            or (byte)io_uring_op.IORING_OP_READ_FIXED or (byte)io_uring_op.IORING_OP_WRITE_FIXED;
        SqeSpec Alone(SqeSpec s) =>
            ReferenceEquals(s, kept) ? s
            : FileCallChoices.Changes(s) ? (s.Opcode == (byte)io_uring_op.IORING_OP_MADVISE ? s with { Buf = BufChoice.Null } : s with { Fd = FdChoice.Closed })
            : Transfer(s) && (s.Fd == FdChoice.File || (s.Buf == BufChoice.Area && !Runner.UsesStream(s))) ? s with { Fd = FdChoice.Closed }
            : s;
        return p with { Steps = p.Steps.Select(step => step with { Batch = step.Batch.Select(Alone).ToArray() }).ToArray() };
    }

    /// <summary>
    /// A request that posts no CQE (CQE_SKIP_SUCCESS) and may have gone to io-wq (after a drain, with
    /// IOSQE_ASYNC, or behind a spoiled SQ index) may still be queued there when a later step begins: the
    /// runner has no CQE to wait for. A later IORING_REGISTER_SYNC_CANCEL would find it pending or not as
    /// the worker is quick or slow (found on the host: ANY cancelled a drained NOP), so such a program's
    /// sync cancellations carry a padding byte, which every kernel refuses before searching.
    /// </summary>
    public static RingProgram NoSyncCancelRacingIoWq(RingProgram p)
    {
        var skipped = false;
        var ioWq = false;
        var steps = p.Steps.ToArray();
        for (var si = 0; si < steps.Length; si++)
        {
            if (steps[si].Register is { Kind: RegisterKind.SyncCancel, Dirty: false } reg && skipped && ioWq)
            {
                steps[si] = steps[si] with { Register = reg with { Dirty = true } };
            }

            ioWq |= steps[si].BadIndexAt >= 0;
            foreach (var s in steps[si].Batch)
            {
                skipped |= (s.Flags & (byte)IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS) != 0;
                ioWq |= (s.Flags & (byte)(IoUringSqeFlags.IOSQE_IO_DRAIN | IoUringSqeFlags.IOSQE_ASYNC)) != 0;
            }
        }

        return p with { Steps = steps };
    }

    /// <summary>
    /// Readiness that the program alone decides. A poll fires when the program's own write to the pipe or
    /// the eventfd wakes it, and wake-ups that come before its task work runs are one: so every request
    /// that reads or writes the pipe or the eventfd, arms or removes a poll, must be issued in its own
    /// submission or from the task work of one that was (no IOSQE_ASYNC, no drain so far, no spoiled SQ
    /// index so far, not in a chain behind a request that completes from io-wq). Issued from io-wq it
    /// would run beside the submitter, and whether two wake-ups are one, or a read finds the data, would
    /// be the scheduler's choice. Such a request is kept, on other files: a poll of the program's file
    /// (which completes at once), a transfer or a cancellation's file key naming a closed descriptor, a
    /// removal naming no poll. One write to the pipe per step, of at most PIPE_BUF bytes: on a kernel that
    /// writes pipes from io-wq (6.1), two writes, or a read beside a long write, would race each other.
    /// The sends of a program move at most <see cref="SocketChoices.SendBudget"/> bytes, so none waits for
    /// room. A SHUTDOWN of a socket, which always runs in io-wq, is kept only where nothing can race it:
    /// as the last SQE of the program, with nothing before it touching readiness. Anywhere else a request
    /// submitted after it in the same enter (its own step's, or the next step's when a failed SQE before
    /// it stopped the submission and left it in the SQ) would race the worker: found under qemu on 7.2,
    /// where the shutdown won against the next step's send.
    /// </summary>
    public static RingProgram ReadinessOnTime(RingProgram p)
    {
        if (!p.Steps.Any(step => step.Batch.Any(PollChoices.TouchesReadiness)))
        {
            return p;
        }

        var drainSeen = false;
        var badSeen = false;
        var readinessSeen = false;
        var sent = 0u;
        var steps = p.Steps.Select(step => step with { Batch = step.Batch.ToArray() }).ToArray();
        var last = (Step: Array.FindLastIndex(steps, st => st.Batch.Length > 0), Sqe: 0);
        last.Sqe = last.Step >= 0 ? steps[last.Step].Batch.Length - 1 : -1;
        for (var si = 0; si < steps.Length; si++)
        {
            var step = steps[si];
            var batch = step.Batch;
            drainSeen |= batch.Any(s => (s.Flags & (byte)IoUringSqeFlags.IOSQE_IO_DRAIN) != 0);
            badSeen |= step.BadIndexAt >= 0;
            var chainLate = false;
            var pipeWritten = false;
            for (var k = 0; k < batch.Length; k++)
            {
                var s = batch[k];
                var onTime = !drainSeen && !badSeen && !chainLate && (s.Flags & (byte)IoUringSqeFlags.IOSQE_ASYNC) == 0;
                if (SocketChoices.IsShutdown(s) && SocketChoices.IsSocket(s.Fd) && (readinessSeen || !onTime || (si, k) != last))
                {
                    s = s with { Fd = FdChoice.Closed };
                    batch[k] = s;
                }

                sent += SocketChoices.SendBytes(s);
                if (sent > SocketChoices.SendBudget && SocketChoices.SendBytes(s) > 0)
                {
                    sent -= SocketChoices.SendBytes(s);
                    s = s with { Fd = FdChoice.Closed };
                    batch[k] = s;
                }

                // One write to the pipe per step, atomic (PIPE_BUF at most): where a kernel writes pipes
                // from io-wq (6.1, PipeNowait), two writes, or a reader beside a long write, would race.
                // Its buffer is the stream buffer: 6.12's pipe_write, faulting on a bad one, leaves an empty
                // buffer in the pipe, which then polls readable (not modelled; found by soak on 6.12).
                if (s.Fd == FdChoice.PipeWrite && s.Opcode == (byte)io_uring_op.IORING_OP_WRITE)
                {
                    s = pipeWritten ? s with { Fd = FdChoice.Closed } : s with { Len = Math.Min(s.Len, PollChoices.PipeAtomicBytes), Buf = BufChoice.Area };
                    pipeWritten = true;
                    batch[k] = s;
                }

                if (!onTime && PollChoices.TouchesReadiness(s))
                {
                    s = PollChoices.IsAdd(s) ? s with { Fd = FdChoice.File }
                        : PollChoices.IsRemove(s) ? s with { Target = 0 }
                        : s with { Fd = FdChoice.Closed };
                    batch[k] = s;
                }

                readinessSeen |= PollChoices.TouchesReadiness(s);

                // A transfer of the pipe, eventfd or a socket issued on time completes at once or when the
                // program's own write makes it ready: its successor is on time too. Except behind a write
                // to the pipe: 6.1 writes pipes from io-wq and runs the chain's next request there as well
                // (found by the soak on 6.1: a POLL_FIRST RECV linked behind one failed with -EAGAIN).
                var pipeWrite = s.Fd == FdChoice.PipeWrite && s.Opcode == (byte)io_uring_op.IORING_OP_WRITE;
                var late = Runner.MayCompleteLate(s) && (pipeWrite || !(onTime && (Runner.UsesStream(s) || SocketChoices.IsTransfer(s))));
                var linked = (s.Flags & (byte)(IoUringSqeFlags.IOSQE_IO_LINK | IoUringSqeFlags.IOSQE_IO_HARDLINK)) != 0;
                chainLate = linked && (chainLate || late);
            }

            // A multishot poll of the pipe armed while it holds data posts at once from task work, and a
            // write to the pipe in the same step wakes it again; where the kernel writes pipes from io-wq
            // (6.1), whether that wake-up comes before its task work (one CQE) or after (two) is the
            // scheduler's choice (found by record on 6.1). So beside a pipe write, polls are one-shot.
            if (pipeWritten)
            {
                for (var k = 0; k < batch.Length; k++)
                {
                    if (PollChoices.IsPoll(batch[k]) && (batch[k].Len & PollChoices.AddMulti) != 0 && (PollChoices.IsRemove(batch[k]) || batch[k].Fd == FdChoice.PipeRead))
                    {
                        batch[k] = batch[k] with { Len = batch[k].Len & ~PollChoices.AddMulti };
                    }
                }
            }
        }

        return p with { Steps = steps };
    }

    /// <summary>
    /// Timeouts whose outcome does not depend on when things happen:
    /// <list type="bullet">
    /// <item>A TIMEOUT that waits for a count takes the CQ tail when it is armed: it must be armed in its
    /// own submission (not from io-wq: no IOSQE_ASYNC, no drain so far, no spoiled SQ index so far, no
    /// request before it in its chain that completes late) and nothing in its step may complete late,
    /// or it becomes a pure timer.</item>
    /// <item>A timer that fires at once is armed in its own submission, or it gets a far time. Armed from
    /// io-wq (IOSQE_ASYNC, a drain), it races the worker that armed it: on the host's 6.18 a drained
    /// request behind it, or its link's successor, then sometimes did not complete within the settle wait
    /// (which of the timer and the worker lets go of the request last is the scheduler's choice).</item>
    /// <item>A LINK_TIMEOUT fires at once only after a pure TIMEOUT that never fires, armed on time (it then
    /// cancels that TIMEOUT); anywhere else its timer would race the request it times, and it gets a far
    /// time.</item>
    /// <item>A multishot timer that fires at once fires a few times (a count of 2), not for ever.</item>
    /// <item>An ASYNC_CANCEL keyed on the program's file in a step with io-wq work names a closed descriptor
    /// instead: whether it finds that work pending (and cancels it) or running is up to the worker.</item>
    /// <item>No IO_DRAIN after a TIMEOUT that waits for a count: when the count is met the drained request
    /// is let go through task work and io-wq, and may complete after the settle wait ended.</item>
    /// <item>An ASYNC_CANCEL that may match more than one request (ANY, an opcode key, ALL) sees every armed
    /// timeout: it keeps those keys only when it and every timeout before it are issued in their own
    /// submissions and nothing in its step completes late or fires at once before it.</item>
    /// <item>A TIMEOUT_REMOVE (or an ASYNC_CANCEL by user_data) names a TIMEOUT only if both are issued in their own submissions, the timeout
    /// does not fire at once in the same step (the removal would race its timer), and, for one that waits
    /// for a count, nothing in the removal's step completes late (the count would race the removal). Any
    /// other target is replaced by a user_data no request has. An update that would make a multishot timer
    /// fire at once (an updated timeout has no count, so it would fire for ever) gets a far time.</item>
    /// </list>
    /// </summary>
    public static RingProgram TimeoutsOnTime(RingProgram p)
    {
        var flat = new List<(int Step, SqeSpec Sqe, bool OnTime)>();
        var drainSeen = false;
        var badSeen = false;
        var steps = p.Steps.Select(step => step with { Batch = step.Batch.ToArray() }).ToArray();
        for (var si = 0; si < steps.Length; si++)
        {
            var batch = steps[si].Batch;
            drainSeen |= batch.Any(s => (s.Flags & (byte)IoUringSqeFlags.IOSQE_IO_DRAIN) != 0);
            badSeen |= steps[si].BadIndexAt >= 0;
            var stepLate = batch.Any(Runner.MayCompleteLate);

            // For a cancellation, late work of the step before counts too: an SQE of it may have been left
            // in the SQ (a refused one before it, a ring not enabled yet) and be submitted with this step's
            // (found by the soak: an ANY cancellation found a MKDIRAT left from a disabled ring's step still
            // queued for io-wq).
            var cancelLate = stepLate || (si > 0 && steps[si - 1].Batch.Any(Runner.MayCompleteLate));
            var chainLate = false;
            for (var k = 0; k < batch.Length; k++)
            {
                var s = batch[k];
                var onTime = !drainSeen && !badSeen && !chainLate && (s.Flags & (byte)IoUringSqeFlags.IOSQE_ASYNC) == 0;
                if (TimeoutChoices.Counts(s) && (!onTime || stepLate))
                {
                    s = s with { Off = 0 };
                }

                if (TimeoutChoices.IsTimeout(s) && !onTime && TimeoutChoices.When(s) == TimerFires.Now)
                {
                    s = s with { Buf = BufChoice.Area, BufOffset = 2 * 4096 };
                }

                // A linked timeout's timer races the request it times unless that request waits for
                // ever: it fires at once only after a pure TIMEOUT that never fires, armed on time.
                if (TimeoutChoices.IsLinkTimeout(s) && TimeoutChoices.When(s) == TimerFires.Now)
                {
                    var timed = k > 0 ? batch[k - 1] : null;
                    var timesAWait = timed is not null && TimeoutChoices.IsTimeout(timed) && !TimeoutChoices.Counts(timed) && (timed.OpFlags & TimeoutChoices.Multishot) == 0
                        && TimeoutChoices.When(timed) == TimerFires.Never && flat[^1].OnTime
                        && (timed.Flags & (byte)(IoUringSqeFlags.IOSQE_IO_LINK | IoUringSqeFlags.IOSQE_IO_HARDLINK)) != 0;
                    if (!timesAWait || !onTime)
                    {
                        s = s with { Buf = BufChoice.Area, BufOffset = 2 * 4096, OpFlags = s.OpFlags & ~TimeoutChoices.Immediately };
                    }
                }

                if (TimeoutChoices.IsTimeout(s) && (s.OpFlags & TimeoutChoices.Multishot) != 0 && s.Off == 0 && TimeoutChoices.When(s) == TimerFires.Now)
                {
                    s = s with { Off = 2 };
                }

                // A file key matches io-wq work on that file, which may or may not have started.
                if (TimeoutChoices.IsCancel(s) && (s.OpFlags & TimeoutChoices.CancelFd) != 0 && cancelLate && s.Fd == FdChoice.File)
                {
                    s = s with { Fd = FdChoice.Closed };
                }

                // A drain behind a timeout that waits for a count is let go when the count is met, through
                // task work and io-wq, and completes after the settle wait may have ended.
                if ((s.Flags & (byte)IoUringSqeFlags.IOSQE_IO_DRAIN) != 0 && flat.Any(f => TimeoutChoices.Counts(f.Sqe)))
                {
                    s = s with { Flags = (byte)(s.Flags & ~(byte)IoUringSqeFlags.IOSQE_IO_DRAIN) };
                }

                // A cancellation that may match more than the timeout it names sees every armed timeout:
                // each must have been armed in its own submission, and none may fire or be met while it
                // looks (nothing late in its step, no timer firing at once before it in the step).
                // An opcode key naming POLL_ADD alone never meets a timeout: it sees armed polls, which only
                // the program's own writes change, so it needs only every POLL_ADD to have been on time.
                var pollsOnly = (s.OpFlags & (TimeoutChoices.CancelAny | TimeoutChoices.CancelAll)) == 0 && (s.OpFlags & TimeoutChoices.CancelOp) != 0
                    && s.Len == (uint)io_uring_op.IORING_OP_POLL_ADD && onTime && !flat.Any(f => PollChoices.IsAdd(f.Sqe) && !f.OnTime);
                if (TimeoutChoices.CancelsBroadly(s) && !pollsOnly
                    && (!onTime || cancelLate || flat.Any(f => TimeoutChoices.IsTimeout(f.Sqe) && (!f.OnTime || (f.Step == si && TimeoutChoices.When(f.Sqe) == TimerFires.Now)))))
                {
                    s = s with { OpFlags = s.OpFlags & ~(TimeoutChoices.CancelAny | TimeoutChoices.CancelOp | TimeoutChoices.CancelAll), Target = 0 };
                }

                // The TIMEOUT a removal or cancellation names must be armed and not firing while it looks
                // (found by the matrix on 6.1: a cancellation keyed on an opcode too, naming a timer that
                // fires at once, found it or not as the timer was quick).
                if (TimeoutChoices.MayNameByUserData(s) && s.Target > 0)
                {
                    var earlier = flat.Where(f => TimeoutChoices.IsTimeout(f.Sqe)).ToList();
                    var at = earlier.Count - s.Target;
                    var target = at >= 0 ? earlier[at] : default;
                    var named = at >= 0 && target.OnTime && onTime
                        && !(target.Step == si && TimeoutChoices.When(target.Sqe) == TimerFires.Now)
                        && !(TimeoutChoices.Counts(target.Sqe) && stepLate);
                    if (!named)
                    {
                        s = s with { Target = 0 };
                    }
                    else if (TimeoutChoices.IsUpdate(s) && TimeoutChoices.When(s) == TimerFires.Now && (target.Sqe.OpFlags & TimeoutChoices.Multishot) != 0)
                    {
                        s = s with { Buf = BufChoice.Area, BufOffset = 2 * 4096 };
                    }
                }

                batch[k] = s;
                flat.Add((si, s, onTime));
                var linked = k < batch.Length - 1 && (s.Flags & (byte)(IoUringSqeFlags.IOSQE_IO_LINK | IoUringSqeFlags.IOSQE_IO_HARDLINK)) != 0;
                chainLate = linked && (chainLate || Runner.MayCompleteLate(s));
            }
        }

        return p with { Steps = steps };
    }

    /// <summary>A user_data no request of a generated program has.</summary>
    public const ulong NoSuchRequest = 99_999;

    /// <summary>Fills in each SQE's <see cref="SqeSpec.Names"/>: the user_data of the TIMEOUT <see cref="SqeSpec.Target"/> TIMEOUTs before it (for a POLL_REMOVE, of the POLL_ADD so many POLL_ADDs before it).</summary>
    public static RingProgram ResolveNames(RingProgram p)
    {
        var seen = new List<ulong>();
        var polls = new List<ulong>();
        return p with
        {
            Steps = p.Steps.Select(step => step with
            {
                Batch = step.Batch.Select(s =>
                {
                    var among = PollChoices.IsRemove(s) ? polls : seen;
                    var named = s.Target > 0 && among.Count >= s.Target ? among[^s.Target] : NoSuchRequest;
                    if (TimeoutChoices.IsTimeout(s))
                    {
                        seen.Add(s.UserData);
                    }

                    if (PollChoices.IsAdd(s))
                    {
                        polls.Add(s.UserData);
                    }

                    return s.Names == named ? s : s with { Names = named };
                }).ToArray(),
            }).ToArray(),
        };
    }

    /// <summary>
    /// A drain that kernels before 6.16 check by sequence (the CQ tail must equal the number of SQEs
    /// before it at a commit) races any request of the same submission that went to io-wq before it: the
    /// worker posts its CQE before or after the submission's batch, and a batch that carries the tail
    /// past the sequence leaves the drained request waiting for good. Which happens is up to the
    /// scheduler (both were seen under qemu), so a batch keeps IO_DRAIN only on chains that no SQE
    /// before them, in the same batch, may send to io-wq.
    /// </summary>
    public static Step NoDrainRacingIoWq(Step step)
    {
        var batch = step.Batch;
        var ioWqBefore = false;
        var changed = false;
        var result = batch.ToArray();
        for (var start = 0; start < batch.Length;)
        {
            var end = start;
            while (end < batch.Length - 1 && (batch[end].Flags & (byte)(IoUringSqeFlags.IOSQE_IO_LINK | IoUringSqeFlags.IOSQE_IO_HARDLINK)) != 0)
            {
                end++;
            }

            var drained = false;
            for (var k = start; k <= end; k++)
            {
                drained |= (batch[k].Flags & (byte)IoUringSqeFlags.IOSQE_IO_DRAIN) != 0;
            }

            if (drained && ioWqBefore)
            {
                for (var k = start; k <= end; k++)
                {
                    result[k] = result[k] with { Flags = (byte)(result[k].Flags & ~(byte)IoUringSqeFlags.IOSQE_IO_DRAIN) };
                }

                changed = true;
            }

            for (var k = start; k <= end; k++)
            {
                ioWqBefore |= Runner.MayCompleteLate(batch[k]);
            }

            start = end + 1;
        }

        return changed ? step with { Batch = result } : step;
    }

    /// <summary>Programs with the shrinker, for Prop.ForAll.</summary>
    public static Arbitrary<RingProgram> Arbitrary(uint opLast) => Arb.From(Program(opLast), Smaller);

    /// <summary>
    /// On a CQE_MIXED ring where a 32-byte CQE lands depends on the CQEs posted before it (a filler
    /// pads the wrap). Where completions come from io-wq their order is not fixed, so neither would
    /// the fillers be: steps that may complete from io-wq (and every step from the first IO_DRAIN on)
    /// ask for no 32-byte CQEs there.
    /// </summary>
    public static RingProgram NoBigCqesWhereAsync(RingProgram p)
    {
        if ((p.SetupFlags & (uint)IoUringSetupFlags.IORING_SETUP_CQE_MIXED) == 0)
        {
            return p;
        }

        var drainSeen = false;
        var steps = p.Steps.Select(step =>
        {
            drainSeen |= step.Batch.Any(s => (s.Flags & (byte)IoUringSqeFlags.IOSQE_IO_DRAIN) != 0);
            return drainSeen || step.BadIndexAt >= 0 || step.Batch.Any(Runner.MayCompleteLate)
                ? step with { Batch = step.Batch.Select(s => s with { NopFlags = s.NopFlags & ~(uint)IoUringNopFlags.IORING_NOP_CQE32 }).ToArray() }
                : step;
        }).ToArray();
        return p with { Steps = steps };
    }

    public static bool IsFileTransfer(SqeSpec s) => s.Fd == FdChoice.File
        && s.Opcode is (byte)io_uring_op.IORING_OP_READ or (byte)io_uring_op.IORING_OP_WRITE or (byte)io_uring_op.IORING_OP_READV or (byte)io_uring_op.IORING_OP_WRITEV
            or (byte)io_uring_op.IORING_OP_READ_FIXED or (byte)io_uring_op.IORING_OP_WRITE_FIXED;

    /// <summary>
    /// Reads and writes of the program's file may run concurrently in io-wq, in no fixed order, and
    /// they share the file and the buffer area: only one chain per batch (a chain is ordered) keeps
    /// its file; the others' file transfers name a closed descriptor instead (-EBADF, no transfer).
    /// </summary>
    public static Step OneTransferChain(Step step)
    {
        var batch = step.Batch.ToArray();
        var chain = 0;
        var owner = -1;
        for (var i = 0; i < batch.Length; i++)
        {
            if (IsFileTransfer(batch[i]))
            {
                if (owner < 0)
                {
                    owner = chain;
                }
                else if (owner != chain)
                {
                    batch[i] = batch[i] with { Fd = FdChoice.Closed };
                }
            }

            if ((batch[i].Flags & (byte)(IoUringSqeFlags.IOSQE_IO_LINK | IoUringSqeFlags.IOSQE_IO_HARDLINK)) == 0)
            {
                chain++;
            }
        }

        return step with { Batch = batch };
    }

    /// <summary>Unique user_data per SQE (step * 100 + index + 1), so every CQE says which SQE it answers.</summary>
    public static RingProgram Number(RingProgram p) =>
        ResolveNames(p with { Steps = p.Steps.Select((s, i) => s with { Batch = s.Batch.Select((b, j) => b with { UserData = (ulong)((i * 100) + j + 1) }).ToArray() }).ToArray() });
}
