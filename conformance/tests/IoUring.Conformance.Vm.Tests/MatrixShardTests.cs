using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using IoUring.Abi.Model;
using IoUring.Bindings;
using IoUring.Conformance.Vm;
using Xunit;
using Xunit.Abstractions;
using JsonNode = System.Text.Json.Nodes.JsonNode;

namespace IoUring.Conformance.Vm.Tests;

/// <summary>
/// Sharding the matrix: shards (runs of one batch on disjoint columns, on machines of their own) merge
/// into the matrix a single run of all their columns writes, in any order; shards of other programs,
/// another schema or the same column are refused by name; and the CI workflow shards every locked kernel
/// and every architecture.
/// </summary>
public sealed partial class MatrixShardTests
{
    private const uint OpLast = 65;
    private const byte MmapOpcode = 65;
    private const ulong Seed = 20260413;

    private static readonly string[] KernelOrder = ["6.1", "6.12", "7.2"];

    private readonly ITestOutputHelper output;

    public MatrixShardTests(ITestOutputHelper output) => this.output = output;

    [Fact]
    public void ShardsMergeToTheSingleRunsMatrixInAnyOrder()
    {
        var profile = MatrixTests.Profile((uint)IoUringSetupFlags.IORING_SETUP_SQE_MIXED, nopFlags: 0x3f);
        var host = MatrixTests.Column("host", profile, [true, true, true], null) with { Where = "host", Release = "6.18.44-test" };
        var old = MatrixTests.Column("6.1", MatrixTests.Profile(0, 0), [true, false, true], [new HostileResult(0, HostileVerdict.Equal, null, null, null)]);
        var compat = old with { Target = Targets.I686, Seconds = 3 };
        var newest = MatrixTests.Column("7.2", profile, [true, true, null], [new HostileResult(0, HostileVerdict.NotModelled, "x", null, null)]);
        var single = Matrix(1, MatrixMerge.Canonical([newest, compat, host, old], KernelOrder), wall: 9);
        Assert.Equal(new[] { "host", "6.1", "6.1 i686 (32-bit)", "7.2" }, single.Kernels.Select(k => k.Name));

        using var dir = new TempDir();
        var a = dir.Write("a.json", Matrix(1, [host, newest], wall: 9));
        var b = dir.Write("b.json", Matrix(1, [compat, old], wall: 4));
        foreach (var order in new[] { new[] { a, b }, new[] { b, a } })
        {
            var merged = Merge(order);
            Assert.Equal(MatrixRender.Json(single), MatrixRender.Json(merged));
            Assert.Equal(MatrixRender.Markdown(single), MatrixRender.Markdown(merged));
        }

        // One shard merged alone is itself, byte for byte: the JSON loses nothing on its way back in.
        Assert.Equal(File.ReadAllText(a), MatrixRender.Json(Merge([a])));
    }

    [Fact]
    public void ShardsOfOtherProgramsAreRefusedNamingTheFile()
    {
        using var dir = new TempDir();
        var a = dir.Write("a.json", Matrix(1, [MatrixTests.Column("6.1", MatrixTests.Profile(0, 0), [true, true, true], null)]));
        var b = dir.Write("b.json", Matrix(2, [MatrixTests.Column("7.2", MatrixTests.Profile(0, 0), [true, true, true], null)]));

        var e = Assert.Throws<ToolException>(() => Merge([a, b]));
        Assert.Contains(b, e.Message);
        Assert.Contains("seed 2", e.Message);
        Assert.Contains("seed 1", e.Message);
    }

    [Fact]
    public void TwoShardsHoldingOneColumnAreRefusedNamingBoth()
    {
        using var dir = new TempDir();
        var column = MatrixTests.Column("7.2", MatrixTests.Profile(0, 0), [true, true, true], null);
        var a = dir.Write("a.json", Matrix(1, [column]));
        var b = dir.Write("b.json", Matrix(1, [column with { Seconds = 2 }]));

        var e = Assert.Throws<ToolException>(() => Merge([a, b]));
        Assert.Contains($"{b}: column 7.2", e.Message);
        Assert.Contains($"also in {a}", e.Message);

        // The same kernel as another architecture is another column.
        var c = dir.Write("c.json", Matrix(1, [column with { Target = Targets.I686 }]));
        Assert.Equal(2, Merge([a, c]).Kernels.Count);
    }

