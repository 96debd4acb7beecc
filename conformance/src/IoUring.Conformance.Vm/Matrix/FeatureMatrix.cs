using System.Text.Json.Serialization;
using IoUring.Abi.Model;
using IoUring.Bindings;
using IoUring.Engine;

namespace IoUring.Conformance.Vm;

/// <summary>What one cell of the matrix says about one feature on one kernel.</summary>
public enum CellState
{
    /// <summary>The kernel has the feature, programs used it, and the engine agreed on every one.</summary>
    Pass,

    /// <summary>The engine and the kernel disagreed on a program that used it (or the kernel's run failed).</summary>
    Fail,

    /// <summary>The kernel does not have the feature; programs that asked for it saw the kernel refuse it, and the engine refuse it alike.</summary>
    Unsupported,

    /// <summary>The kernel has the feature, but no program of this run used it.</summary>
    NotExercised,

    /// <summary>The row does not apply to this column (hostile bytes are never run on the host).</summary>
    NotRun,
}

/// <summary>One cell: its state, how many programs (or cases) it rests on and how many of those agreed; <paramref name="Shows"/> is the value a behaviour row's kernel showed.</summary>
public sealed record MatrixCell(CellState State, int Programs, int Equal, string Detail, string? Shows = null);

/// <summary>One column of the matrix: a kernel, where it ran, and what came back.</summary>
/// <param name="Kernel">The corpus name (6.1, 7.2, ...) or "host".</param>
/// <param name="Where">"host" (this machine's kernel, in process) or "qemu".</param>
/// <param name="Release">uname -r as the agent (or the host) saw it.</param>
/// <param name="Package">The Debian package version the image came from (null for the host).</param>
/// <param name="ProgramEqual">Per program: true equal, false different, null not compared.</param>
/// <param name="SnapshotEqual">Per program, against the engine given the profile of the kernel's ABI snapshot instead of the probed one (null where there is no snapshot).</param>
/// <param name="Hostile">The hostile cases' verdicts (null: not run here).</param>
/// <param name="Differences">The programs whose traces differ from the engine's (probed profile), each with both traces and its shrunk program; a difference is charged to the features of the shrunk program.</param>
public sealed record KernelColumn(
    string Kernel,
    string Where,
    string? Release,
    string? Package,
    KernelProfile? Profile,
    bool Failed,
    IReadOnlyList<string> Problems,
    IReadOnlyList<string> Notes,
    double Seconds,
    bool?[] ProgramEqual,
    bool?[]? SnapshotEqual,
    HostileResult?[]? Hostile,
    IReadOnlyList<ProgramDifference> Differences)
{
    /// <summary>The ABI target of the process that ran the programs (a target of the ABI snapshots): x86_64-linux-gnu, aarch64-linux-gnu, or i686-linux-gnu for a 32-bit process on an x86_64 kernel.</summary>
    public string Target { get; init; } = Targets.X86_64;

    /// <summary>The agent's in-VM layout check (<see cref="LayoutCheck"/>): the bindings' C layout against what the kernel showed; null where it did not run (the host, 32-bit C programs).</summary>
    public IReadOnlyList<LayoutFact>? Layout { get; init; }

    /// <summary>The column's heading: the kernel, and the architecture where it is not x86_64 ("7.2", "7.2 arm64", "7.2 i686 (32-bit)").</summary>
    [JsonIgnore]
    public string Name => Targets.ColumnName(Kernel, Target);

    /// <summary>The kernel's trace of each program (null where none came back): what 'record' and 'soak' keep in the trace corpus.</summary>
    [JsonIgnore]
    public ProgramTrace?[] Traces { get; init; } = [];

    /// <summary>
    /// Programs that found a difference themselves: where no trace comes back (a C program run as a
    /// 32-bit process checks the expected trace on its own), only the first difference it printed. A
    /// difference here is charged to the features of the program as it ran: it was not shrunk.
    /// </summary>
    public IReadOnlyList<ReportedDifference> ReportedDifferences { get; init; } = [];

    /// <summary>liburing's test suite run on this column's kernel and on the engine given its profile (null: not run here).</summary>
    public LiburingSummary? Liburing { get; init; }
}

/// <summary>
/// A liburing run in one column: how many of its tests ran, passed on the kernel, and of those passed
/// on the engine; the engine's crashes; and the failures nobody has explained (neither an unmodelled
/// request the engine named nor a kernel behaviour listed as one it lacks).
/// </summary>
public sealed record LiburingSummary(string Version, int Tests, int KernelPasses, int EnginePasses, int EngineCrashes, int Unexplained, IReadOnlyList<string> UnexplainedTests);

/// <summary>A program of a column that reported its own first difference (<paramref name="Detail"/>: what it printed, or why it did not run).</summary>
public sealed record ReportedDifference(int Index, RingProgram Program, string Detail);

/// <summary>A row of the matrix: a feature, how to tell a kernel has it, and how to tell a program uses it.</summary>
public sealed record MatrixFeature(string Group, string Name, Func<KernelProfile, bool> Supported, Func<RingProgram, bool> Used);

/// <summary>One row as written: its feature's group and name, and a cell per kernel (in column order).</summary>
/// <summary>A row of the matrix; <paramref name="Reproducers"/>: for a kernel bug's behaviour row, its C reproducers (conformance/reproducers).</summary>
public sealed record MatrixRow(string Group, string Name, IReadOnlyList<MatrixCell> Cells, IReadOnlyList<string>? Reproducers = null);

/// <summary>
/// The result of a matrix run, one column per kernel and one row per feature: every column ran the same
/// programs; a cell is pass, fail, unsupported by the kernel, or not exercised, from the programs that
/// used the feature. The hostile row is the cases run inside each VM; the snapshot row is the same traces
/// against the engine given the profile that the kernel's own ABI snapshot (and
/// <see cref="KernelBehaviour.Table"/>) predicts, not the probed one.
/// </summary>
public sealed record FeatureMatrix(string Schema, ProgramSource Source, int Programs, int HostileCases, IReadOnlyList<KernelColumn> Kernels, IReadOnlyList<MatrixRow> Rows, double WallSeconds)
{
    public const string SchemaId = "io_uring-conformance-matrix/1";

    public const string HostileGroup = "hostile input";

    public bool AnyFail => Rows.Any(r => r.Cells.Any(c => c.State == CellState.Fail));

    /// <summary>The hostile-input row: its cells carry each column's hostile verdicts.</summary>
    [JsonIgnore]
    public MatrixRow HostileRow => Rows.First(r => r.Group == HostileGroup);

