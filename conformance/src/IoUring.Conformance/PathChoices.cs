using System.Runtime.InteropServices;
using FsCheck;
using FsCheck.Fluent;
using IoUring.Bindings;

namespace IoUring.Conformance;

/// <summary>
/// What generated programs do with the path calls: OPENAT, OPENAT2, STATX, MKDIRAT, UNLINKAT, RENAMEAT,
/// SYMLINKAT and LINKAT, all inside the program's scratch directory (<see cref="Workspace.Directory"/>).
/// Every name is relative and none climbs out ("a", "b", "d", "d/a", "s", and the bad ones: empty, too
/// long, under a missing directory, under a file), every directory descriptor is the scratch directory's
/// or one that is no directory or no descriptor at all, and a symbolic link only ever points at one of
/// those names, so nothing outside the directory is found or made. The digest lists the directory
/// (<see cref="Workspace.Digest"/>) and what the last STATX wrote.
/// <para>
/// Fields (<see cref="SqeSpec"/>): Fd the directory; Buf and BufOffset the first name (<see cref="Names"/>
/// by index); Length the second name (RENAMEAT's and LINKAT's new name, SYMLINKAT's link; OPENAT2: its
/// open_how, <see cref="Hows"/> by index); Off the second address (STATX's buffer, OPENAT2's open_how) as
/// a <see cref="BufChoice"/>; Len OPENAT's and MKDIRAT's mode, STATX's mask, OPENAT2's size, and
/// RENAMEAT's and LINKAT's new directory as an <see cref="FdChoice"/>; OpFlags the call's flags, open
/// flags written as x86_64 numbers (<see cref="NativeOpenFlags"/>); FileIndex an open's fixed slot.
/// </para>
/// <para>
/// Every path call but a plain open runs from io-wq, and io-wq's workers run beside each other: two
/// path calls of one step would find the directory as the scheduler leaves it. So a step keeps its
/// first path call (<see cref="ProgramGen.PathCallsAlone"/>); the runner waits for its CQE before the
/// next step, and none skips its CQE.
/// </para>
/// </summary>
public static class PathChoices
{
    private const byte Openat = (byte)io_uring_op.IORING_OP_OPENAT;
    private const byte Openat2 = (byte)io_uring_op.IORING_OP_OPENAT2;
    private const byte Statx = (byte)io_uring_op.IORING_OP_STATX;
    private const byte Mkdirat = (byte)io_uring_op.IORING_OP_MKDIRAT;
    private const byte Unlinkat = (byte)io_uring_op.IORING_OP_UNLINKAT;
    private const byte Renameat = (byte)io_uring_op.IORING_OP_RENAMEAT;
    private const byte Symlinkat = (byte)io_uring_op.IORING_OP_SYMLINKAT;
    private const byte Linkat = (byte)io_uring_op.IORING_OP_LINKAT;

    // Open flags as x86_64 (and asm-generic) numbers.
    private const uint OWronly = 0x1;
    private const uint ORdwr = 0x2;
    private const uint OCreat = 0x40;
    private const uint OExcl = 0x80;
    private const uint OTrunc = 0x200;
    private const uint ODirectoryX86 = 0x10000;
    private const uint ONofollowX86 = 0x20000;
    private const uint OCloexec = 0x80000;
    private const uint OPath = 0x200000;

    /// <summary>The opcodes this class draws.</summary>
    public static readonly byte[] Opcodes = [Openat, Openat2, Statx, Mkdirat, Unlinkat, Renameat, Symlinkat, Linkat];

    /// <summary>
    /// The names, by index: "a", "b", "d", "d/a", "s" (the link's name), "" (refused unless the call takes an
    /// empty name), 4096 bytes of 'x' (too long), "missing/a" (under no directory), "a/b" (under a file).
    /// </summary>
    public static readonly string[] Names = ["a", "b", "d", "d/a", "s", string.Empty, new string('x', 4096), "missing/a", "a/b"];

    public const int LongName = 6;

    /// <summary>
    /// OPENAT2's open_how choices (flags as x86_64 numbers, mode, resolve): a plain read; create under
    /// RESOLVE_BENEATH; RESOLVE_NO_SYMLINKS; BENEATH with IN_ROOT (refused); a mode without a create
    /// flag (refused); a flag no kernel knows (refused); an exclusive create; a directory, RESOLVE_NO_XDEV.
    /// Each takes 32 bytes in the workspace, its last 8 zero.
    /// </summary>
    public static readonly (ulong Flags, ulong Mode, ulong Resolve)[] Hows =
    [
        (0, 0, 0),
        (ORdwr | OCreat, 0x180, 0x08),
        (0, 0, 0x04),
        (0, 0, 0x18),
        (0, 0x1a4, 0),
        (1UL << 40, 0, 0),
        (OWronly | OCreat | OExcl, 0x1a4, 0),
        (ODirectoryX86, 0, 0x01),
    ];

