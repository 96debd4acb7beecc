using System.Diagnostics;
using IoUring.Abi.Model;
using IoUring.Engine;

namespace IoUring.Conformance.Vm;

/// <summary>
/// Produces a <see cref="FeatureMatrix"/>: runs the batch on the host's kernel (through a supervised child
/// process), then on every chosen kernel of the lock (<see cref="KernelBoots"/>), and compares each column's
/// traces with the engine given the profile probed there (and, for the corpus kernels, the profile their
/// ABI snapshot predicts).
/// </summary>
public sealed class MatrixRunner
{
    /// <summary>Candidates tried when shrinking a host difference (each one program on the child).</summary>
    private const int HostShrinkBudget = 400;

    private readonly VmCache cache;
    private readonly string repoRoot;
    private readonly Action<string> log;

    public MatrixRunner(VmCache cache, string repoRoot, Action<string> log)
    {
        this.cache = cache;
        this.repoRoot = repoRoot;
        this.log = log;
    }

    /// <summary>
    /// Runs liburing's test suite on the host's kernel and on the engine given the host's probed
    /// profile, for the host's column ('matrix --liburing'; the command line brings the runner, a
    /// stage above this one).
    /// </summary>
    public Func<KernelProfile, LiburingSummary>? HostLiburing { get; init; }

    /// <param name="kernels">The kernels of the lock to boot, in lock order: the images of every architecture the targets need.</param>
    /// <param name="targets">The process ABIs to run the programs as (<see cref="Targets"/>): x86_64 and arm64 programs run on their own architecture's kernels, a 32-bit process on the x86_64 ones.</param>
    public async Task<(FeatureMatrix Matrix, IReadOnlyList<VmRun> Runs)> RunAsync(
        IReadOnlyList<LockedImage> kernels, IReadOnlyList<string> targets, ProgramBatch batch, ProgramSource source, QemuOptions options, int parallel, bool host, CancellationToken cancel = default)
    {
        // Every target is checked before anything runs, so an architecture that cannot run is refused
        // at once rather than after the host and the other targets' VMs took their minutes.
        targets = targets.Distinct().ToList();
        var unknown = targets.Where(t => !Targets.All.Any(a => a.Target == t)).ToList();
        if (unknown.Count > 0)
        {
            throw new ToolException($"no architecture runs programs as {string.Join(", ", unknown)}: the matrix knows {string.Join(", ", Targets.All.Select(a => a.Target))}");
        }

        var compat32 = targets.Contains(Targets.I686);
        var native = kernels.Where(k => targets.Contains(k.Target)).ToList();
        var watch = Stopwatch.StartNew();
        var columns = new List<KernelColumn>();
        if (host)
        {
            columns.Add(Host(batch.Programs));
        }

        // The kernels of every architecture boot in one pool, so an x86_64 and an arm64 VM share the cores.
        IReadOnlyList<VmRun> runs = native.Count == 0 ? [] : await new KernelBoots(cache, repoRoot, log).RunAsync(native, batch, options, parallel, cancel);
        foreach (var (run, image) in runs.Zip(native))
        {
            var probed = VmDifferential.Compare(run, batch.Programs);
            var problems = probed.PacedOtherwise.Count == 0 ? run.Problems : [.. run.Problems, PacingProblem(probed)];
            var snapshotProfile = SnapshotProfile(image.Kernel, image.Target, run.Hello?.Profile);
            var snapshot = snapshotProfile is null ? null : VmDifferential.Compare(run, batch.Programs, snapshotProfile);
            columns.Add(new KernelColumn(
                image.Kernel,
                "qemu",
                run.Hello?.Kernel ?? image.Release,
                image.Version,
                run.Hello?.Profile,
                run.Failed || probed.PacedOtherwise.Count > 0,
                problems,
                run.Notes,
                run.WallSeconds,
                probed.Verdicts(run.Results),
                snapshot?.Verdicts(run.Results),
                run.Hostile,
                probed.Differences)
            {
                Target = image.Target,
                Layout = run.Hello?.Layout,
                Traces = run.Results.Select(r => r?.Trace).ToArray(),
            });
        }

        // A 32-bit process runs on the x86_64 kernels, as their own programs' C export. The engine takes
        // the numbers of the running kernel (the query's answers) from those kernels' probes: from the
        // x86_64 columns when they ran, else from a boot of each that only probes (no programs).
        if (compat32)
        {
            var amd64 = kernels.Where(k => k.Arch == VmArchitecture.X86_64.DebianArch).ToList();
            var probed = runs.Zip(native).Where(x => x.Second.Arch == VmArchitecture.X86_64.DebianArch && x.First.Hello?.Profile is not null).ToDictionary(x => x.Second.Kernel, x => x.First.Hello!.Profile!);
            var unprobed = amd64.Where(k => !probed.ContainsKey(k.Kernel)).ToList();
            if (unprobed.Count > 0)
            {
                var probes = await new KernelBoots(cache, repoRoot, log).RunAsync(unprobed, new ProgramBatch(), options, parallel, cancel);
                foreach (var (run, image) in probes.Zip(unprobed).Where(x => x.First.Hello?.Profile is not null))
                {
                    probed[image.Kernel] = run.Hello!.Profile!;
                }
            }

            columns.AddRange(await new Compat32Columns(cache, repoRoot, log).RunAsync(amd64, batch.Programs, probed, options, parallel, cancel));
        }

        // The order a merge of shards gives too, so that one run and the merge of its shards are one matrix.
        var ordered = MatrixMerge.Canonical(columns, kernels.Select(k => k.Kernel).Distinct().ToList());
        var matrix = FeatureMatrix.Build(source, batch.Programs, batch.Hostile.Length, ordered, watch.Elapsed.TotalSeconds, OpLast(source, repoRoot), MmapOpcode(repoRoot));
        return (matrix, runs);
    }