    /// <param name="opLast">The IORING_OP_LAST the programs were generated with (the corpus's largest).</param>
    /// <param name="mmapOpcode">The proposed IORING_OP_MMAP's opcode (from the proposal's snapshot), if known.</param>
    public static FeatureMatrix Build(ProgramSource source, IReadOnlyList<RingProgram> programs, int hostileCases, IReadOnlyList<KernelColumn> kernels, double wallSeconds, uint opLast, byte? mmapOpcode)
    {
        var rows = new List<MatrixRow>();
        foreach (var f in Features(opLast, mmapOpcode))
        {
            var used = programs.Select((p, i) => (p, i)).Where(x => f.Used(x.p)).Select(x => x.i).ToArray();
            rows.Add(new MatrixRow(f.Group, f.Name, kernels.Select(k => ProgramCell(k, used, k.Profile is { } profile && f.Supported(profile), f)).ToList()));
        }

        rows.Add(new MatrixRow("profiles", "engine with the ABI snapshot's profile (not probed)", kernels.Select(k => SnapshotCell(k)).ToList()));
        rows.Add(new MatrixRow("layout", "C layout the kernel expects = the bindings (checked in the VM)", kernels.Select(LayoutCell).ToList()));
        foreach (var behaviour in KernelBehaviour.Table)
        {
            var reproducers = KnownBugs.All.Where(b => b.Behaviour == behaviour.Name).Select(b => $"conformance/reproducers/{b.Name}.c").ToList();
            rows.Add(new MatrixRow("kernel behaviours (probed vs the table)", behaviour.Name, kernels.Select(k => BehaviourCell(k, behaviour)).ToList(), reproducers.Count > 0 ? reproducers : null));
        }

        rows.Add(new MatrixRow(HostileGroup, "random SQE bytes (inside the VM)", kernels.Select(HostileCell).ToList()));
        if (kernels.Any(k => k.Liburing is not null))
        {
            const string Group = "liburing's own tests (unmodified, on the kernel and on the engine)";
            rows.Add(new MatrixRow(Group, "tests passing on the kernel pass on the engine, or fail for what it names as unmodelled or a listed limitation", kernels.Select(k => LiburingCell(k, l =>
                new MatrixCell(l.Unexplained == 0 ? CellState.Pass : CellState.Fail, l.KernelPasses, l.EnginePasses, $"liburing {l.Version}: {l.EnginePasses} of {l.KernelPasses} tests passing on the kernel pass on the engine ({l.Tests} run){(l.Unexplained > 0 ? $"; unexplained: {string.Join(", ", l.UnexplainedTests)}" : string.Empty)}"))).ToList()));
            rows.Add(new MatrixRow(Group, "engine crashes", kernels.Select(k => LiburingCell(k, l =>
                new MatrixCell(l.EngineCrashes == 0 ? CellState.Pass : CellState.Fail, l.Tests, l.Tests - l.EngineCrashes, $"{l.EngineCrashes} of {l.Tests} tests crashed the engine"))).ToList()));
        }

        return new FeatureMatrix(SchemaId, source, programs.Count, hostileCases, kernels, rows, wallSeconds);
    }

    /// <summary>
    /// A cell from the programs that use its feature. A program that differs fails the cells of the
    /// features its shrunk program still uses; elsewhere it is counted as differing for another reason.
    /// </summary>
    private static MatrixCell ProgramCell(KernelColumn k, int[] used, bool supported, MatrixFeature feature)
    {
        if (k.Profile is null)
        {
            return new MatrixCell(CellState.Fail, used.Length, 0, k.Problems.FirstOrDefault() ?? "no profile came back");
        }

        var equal = used.Count(i => k.ProgramEqual[i] == true);
        var charged = k.Differences.Where(d => feature.Used(d.Charged)).Select(d => d.Index)
            .Concat(k.ReportedDifferences.Where(d => feature.Used(d.Program)).Select(d => d.Index)).ToArray();
        var elsewhere = used.Count(i => k.ProgramEqual[i] == false) - used.Count(charged.Contains);
        var missing = used.Count(i => k.ProgramEqual[i] is null);
        if (charged.Length > 0)
        {
            var why = k.ReportedDifferences.Count > 0 ? "each using this (not shrunk)" : "the shrunk program still using this";
            return new MatrixCell(CellState.Fail, used.Length, equal, $"{charged.Length} program(s) differ, {why} (first: program {charged[0]})");
        }

        if (missing > 0)
        {
            return new MatrixCell(CellState.Fail, used.Length, equal, $"{missing} of {used.Length} programs never came back");
        }

        if (!supported)
        {
            return new MatrixCell(CellState.Unsupported, used.Length, equal, used.Length == 0 ? "not in this kernel" : $"not in this kernel; its refusal agrees in {equal} programs{(elsewhere > 0 ? $" ({elsewhere} differ elsewhere)" : string.Empty)}");
        }

        var also = elsewhere > 0 ? $"; {elsewhere} differ in what their shrunk program charges elsewhere" : string.Empty;
        return used.Length == 0
            ? new MatrixCell(CellState.NotExercised, 0, 0, "no program of this run used it")
            : new MatrixCell(CellState.Pass, used.Length, equal, $"{equal} programs equal{also}");
    }

    /// <summary>The kernel's probed value of one behaviour, passing when it is what the table says for the kernel's version.</summary>
    private static MatrixCell BehaviourCell(KernelColumn k, IKernelBehaviour behaviour)
    {
        if (k.Profile is null)
        {
            return new MatrixCell(CellState.Fail, 0, 0, k.Problems.FirstOrDefault() ?? "no profile came back");
        }

        var version = KernelVersion.Parse(k.Release ?? k.Kernel);
        var probed = behaviour.ValueOf(k.Profile);
        var table = behaviour.ValueFor(version);
        return probed == table
            ? new MatrixCell(CellState.Pass, 1, 1, "as the table says", probed)
            : new MatrixCell(CellState.Fail, 1, 0, $"probed {probed}, the table says {table} for {version}", probed);
    }

    private static MatrixCell SnapshotCell(KernelColumn k)
    {
        if (k.SnapshotEqual is null)
        {
            return new MatrixCell(CellState.NotRun, 0, 0, "no ABI snapshot of this kernel in the corpus");
        }

        var equal = k.SnapshotEqual.Count(x => x == true);
        var different = Enumerable.Range(0, k.SnapshotEqual.Length).Where(i => k.SnapshotEqual[i] == false).ToArray();
        return different.Length > 0
            ? new MatrixCell(CellState.Fail, k.SnapshotEqual.Length, equal, $"{different.Length} programs differ (first: program {different[0]})")
            : new MatrixCell(k.Failed ? CellState.Fail : CellState.Pass, k.SnapshotEqual.Length, equal, $"{equal} programs equal");
    }

