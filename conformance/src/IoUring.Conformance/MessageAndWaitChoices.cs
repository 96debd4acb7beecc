using FsCheck;
using FsCheck.Fluent;
using IoUring.Bindings;

namespace IoUring.Conformance;

/// <summary>
/// What generated programs do with MSG_RING, the futex calls, WAITID, SEND_ZC and SENDMSG_ZC.
/// <list type="bullet">
/// <item>MSG_RING messages the program's own ring (<see cref="FdChoice.Ring"/>): DATA posts a CQE of
/// user_data <see cref="SqeSpec.Off"/> and res <see cref="SqeSpec.Len"/> at once, SEND_FD to itself is
/// refused; the command in <see cref="SqeSpec.Length"/>, the flags passed in <see cref="SqeSpec.FileIndex"/>.
/// The memfd and a closed descriptor give its errors.</item>
/// <item>FUTEX_WAIT, FUTEX_WAKE and FUTEX_WAITV work on the workspace's futex words
/// (<see cref="Workspace.Futex"/>: 7 and 8), private or shared, in the SQE's fd as futex2 flags
/// (<see cref="SqeSpec.OpFlags"/>), the value or count in off, the mask in addr3 (<see cref="SqeSpec.Length"/>);
/// FUTEX_WAITV names one of the workspace's futex_waitv arrays. A wait that holds stays armed until a
/// later step's wake, a cancellation, or the program's end.</item>
/// <item>WAITID asks about process 1 (never the program's child), a pidfd that is the memfd, or an
/// unknown idtype: -ECHILD, -EBADF, -EINVAL, the siginfo written to the area (or a bad address).</item>
/// <item>SEND_ZC and SENDMSG_ZC send on the memfd (-ENOTSOCK), the AF_UNIX socket (no zero-copy:
/// -EOPNOTSUPP) or a closed descriptor, each followed by its notification; addr3 (the notification's
/// user_data where the kernel takes it) in <see cref="SqeSpec.Length"/>.</item>
/// </list>
/// None of them is drawn with IOSQE_ASYNC or IOSQE_IO_DRAIN: from io-wq a message, a futex wait's
/// arming or a notification would come when the scheduler lets the worker run.
/// </summary>
public static class MessageAndWaitChoices
{
    private const byte MsgRing = (byte)io_uring_op.IORING_OP_MSG_RING;
    private const byte FutexWait = (byte)io_uring_op.IORING_OP_FUTEX_WAIT;
    private const byte FutexWake = (byte)io_uring_op.IORING_OP_FUTEX_WAKE;
    private const byte FutexWaitv = (byte)io_uring_op.IORING_OP_FUTEX_WAITV;
    private const byte Waitid = (byte)io_uring_op.IORING_OP_WAITID;
    private const byte SendZc = (byte)io_uring_op.IORING_OP_SEND_ZC;
    private const byte SendMsgZc = (byte)io_uring_op.IORING_OP_SENDMSG_ZC;

    /// <summary>The user_data of a MSG_RING's CQE on the ring: far above the program's own numbering.</summary>
    public const ulong MessageUserData = 0x4000;

    /// <summary>The opcodes this class draws.</summary>
    public static readonly byte[] Opcodes = [MsgRing, FutexWait, FutexWake, FutexWaitv, Waitid, SendZc, SendMsgZc];

    public static bool IsCall(byte opcode) => opcode is MsgRing or FutexWait or FutexWake or FutexWaitv or Waitid or SendZc or SendMsgZc;

    public static bool IsCall(SqeSpec s) => IsCall(s.Opcode);

    public static bool IsFutexCall(SqeSpec s) => s.Opcode is FutexWait or FutexWake or FutexWaitv;

    public static bool IsMessage(SqeSpec s) => s.Opcode == MsgRing;

    public static bool IsZeroCopySend(SqeSpec s) => s.Opcode is SendZc or SendMsgZc;

    /// <summary>Whether the program registers the workspace's notification eventfd, or touches the flag that silences it: the C export creates the eventfd.</summary>
    public static bool UsesNotifier(RingProgram p) =>
        p.Steps.Any(s => s.Register?.Kind is RegisterKind.Eventfd or RegisterKind.UnregisterEventfd or RegisterKind.EventfdDisabled);

    /// <summary>The program uses the workspace's futex memory (its words, waitv arrays or siginfo): the C export creates it.</summary>
    public static bool UsesFutexMemory(RingProgram p) =>
        p.Steps.SelectMany(step => step.Batch).Any(s => s.Opcode is FutexWait or FutexWake or FutexWaitv or Waitid && s.Buf == BufChoice.Area);

