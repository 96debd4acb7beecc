using System.Buffers.Binary;
using IoUring.Abi.Model;
using IoUring.Conformance.Vm;
using IoUring.Engine;
using Xunit;
using Xunit.Abstractions;
using Nodes = System.Text.Json.Nodes;

namespace IoUring.Conformance.Vm.Tests;

/// <summary>
/// The matrix's 32-bit columns: programs built for i686 really are 32-bit x86 executables, run as
/// 32-bit processes on 7.2 (x86_64) and agree with the engine given 7.2's i686 snapshot profile; a
/// program made to expect the wrong thing is reported as a difference; a kernel that cannot run
/// 32-bit programs is reported as such, not as programs failing; and the exit codes map to verdicts.
/// </summary>
public sealed class Compat32Tests
{
    private const string Kernel = "7.2";

    private readonly ITestOutputHelper output;

    public Compat32Tests(ITestOutputHelper output) => this.output = output;

    private static string Root => TestEnvironment.RepoRoot;

    /// <summary>Generous: the VMs share the machine's two cores with the rest of the test run.</summary>
    private static QemuOptions Options => new() { Timeout = TimeSpan.FromMinutes(5) };

    [NeedsFact("kernel:7.2", "cross:i686")]
    public async Task ProgramsRunAs32BitProcessesOn72AndAgreeWithTheEngine()
    {
        Needs.Require("kernel:7.2", "cross:i686");
        // Ten programs, and those of the first forty that register buffers: their iovec array is where a
        // 32-bit process's layout differs from a 64-bit one's (the exported C once got -EFAULT there).
        var sample = ProgramSampler.Sample(SnapshotCorpus.OpLast(Root), 5, 40);
        var programs = sample.Where((p, i) => i < 10 || p.Steps.Any(s => s.Register?.Kind == RegisterKind.Buffers)).ToArray();
        Assert.Contains(programs, p => p.Steps.Any(s => s.Register?.Kind == RegisterKind.Buffers));

        var columns = new Compat32Columns(new VmCache(), Root, output.WriteLine);
        var plan = columns.Build(columns.Plan(Image(), programs, RecordedProfile()));
        foreach (var p in plan.Programs)
        {
            Assert.True(p.Binary is not null, $"program {p.Index}: {p.Problem}");
            AssertElf32I386(p.Binary!);
        }

        var column = await columns.RunAsync(plan, Options);
        output.WriteLine(string.Join("\n", column.Notes));
        Assert.False(column.Failed, string.Join("; ", column.Problems));
        Assert.Equal(Targets.I686, column.Target);
        Assert.Equal("7.2 i686 (32-bit)", column.Name);
        Assert.True(column.ProgramEqual.All(e => e == true), string.Join("\n", column.ReportedDifferences.Select(d => $"program {d.Index}: {d.Detail}\n{d.Program}")));

        // The column in a matrix: every cell that programs decide passes (or agrees on an unsupported feature).
        var matrix = FeatureMatrix.Build(new ProgramSource(null, 5, programs.Length, SnapshotCorpus.OpLast(Root)), programs, 0, [column], column.Seconds, SnapshotCorpus.OpLast(Root), null);
        var failing = matrix.Rows.Where(r => r.Cells[0].State == CellState.Fail).Select(r => $"{r.Name}: {r.Cells[0].Detail}").ToList();
        Assert.True(failing.Count == 0, string.Join("\n", failing));
        Checkout.AppendToTestReport(Root, $"compat32: {programs.Length} programs as 32-bit processes on {column.Release}: {column.ProgramEqual.Count(e => e == true)} equal to the engine (i686 snapshot profile), {column.Seconds:0.0} s boot");
    }