    public const int HowBytes = 32;

    public static bool IsPathCall(byte opcode) => opcode is Openat or Openat2 or Statx or Mkdirat or Unlinkat or Renameat or Symlinkat or Linkat;

    public static bool IsPathCall(SqeSpec s) => IsPathCall(s.Opcode);

    public static bool IsOpen(SqeSpec s) => s.Opcode is Openat or Openat2;

    public static bool IsStatx(SqeSpec s) => s.Opcode == Statx;

    /// <summary>The calls with a second name (at addr2), and those with a second directory (in len).</summary>
    public static bool HasSecondName(SqeSpec s) => s.Opcode is Renameat or Symlinkat or Linkat;

    public static bool HasSecondDirectory(SqeSpec s) => s.Opcode is Renameat or Linkat;

    /// <summary>An open into a plain descriptor: its CQE carries a number the process chose.</summary>
    public static bool CreatesDescriptor(SqeSpec s) => IsOpen(s) && s.FileIndex == 0;

    /// <summary>An open into a fixed slot changes what the fixed table holds.</summary>
    public static bool ChangesTable(SqeSpec s) => IsOpen(s) && s.FileIndex != 0;

    /// <summary>The program uses its scratch directory: the C export creates it.</summary>
    public static bool UsesPaths(RingProgram p) => p.Steps.SelectMany(step => step.Batch).Any(IsPathCall);

    /// <summary>Open flags as the running process's architecture numbers them (arm64 places O_DIRECTORY and O_NOFOLLOW elsewhere).</summary>
    public static ulong NativeOpenFlags(ulong flags)
    {
        if (RuntimeInformation.ProcessArchitecture != Architecture.Arm64)
        {
            return flags;
        }

        var native = flags & ~(ulong)(ODirectoryX86 | ONofollowX86);
        native |= (flags & ODirectoryX86) != 0 ? 0x4000UL : 0;
        native |= (flags & ONofollowX86) != 0 ? 0x8000UL : 0;
        return native;
    }

    /// <summary>One SQE of a path call, its fields drawn by what the opcode makes of them.</summary>
    public static Gen<SqeSpec> Sqe(byte opcode, Gen<byte> flags)
    {
        var directory = Gen.Frequency((16, Gen.Constant(FdChoice.Directory)), (1, Gen.Constant(FdChoice.File)), (1, Gen.Constant(FdChoice.Closed)), (1, Gen.Constant(FdChoice.Negative)));
        var name = Gen.Frequency((12, Gen.Elements(0, 0, 1, 2, 3, 4)), (1, Gen.Elements(5, LongName, 7, 8)));
        var buf = Gen.Frequency((20, Gen.Constant(BufChoice.Area)), (1, Gen.Elements(BufChoice.Null, BufChoice.Unmapped, BufChoice.Kernel)));
        var secondBuf = Gen.Frequency((12, Gen.Constant(BufChoice.Area)), (1, Gen.Elements(BufChoice.Null, BufChoice.Unmapped)));
        var refused = Gen.Frequency((12, Gen.Constant(false)), (1, Gen.Constant(true)));
        var fixedSlot = Gen.Frequency((8, Gen.Constant(0u)), (1, Gen.Elements(1u, 2u, Constants.IORING_FILE_INDEX_ALLOC)));
        return from f in flags
               from dir in directory
               from first in name
               from firstBuf in buf
               from second in name
               from secondAt in secondBuf
               from bad in refused
               from slot in fixedSlot
               from choice in Gen.Choose(0, 15)
               from spec in opcode switch
               {
                   Openat => from openFlags in Gen.Elements(0u, 0u, OWronly | OCreat, ORdwr | OCreat | OExcl, ORdwr | OTrunc, ODirectoryX86, OPath, ONofollowX86, OCloexec, OWronly | OCreat | OCloexec)
                             from mode in Gen.Elements(0x1a4u, 0x180u)
                             select Spec(dir, first, firstBuf) with { OpFlags = openFlags, Len = mode, FileIndex = slot },
                   Openat2 => from how in Gen.Choose(0, Hows.Length - 1)
                              from size in Gen.Elements(24u, 24u, 24u, 32u, 16u, 48u)
                              select Spec(dir, first, firstBuf) with { Length = (ulong)how, Off = (ulong)secondAt, Len = size, FileIndex = slot },
                   Statx => from statxFlags in Gen.Elements(0u, 0u, 0x100u, 0x1000u, 0x1000u, 0x6000u, 0x80u) // AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH, both sync types (refused), a flag statx does not take
                            from mask in Gen.Elements(0x7ffu, 0x7ffu, 0x201u, 0u, 0x80000000u) // STATX_BASIC_STATS, TYPE | SIZE, none, STATX__RESERVED (refused)
                            select Spec(dir, first, firstBuf) with { OpFlags = statxFlags, Len = mask, Off = (ulong)secondAt },
                   Mkdirat => from mode in Gen.Elements(0x1edu, 0x1c0u)
                              select Spec(dir, first, firstBuf) with { Len = mode, OpFlags = bad ? 1u : 0u },
                   Unlinkat => from unlinkFlags in Gen.Elements(0u, 0u, 0x200u, 0x200u, 1u)
                               select Spec(dir, first, firstBuf) with { OpFlags = unlinkFlags },
                   Renameat => from renameFlags in Gen.Elements(0u, 0u, 0u, 1u, 2u, 3u, 0x10u) // RENAME_NOREPLACE, RENAME_EXCHANGE, both (refused), unknown
                               from newDir in directory
                               select Spec(dir, first, firstBuf) with { Length = (ulong)second, Len = (uint)newDir, OpFlags = renameFlags },
                   Symlinkat => from target in Gen.Elements(0, 3, 7)
                                select Spec(dir, target, firstBuf) with { Length = (ulong)second, Len = bad ? 1u : 0u },
                   _ => from linkFlags in Gen.Elements(0u, 0u, 0x400u, 0x1000u, 0x2u) // AT_SYMLINK_FOLLOW, AT_EMPTY_PATH, unknown
                        from newDir in directory
                        select Spec(dir, first, firstBuf) with { Length = (ulong)second, Len = (uint)newDir, OpFlags = linkFlags },
               }
               select spec with { Opcode = opcode, Flags = f };
    }