    /// <summary>What a column says when the engine in its VM paced the kernel otherwise than the host's engine: its traces cannot be trusted.</summary>
    public static string PacingProblem(DifferentialReport report) =>
        $"the engine inside the VM paced {report.PacedOtherwise.Count} program(s) otherwise than the engine on the host (first: program {report.PacedOtherwise[0]}): the engine does not behave alike on the VM's architecture, so the kernel waited for the wrong completions";

    /// <summary>The IORING_OP_LAST the matrix's rows are built with: the source's, or (a program file) the corpus's largest.</summary>
    public static uint OpLast(ProgramSource source, string repoRoot) => source.OpLast ?? SnapshotCorpus.OpLast(repoRoot);

    /// <summary>
    /// The host's kernel, through the supervised child (never in this process): each program on the
    /// engine given the child's probed profile and on the kernel paced by it; a difference is shrunk
    /// against the same child.
    /// </summary>
    private KernelColumn Host(IReadOnlyList<RingProgram> programs)
    {
        var release = IoUring.Ring.LiveKernel.Release;
        log($"host: running {programs.Count} programs on {release} (supervised child) and on the engine");
        var watch = Stopwatch.StartNew();
        SupervisedHost host;
        try
        {
            host = SupervisedHost.Start(AgentBuild.Locate(repoRoot).EntryPath, log);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or ToolException)
        {
            return new KernelColumn("host", "host", release, null, null, true, [$"probing the host kernel failed: {e.Message}"], [], 0, new bool?[programs.Count], null, null, []);
        }

        using (host)
        {
            var equal = new bool?[programs.Count];
            var traces = new ProgramTrace?[programs.Count];
            var differences = new List<ProgramDifference>();
            for (var i = 0; i < programs.Count; i++)
            {
                var verdict = Differential.Check(programs[i], host);
                equal[i] = verdict.Equal;
                traces[i] = verdict.Kernel.Error is null ? verdict.Kernel : null;
                if (!verdict.Equal)
                {
                    var shrunk = Differential.Shrink(verdict, p => Differential.Check(p, host), HostShrinkBudget);
                    differences.Add(new ProgramDifference(i, verdict, shrunk.Smallest, shrunk.Candidates));
                }
            }

            log($"host: done in {watch.Elapsed.TotalSeconds:0.0} s{(host.Incidents.Count > 0 ? $", {host.Incidents.Count} stuck child(ren) freed" : string.Empty)}");
            return new KernelColumn("host", "host", host.Release, null, host.Profile, false, host.Incidents.Select(x => $"supervisor: {x}").ToList(), [], watch.Elapsed.TotalSeconds, equal, null, null, differences)
            {
                Traces = traces,
                Liburing = HostLiburing?.Invoke(host.Profile),
            };
        }
    }

    /// <summary>
    /// What the kernel's ABI snapshot and the behaviour table predict. The query's zero-copy receive
    /// and ring-header answers are numbers of the running kernel, not of its UAPI: they come from the
    /// probe, and everything else from the header.
    /// </summary>
    private KernelProfile? SnapshotProfile(string kernel, string target, KernelProfile? probed) =>
        File.Exists(Checkout.SnapshotPath(repoRoot, kernel))
            ? KernelBehaviour.FromSnapshot(Checkout.ReadSnapshot(repoRoot, kernel), target) with { QueryAnswers = probed?.QueryAnswers }
            : null;

    /// <summary>The proposed IORING_OP_MMAP's opcode (the proposal's snapshot), if the checkout has it: the matrix's proposal row.</summary>
    public static byte? MmapOpcode(string repoRoot)
    {
        var path = Checkout.SnapshotPath(repoRoot, "proposals/op-mmap-v1");
        return File.Exists(path) ? MmapLayout.FromSnapshot(SnapshotJson.Read(File.ReadAllText(path), path))?.Opcode : null;
    }
}