    [Fact]
    public void AFileOfAnotherSchemaOrWithOtherRowsIsRefused()
    {
        using var dir = new TempDir();
        var m = Matrix(1, [MatrixTests.Column("7.2", MatrixTests.Profile(0, 0), [true, true, true], null)]);
        var other = dir.Write("run.json", m);
        File.WriteAllText(other, File.ReadAllText(other).Replace(FeatureMatrix.SchemaId, "io_uring-conformance-vm-run/1", StringComparison.Ordinal));
        var e = Assert.Throws<ToolException>(() => MatrixMerge.Read(other));
        Assert.Contains(other, e.Message);
        Assert.Contains("io_uring-conformance-vm-run/1", e.Message);

        // Rows another checkout would compute (here: a cell edited) are not what this one rebuilds.
        var edited = dir.Write("edited.json", m with { Rows = [m.Rows[0] with { Cells = [m.Rows[0].Cells[0] with { Detail = "edited" }] }, .. m.Rows.Skip(1)] });
        e = Assert.Throws<ToolException>(() => Merge([edited]));
        Assert.Contains($"{edited}: its rows are not what this checkout computes", e.Message);
    }

    /// <summary>
    /// An architecture the runner cannot boot is refused by name. (Without the host: this machine's
    /// kernel is never asked by a unit test, whatever the runner's order.)
    /// </summary>
    [Fact]
    public async Task ATargetThatCannotRunIsRefusedByName()
    {
        var ran = new List<string>();
        var runner = new MatrixRunner(new VmCache(), TestEnvironment.RepoRoot, ran.Add);
        var e = await Assert.ThrowsAsync<ToolException>(() => runner.RunAsync([], [Targets.X86_64, "sparc64-linux-gnu"], new ProgramBatch(), new ProgramSource(null, 1, 0, OpLast), new QemuOptions(), 1, host: false));
        Assert.StartsWith("no architecture runs programs as sparc64-linux-gnu", e.Message, StringComparison.Ordinal);
        Assert.Empty(ran);
    }

    /// <summary>
    /// Two shards in processes of their own, one run of both kernels, and the merge of the shards in
    /// both orders: the merged matrix.json and matrix.md are the single run's, timings aside.
    /// </summary>
    [NeedsFact("kernel:6.1", "kernel:7.2")]
    public async Task TwoShardsInTheirOwnProcessesMergeToTheSingleRunsMatrix()
    {
        Needs.Require("kernel:6.1", "kernel:7.2");
        var cli = CliDll();
        Assert.True(File.Exists(cli), $"{cli} is missing: 'dotnet build conformance/src/IoUring.Conformance.Cli'");
        using var dir = new TempDir();
        string[] batch = ["--no-host", "--seed", $"{Seed}", "--cases", "12", "--hostile", "10", "--repo", TestEnvironment.RepoRoot];
        string Out(string name) => Path.Combine(dir.Path, name);

        var watch = System.Diagnostics.Stopwatch.StartNew();
        var shardA = Task.Run(() => Cli(cli, ["matrix", "6.1", "--parallel", "1", .. batch, "-o", Out("A")]));
        var shardB = Task.Run(() => Cli(cli, ["matrix", "7.2", "--parallel", "1", .. batch, "-o", Out("B")]));
        await Task.WhenAll(shardA, shardB);
        Cli(cli, ["matrix", "6.1", "7.2", .. batch, "-o", Out("single")]);
        Cli(cli, ["matrix", "merge", Path.Combine(Out("A"), "matrix.json"), Path.Combine(Out("B"), "matrix.json"), "--repo", TestEnvironment.RepoRoot, "-o", Out("AB")]);
        Cli(cli, ["matrix", "merge", Path.Combine(Out("B"), "matrix.json"), Path.Combine(Out("A"), "matrix.json"), "--repo", TestEnvironment.RepoRoot, "-o", Out("BA")]);

        var single = NormalisedJson(Path.Combine(Out("single"), "matrix.json"));
        Assert.Equal(new[] { "6.1", "7.2" }, JsonNode.Parse(single)!["Kernels"]!.AsArray().Select(k => (string)k!["Kernel"]!));
        foreach (var merged in new[] { Out("AB"), Out("BA") })
        {
            Assert.Equal(single, NormalisedJson(Path.Combine(merged, "matrix.json")));
            Assert.Equal(NormalisedMarkdown(Path.Combine(Out("single"), "matrix.md")), NormalisedMarkdown(Path.Combine(merged, "matrix.md")));
        }

        Checkout.AppendToTestReport(TestEnvironment.RepoRoot, $"matrix shards: 6.1 and 7.2 in two processes, merged in both orders, equal to one run of both (timings aside), {watch.Elapsed.TotalSeconds:0} s in all");
    }