    private static MatrixCell LayoutCell(KernelColumn k)
    {
        if (k.Layout is null)
        {
            return new MatrixCell(CellState.NotRun, 0, 0, "checked by the agent inside VMs only");
        }

        var different = k.Layout.Where(f => !f.Equal).ToList();
        return different.Count > 0
            ? new MatrixCell(CellState.Fail, k.Layout.Count, k.Layout.Count - different.Count, $"{different.Count} of {k.Layout.Count} facts differ (first: {different[0]})")
            : new MatrixCell(CellState.Pass, k.Layout.Count, k.Layout.Count, $"{k.Layout.Count} facts equal");
    }

    private static MatrixCell HostileCell(KernelColumn k)
    {
        if (k.Hostile is null)
        {
            return new MatrixCell(CellState.NotRun, 0, 0, k.Where == "host" ? "hostile bytes run inside a VM only" : "not run for this column");
        }

        if (k.Hostile.Length == 0 && !k.Failed)
        {
            return new MatrixCell(CellState.NotRun, 0, 0, "no hostile cases in this run");
        }

        var came = k.Hostile.Count(h => h is not null);
        var equal = k.Hostile.Count(h => h?.Verdict == HostileVerdict.Equal);
        var different = k.Hostile.Count(h => h?.Verdict == HostileVerdict.Different);
        var crashes = k.Hostile.Count(h => h?.Verdict == HostileVerdict.EngineCrash);
        var notModelled = k.Hostile.Count(h => h?.Verdict == HostileVerdict.NotModelled);
        var detail = $"{came} cases: {equal} equal, {different} different, {crashes} engine crashes, {notModelled} not compared (opcode outside the engine)";
        var ok = came == k.Hostile.Length && different == 0 && crashes == 0 && k.Hostile.Length > 0;
        return new MatrixCell(ok ? CellState.Pass : CellState.Fail, k.Hostile.Length, equal, came < k.Hostile.Length ? $"{k.Hostile.Length - came} verdicts missing; " + detail : detail);
    }

    private static MatrixCell LiburingCell(KernelColumn k, Func<LiburingSummary, MatrixCell> cell) =>
        k.Liburing is { } l ? cell(l) : new MatrixCell(CellState.NotRun, 0, 0, "liburing's tests run on the host's column only ('matrix --liburing')");