    /// <summary>
    /// Two to five steps of one path call each, in the scratch directory with names that are there to
    /// find or make, so that a program builds on what the ones before made (a directory, then a file in
    /// it, a link to it, a rename over it).
    /// </summary>
    public static Gen<Step[]> Scenario =>
        (from opcode in Gen.Elements(Mkdirat, Openat, Openat, Symlinkat, Linkat, Renameat, Unlinkat, Statx, Statx, Openat2)
         from spec in Sqe(opcode, Gen.Constant((byte)0))
         from name in opcode == Statx && (spec.OpFlags & 0x1000) != 0 ? Gen.Elements(5, 5, 0, 2) : Gen.Elements(0, 1, 2, 3, 4) // AT_EMPTY_PATH: mostly the directory itself
         from second in Gen.Elements(0, 1, 2, 3, 4)
         select new Step(
             [spec with
             {
                 Fd = FdChoice.Directory,
                 Buf = BufChoice.Area,
                 BufOffset = opcode == Symlinkat ? spec.BufOffset : name,
                 Length = HasSecondName(spec) ? (ulong)second : spec.Length,
                 Len = HasSecondDirectory(spec) ? (uint)FdChoice.Directory : spec.Len,
             }],
             true,
             12,
             -1,
             null))
        .ArrayOf().Select(a => a.Take(5).ToArray()).Where(a => a.Length >= 2);

    private static SqeSpec Spec(FdChoice dir, int name, BufChoice buf) => new(0, 0, 0, 0, 0, dir, buf, name, 0, 0, 0, 0);

    public static string Describe(SqeSpec s)
    {
        string NameOf(int index) => index == LongName ? "4096 x" : $"\"{Names[index]}\"";
        var text = $" dir {s.Fd} name {(s.Buf == BufChoice.Area ? NameOf(s.BufOffset) : s.Buf.ToString())}";
        text += s.Opcode switch
        {
            Openat => $" flags 0x{s.OpFlags:x} mode 0{Convert.ToString(s.Len, 8)}",
            Openat2 => $" how {((BufChoice)s.Off == BufChoice.Area ? s.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) : ((BufChoice)s.Off).ToString())} size {s.Len}",
            Statx => $" flags 0x{s.OpFlags:x} mask 0x{s.Len:x} buffer {(BufChoice)s.Off}",
            Mkdirat => $" mode 0{Convert.ToString(s.Len, 8)}" + (s.OpFlags != 0 ? $" rw_flags {s.OpFlags}" : string.Empty),
            Unlinkat => $" flags 0x{s.OpFlags:x}",
            Symlinkat => $" link {NameOf((int)s.Length)}" + (s.Len != 0 ? $" len {s.Len}" : string.Empty),
            _ => $" new dir {(FdChoice)s.Len} new name {NameOf((int)s.Length)} flags 0x{s.OpFlags:x}",
        };
        return text + (s.FileIndex != 0 ? $" file_index {s.FileIndex}" : string.Empty);
    }
}
