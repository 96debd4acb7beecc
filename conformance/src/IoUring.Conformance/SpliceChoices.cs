using FsCheck;
using FsCheck.Fluent;
using IoUring.Bindings;

namespace IoUring.Conformance;

/// <summary>
/// What generated programs do with SPLICE and TEE: bytes moved between the program's memfd and a pipe of
/// their own (<see cref="FdChoice.SplicePipeRead"/>, <see cref="FdChoice.SplicePipeWrite"/>), and copied
/// from it into a second one (<see cref="FdChoice.TeePipeRead"/>, <see cref="FdChoice.TeePipeWrite"/>).
/// No other request touches those pipes, so what they hold is no readiness a poll or a read waits on:
/// both calls run from io-wq, beside the submitter, where a wake-up of the program's own pipe would race
/// its task work.
/// <para>
/// Fields (<see cref="SqeSpec"/>): Fd the output; FileIndex the input as an <see cref="FdChoice"/> (a
/// fixed slot with SPLICE_F_FD_IN_FIXED); Length the input's offset and Off the output's (-1: none, the
/// file's position; a pipe's must be -1: -ESPIPE); Len the length; OpFlags the splice flags. Every call
/// that may reach a pipe carries SPLICE_F_NONBLOCK: an empty or full pipe is -EAGAIN, never a worker
/// waiting for the scheduler. A call that takes or puts fewer bytes than asked fails, so a chain stops.
/// </para>
/// <para>
/// A call that reads or writes the memfd runs beside whatever else its step sends there, so a step
/// keeps such a call only when it is the step's only SQE (<see cref="ProgramGen.SplicesAlone"/>).
/// </para>
/// </summary>
public static class SpliceChoices
{
    private const byte Splice = (byte)io_uring_op.IORING_OP_SPLICE;
    private const byte Tee = (byte)io_uring_op.IORING_OP_TEE;

    // SPLICE_F_MOVE, SPLICE_F_NONBLOCK, SPLICE_F_MORE; io_uring's SPLICE_F_FD_IN_FIXED.
    private const uint Move = 0x1;
    private const uint Nonblock = 0x2;
    private const uint More = 0x4;
    public const uint FdInFixed = 1u << 31;

    /// <summary>The opcodes this class draws.</summary>
    public static readonly byte[] Opcodes = [Splice, Tee];

    public static bool IsSpliceCall(byte opcode) => opcode is Splice or Tee;

    public static bool IsSpliceCall(SqeSpec s) => IsSpliceCall(s.Opcode);

    /// <summary>The input's descriptor choice.</summary>
    public static FdChoice Input(SqeSpec s) => (FdChoice)s.FileIndex;

    /// <summary>The input as <see cref="Runner.Descriptor"/> looks it up: through the fixed table with SPLICE_F_FD_IN_FIXED.</summary>
    public static SqeSpec InputSqe(SqeSpec s) => s with { Fd = Input(s), Flags = (s.OpFlags & FdInFixed) != 0 ? (byte)IoUringSqeFlags.IOSQE_FIXED_FILE : (byte)0 };

    /// <summary>A call that names the memfd on either side.</summary>
    public static bool TouchesFile(SqeSpec s) => IsSpliceCall(s) && (s.Fd == FdChoice.File || Input(s) == FdChoice.File);

    /// <summary>The program uses the splice pipes: the C export creates them.</summary>
    public static bool UsesSplicePipes(RingProgram p) => p.Steps.SelectMany(step => step.Batch).Any(IsSpliceCall);

    /// <summary>A call made harmless: its output a closed descriptor, which fails it (-EBADF) before anything moves.</summary>
    public static SqeSpec Harmless(SqeSpec s) => s with { Fd = FdChoice.Closed, Flags = (byte)(s.Flags & ~(byte)IoUringSqeFlags.IOSQE_FIXED_FILE) };

    private static readonly (FdChoice Input, FdChoice Output)[] SplicePairs =
    [
        (FdChoice.File, FdChoice.SplicePipeWrite),
        (FdChoice.File, FdChoice.SplicePipeWrite),
        (FdChoice.SplicePipeRead, FdChoice.File),
        (FdChoice.SplicePipeRead, FdChoice.File),
        (FdChoice.TeePipeRead, FdChoice.File),
        (FdChoice.SplicePipeRead, FdChoice.TeePipeWrite),
        (FdChoice.File, FdChoice.File), // no pipe: -EINVAL
        (FdChoice.SplicePipeWrite, FdChoice.File), // not readable: -EBADF
        (FdChoice.Closed, FdChoice.SplicePipeWrite),
        (FdChoice.File, FdChoice.Negative),
    ];