    /// <summary>
    /// The workflow runs a shard per locked kernel and architecture: the kernels read from the lock (so
    /// they are written in one place), the architectures those <see cref="Targets"/> knows.
    /// </summary>
    [Fact]
    public void TheWorkflowShardsEveryLockedKernelAndEveryArchitecture()
    {
        var workflow = File.ReadAllText(Path.Combine(TestEnvironment.RepoRoot, ".github", "workflows", "conformance-matrix.yml"));
        Assert.Contains("jq -c '[.kernels[].kernel] | unique' conformance/kernels.lock.json", workflow);
        Assert.Contains("kernel: ${{ fromJSON(needs.plan.outputs.kernels) }}", workflow);

        // What jq reads there is the lock's kernels, and no kernel is written into the workflow as well.
        using var lockJson = JsonDocument.Parse(File.ReadAllText(TestEnvironment.LockPath));
        var kernels = lockJson.RootElement.GetProperty("kernels").EnumerateArray().Select(k => k.GetProperty("kernel").GetString()).Distinct().Order(StringComparer.Ordinal).ToList();
        Assert.Equal(KernelImageLock.Load(TestEnvironment.LockPath).Kernels.Select(k => k.Kernel).Distinct().Order(StringComparer.Ordinal), kernels);
        Assert.All(kernels, k => Assert.DoesNotContain($" {k} ", workflow.Replace('"', ' ').Replace(',', ' ').Replace('[', ' ').Replace(']', ' ')));

        var arch = ArchLine().Match(workflow);
        Assert.True(arch.Success, "no 'arch: [...]' line in the workflow's matrix");
        Assert.Equal(Targets.All.Select(a => a.Arch), arch.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries));
        Assert.Contains("./make.sh matrix-shard \"${{ matrix.kernel }}\" \"${{ matrix.arch }}\" shard --seed \"$SEED\" --cases \"$CASES\" --hostile \"$HOSTILE\"", workflow);
        Assert.Contains("./make.sh matrix-merge shards/*/matrix.json", workflow);
    }

    [GeneratedRegex(@"^\s+arch: \[([^\]]*)\]", RegexOptions.Multiline)]
    private static partial Regex ArchLine();

    [GeneratedRegex(@"(Wall time|ok,) \d+(\.\d+)? s")]
    private static partial Regex Timing();

    private static FeatureMatrix Matrix(ulong seed, IReadOnlyList<KernelColumn> columns, double wall = 1) =>
        FeatureMatrix.Build(new ProgramSource(null, seed, MatrixTests.Programs.Length, OpLast), MatrixTests.Programs, 1, columns, wall, OpLast, MmapOpcode);

    private static FeatureMatrix Merge(string[] files) =>
        MatrixMerge.Merge(files.Select(f => (f, MatrixMerge.Read(f))).ToList(), MatrixTests.Programs, KernelOrder, OpLast, MmapOpcode);

    /// <summary>
    /// A matrix.json with what may differ between two runs of one batch on the same kernels taken out:
    /// the timings, and the note of a boot that needed a second try (the emulator's luck, not the kernel's).
    /// </summary>
    private static string NormalisedJson(string path)
    {
        var m = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        m["WallSeconds"] = 0;
        foreach (var k in m["Kernels"]!.AsArray().Select(k => k!.AsObject()))
        {
            k["Seconds"] = 0;
            var notes = k["Notes"]!.AsArray();
            foreach (var retry in notes.Where(n => ((string)n!).StartsWith(KernelBoots.RetryNote, StringComparison.Ordinal)).ToList())
            {
                notes.Remove(retry);
            }
        }

        return m.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static string NormalisedMarkdown(string path) =>
        string.Join('\n', File.ReadAllLines(path).Where(l => !l.Contains($"note: {KernelBoots.RetryNote}", StringComparison.Ordinal)).Select(l => Timing().Replace(l, "$1 (time) s")));

    /// <summary>The command line as built beside these tests (its project is built first: see the project file).</summary>
    private static string CliDll()
    {
        var configuration = typeof(MatrixShardTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        return Path.Combine(TestEnvironment.RepoRoot, "conformance", "src", "IoUring.Conformance.Cli", "bin", configuration, "net10.0", "io_uring-conformance.dll");
    }

    /// <summary>Runs the command line to completion; exit 0 or 2 (a failing cell is a finding, not an error), else the test fails with its output.</summary>
    private void Cli(string dll, string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = TestEnvironment.RepoRoot };
        psi.ArgumentList.Add(dll);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = System.Diagnostics.Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(10)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"io_uring-conformance {string.Join(' ', args)} did not finish in 10 minutes\n{stdout.Result}{stderr.Result}");
        }

        var text = stdout.Result + stderr.Result;
        output.WriteLine($"$ io_uring-conformance {string.Join(' ', args)} (exit {p.ExitCode})\n{text}");
        Assert.True(p.ExitCode is 0 or 2, $"io_uring-conformance {string.Join(' ', args)} exited {p.ExitCode}:\n{text}");
    }

    private sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("iouring-matrix-shards-").FullName;

        public string Write(string name, FeatureMatrix m)
        {
            var file = System.IO.Path.Combine(Path, name);
            File.WriteAllText(file, MatrixRender.Json(m));
            return file;
        }

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
