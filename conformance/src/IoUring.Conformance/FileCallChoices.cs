using FsCheck;
using FsCheck.Fluent;
using IoUring.Bindings;

namespace IoUring.Conformance;

/// <summary>
/// What generated programs do with SYNC_FILE_RANGE, FALLOCATE, FTRUNCATE, FADVISE and MADVISE: calls on
/// the program's memfd (and on its pipe, and bad descriptors, for the errors), and MADVISE on the buffer
/// area. Each draws the fields its prep refuses now and then, and the 64-bit length word where the
/// kernel has one (<see cref="SqeSpec.Length"/>: FALLOCATE's and FADVISE's addr, MADVISE's off).
/// <para>
/// FALLOCATE and FTRUNCATE change the file, and MADVISE(MADV_DONTNEED) the area, from io-wq, beside
/// whatever else the submission sends there or issues inline; io-wq's workers run in parallel (only
/// writes to one file are serialized), so a program never lets another request of the same step touch
/// what such a call changes (<see cref="ProgramGen.FileChangesAlone"/>). Offsets and lengths stay within
/// 32 KiB, so the file stays small enough to digest whole.
/// </para>
/// </summary>
public static class FileCallChoices
{
    public const uint MadvDontneed = 4;

    private const byte SyncFileRange = (byte)io_uring_op.IORING_OP_SYNC_FILE_RANGE;
    private const byte Fallocate = (byte)io_uring_op.IORING_OP_FALLOCATE;
    private const byte Ftruncate = (byte)io_uring_op.IORING_OP_FTRUNCATE;
    private const byte Fadvise = (byte)io_uring_op.IORING_OP_FADVISE;
    private const byte Madvise = (byte)io_uring_op.IORING_OP_MADVISE;

    /// <summary>The opcodes this class draws.</summary>
    public static readonly byte[] Opcodes = [SyncFileRange, Fallocate, Ftruncate, Fadvise, Madvise];

    public static bool IsFileCall(byte opcode) => opcode is SyncFileRange or Fallocate or Ftruncate or Fadvise or Madvise;

    public static bool IsFileCall(SqeSpec s) => IsFileCall(s.Opcode);

    /// <summary>A call that changes the program's file (its size or blocks) or its buffer area, from io-wq.</summary>
    public static bool Changes(SqeSpec s) =>
        (s.Opcode is Fallocate or Ftruncate && s.Fd == FdChoice.File)
        || (s.Opcode == Madvise && s.Buf == BufChoice.Area);

    /// <summary>One SQE of a file call, its fields drawn by what the opcode makes of them.</summary>
    public static Gen<SqeSpec> Sqe(byte opcode, Gen<byte> flags)
    {
        var fd = opcode == Madvise
            ? Gen.Constant(FdChoice.Negative)
            : Gen.Frequency((10, Gen.Constant(FdChoice.File)), (2, Gen.Constant(FdChoice.PipeRead)), (1, Gen.Constant(FdChoice.Negative)), (1, Gen.Constant(FdChoice.Closed)));
        var refused = Gen.Frequency((7, Gen.Constant(0u)), (1, Gen.Constant(1u)));
        return from f in flags
               from descriptor in fd
               from buf in opcode == Madvise
                   ? Gen.Frequency((8, Gen.Constant(BufChoice.Area)), (1, Gen.Constant(BufChoice.Null)), (1, Gen.Constant(BufChoice.Unmapped)), (1, Gen.Constant(BufChoice.Kernel)))
                   : Gen.Constant(BufChoice.Area)
               from page in Gen.Choose(0, 7)
               from unaligned in Gen.Frequency((9, Gen.Constant(0)), (1, Gen.Constant(1)))
               from off in opcode switch
               {
                   SyncFileRange => Gen.Elements(0ul, 0ul, 4096ul, ulong.MaxValue),
                   Fallocate => Gen.Elements(0ul, 0ul, 4096ul, 8192ul, 20000ul, ulong.MaxValue, (ulong)long.MaxValue),
                   Ftruncate => Gen.Elements(0ul, 100ul, 4096ul, 8192ul, 8192ul, 20000ul, ulong.MaxValue),
                   Fadvise => Gen.Elements(0ul, 0ul, 4096ul, ulong.MaxValue),
                   _ => Gen.Constant(0ul),
               }
               from len in opcode switch
               {
                   SyncFileRange => Gen.Elements(0u, 100u, 8192u),
                   Fallocate => Gen.Elements(0u, 0u, 0u, 1u, 1u, 3u, 2u, 0x10u, 0x80u, 0x100u), // mode: KEEP_SIZE, PUNCH_HOLE (alone: refused), ZERO_RANGE, WRITE_ZEROES (6.17 on), unknown
                   Ftruncate => refused,
                   Fadvise => Gen.Elements(0u, 100u, 8192u),
                   _ => Gen.Elements(0u, 4096u, 5000u, 8192u),
               }
               from length in opcode switch
               {
                   Fallocate => Gen.Elements(0ul, 1ul, 4096ul, 4096ul, 12288ul),
                   Fadvise => Gen.Elements(0ul, 0ul, 0ul, 0ul, 4096ul, ulong.MaxValue),
                   Madvise => Gen.Elements(0ul, 0ul, 0ul, 0ul, 4096ul),
                   _ => refused.Select(r => (ulong)r * 5),
               }
               from opFlags in opcode switch
               {
                   SyncFileRange => Gen.Elements(0u, 0u, 1u, 2u, 4u, 7u, 8u),
                   Fallocate => refused,
                   Ftruncate => Gen.Constant(0u),
                   Fadvise => Gen.Elements(0u, 1u, 2u, 3u, 4u, 5u, 6u), // POSIX_FADV_*: 6 is none
                   _ => Gen.Elements(0u, 1u, 2u, 3u, MadvDontneed, MadvDontneed, 20u, 999u), // MADV_*: 20 COLD, 999 none
               }
               select new SqeSpec(opcode, f, 0, 0, 0, descriptor, buf, (page * 4096) + unaligned, len, off, opFlags, 0, Length: length);
    }

    /// <summary>
    /// MADVISE takes an address (addr) and its 64-bit length in off; the other calls an offset (off) and
    /// their 64-bit length in addr. len and the op's flags word are <see cref="SqeSpec.Len"/> and <see cref="SqeSpec.OpFlags"/>.
    /// </summary>
    public static bool IsMadvise(SqeSpec s) => s.Opcode == Madvise;

    public static string Describe(SqeSpec s) => $" fd {s.Fd} off {(long)s.Off} len {s.Len} length {(long)s.Length} flags 0x{s.OpFlags:x}"
        + (s.Opcode == Madvise ? $" addr {s.Buf}+{s.BufOffset}" : string.Empty);
}
