using System.Runtime.InteropServices;
using FsCheck;
using FsCheck.Fluent;
using IoUring.Bindings;

namespace IoUring.Conformance;

/// <summary>
/// What generated programs do with the path calls: OPENAT, OPENAT2, STATX, MKDIRAT, UNLINKAT, RENAMEAT,
/// SYMLINKAT, LINKAT and the extended attribute calls (FGETXATTR, FSETXATTR, GETXATTR, SETXATTR), all
/// inside the program's scratch directory (<see cref="Workspace.Directory"/>).
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
/// The attribute calls: Fd the file (FGETXATTR, FSETXATTR: the memfd, the scratch directory, the pipe,
/// bad ones); Buf and BufOffset the attribute's name (<see cref="XattrNames"/> by index); Off the
/// value's address as a <see cref="BufChoice"/>, Domain its offset in the area; Len the value's size;
/// OpFlags XATTR_CREATE and XATTR_REPLACE; Length the path of GETXATTR and SETXATTR
/// (<see cref="XattrPaths"/> by index). Their paths start at /proc/self/fd/ and the scratch
/// directory's number, which is fixed (<see cref="Workspace.DirectoryFloor"/>): the calls take no
/// directory descriptor. The names are trusted.* ones, which every kernel's tmpfs keeps (user.* came to
/// tmpfs in 6.6, so a 6.1 trace and the engine on a later host would differ); the calls need
/// CAP_SYS_ADMIN, as the agent in the VMs, the host runner and the replay have (without it a get
/// answers -ENODATA and a set -EPERM, on kernel and engine alike).
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
    private const byte FgetXattr = (byte)io_uring_op.IORING_OP_FGETXATTR;
    private const byte FsetXattr = (byte)io_uring_op.IORING_OP_FSETXATTR;
    private const byte GetXattr = (byte)io_uring_op.IORING_OP_GETXATTR;
    private const byte SetXattr = (byte)io_uring_op.IORING_OP_SETXATTR;

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
    public static readonly byte[] Opcodes = [Openat, Openat2, Statx, Mkdirat, Unlinkat, Renameat, Symlinkat, Linkat, FgetXattr, FsetXattr, GetXattr, SetXattr];

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

    /// <summary>
    /// The attribute names, by index: two trusted.* names, one in no namespace (-EOPNOTSUPP), and the
    /// empty name and the 4096-byte one of <see cref="Names"/> (both -ERANGE).
    /// </summary>
    public static readonly string[] XattrNames = ["trusted.a", "trusted.b", "nonamespace.a", string.Empty, new string('x', 4096)];

    /// <summary>The attribute names written to the workspace's own table; the last two are <see cref="Names"/>' empty and long ones.</summary>
    public const int XattrNamesOwn = 3;

    /// <summary>
    /// GETXATTR's and SETXATTR's paths, by index: the scratch directory's "a", "d", "s" (a link, followed),
    /// "missing/a" (-ENOENT), and the directory itself, each through /proc/self/fd and the directory's
    /// descriptor (<see cref="XattrPath"/>).
    /// </summary>
    public static readonly string[] XattrPaths = ["/a", "/d", "/s", "/missing/a", string.Empty];

    /// <summary>
    /// Path <paramref name="index"/> of <see cref="XattrPaths"/> under the scratch directory whose
    /// descriptor is <paramref name="directory"/>: a program alone in its process has it at
    /// <see cref="Workspace.DirectoryFloor"/>, programs replayed side by side each at their own.
    /// </summary>
    public static string XattrPath(int index, int directory) => $"/proc/self/fd/{directory}{XattrPaths[index]}";

    public static bool IsPathCall(byte opcode) => opcode is Openat or Openat2 or Statx or Mkdirat or Unlinkat or Renameat or Symlinkat or Linkat or FgetXattr or FsetXattr or GetXattr or SetXattr;

    public static bool IsXattr(SqeSpec s) => s.Opcode is FgetXattr or FsetXattr or GetXattr or SetXattr;

    /// <summary>GETXATTR and SETXATTR: a path at addr3 instead of a descriptor.</summary>
    public static bool XattrByPath(SqeSpec s) => s.Opcode is GetXattr or SetXattr;

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
        if (opcode is FgetXattr or FsetXattr or GetXattr or SetXattr)
        {
            return from f in flags
                   from spec in Xattr(opcode, buf, secondBuf)
                   select spec with { Flags = f };
        }

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
    /// it, a link to it, a rename over it, an attribute set on what is there and read back).
    /// </summary>
    public static Gen<Step[]> Scenario => Gen.Frequency((3, Calls), (1, XattrScenario));

    /// <summary>
    /// An attribute set, perhaps set again (XATTR_CREATE over it: -EEXIST; XATTR_REPLACE of it, or of a
    /// name not there: -ENODATA), then read back (its size, too small a buffer: -ERANGE, or the value
    /// into the area), on the memfd, the scratch directory, or the directory by its path.
    /// </summary>
    public static Gen<Step[]> XattrScenario =>
        from byPath in Gen.Elements(false, false, true)
        from file in Gen.Elements(FdChoice.File, FdChoice.Directory)
        from size in Gen.Elements(8u, 64u)
        from createFlags in Gen.Elements(0u, 1u)
        from again in Gen.Elements<(int Name, uint Flags)?>(null, null, (0, 1u), (0, 2u), (1, 2u))
        from getSize in Gen.Elements(0u, 1u, 64u, 64u)
        let set = byPath ? SetXattr : FsetXattr
        let get = byPath ? GetXattr : FgetXattr
        select new[] { XattrStep(set, file, 0, size, createFlags, 0), again is { } a ? XattrStep(set, file, a.Name, size, a.Flags, 4096) : null, XattrStep(get, file, 0, getSize, 0, 8192) }
            .OfType<Step>().ToArray();

    private static Step XattrStep(byte opcode, FdChoice file, int name, uint size, uint xattrFlags, int valueAt) =>
        Step.Alone(new SqeSpec(opcode, 0, 0, 0, 0, opcode is GetXattr or SetXattr ? FdChoice.Negative : file, BufChoice.Area, name, size, (ulong)BufChoice.Area, xattrFlags, 0, Domain: valueAt, Length: (ulong)Array.IndexOf(XattrPaths, string.Empty)));

    private static Gen<Step[]> Calls =>
        (from opcode in Gen.Elements(Mkdirat, Openat, Openat, Symlinkat, Linkat, Renameat, Unlinkat, Statx, Statx, Openat2, FsetXattr, FgetXattr, SetXattr, GetXattr)
         from spec in Sqe(opcode, Gen.Constant((byte)0))
         from name in opcode == Statx && (spec.OpFlags & 0x1000) != 0 ? Gen.Elements(5, 5, 0, 2) : Gen.Elements(0, 1, 2, 3, 4) // AT_EMPTY_PATH: mostly the directory itself
         from second in Gen.Elements(0, 1, 2, 3, 4)
         select new Step(
             [IsXattr(spec)
                 ? spec with
                 {
                     Fd = XattrByPath(spec) ? spec.Fd : name % 2 == 0 ? FdChoice.File : FdChoice.Directory,
                     Buf = BufChoice.Area,
                     BufOffset = name % 2,
                     Off = (ulong)BufChoice.Area,
                     Length = XattrByPath(spec) ? (ulong)(second % 3) : 0,
                 }
                 : spec with
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

    /// <summary>
    /// An attribute call: mostly a trusted.* name, a value of 0 to 64 bytes in the area (a set's past
    /// 64 KiB: -E2BIG; a get's size 0 asks for the size, 1 is too small for most values), and now and
    /// then a flag the call refuses.
    /// </summary>
    private static Gen<SqeSpec> Xattr(byte opcode, Gen<BufChoice> nameAt, Gen<BufChoice> valueAt)
    {
        var set = opcode is FsetXattr or SetXattr;
        return from file in opcode is FgetXattr or FsetXattr
                   ? Gen.Frequency((10, Gen.Constant(FdChoice.File)), (3, Gen.Constant(FdChoice.Directory)), (1, Gen.Constant(FdChoice.PipeRead)), (1, Gen.Constant(FdChoice.Closed)), (1, Gen.Constant(FdChoice.Negative)))
                   : Gen.Constant(FdChoice.Negative)
               from at in nameAt
               from name in Gen.Frequency((12, Gen.Elements(0, 0, 1)), (1, Gen.Elements(2, 3, 4)))
               from value in valueAt
               from page in Gen.Choose(0, 7)
               from size in set ? Gen.Frequency((12, Gen.Elements(0u, 1u, 8u, 64u)), (1, Gen.Constant(65537u))) : Gen.Elements(0u, 1u, 64u, 64u)
               from xattrFlags in set ? Gen.Frequency((8, Gen.Constant(0u)), (4, Gen.Elements(1u, 2u)), (1, Gen.Elements(3u, 4u))) : Gen.Frequency((12, Gen.Constant(0u)), (1, Gen.Constant(1u)))
               from path in Gen.Frequency((10, Gen.Elements(0, 0, 1, 2, 4)), (1, Gen.Constant(3)))
               select new SqeSpec(opcode, 0, 0, 0, 0, file, at, name, size, (ulong)value, xattrFlags, 0, Domain: page * 4096, Length: opcode is GetXattr or SetXattr ? (ulong)path : 0);
    }

    public static string Describe(SqeSpec s)
    {
        if (IsXattr(s))
        {
            var name = s.Buf != BufChoice.Area ? s.Buf.ToString() : s.BufOffset == 4 ? "4096 x" : $"\"{XattrNames[s.BufOffset]}\"";
            return (XattrByPath(s) ? $" path \"{XattrPath((int)s.Length, Workspace.DirectoryFloor)}\"" : $" fd {s.Fd}")
                + $" name {name} value {(BufChoice)s.Off}+{s.Domain} size {s.Len} xattr_flags 0x{s.OpFlags:x}";
        }

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