    private static readonly (FdChoice Input, FdChoice Output)[] TeePairs =
    [
        (FdChoice.SplicePipeRead, FdChoice.TeePipeWrite),
        (FdChoice.SplicePipeRead, FdChoice.TeePipeWrite),
        (FdChoice.SplicePipeRead, FdChoice.SplicePipeWrite), // one pipe: -EINVAL
        (FdChoice.File, FdChoice.TeePipeWrite), // no pipe: -EINVAL
        (FdChoice.Closed, FdChoice.TeePipeWrite),
    ];

    /// <summary>One SQE of SPLICE or TEE, its fields drawn by what the opcode makes of them.</summary>
    public static Gen<SqeSpec> Sqe(byte opcode, Gen<byte> flags)
    {
        var refused = Gen.Frequency((12, Gen.Constant(false)), (1, Gen.Constant(true)));
        return from f in flags
               from pair in Gen.Elements(opcode == Tee ? TeePairs : SplicePairs)
               from offIn in Offset(pair.Input, opcode)
               from offOut in Offset(pair.Output, opcode)
               from len in Gen.Elements(0u, 100u, 100u, 4096u, 20000u)
               from extra in Gen.Elements(0u, 0u, Move, More)
               from fixedInput in Gen.Frequency((8, Gen.Constant(false)), (1, Gen.Constant(true)))
               from bad in refused
               let fdIn = fixedInput ? FdInFixed : 0
               select new SqeSpec(opcode, f, 0, 0, 0, pair.Output, BufChoice.Area, 0, len, offOut, bad ? 0x10u : Nonblock | extra | fdIn, 0, FileIndex: (uint)pair.Input, Length: offIn);
    }

    /// <summary>A pipe's offset is -1 (anything else: -ESPIPE, now and then); the memfd's one inside its first pages, or -1 (its position). TEE takes none (-EINVAL).</summary>
    private static Gen<ulong> Offset(FdChoice side, byte opcode) =>
        opcode == Tee ? Gen.Frequency((12, Gen.Constant(0ul)), (1, Gen.Constant(4096ul)))
        : side == FdChoice.File ? Gen.Elements(0ul, 0ul, 4096ul, 8000ul, 20000ul, ulong.MaxValue)
        : Gen.Frequency((12, Gen.Constant(ulong.MaxValue)), (1, Gen.Constant(0ul)));

    /// <summary>
    /// Bytes taken from the memfd into the splice pipe, perhaps copied to the second pipe, and put back
    /// into the memfd elsewhere: the moves random draws rarely line up. One call per step.
    /// </summary>
    public static Gen<Step[]> Scenario =>
        from len in Gen.Elements(100u, 4096u)
        from at in Gen.Elements(0ul, 4096ul, ulong.MaxValue)
        from tee in Gen.Elements(false, true)
        from back in Gen.Elements(8192ul, 20000ul, ulong.MaxValue)
        from backLen in Gen.Elements(len, len / 2, len * 2)
        from teeBack in Gen.Elements(false, true)
        select new[]
        {
            Call(Splice, FdChoice.File, at, FdChoice.SplicePipeWrite, ulong.MaxValue, len),
            tee ? Call(Tee, FdChoice.SplicePipeRead, 0, FdChoice.TeePipeWrite, 0, len) : null,
            Call(Splice, FdChoice.SplicePipeRead, ulong.MaxValue, FdChoice.File, back, backLen),
            tee && teeBack ? Call(Splice, FdChoice.TeePipeRead, ulong.MaxValue, FdChoice.File, 0, len) : null,
        }.OfType<Step>().ToArray();

    private static Step Call(byte opcode, FdChoice input, ulong offIn, FdChoice output, ulong offOut, uint len) =>
        Step.Alone(new SqeSpec(opcode, 0, 0, 0, 0, output, BufChoice.Area, 0, len, offOut, Nonblock, 0, FileIndex: (uint)input, Length: offIn));

    public static string Describe(SqeSpec s) =>
        $" in {Input(s)}{((s.OpFlags & FdInFixed) != 0 ? " (fixed)" : string.Empty)} off {(long)s.Length} out {s.Fd} off {(long)s.Off} len {s.Len} flags 0x{s.OpFlags:x}";
}