    [NeedsFact("kernel:7.2", "cross:i686")]
    public async Task AProgramExpectingTheWrongResultIsReportedAsADifference()
    {
        Needs.Require("kernel:7.2", "cross:i686");
        var program = ProgramSampler.Sample(SnapshotCorpus.OpLast(Root), 5, 40)
            .First(p => p.Steps.Length > 0 && Differential.Engine(p, KernelBehaviour.FromSnapshot(Checkout.ReadSnapshot(Root, Kernel), Targets.I686)).Trace.Setup >= 0);
        var columns = new Compat32Columns(new VmCache(), Root, output.WriteLine);
        var plan = columns.Plan(Image(), [program, program], RecordedProfile());

        // The second copy expects the first io_uring_enter to return one more than the engine says.
        var honest = plan.Programs[1].Reproducer;
        var steps = honest.Expected.Steps.ToArray();
        steps[0] = steps[0] with { Enter = steps[0].Enter + 1 };
        var altered = honest with { Expected = honest.Expected with { Steps = steps } };
        plan = columns.Build(plan with { Programs = [plan.Programs[0], plan.Programs[1] with { Reproducer = altered }] });

        var column = await columns.RunAsync(plan, Options);
        Assert.False(column.Failed, string.Join("; ", column.Problems));
        Assert.Equal(new bool?[] { true, false }, column.ProgramEqual);
        var difference = Assert.Single(column.ReportedDifferences);
        Assert.Equal(1, difference.Index);
        Assert.Contains("FAIL step 1: io_uring_enter", difference.Detail);
        Assert.Contains($"expected: {steps[0].Enter}", difference.Detail);

        // The matrix charges it to the program's features: its NOP row fails on this column.
        var matrix = FeatureMatrix.Build(new ProgramSource(null, 5, 2, SnapshotCorpus.OpLast(Root)), [program, program], 0, [column], column.Seconds, SnapshotCorpus.OpLast(Root), null);
        Assert.True(matrix.AnyFail);
        Assert.Contains(matrix.Rows, r => r.Cells[0].State == CellState.Fail && r.Cells[0].Detail.Contains("program 1", StringComparison.Ordinal));
        Assert.Contains("First difference on 7.2 i686 (32-bit): program 1", MatrixRender.Markdown(matrix));
    }

    [NeedsFact("kernel:7.2", "cross:i686")]
    public async Task AKernelBootedWithoutIa32EmulationIsReportedAsUnableNotAsFailingPrograms()
    {
        Needs.Require("kernel:7.2", "cross:i686");
        var columns = new Compat32Columns(new VmCache(), Root, output.WriteLine);
        var plan = columns.Build(columns.Plan(Image(), ProgramSampler.Sample(SnapshotCorpus.OpLast(Root), 5, 2), RecordedProfile()));
        var options = Options with { KernelCommandLine = Options.KernelCommandLine + " ia32_emulation=0" };

        var column = await columns.RunAsync(plan, options);
        Assert.True(column.Failed);
        Assert.Null(column.Profile);
        Assert.Contains("does not run 32-bit programs", column.Problems[0]);
        Assert.Contains("ENOEXEC", column.Problems[0]);
        Assert.Empty(column.ReportedDifferences);
        Assert.All(column.ProgramEqual, e => Assert.Null(e));
    }

    [Fact]
    public void ExitCodesBecomeVerdicts()
    {
        // Plain rings every kernel takes: a skip of setup here is the kernel refusing what the engine's profile has.
        var programs = Enumerable.Range(0, 6).Select(_ => new RingProgram(4, 0, 0, [])).ToArray();
        var plan = new Compat32Columns(new VmCache(), Root, _ => { }).Plan(Image(), programs, null);
        plan = plan with { Programs = [.. plan.Programs.Select(p => p with { Binary = "/built/" + p.Name })] };
        CProgramResult Result(int i, string exit, params string[] lines) => new(plan.Programs[i].Name, exit, 0.1, lines);
        var results = new[]
        {
            new CProgramResult("ia32-check", "0", 0.01, ["release=7.2.13+deb14-cloud-amd64 machine=x86_64 pointer-bits=32"]),
            Result(0, "0", "PASS"),
            Result(1, "1", "FAIL step 2: io_uring_enter (SQEs taken, or -errno)", "  expected: 3", "  got:      -14", "unrelated"),
            Result(2, "77", $"SKIP: io_uring_setup refuses flags 0x{plan.EngineProfile.SetupFlags:x} here (-EINVAL): this kernel lacks one of them"),
            Result(3, "139"),
            Result(4, "stuck", "FAIL step 1: io_uring_enter(...) did not return"),
        };
        var run = new CProgramRun(Kernel, "7.2.13+deb14-cloud-amd64", results.ToDictionary(r => r.Name), [], string.Empty);

        var column = Compat32Columns.Column(plan, run, []);
        Assert.Equal(new bool?[] { true, false, false, false, false, null }, column.ProgramEqual);
        Assert.Equal("7.2.13+deb14-cloud-amd64", column.Release);
        var details = column.ReportedDifferences.ToDictionary(d => d.Index, d => d.Detail);
        Assert.Equal("FAIL step 2: io_uring_enter (SQEs taken, or -errno); expected: 3; got: -14", details[1]);
        Assert.StartsWith("the kernel refused setup flags the engine's profile has", details[2]);
        Assert.StartsWith("killed by signal 11", details[3]);
        Assert.StartsWith("stuck", details[4]);

        // ENOEXEC on the check program: the column says the kernel cannot run 32-bit programs, and compares none.
        var noIa32 = run with { Results = new Dictionary<string, CProgramResult> { ["ia32-check"] = new("ia32-check", "126", 0, ["execv /programs/ia32-check: Exec format error"]) } };
        var unable = Compat32Columns.Column(plan, noIa32, []);
        Assert.True(unable.Failed);
        Assert.Contains("CONFIG_IA32_EMULATION", unable.Problems[0]);
        Assert.All(unable.ProgramEqual, e => Assert.Null(e));
    }