    /// <summary>
    /// A scenario of futex steps, one call each, that random draws make too rare to show: waits on the
    /// workspace's words as they are (FUTEX_WAIT of the first, FUTEX_WAITV of both), then wakes that take
    /// them (the first word once or all of it, the second word), each step's CQEs reaped before the next.
    /// </summary>
    public static Gen<Step[]> FutexScenario =>
        from waits in Gen.Elements(
            new[] { FutexStep(FutexWait, 0, 7) },
            new[] { FutexStep(FutexWaitv, 0, 0) },
            new[] { FutexStep(FutexWait, 0, 7), FutexStep(FutexWaitv, 0, 0) },
            new[] { FutexStep(FutexWait, 4, 8), FutexStep(FutexWait, 0, 7) })
        from wakes in Gen.Elements(
            new[] { FutexStep(FutexWake, 0, 1) },
            new[] { FutexStep(FutexWake, 0, 0x7fff_ffff) },
            new[] { FutexStep(FutexWake, 4, 1), FutexStep(FutexWake, 0, 1) })
        select waits.Concat(wakes).ToArray();

    /// <summary>
    /// A scenario of the notification eventfd that random draws make too rare to show: registered (plain
    /// or with _ASYNC), then NOP steps whose digests say whether the ring signalled it. Inline NOPs, a NOP
    /// in io-wq (IOSQE_ASYNC), a commit that posts nothing (IOSQE_CQE_SKIP_SUCCESS), the steps with
    /// IORING_CQ_EVENTFD_DISABLED set and after it is cleared (where the kernels differ,
    /// KernelProfile.EventfdSkipKeepsTail), and the eventfd unregistered.
    /// </summary>
    public static Gen<Step[]> EventfdScenario =>
        from variant in Gen.Elements(0u, 0u, 1u)
        from middle in Gen.Elements(
            new[] { NopStep(0), NopStep(Async) },
            new[] { NopStep(Async), NopStep(Skip) },
            new[] { Flag(1, NopStep(0)), Flag(0, NopStep(Skip)), NopStep(0) },
            new[] { Flag(1, NopStep(Async)), Flag(0, NopStep(Skip)), NopStep(Async) })
        from unregister in Gen.Elements(false, true)
        select new[] { NopStep(0) with { Register = new RegisterSpec(RegisterKind.Eventfd, 1, variant, false) } }
            .Concat(middle)
            .Concat(unregister ? [NopStep(0) with { Register = new RegisterSpec(RegisterKind.UnregisterEventfd, 0, 0, false) }] : Array.Empty<Step>())
            .ToArray();

    private const byte Async = (byte)IoUringSqeFlags.IOSQE_ASYNC;
    private const byte Skip = (byte)IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS;

    private static Step NopStep(byte flags) => new([new SqeSpec((byte)io_uring_op.IORING_OP_NOP, flags, 0, 0, 0, FdChoice.Negative, BufChoice.Null, 0, 0, 0, 0, 0)], true, 12, -1, null);

    /// <summary>The step, after IORING_CQ_EVENTFD_DISABLED is set (1) or cleared (0).</summary>
    private static Step Flag(uint set, Step step) => step with { Register = new RegisterSpec(RegisterKind.EventfdDisabled, 0, set, false) };

    private static Step FutexStep(byte opcode, int word, ulong value) =>
        new([new SqeSpec(opcode, 0, 0, 0, 0, FdChoice.None, BufChoice.Area, word, opcode == FutexWaitv ? 2u : 0u, value, opcode == FutexWaitv ? 0u : 0x82u, 0, Length: opcode == FutexWaitv ? 0 : 0xffff_ffff)], true, 12, -1, null);

    /// <summary>A futex call made harmless: at address 0, where a wait faults reading its word and a wake finds none.</summary>
    public static SqeSpec Harmless(SqeSpec s) => s with { Buf = BufChoice.Null };

