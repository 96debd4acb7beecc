using System.Globalization;
using IoUring.Abi.Model;
using IoUring.Conformance.Vm;
using IoUring.Engine;
using IoUring.Ring;
using Xunit;
using Xunit.Abstractions;

namespace IoUring.Conformance.Vm.Tests;

/// <summary>
/// export-c and the kernel-bug reproducers, for real: exported programs of the trace corpus build with
/// gcc -Wall -Werror and, run on the kernel that recorded them (the host, or its VM), pass; every
/// reproducer fails exactly on the kernels the behaviour table marks, on the engine, on the host and in
/// every VM of the corpus. IOURING_EXPORT_EVERY=N samples every Nth recorded program (default 100; every
/// regression program a soak shrank is always taken).
/// </summary>
public sealed class ReproducerTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private readonly ITestOutputHelper output;

    public ReproducerTests(ITestOutputHelper output) => this.output = output;

    private static string Root => TestEnvironment.RepoRoot;

    private static string CorpusDir => Path.Combine(Root, "conformance", "corpus");

    [Fact]
    public void TheReproducerFolderIsFresh()
    {
        var stale = ReproducerFolder.Stale(Root);
        Assert.True(stale.Count == 0, $"conformance/reproducers is stale ({string.Join(", ", stale)}): run 'io_uring-conformance reproducers' and commit it");
    }

    [Fact]
    public void EveryKnownBugShowsOnTheEngineExactlyWhereTheBehaviourTableSays()
    {
        var snapshots = SnapshotCorpus.All(Root);
        var correct = KnownBug.WithoutBugs(KernelBehaviour.FromSnapshot(snapshots[^1]));
        foreach (var bug in KnownBugs.All)
        {
            var expected = bug.Reproducer(correct).Expected;
            foreach (var snapshot in snapshots)
            {
                var version = KernelVersion.Parse(snapshot.Kernel);
                var actual = Differential.Engine(bug.Program, KernelBehaviour.FromSnapshot(snapshot)).Trace;
                var outcome = Outcome(expected, actual);
                var affected = bug.Row.ValueFor(version) == "yes";
                output.WriteLine($"{bug.Name} on the engine as {snapshot.Kernel}: {outcome} (table: {(affected ? "affected" : "not affected")})");
                Assert.True(affected ? outcome == "fail" : outcome != "fail", $"{bug.Name} on the engine as {snapshot.Kernel}: {outcome}, but the table says {(affected ? "affected" : "not affected")}\nexpected:\n{expected}\nengine:\n{actual}");
            }
        }
    }

    [NeedsFact("tool:gcc")]
    public void RecordedProgramsExportToCThatGccBuildsWithoutWarnings()
    {
        Needs.Require("tool:gcc");
        var include = CBuild.IncludeDir(Root);
        using var dir = new TempDir();
        var files = new List<string>();
        foreach (var (corpus, entry) in Sampled())
        {
            var path = Path.Combine(dir.Path, $"{Stem(corpus, entry)}.c");
            File.WriteAllText(path, CExport.Write(CReproducer.FromRecording(entry, corpus.Header), Snapshots.Value));
            files.Add(path);
        }

        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.ForEach(files, new ParallelOptions { MaxDegreeOfParallelism = 2 }, file =>
        {
            try
            {
                CBuild.Compile(file, Path.ChangeExtension(file, null), include, staticLink: false);
            }
            catch (ToolException e)
            {
                failures.Add(e.Message);
            }
        });
        Assert.True(failures.IsEmpty, string.Join("\n\n", failures.Take(3)));
        Checkout.AppendToTestReport(Root, $"export-c: {files.Count} recorded programs of {TraceCorpus.Files(CorpusDir).Count} kernels exported; gcc -Wall -Werror -O2 built every one");
    }

    [NeedsFact("tool:gcc", "host-corpus")]
    public void OnTheHostRecordedProgramsPassAndEveryReproducerFailsExactlyWhereTheTableSays()
    {
        Needs.Require("tool:gcc", "host-corpus");
        var include = CBuild.IncludeDir(Root);
        var release = LiveKernel.Release;
        var version = KernelVersion.Parse(release);
        var host = TraceCorpus.Load(TestEnvironment.HostCorpus()!);
        using var dir = new TempDir();
        var lines = new List<string>();
        var failures = new List<string>();
        var passed = 0;
        var programs = Sample(host).ToList();
        foreach (var entry in programs)
        {
            var binary = Build(dir.Path, Stem(host, entry), CExport.Write(CReproducer.FromRecording(entry, host.Header), Snapshots.Value), include, staticLink: false);
            var run = SupervisedProcess.Run(binary, Deadline);
            if (run.ExitCode == 0)
            {
                passed++;
            }
            else
            {
                failures.Add($"'{entry.Name}' (recorded on {host.Header.Release}): exit {run.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "none (killed)"}: {run.Output}");
            }
        }

        lines.Add($"export-c on the host ({release}): {passed} of {programs.Count} recorded programs of {host.Header.Kernel} passed as C");
        foreach (var (bug, binary) in BuildReproducers(dir.Path, include, staticLink: false))
        {
            var run = SupervisedProcess.Run(binary, Deadline);
            var affected = bug.Row.ValueFor(version) == "yes";
            var exit = run.ExitCode;
            lines.Add($"reproducer {bug.Name} on the host ({release}): exit {exit?.ToString(CultureInfo.InvariantCulture) ?? "killed"}{(run.RingsFreed > 0 ? $", {run.RingsFreed} rings consumed to free it" : string.Empty)}, table: {(affected ? "affected" : "not affected")}");
            if (affected ? exit != 1 : exit is not (0 or 77))
            {
                failures.Add($"{bug.Name} on the host ({release}): exit {exit?.ToString(CultureInfo.InvariantCulture) ?? "killed"}, but the table says {(affected ? "affected (exit 1)" : "not affected (exit 0 or 77)")}: {run.Output}");
            }
        }

        lines.ForEach(output.WriteLine);
        Checkout.AppendToTestReport(Root, [.. lines]);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [NeedsFact("kernel:all", "tool:gcc")]
    public async Task InEveryVmRecordedProgramsPassAndEveryReproducerFailsExactlyWhereTheTableSays()
    {
        Needs.Require("kernel:all", "tool:gcc");
        var include = CBuild.IncludeDir(Root);
        var cache = new VmCache();
        using var dir = new TempDir();
        var reproducers = BuildReproducers(dir.Path, include, staticLink: true);
        var kernels = KernelImageLock.Load(TestEnvironment.LockPath).Select(null);
        using var gate = new SemaphoreSlim(2);
        var runs = await Task.WhenAll(kernels.Select(async kernel =>
        {
            var corpusFile = Path.Combine(CorpusDir, kernel.Kernel + TraceCorpus.Extension);
            var exported = new List<string>();
            if (File.Exists(corpusFile))
            {
                var corpus = TraceCorpus.Load(corpusFile);
                var kernelDir = Directory.CreateDirectory(Path.Combine(dir.Path, kernel.Kernel)).FullName;
                exported.AddRange(Sample(corpus).Select(e => Build(kernelDir, Stem(corpus, e), CExport.Write(CReproducer.FromRecording(e, corpus.Header), Snapshots.Value), include, staticLink: true)));
            }

            await gate.WaitAsync();
            try
            {
                return (Kernel: kernel, Exported: exported, Run: await CProgramVm.RunAsync(cache, kernel, [.. reproducers.Select(r => r.Binary), .. exported], new QemuOptions { Timeout = TimeSpan.FromSeconds(300) }, output.WriteLine));
            }
            finally
            {
                gate.Release();
            }
        }));

        var failures = new List<string>();
        var lines = new List<string>();
        foreach (var (kernel, exported, run) in runs)
        {
            if (run.Failed)
            {
                failures.Add($"{kernel.Kernel}: {string.Join("; ", run.Problems)}\n{string.Join("\n", run.Console.Split('\n').TakeLast(30))}");
            }

            var version = KernelVersion.Parse(kernel.Kernel);
            foreach (var bug in KnownBugs.All)
            {
                var affected = bug.Row.ValueFor(version) == "yes";
                var result = run.Results.GetValueOrDefault(bug.Name);
                var exit = result?.Exit ?? "none";
                lines.Add($"reproducer {bug.Name} on {kernel.Kernel} ({kernel.Release}): exit {exit}, table: {(affected ? "affected" : "not affected")}");
                if (affected ? exit != "1" : exit is not ("0" or "77"))
                {
                    failures.Add($"{bug.Name} on {kernel.Kernel}: exit {exit}, but the table says {(affected ? "affected (exit 1)" : "not affected (exit 0 or 77)")}: {string.Join(" | ", result?.Output ?? [])}");
                }
            }

            var passed = exported.Count(b => run.Results.GetValueOrDefault(Path.GetFileName(b))?.Exit == "0");
            lines.Add($"export-c in the {kernel.Kernel} VM: {passed} of {exported.Count} recorded programs passed as C");
            failures.AddRange(exported.Select(b => run.Results.GetValueOrDefault(Path.GetFileName(b))).Where(r => r is not null && r.Exit != "0").Select(r => $"{kernel.Kernel}: {r}"));
        }

        lines.ForEach(output.WriteLine);
        Checkout.AppendToTestReport(Root, [.. lines]);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static readonly Lazy<IReadOnlyList<AbiSnapshot>> Snapshots = new(() => SnapshotCorpus.All(Root));

    private static int Every => int.TryParse(Environment.GetEnvironmentVariable("IOURING_EXPORT_EVERY"), out var n) && n > 0 ? n : 100;

    /// <summary>Every regression program a soak shrank, and every Nth recorded one.</summary>
    private static IEnumerable<CorpusEntry> Sample(TraceCorpus corpus) =>
        corpus.Entries.Where((e, i) => e.Name.EndsWith("shrunk", StringComparison.Ordinal) || i % Every == 0);

    private static IEnumerable<(TraceCorpus Corpus, CorpusEntry Entry)> Sampled() =>
        TraceCorpus.Files(CorpusDir).Select(TraceCorpus.Load).SelectMany(c => Sample(c).Select(e => (c, e)));

    private static string Stem(TraceCorpus corpus, CorpusEntry entry) =>
        $"{corpus.Header.Kernel}-{new string(entry.Name.Select(ch => char.IsLetterOrDigit(ch) ? ch : '-').ToArray())}";

    private static string Build(string dir, string stem, string source, string include, bool staticLink)
    {
        var c = Path.Combine(dir, stem + ".c");
        File.WriteAllText(c, source);
        var binary = Path.Combine(dir, stem);
        CBuild.Compile(c, binary, include, staticLink);
        return binary;
    }

    /// <summary>The committed reproducers, built as a kernel developer would build them.</summary>
    private static List<(KnownBug Bug, string Binary)> BuildReproducers(string dir, string include, bool staticLink) =>
        KnownBugs.All.Select(b => (b, Build(dir, b.Name, File.ReadAllText(Path.Combine(ReproducerFolder.Path(Root), b.Name + ".c")), include, staticLink))).ToList();

    /// <summary>How a reproducer's C file would end on a kernel that traced <paramref name="actual"/>: skip, pass or fail (a reproducer does not check the params).</summary>
    private static string Outcome(ProgramTrace expected, ProgramTrace actual)
    {
        if (expected.Setup >= 0 && actual.Setup == -22)
        {
            return "skip";
        }

        return expected.Setup == actual.Setup && expected.Steps.Select(s => s.ToString()).SequenceEqual(actual.Steps.Select(s => s.ToString())) ? "pass" : "fail";
    }

    private sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("io_uring-export-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