    public static IReadOnlyList<MatrixFeature> Features(uint opLast, byte? mmapOpcode)
    {
        var list = new List<MatrixFeature>();
        bool AnySqe(RingProgram p, Func<SqeSpec, bool> f) => p.Steps.Any(s => s.Batch.Any(f));
        bool AnyRegister(RingProgram p, RegisterKind kind) => p.Steps.Any(s => s.Register?.Kind == kind);
        void Setup(string group, IoUringSetupFlags flag) =>
            list.Add(new MatrixFeature(group, flag.ToString(), p => p.Has(flag), p => (p.SetupFlags & (uint)flag) != 0));

        foreach (var flag in new[]
        {
            IoUringSetupFlags.IORING_SETUP_CQSIZE, IoUringSetupFlags.IORING_SETUP_CLAMP, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL,
            IoUringSetupFlags.IORING_SETUP_R_DISABLED, IoUringSetupFlags.IORING_SETUP_NO_SQARRAY, IoUringSetupFlags.IORING_SETUP_CQE32,
            IoUringSetupFlags.IORING_SETUP_SQE128,
        })
        {
            Setup("setup flags", flag);
        }

        Setup("mixed rings", IoUringSetupFlags.IORING_SETUP_CQE_MIXED);
        Setup("mixed rings", IoUringSetupFlags.IORING_SETUP_SQE_MIXED);
        Setup("rewind", IoUringSetupFlags.IORING_SETUP_SQ_REWIND);

        foreach (var op in new[]
        {
            io_uring_op.IORING_OP_NOP, io_uring_op.IORING_OP_READV, io_uring_op.IORING_OP_WRITEV, io_uring_op.IORING_OP_FSYNC,
            io_uring_op.IORING_OP_READ_FIXED, io_uring_op.IORING_OP_WRITE_FIXED, io_uring_op.IORING_OP_READ, io_uring_op.IORING_OP_WRITE, io_uring_op.IORING_OP_READ_MULTISHOT,
            io_uring_op.IORING_OP_NOP128, io_uring_op.IORING_OP_TIMEOUT, io_uring_op.IORING_OP_TIMEOUT_REMOVE, io_uring_op.IORING_OP_ASYNC_CANCEL, io_uring_op.IORING_OP_LINK_TIMEOUT,
            io_uring_op.IORING_OP_POLL_ADD, io_uring_op.IORING_OP_POLL_REMOVE,
            io_uring_op.IORING_OP_SEND, io_uring_op.IORING_OP_RECV, io_uring_op.IORING_OP_SENDMSG, io_uring_op.IORING_OP_RECVMSG,
            io_uring_op.IORING_OP_SHUTDOWN, io_uring_op.IORING_OP_SOCKET, io_uring_op.IORING_OP_BIND, io_uring_op.IORING_OP_LISTEN,
            io_uring_op.IORING_OP_CONNECT, io_uring_op.IORING_OP_ACCEPT,
            io_uring_op.IORING_OP_SYNC_FILE_RANGE, io_uring_op.IORING_OP_FALLOCATE, io_uring_op.IORING_OP_FTRUNCATE,
            io_uring_op.IORING_OP_FADVISE, io_uring_op.IORING_OP_MADVISE,
            io_uring_op.IORING_OP_CLOSE, io_uring_op.IORING_OP_FILES_UPDATE, io_uring_op.IORING_OP_FIXED_FD_INSTALL, io_uring_op.IORING_OP_EPOLL_CTL, io_uring_op.IORING_OP_EPOLL_WAIT, io_uring_op.IORING_OP_PIPE,
            io_uring_op.IORING_OP_OPENAT, io_uring_op.IORING_OP_OPENAT2, io_uring_op.IORING_OP_STATX, io_uring_op.IORING_OP_MKDIRAT,
            io_uring_op.IORING_OP_UNLINKAT, io_uring_op.IORING_OP_RENAMEAT, io_uring_op.IORING_OP_SYMLINKAT, io_uring_op.IORING_OP_LINKAT,
            io_uring_op.IORING_OP_FSETXATTR, io_uring_op.IORING_OP_SETXATTR, io_uring_op.IORING_OP_FGETXATTR, io_uring_op.IORING_OP_GETXATTR,
            io_uring_op.IORING_OP_SPLICE, io_uring_op.IORING_OP_TEE,
            io_uring_op.IORING_OP_PROVIDE_BUFFERS, io_uring_op.IORING_OP_REMOVE_BUFFERS,
            io_uring_op.IORING_OP_MSG_RING, io_uring_op.IORING_OP_FUTEX_WAIT, io_uring_op.IORING_OP_FUTEX_WAKE, io_uring_op.IORING_OP_FUTEX_WAITV,
            io_uring_op.IORING_OP_WAITID, io_uring_op.IORING_OP_SEND_ZC, io_uring_op.IORING_OP_SENDMSG_ZC,
        })
        {
            var code = (byte)op;
            list.Add(new MatrixFeature("opcodes", op.ToString(), p => code < p.OpLast && (p.SupportedOps & (UInt128.One << code)) != 0, p => AnySqe(p, s => s.Opcode == code)));
        }

        // Beyond every kernel's IORING_OP_LAST: each kernel refuses it with -EINVAL, which is the behaviour compared.
        list.Add(new MatrixFeature("opcodes", $"unknown opcode (>= {opLast})", _ => true, p => AnySqe(p, s => s.Opcode >= opLast)));

        foreach (var flag in new[]
        {
            IoUringNopFlags.IORING_NOP_INJECT_RESULT, IoUringNopFlags.IORING_NOP_FILE, IoUringNopFlags.IORING_NOP_FIXED_FILE,
            IoUringNopFlags.IORING_NOP_FIXED_BUFFER, IoUringNopFlags.IORING_NOP_TW, IoUringNopFlags.IORING_NOP_CQE32,
        })
        {
            var bit = (uint)flag;
            list.Add(new MatrixFeature("nop flags", flag.ToString(), p => (p.NopFlags & bit) != 0, p => AnySqe(p, s => s.Opcode is (byte)io_uring_op.IORING_OP_NOP or (byte)io_uring_op.IORING_OP_NOP128 && (s.NopFlags & bit) != 0)));
        }

        // Timeouts: each flag a kernel takes, and what programs do with them (the times they carry fire at
        // once or never: TimeoutChoices).
        foreach (var flag in new[]
        {
            IoUringTimeoutFlags.IORING_TIMEOUT_ABS, IoUringTimeoutFlags.IORING_TIMEOUT_BOOTTIME, IoUringTimeoutFlags.IORING_TIMEOUT_REALTIME,
            IoUringTimeoutFlags.IORING_TIMEOUT_ETIME_SUCCESS, IoUringTimeoutFlags.IORING_TIMEOUT_MULTISHOT, IoUringTimeoutFlags.IORING_TIMEOUT_IMMEDIATE_ARG,
        })
        {
            var bit = (uint)flag;
            list.Add(new MatrixFeature("timeouts", flag.ToString(), p => (p.TimeoutFlags & bit) != 0, p => AnySqe(p, s => TimeoutChoices.IsTimeout(s) && (s.OpFlags & bit) != 0)));
        }

        list.Add(new MatrixFeature("timeouts", "completion by count (off > 0)", _ => true, p => AnySqe(p, TimeoutChoices.Counts)));
        list.Add(new MatrixFeature("timeouts", "timer firing at once (-ETIME)", _ => true, p => AnySqe(p, s => TimeoutChoices.IsTimeout(s) && TimeoutChoices.When(s) == TimerFires.Now)));
        list.Add(new MatrixFeature("timeouts", "linked timeout firing (cancels the TIMEOUT it times)", _ => true, p => AnySqe(p, s => TimeoutChoices.IsLinkTimeout(s) && TimeoutChoices.When(s) == TimerFires.Now)));
        list.Add(new MatrixFeature("timeouts", "TIMEOUT_REMOVE of an armed timeout", _ => true, p => AnySqe(p, s => TimeoutChoices.IsRemove(s) && !TimeoutChoices.IsUpdate(s) && s.Names != ProgramGen.NoSuchRequest)));
        list.Add(new MatrixFeature("timeouts", "timeout update (IORING_TIMEOUT_UPDATE)", _ => true, p => AnySqe(p, s => TimeoutChoices.IsUpdate(s) && s.Names != ProgramGen.NoSuchRequest)));

        foreach (var flag in Enum.GetValues<IoUringAsyncCancelFlags>())
        {
            var bit = (uint)flag;
            list.Add(new MatrixFeature("cancellation", flag.ToString(), p => (p.CancelFlags & bit) != 0, p => AnySqe(p, s => TimeoutChoices.IsCancel(s) && (s.OpFlags & bit) != 0)));
        }

        list.Add(new MatrixFeature("cancellation", "ASYNC_CANCEL of an armed timeout by user_data", _ => true, p => AnySqe(p, s => TimeoutChoices.IsCancel(s) && TimeoutChoices.NamesByUserData(s) && s.Names != ProgramGen.NoSuchRequest)));

        // Readiness: polls and transfers of the program's pipe and eventfd, made ready by the program's own writes.
        static bool WriteAfter(RingProgram p, Func<SqeSpec, bool> first) =>
            p.Steps.SelectMany(s => s.Batch).SkipWhile(s => !first(s)).Skip(1).Any(s => s.Opcode == (byte)io_uring_op.IORING_OP_WRITE && s.Fd == FdChoice.PipeWrite);
        static bool PollOfPipe(SqeSpec s) => PollChoices.IsAdd(s) && s.Fd == FdChoice.PipeRead;
        list.Add(new MatrixFeature("readiness", "poll woken by a write to the pipe", _ => true, p => WriteAfter(p, PollOfPipe)));
        list.Add(new MatrixFeature("readiness", "multishot poll (IORING_POLL_ADD_MULTI, CQE_F_MORE)", _ => true, p => WriteAfter(p, s => PollOfPipe(s) && PollChoices.IsMultishot(s))));
        list.Add(new MatrixFeature("readiness", "poll of the eventfd", _ => true, p => AnySqe(p, s => PollChoices.IsAdd(s) && s.Fd == FdChoice.EventFd)));
        list.Add(new MatrixFeature("readiness", "POLL_REMOVE of an armed poll", _ => true, p => AnySqe(p, s => PollChoices.IsRemove(s) && s.Len == 0 && s.Names != ProgramGen.NoSuchRequest)));
        list.Add(new MatrixFeature("readiness", "poll update (IORING_POLL_UPDATE_EVENTS, _USER_DATA)", _ => true, p => AnySqe(p, s => PollChoices.IsRemove(s) && (s.Len & (PollChoices.UpdateEvents | PollChoices.UpdateUserData)) != 0 && s.Names != ProgramGen.NoSuchRequest)));
        list.Add(new MatrixFeature("readiness", "read waiting for the pipe (async poll)", _ => true, p => WriteAfter(p, s => s.Opcode == (byte)io_uring_op.IORING_OP_READ && s.Fd == FdChoice.PipeRead)));
        list.Add(new MatrixFeature("readiness", "read waiting for the eventfd", _ => true, p => AnySqe(p, s => s.Opcode == (byte)io_uring_op.IORING_OP_READ && s.Fd == FdChoice.EventFd)));
        list.Add(new MatrixFeature("cancellation", "ASYNC_CANCEL by the pipe's descriptor (polls, waiting reads)", _ => true, p => AnySqe(p, s => TimeoutChoices.IsCancel(s) && (s.OpFlags & TimeoutChoices.CancelFd) != 0 && s.Fd == FdChoice.PipeRead)));

        // Sockets: the program's AF_UNIX stream pair, what one end sends the other receives.
        static bool SocketTransfer(SqeSpec s, FdChoice fd) => SocketChoices.IsTransfer(s) && s.Fd == fd && s.Buf == BufChoice.Area;
        static bool Receive(SqeSpec s) => SocketTransfer(s, FdChoice.SocketB) && !SocketChoices.IsSend(s);
        static bool SendAfter(RingProgram p, Func<SqeSpec, bool> first) =>
            p.Steps.SelectMany(s => s.Batch).SkipWhile(s => !first(s)).Skip(1).Any(s => SocketChoices.IsSend(s) && s.Fd == FdChoice.SocketA && s.Len > 0);
        list.Add(new MatrixFeature("sockets", "receive waiting for a send (async poll)", _ => true, p => SendAfter(p, Receive)));
        list.Add(new MatrixFeature("sockets", "MSG_WAITALL receive completed by a second send", _ => true, p => SendAfter(p, s => Receive(s) && (s.OpFlags & SocketChoices.WaitAll) != 0 && (s.OpFlags & SocketChoices.DontWait) == 0)));
        list.Add(new MatrixFeature("sockets", "receive of part of what is queued (IORING_CQE_F_SOCK_NONEMPTY where the socket reports it)", _ => true, p => p.Steps.SelectMany(s => s.Batch).SkipWhile(s => !(SocketChoices.IsSend(s) && s.Fd == FdChoice.SocketA && s.Len > 1)).Any(s => Receive(s) && s.Len > 0)));
        list.Add(new MatrixFeature("sockets", "MSG_DONTWAIT on an empty socket (-EAGAIN)", _ => true, p => AnySqe(p, s => SocketChoices.IsTransfer(s) && SocketChoices.IsSocket(s.Fd) && (s.OpFlags & SocketChoices.DontWait) != 0)));
        list.Add(new MatrixFeature("sockets", "IORING_RECVSEND_POLL_FIRST", _ => true, p => AnySqe(p, s => SocketChoices.IsTransfer(s) && SocketChoices.IsSocket(s.Fd) && (s.Ioprio & SocketChoices.PollFirst) != 0)));
        list.Add(new MatrixFeature("sockets", "SENDMSG / RECVMSG msghdr import (vectors, -EMSGSIZE, bad pointers)", _ => true, p => AnySqe(p, s => SocketChoices.IsMessage(s) && SocketChoices.IsSocket(s.Fd))));
        list.Add(new MatrixFeature("sockets", "SHUTDOWN of a socket of the pair", _ => true, p => AnySqe(p, s => SocketChoices.IsShutdown(s) && SocketChoices.IsSocket(s.Fd))));
        list.Add(new MatrixFeature("sockets", "poll of a socket woken by a send", _ => true, p => SendAfter(p, s => PollChoices.IsAdd(s) && s.Fd == FdChoice.SocketB)));
        list.Add(new MatrixFeature("sockets", "socket transfer of a file that is not a socket (-ENOTSOCK)", _ => true, p => AnySqe(p, s => (SocketChoices.IsTransfer(s) || SocketChoices.IsShutdown(s)) && s.Fd is FdChoice.File or FdChoice.PipeRead)));

        foreach (var flag in new[]
        {
            IoUringSqeFlags.IOSQE_IO_LINK, IoUringSqeFlags.IOSQE_IO_HARDLINK, IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS, IoUringSqeFlags.IOSQE_ASYNC,
            IoUringSqeFlags.IOSQE_IO_DRAIN, IoUringSqeFlags.IOSQE_FIXED_FILE, IoUringSqeFlags.IOSQE_BUFFER_SELECT,
        })
        {
            var bit = (byte)flag;
            list.Add(new MatrixFeature("sqe flags", flag.ToString(), p => (p.SqeFlags & bit) != 0, p => AnySqe(p, s => (s.Flags & bit) != 0)));
        }

        list.Add(new MatrixFeature("register", "IORING_REGISTER_PROBE", _ => true, p => AnyRegister(p, RegisterKind.Probe)));
        list.Add(new MatrixFeature("register", "IORING_REGISTER_FILES (+ update)", _ => true, p => AnyRegister(p, RegisterKind.Files) || AnyRegister(p, RegisterKind.FilesUpdate)));
        list.Add(new MatrixFeature("register", "IORING_REGISTER_BUFFERS", _ => true, p => AnyRegister(p, RegisterKind.Buffers)));
        list.Add(new MatrixFeature("register", "IORING_REGISTER_RESTRICTIONS + ENABLE_RINGS", p => p.Has(IoUringSetupFlags.IORING_SETUP_R_DISABLED), p => AnyRegister(p, RegisterKind.Restrictions) || AnyRegister(p, RegisterKind.EnableRings)));
        // Connections: new sockets in fixed slot 1 connecting to the workspace's loopback TCP listener and UDP socket.
        static bool Opcode(SqeSpec s, io_uring_op op) => s.Opcode == (byte)op;
        static bool ConnectsTo(SqeSpec s, int address) => Opcode(s, io_uring_op.IORING_OP_CONNECT) && s.Buf == BufChoice.Area && s.BufOffset == address && s.Off == 16;
        static bool AcceptOfListener(SqeSpec s) => Opcode(s, io_uring_op.IORING_OP_ACCEPT) && s.Fd == FdChoice.Listener;
        static bool StepWith(RingProgram p, Func<SqeSpec, bool> a, Func<SqeSpec, bool> b) => p.Steps.Any(st => st.Batch.Any(a) && st.Batch.Any(b));
        var accepts = (Func<KernelProfile, bool>)(p => (p.SupportedOps & (UInt128.One << (int)io_uring_op.IORING_OP_ACCEPT)) != 0);
        list.Add(new MatrixFeature("connections", "TCP over loopback: CONNECT of a direct socket, ACCEPT of the listener", accepts, p => StepWith(p, s => ConnectsTo(s, ConnectionChoices.ListenerAddress), AcceptOfListener)));
        list.Add(new MatrixFeature("connections", "multishot ACCEPT (IORING_ACCEPT_MULTISHOT)", accepts, p => StepWith(p, s => ConnectsTo(s, ConnectionChoices.ListenerAddress), s => AcceptOfListener(s) && (s.Ioprio & ConnectionChoices.AcceptMultishot) != 0)));
        list.Add(new MatrixFeature("connections", "IORING_ACCEPT_DONTWAIT", p => (p.AcceptFlags & ConnectionChoices.AcceptDontwait) != 0, p => AnySqe(p, s => Opcode(s, io_uring_op.IORING_OP_ACCEPT) && s.Ioprio == ConnectionChoices.AcceptDontwait)));
        list.Add(new MatrixFeature("connections", "IORING_ACCEPT_POLL_FIRST", p => (p.AcceptFlags & ConnectionChoices.AcceptPollFirst) != 0, p => StepWith(p, s => ConnectsTo(s, ConnectionChoices.ListenerAddress), s => AcceptOfListener(s) && s.Ioprio == ConnectionChoices.AcceptPollFirst)));
        list.Add(new MatrixFeature("connections", "ACCEPT into a direct descriptor (IORING_FILE_INDEX_ALLOC, a slot)", accepts, p => StepWith(p, s => ConnectsTo(s, ConnectionChoices.ListenerAddress), s => AcceptOfListener(s) && s.FileIndex != 0)));
        list.Add(new MatrixFeature("connections", "SOCKET into a direct descriptor", accepts, p => AnySqe(p, s => Opcode(s, io_uring_op.IORING_OP_SOCKET) && s.FileIndex == ConnectionChoices.DirectSlotIndex)));
        list.Add(new MatrixFeature("connections", "a new plain descriptor (SOCKET, ACCEPT)", accepts, p => AnySqe(p, ConnectionChoices.CreatesDescriptor)));
        list.Add(new MatrixFeature("connections", "UDP over loopback: CONNECT and SEND of a direct socket, RECV of the datagram", accepts, p => StepWith(p, s => ConnectsTo(s, ConnectionChoices.UdpAddress), s => SocketChoices.IsTransfer(s) && s.Fd == FdChoice.Udp)));
        list.Add(new MatrixFeature("connections", "connection refused (-ECONNREFUSED)", accepts, p => AnySqe(p, s => ConnectsTo(s, ConnectionChoices.ClosedPortAddress))));
        list.Add(new MatrixFeature("connections", "BIND and LISTEN of a new socket", p => (p.SupportedOps & (UInt128.One << (int)io_uring_op.IORING_OP_LISTEN)) != 0, p => AnySqe(p, s => Opcode(s, io_uring_op.IORING_OP_BIND) && s.Fd == FdChoice.DirectSlot)));
        // File calls on the program's memfd and buffer area.
        bool Has(KernelProfile p, io_uring_op op) => (p.SupportedOps & (UInt128.One << (int)op)) != 0;
        list.Add(new MatrixFeature("file calls", "FALLOCATE or FTRUNCATE changing the program's file", p => Has(p, io_uring_op.IORING_OP_FALLOCATE), p => AnySqe(p, s => FileCallChoices.Changes(s) && !FileCallChoices.IsMadvise(s))));
        list.Add(new MatrixFeature("file calls", "MADV_DONTNEED of the buffer area", p => Has(p, io_uring_op.IORING_OP_MADVISE), p => AnySqe(p, s => FileCallChoices.Changes(s) && FileCallChoices.IsMadvise(s) && s.OpFlags == FileCallChoices.MadvDontneed)));
        list.Add(new MatrixFeature("file calls", "a 64-bit length in FADVISE's addr or MADVISE's off", p => p.AdviseLength64, p => AnySqe(p, s => s.Opcode is (byte)io_uring_op.IORING_OP_FADVISE or (byte)io_uring_op.IORING_OP_MADVISE && s.Length != 0)));
        // The fixed file table changed by requests.
        list.Add(new MatrixFeature("descriptors", "CLOSE of a fixed slot", p => Has(p, io_uring_op.IORING_OP_CLOSE), p => AnySqe(p, s => Opcode(s, io_uring_op.IORING_OP_CLOSE) && s.FileIndex != 0)));
        list.Add(new MatrixFeature("descriptors", "CLOSE of a descriptor", p => Has(p, io_uring_op.IORING_OP_CLOSE), p => AnySqe(p, s => Opcode(s, io_uring_op.IORING_OP_CLOSE) && s.Fd == FdChoice.Spare)));
        list.Add(new MatrixFeature("descriptors", "FILES_UPDATE into free slots (IORING_FILE_INDEX_ALLOC)", p => Has(p, io_uring_op.IORING_OP_FILES_UPDATE), p => AnySqe(p, s => DescriptorChoices.IsFilesUpdate(s) && s.Off == Constants.IORING_FILE_INDEX_ALLOC)));
        list.Add(new MatrixFeature("descriptors", "FIXED_FD_INSTALL of a fixed file", p => Has(p, io_uring_op.IORING_OP_FIXED_FD_INSTALL), p => AnySqe(p, s => DescriptorChoices.CreatesDescriptor(s) && (s.Flags & (byte)IoUringSqeFlags.IOSQE_FIXED_FILE) != 0)));
        // Path calls inside the program's scratch directory (each of these rows counts only calls that reach it).
        static bool InDirectory(SqeSpec s, io_uring_op op) => s.Opcode == (byte)op && s.Fd == FdChoice.Directory;
        list.Add(new MatrixFeature("paths", "OPENAT making a file (O_CREAT)", p => Has(p, io_uring_op.IORING_OP_OPENAT), p => AnySqe(p, s => InDirectory(s, io_uring_op.IORING_OP_OPENAT) && (s.OpFlags & 0x40) != 0)));
        list.Add(new MatrixFeature("paths", "OPENAT or OPENAT2 into a fixed slot", p => Has(p, io_uring_op.IORING_OP_OPENAT), p => AnySqe(p, s => PathChoices.ChangesTable(s) && s.Fd == FdChoice.Directory)));
        list.Add(new MatrixFeature("paths", "OPENAT2 with RESOLVE_BENEATH or RESOLVE_NO_SYMLINKS", p => Has(p, io_uring_op.IORING_OP_OPENAT2), p => AnySqe(p, s => InDirectory(s, io_uring_op.IORING_OP_OPENAT2) && s.Length is 1 or 2 && (BufChoice)s.Off == BufChoice.Area)));
        list.Add(new MatrixFeature("paths", "STATX of the directory itself (AT_EMPTY_PATH, empty name)", p => Has(p, io_uring_op.IORING_OP_STATX), p => AnySqe(p, s => InDirectory(s, io_uring_op.IORING_OP_STATX) && (s.OpFlags & 0x1000) != 0 && s.Buf == BufChoice.Area && s.BufOffset == 5)));
        list.Add(new MatrixFeature("paths", "RENAMEAT with RENAME_NOREPLACE or RENAME_EXCHANGE", p => Has(p, io_uring_op.IORING_OP_RENAMEAT), p => AnySqe(p, s => InDirectory(s, io_uring_op.IORING_OP_RENAMEAT) && s.OpFlags is 1 or 2)));
        list.Add(new MatrixFeature("paths", "UNLINKAT of a directory (AT_REMOVEDIR)", p => Has(p, io_uring_op.IORING_OP_UNLINKAT), p => AnySqe(p, s => InDirectory(s, io_uring_op.IORING_OP_UNLINKAT) && s.OpFlags == 0x200)));
        list.Add(new MatrixFeature("paths", "a symbolic link made (SYMLINKAT) and a hard link (LINKAT)", p => Has(p, io_uring_op.IORING_OP_LINKAT), p => AnySqe(p, s => InDirectory(s, io_uring_op.IORING_OP_SYMLINKAT)) && AnySqe(p, s => InDirectory(s, io_uring_op.IORING_OP_LINKAT))));
        // Provided buffers of the legacy kind.
        static bool Provides(SqeSpec s) => s.Opcode == (byte)io_uring_op.IORING_OP_PROVIDE_BUFFERS && s.Buf == BufChoice.Area && s.Length is > 0 and <= 65536 && s.Len != 0 && s.OpFlags == 0;
        static bool ProvidedThenSelected(RingProgram p, Func<SqeSpec, bool> selecting) => p.Steps.SelectMany(step => step.Batch).Aggregate(
            (Groups: new HashSet<ushort>(), Selected: false),
            (state, s) => (Provides(s) ? [.. state.Groups, s.BufIndex] : state.Groups, state.Selected || (selecting(s) && state.Groups.Contains(s.BufIndex)))).Selected;
        static bool Reading(SqeSpec s) => BufferChoices.Selects(s) && s.Opcode is (byte)io_uring_op.IORING_OP_READ or (byte)io_uring_op.IORING_OP_READV;
        list.Add(new MatrixFeature("provided buffers", "a READ or READV taking a provided buffer (IORING_CQE_F_BUFFER)", p => Has(p, io_uring_op.IORING_OP_PROVIDE_BUFFERS), p => ProvidedThenSelected(p, Reading)));
        list.Add(new MatrixFeature("provided buffers", "IOSQE_BUFFER_SELECT with no buffer in the group (-ENOBUFS)", p => Has(p, io_uring_op.IORING_OP_READ), p => AnySqe(p, BufferChoices.Selects)));
        list.Add(new MatrixFeature("provided buffers", "REMOVE_BUFFERS of a group PROVIDE_BUFFERS made", p => Has(p, io_uring_op.IORING_OP_REMOVE_BUFFERS), p => AnySqe(p, Provides) && AnySqe(p, s => s.Opcode == (byte)io_uring_op.IORING_OP_REMOVE_BUFFERS && s.BufIndex != 7)));
        // Buffer rings, and receives taking provided buffers.
        static bool RingUsed(RingProgram p, Func<BufferChoices.RingShape, bool> shape, Func<SqeSpec, bool> selecting) => p.Steps.Select((step, k) => (step, k)).Any(x =>
            x.step.Register is { Kind: RegisterKind.BufferRing, Dirty: false } reg && reg.Count is > 0 and <= 8 && (reg.Count & (reg.Count - 1)) == 0
            && BufferChoices.FromVariant(reg.Variant) is var (ringShape, group) && shape(ringShape)
            && p.Steps.Skip(x.k).Any(later => later.Batch.Any(s => selecting(s) && s.BufIndex == group)));
        static bool Receiving(SqeSpec s) => BufferChoices.Selects(s) && SocketChoices.IsTransfer(s) && !SocketChoices.IsSend(s);
        static bool MultishotReceive(SqeSpec s) => Receiving(s) && (s.Ioprio & SocketChoices.Multishot) != 0 && !SocketChoices.IsMessage(s);
        static bool BundleReceive(SqeSpec s) => Receiving(s) && (s.Ioprio & SocketChoices.Bundle) != 0;
        static bool MultishotMessage(SqeSpec s) => Receiving(s) && (s.Ioprio & SocketChoices.Multishot) != 0 && SocketChoices.IsMessage(s) && s.Length != 0;
        var rings = (Func<KernelProfile, bool>)(p => p.RegisterOpLast == 0 || p.RegisterOpLast > (uint)io_uring_register_op.IORING_REGISTER_PBUF_RING);
        list.Add(new MatrixFeature("buffer rings", "IORING_REGISTER_PBUF_RING over the program's pages, a READ taking its buffers", rings, p => RingUsed(p, shape => shape == BufferChoices.RingShape.Plain, Reading)));
        list.Add(new MatrixFeature("buffer rings", "a RECV or RECVMSG taking a buffer ring's buffer", rings, p => RingUsed(p, shape => shape == BufferChoices.RingShape.Plain, Receiving)));
        list.Add(new MatrixFeature("buffer rings", "multishot RECV (IORING_RECV_MULTISHOT) from a buffer ring", rings, p => RingUsed(p, _ => true, MultishotReceive)));
        list.Add(new MatrixFeature("buffer rings", "multishot RECVMSG: io_uring_recvmsg_out, name and control room, payload", rings, p => RingUsed(p, _ => true, MultishotMessage)));
        list.Add(new MatrixFeature("buffer rings", "RECV bundles (IORING_RECVSEND_BUNDLE): several buffers a receive, single and multishot", p => (p.Features & Constants.IORING_FEAT_RECVSEND_BUNDLE) != 0, p => RingUsed(p, _ => true, BundleReceive)));
        static bool Sending(SqeSpec s) => BufferChoices.Selects(s) && SocketChoices.IsSend(s);
        list.Add(new MatrixFeature("buffer rings", "SEND from provided buffers (a ring's or a legacy group's), single and bundles", p => (p.Features & Constants.IORING_FEAT_RECVSEND_BUNDLE) != 0, p => RingUsed(p, _ => true, Sending) || ProvidedThenSelected(p, Sending)));
        list.Add(new MatrixFeature("buffer rings", "an MMAP ring (IOU_PBUF_RING_MMAP), mapped and filled", p => (p.BufferRingFlags & (uint)io_uring_register_pbuf_ring_flags.IOU_PBUF_RING_MMAP) != 0, p => RingUsed(p, shape => shape == BufferChoices.RingShape.Mapped, BufferChoices.Selects)));
        list.Add(new MatrixFeature("buffer rings", "an incremental ring (IOU_PBUF_RING_INC, IORING_CQE_F_BUF_MORE)", p => (p.BufferRingFlags & (uint)io_uring_register_pbuf_ring_flags.IOU_PBUF_RING_INC) != 0, p => RingUsed(p, shape => shape is BufferChoices.RingShape.Incremental or BufferChoices.RingShape.IncrementalMinLeft, BufferChoices.Selects)));
        list.Add(new MatrixFeature("buffer rings", "IORING_REGISTER_PBUF_STATUS", p => p.RegisterOpLast == 0 || p.RegisterOpLast > (uint)io_uring_register_op.IORING_REGISTER_PBUF_STATUS, p => AnyRegister(p, RegisterKind.BufferRingStatus)));
        list.Add(new MatrixFeature("buffer rings", "IORING_UNREGISTER_PBUF_RING", rings, p => AnyRegister(p, RegisterKind.UnregisterBufferRing)));
        list.Add(new MatrixFeature("provided buffers", "a RECV taking a legacy group's buffer", p => Has(p, io_uring_op.IORING_OP_PROVIDE_BUFFERS),
            p => p.Steps.SelectMany(step => step.Batch).Aggregate((Groups: new HashSet<ushort>(), Selected: false),
                (state, s) => (Provides(s) ? [.. state.Groups, s.BufIndex] : state.Groups, state.Selected || (Receiving(s) && state.Groups.Contains(s.BufIndex)))).Selected));

        // Messages and waits.
        const byte FixedFile = (byte)IoUringSqeFlags.IOSQE_FIXED_FILE;
        static bool WaitHolds(SqeSpec s) => s.Opcode == (byte)io_uring_op.IORING_OP_FUTEX_WAIT && s.Buf == BufChoice.Area && s.Len == 0 && s.Length != 0
            && (s.BufOffset, s.Off) is (0, 7) or (4, 8) && s.OpFlags is 0x82 or 0x02;
        static bool WakeOf(SqeSpec wake, SqeSpec wait) => wake.Opcode == (byte)io_uring_op.IORING_OP_FUTEX_WAKE && wake.Buf == BufChoice.Area && wake.Len == 0
            && wake.BufOffset == wait.BufOffset && wake.OpFlags == wait.OpFlags && wake.Off != 0 && (wake.Length & wait.Length) != 0;
        static bool WaitThenWake(RingProgram p) => p.Steps.Select((step, k) => (step, k)).Any(x => x.step.Batch.Any(wait => WaitHolds(wait)
            && p.Steps.Skip(x.k + 1).Any(later => later.Batch.Any(wake => WakeOf(wake, wait)))));
        list.Add(new MatrixFeature("messages and waits", "MSG_RING DATA to the ring itself (its CQE posted at once)", p => Has(p, io_uring_op.IORING_OP_MSG_RING),
            p => AnySqe(p, s => MessageAndWaitChoices.IsMessage(s) && s.Fd == FdChoice.Ring && (s.Flags & FixedFile) == 0 && s.Length == 0 && s.OpFlags is 0 or Constants.IORING_MSG_RING_FLAGS_PASS)));
        list.Add(new MatrixFeature("messages and waits", "FUTEX_WAIT armed, then woken by a later FUTEX_WAKE", p => Has(p, io_uring_op.IORING_OP_FUTEX_WAIT), WaitThenWake));
        list.Add(new MatrixFeature("messages and waits", "FUTEX_WAITV of words that hold (armed)", p => Has(p, io_uring_op.IORING_OP_FUTEX_WAITV),
            p => AnySqe(p, s => s.Opcode == (byte)io_uring_op.IORING_OP_FUTEX_WAITV && s.Buf == BufChoice.Area && s.BufOffset == 0 && s.Len != 0)));
        list.Add(new MatrixFeature("messages and waits", "WAITID of a process that is no child (-ECHILD, siginfo written)", p => Has(p, io_uring_op.IORING_OP_WAITID),
            p => AnySqe(p, s => s.Opcode == (byte)io_uring_op.IORING_OP_WAITID && s.Len == 1 && s.Domain == 1 && s.FileIndex is 4 or 5 && s.Buf == BufChoice.Area)));
        list.Add(new MatrixFeature("messages and waits", "SEND_ZC or SENDMSG_ZC and its notification (IORING_CQE_F_NOTIF)", p => Has(p, io_uring_op.IORING_OP_SEND_ZC),
            p => AnySqe(p, s => MessageAndWaitChoices.IsZeroCopySend(s) && s.Fd is FdChoice.File or FdChoice.SocketA && (s.Flags & FixedFile) == 0 && s.Ioprio is 0 or (ushort)Constants.IORING_SEND_ZC_REPORT_USAGE)));
        bool Notifies(RingProgram p, uint variant) => p.Steps.Any(s => s.Register is { Kind: RegisterKind.Eventfd, Count: 1 } reg && reg.Variant == variant);
        list.Add(new MatrixFeature("eventfd", "IORING_REGISTER_EVENTFD: a signal for each commit with new CQEs", _ => true, p => Notifies(p, 0)));
        list.Add(new MatrixFeature("eventfd", "IORING_REGISTER_EVENTFD_ASYNC: signals from io-wq only", _ => true, p => Notifies(p, 1)));
        list.Add(new MatrixFeature("eventfd", "IORING_UNREGISTER_EVENTFD", _ => true, p => AnyRegister(p, RegisterKind.UnregisterEventfd)));
        list.Add(new MatrixFeature("eventfd", "IORING_CQ_EVENTFD_DISABLED", _ => true, p => AnyRegister(p, RegisterKind.EventfdDisabled) && (Notifies(p, 0) || Notifies(p, 1))));
        list.Add(new MatrixFeature("cancellation", "IORING_REGISTER_SYNC_CANCEL", p => p.RegisterOpLast > (uint)io_uring_register_op.IORING_REGISTER_SYNC_CANCEL, p => AnyRegister(p, RegisterKind.SyncCancel)));
        list.Add(new MatrixFeature("regions", "IORING_REGISTER_MEM_REGION", p => p.HasMemRegion, p => AnyRegister(p, RegisterKind.MemRegion)));
        list.Add(new MatrixFeature("regions", "registered wait (IORING_ENTER_EXT_ARG_REG)", p => (p.EnterFlags & (uint)IoUringEnterFlags.IORING_ENTER_EXT_ARG_REG) != 0, p => p.Steps.Any(s => s.RegWait >= 0)));
        list.Add(new MatrixFeature("query", "IORING_REGISTER_QUERY", p => p.HasQuery, p => AnyRegister(p, RegisterKind.Query)));
        // No released kernel has the proposed opcode: programs that use its number see the kernel
        // refuse it, and the engine given that kernel's profile refuse it alike.
        if (mmapOpcode is { } mmap)
        {
            list.Add(new MatrixFeature("proposals", $"IORING_OP_MMAP (proposed, opcode {mmap})", p => p.Mmap is not null, p => AnySqe(p, s => s.Opcode == mmap)));
        }
        return list;
    }
}