    /// <summary>One SQE of these calls, its fields drawn by what the opcode makes of them.</summary>
    public static Gen<SqeSpec> Sqe(byte opcode, Gen<byte> flags)
    {
        const byte NotAsync = unchecked((byte)~(IoUringSqeFlags.IOSQE_ASYNC | IoUringSqeFlags.IOSQE_IO_DRAIN | IoUringSqeFlags.IOSQE_BUFFER_SELECT));
        var calm = flags.Select(f => (byte)(f & NotAsync));
        var bad = Gen.Elements(BufChoice.Null, BufChoice.Unmapped, BufChoice.Kernel);
        var buffer = Gen.Frequency((8, Gen.Constant(BufChoice.Area)), (1, bad));
        return opcode switch
        {
            MsgRing => from f in calm
                       from fd in Gen.Frequency((8, Gen.Constant(FdChoice.Ring)), (1, Gen.Constant(FdChoice.File)), (1, Gen.Constant(FdChoice.Closed)))
                       from command in Gen.Frequency((8, Gen.Constant(0ul)), (1, Gen.Constant(1ul)), (1, Gen.Constant(7ul)))
                       from target in Gen.Choose(0, 7)
                       from res in Gen.Elements(0u, 5u, unchecked((uint)-3))
                       from msgFlags in Gen.Elements(0u, 0u, 0u, Constants.IORING_MSG_RING_CQE_SKIP, Constants.IORING_MSG_RING_FLAGS_PASS, Constants.IORING_MSG_RING_FLAGS_PASS, 4u)
                       from passed in Gen.Elements(0u, 0u, 1u, Constants.IORING_CQE_F_SOCK_NONEMPTY, Constants.IORING_CQE_F_NOTIF)
                       select new SqeSpec(MsgRing, f, 0, 0, 0, fd, BufChoice.Area, 0, res, MessageUserData + (ulong)target, msgFlags, 0, FileIndex: passed, Length: command),
            FutexWait or FutexWake => from f in calm
                                      from buf in buffer
                                      from word in Gen.Frequency((5, Gen.Constant(0)), (4, Gen.Constant(4)), (1, Gen.Constant(2)))
                                      from value in opcode == FutexWait
                                          ? Gen.Elements(7ul, 7ul, 8ul, 8ul, 0ul, 1ul << 32)
                                          : Gen.Elements(1ul, 1ul, 0x7fff_fffful, 0ul, 0x8000_0000ul)
                                      from mask in Gen.Elements(0xffff_fffful, 0xffff_fffful, 1ul, 0ul)
                                      from futex2 in Gen.Frequency((8, Gen.Constant(0x82u)), (2, Gen.Constant(0x02u)), (1, Gen.Elements(0u, 0x83u)))
                                      from len in Gen.Frequency((12, Gen.Constant(0u)), (1, Gen.Constant(1u)))
                                      select new SqeSpec(opcode, f, 0, 0, 0, FdChoice.None, buf, word, len, value, futex2, 0, Length: mask),
            FutexWaitv => from f in calm
                          from buf in buffer
                          from array in Gen.Elements(0, 0, 1, 2)
                          from count in Gen.Elements(1u, 2u, 2u, 0u)
                          select new SqeSpec(FutexWaitv, f, 0, 0, 0, FdChoice.None, buf, array, count, 0, 0, 0),
            Waitid => from f in calm
                      from target in Gen.Elements((1u, 1), (1u, 1), (1u, 0), (3u, -1), (7u, 1))
                      from options in Gen.Elements(5u, 5u, 4u, 0u)
                      from info in buffer
                      from page in Gen.Choose(0, 7)
                      select new SqeSpec(Waitid, f, 0, 0, 0, target.Item1 == 3 ? FdChoice.File : FdChoice.None, info, page * 4096, target.Item1, 0, 0, 0, FileIndex: options, Domain: target.Item2),
            _ => from f in calm
                 from fd in Gen.Frequency((5, Gen.Constant(FdChoice.File)), (4, Gen.Constant(FdChoice.SocketA)), (1, Gen.Constant(FdChoice.Closed)))
                 from zcFlags in Gen.Elements((ushort)0, (ushort)0, (ushort)Constants.IORING_SEND_ZC_REPORT_USAGE, (ushort)Constants.IORING_RECVSEND_POLL_FIRST, (ushort)Constants.IORING_RECVSEND_FIXED_BUF, (ushort)0x40)
                 from buf in buffer
                 from len in Gen.Elements(0u, 5u, 64u)
                 from notificationUserData in Gen.Frequency((6, Gen.Constant(0ul)), (1, Gen.Constant(MessageUserData + 9)))
                 select new SqeSpec(opcode, f, zcFlags, 0, 0, fd, buf, 0, len, 0, 0, 0, Length: notificationUserData),
        };
    }

    public static string Describe(SqeSpec s) => s.Opcode switch
    {
        MsgRing => $" fd {s.Fd} cmd {s.Length} off {s.Off} len {(int)s.Len} flags 0x{s.OpFlags:x} file_index 0x{s.FileIndex:x}",
        FutexWait or FutexWake => $" futex2 0x{s.OpFlags:x} word {s.Buf}+{s.BufOffset} {(s.Opcode == FutexWait ? "value" : "count")} 0x{s.Off:x} mask 0x{s.Length:x}" + (s.Len != 0 ? $" len {s.Len}" : string.Empty),
        FutexWaitv => $" array {s.Buf}+{s.BufOffset} count {s.Len}",
        Waitid => $" which {s.Len} id {(s.Fd == FdChoice.File ? "memfd" : s.Domain.ToString(System.Globalization.CultureInfo.InvariantCulture))} options 0x{s.FileIndex:x} info {s.Buf}+{s.BufOffset}",
        _ => $" fd {s.Fd} buf {s.Buf} len {s.Len}" + (s.Length != 0 ? $" addr3 {s.Length}" : string.Empty),
    };
}
