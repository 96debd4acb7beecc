using System.Diagnostics;
using IoUring.Abi.Model;
using IoUring.Engine;
using IoUring.Ring;

namespace IoUring.Conformance.Vm;

/// <summary>
/// One matrix run: the host's kernel in this process, then every chosen kernel of the lock booted once
/// under qemu, all with the same batch; each column's traces against the engine given the profile
/// probed there (and, for the corpus kernels, the profile their ABI snapshot predicts).
/// </summary>
public sealed class MatrixRun
{
    /// <summary>Differences kept per column in the matrix (each carries its program and both traces).</summary>
    private const int KeptDifferences = 5;

    private readonly VmCache cache;
    private readonly string repoRoot;
    private readonly Action<string> log;

    public MatrixRun(VmCache cache, string repoRoot, Action<string> log)
    {
        this.cache = cache;
        this.repoRoot = repoRoot;
        this.log = log;
    }

    public async Task<(ConformanceMatrix Matrix, IReadOnlyList<VmRun> Runs)> RunAsync(
        IReadOnlyList<LockedImage> kernels, ProgramBatch batch, ProgramSource source, QemuOptions options, int parallel, bool host, CancellationToken cancel = default)
    {
        var watch = Stopwatch.StartNew();
        var columns = new List<KernelColumn>();
        if (host)
        {
            columns.Add(Host(batch.Programs));
        }

        var runs = kernels.Count == 0 ? [] : await new VmMatrix(cache, repoRoot, log).RunAsync(kernels, batch, options, parallel, cancel);
        foreach (var (run, image) in runs.Zip(kernels))
        {
            var probed = Differential.Compare(run, batch.Programs);
            var snapshotProfile = SnapshotProfile(image.Kernel, run.Hello?.Profile);
            var snapshot = snapshotProfile is null ? null : Differential.Compare(run, batch.Programs, snapshotProfile);
            columns.Add(new KernelColumn(
                image.Kernel,
                "qemu",
                run.Hello?.Kernel ?? image.Release,
                image.Version,
                run.Hello?.Profile,
                run.Failed,
                run.Problems,
                run.Notes,
                run.WallSeconds,
                Verdicts(probed, run),
                snapshot is null ? null : Verdicts(snapshot, run),
                run.Hostile,
                probed.Differences.Take(KeptDifferences).ToList()));
        }

        var matrix = ConformanceMatrix.Build(source, batch.Programs, batch.Hostile.Length, columns, watch.Elapsed.TotalSeconds, source.OpLast ?? ProgramSampler.OpLastOfCorpus(repoRoot), MmapOpcode());
        return (matrix, runs);
    }

    /// <summary>The host's kernel: engine first (its ready counts pace the live run where io-wq completes), then the kernel.</summary>
    private KernelColumn Host(IReadOnlyList<RingProgram> programs)
    {
        var release = LiveKernel.Release;
        log($"host: running {programs.Count} programs on {release} and on the engine");
        var watch = Stopwatch.StartNew();
        KernelProfile profile;
        try
        {
            profile = KernelProfile.Probe(new LiveKernel());
        }
        catch (Exception e)
        {
            return new KernelColumn("host", "host", release, null, null, true, [$"probing the host kernel failed: {e.Message}"], [], 0, new bool?[programs.Count], null, null, []);
        }

        var live = new LiveKernel();
        var equal = new bool?[programs.Count];
        var differences = new List<TraceDifference>();
        for (var i = 0; i < programs.Count; i++)
        {
            var engine = Runner.Run(new ReferenceEngine(profile), programs[i]);
            var kernel = Runner.Trace(live, programs[i], engine.Ready);
            var line = Runner.FirstDifference(kernel, engine.Lines);
            equal[i] = line < 0;
            if (line >= 0 && differences.Count < KeptDifferences)
            {
                differences.Add(TraceDifference.At(i, programs[i], line, kernel, engine.Lines));
            }
        }

        log($"host: done in {watch.Elapsed.TotalSeconds:0.0} s");
        return new KernelColumn("host", "host", release, null, profile, false, [], [], watch.Elapsed.TotalSeconds, equal, null, null, differences);
    }

    private static bool?[] Verdicts(DifferentialReport diff, VmRun run)
    {
        var verdicts = new bool?[diff.Programs];
        for (var i = 0; i < verdicts.Length; i++)
        {
            verdicts[i] = run.Results[i] is null ? null : true;
        }

        foreach (var d in diff.Differences)
        {
            verdicts[d.Index] = false;
        }

        return verdicts;
    }

    /// <summary>
    /// What the kernel's ABI snapshot and the behaviour table predict. The query's zero-copy receive
    /// and ring-header answers are numbers of the running kernel, not of its UAPI: they come from the
    /// probe, and everything else from the header.
    /// </summary>
    private KernelProfile? SnapshotProfile(string kernel, KernelProfile? probed) =>
        File.Exists(Path.Combine(repoRoot, "generated", "abi", kernel + ".json"))
            ? KernelBehaviour.FromCorpus(repoRoot, kernel) with { QueryAnswers = probed?.QueryAnswers }
            : null;

    private byte? MmapOpcode()
    {
        var path = Path.Combine(repoRoot, "generated", "abi", "proposals", "op-mmap-v1.json");
        return File.Exists(path) ? MmapLayout.FromSnapshot(SnapshotJson.Read(File.ReadAllText(path), path))?.Opcode : null;
    }
}