    [Fact]
    public void ASkipAgreesOnlyWhenTheEnginesProfileLacksWhatTheKernelRefused()
    {
        var profile = KernelBehaviour.FromSnapshot(Checkout.ReadSnapshot(Root, Kernel), Targets.I686);
        var asks = new RingProgram(4, 1u << 30, 0, []);
        var refusal = new[] { "SKIP: io_uring_setup refuses flags 0x40000000 here (-EINVAL): this kernel lacks one of them" };
        var agreed = Compat32Columns.Skip(asks, profile, refusal);
        Assert.True(agreed.Equal);
        Assert.Null(agreed.Detail);
        Assert.False(Compat32Columns.Skip(asks, profile with { SetupFlags = profile.SetupFlags | (1u << 30) }, refusal).Equal);

        var features = new[] { "SKIP: this kernel lacks features 0x1 the program was recorded with" };
        Assert.False(Compat32Columns.Skip(asks, profile, features).Equal);
        Assert.True(Compat32Columns.Skip(asks, profile with { Features = profile.Features & ~1u }, features).Equal);
        Assert.False(Compat32Columns.Skip(asks, profile, ["SKIP: out of memory"]).Equal);
    }

    [Fact]
    public void TheI686ProfileIsReadFromTheI686Target()
    {
        // io_uring's UAPI gives both targets the same facts in every snapshot of the corpus; the i686
        // profile is a compat process's, whose iovec lengths the kernel reads as 32 bits...
        foreach (var snapshot in SnapshotCorpus.All(Root))
        {
            var x86 = KernelBehaviour.FromSnapshot(snapshot);
            var i686 = KernelBehaviour.FromSnapshot(snapshot, Targets.I686);
            Assert.False(x86.CompatProcess);
            Assert.Equal(x86 with { Name = i686.Name, CompatProcess = true }, i686);
        }

        // ... and where a macro's value differs, the i686 profile takes i686's.
        var path = Checkout.SnapshotPath(Root, Kernel);
        var json = Nodes.JsonNode.Parse(File.ReadAllText(path))!;
        var macro = json["macros"]!.AsArray().Single(m => (string?)m!["name"] == "IORING_SETUP_IOPOLL")!;
        macro["value"] = new Nodes.JsonArray(1, 0, 1, 1);
        var edited = SnapshotJson.Read(json.ToJsonString(), path);
        Assert.Equal(1u, KernelBehaviour.FromSnapshot(edited).SetupFlags & 1);
        Assert.Equal(0u, KernelBehaviour.FromSnapshot(edited, Targets.I686).SetupFlags & 1);
        Assert.Throws<InvalidDataException>(() => KernelBehaviour.FromSnapshot(edited, "sparc-linux-gnu"));
    }

    // The lock holds 7.2 for arm64 too: 32-bit x86 processes run on the amd64 kernel.
    private static LockedImage Image() => KernelImageLock.Load(TestEnvironment.LockPath).Find(Kernel);

    /// <summary>7.2's probed profile as the trace corpus recorded it (the same release as the lock's), standing in for the x86_64 column of a matrix run.</summary>
    private static KernelProfile? RecordedProfile()
    {
        var header = TraceCorpus.Load(Path.Combine(Root, "conformance", "corpus", Kernel + TraceCorpus.Extension)).Header;
        return header.Release == Image().Release ? header.Profile : null;
    }

    /// <summary>The ELF header, read here rather than trusted to the compiler's name: 32-bit class, little-endian, EM_386.</summary>
    private static void AssertElf32I386(string path)
    {
        var header = new byte[20];
        using (var f = File.OpenRead(path))
        {
            f.ReadExactly(header);
        }

        Assert.True(header.AsSpan(0, 4).SequenceEqual("\u007fELF"u8), $"{path} is not an ELF file");
        Assert.Equal(1, header[4]);
        Assert.Equal(1, header[5]);
        Assert.Equal(3, BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(18)));
    }
}
