using IoUring.Conformance.Vm;
using Xunit;
using Xunit.Abstractions;

namespace IoUring.Conformance.Vm.Tests;

/// <summary>
/// Real boots: every kernel of conformance/kernels.lock.json under qemu, two at a time, each with the
/// agent and the same generated batch. It checks the VM machinery end to end on each (image, initramfs,
/// init, runtime, agent, console protocol): every program comes back, the probed profile comes back,
/// the kernel is the locked one, nothing panicked or hung. The engine's agreement with each kernel is
/// reported (test output and TestResults/oracle-report.txt), not asserted: the engine follows the
/// kernels issue by issue, and the differential tests own that verdict.
/// Outside CI it is skipped when qemu or a kernel image is missing; with CI=true it fails instead.
/// </summary>
public sealed class VmBootTests
{
    private const int Programs = 50;
    private const ulong Seed = 20251121;

    private readonly ITestOutputHelper output;

    public VmBootTests(ITestOutputHelper output) => this.output = output;

    [NeedsFact("kernel:all")]
    public async Task EveryLockedKernelBootsRunsTheBatchAndPowersOff()
    {
        Needs.Require("kernel:all");
        var kernels = KernelImageLock.Load(TestEnvironment.LockPath).Kernels;
        var programs = ProgramSampler.Sample(ProgramSampler.OpLastOfCorpus(TestEnvironment.RepoRoot), Seed, Programs);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var runs = await new VmMatrix(new VmCache(), TestEnvironment.RepoRoot, output.WriteLine)
            .RunAsync(kernels, new ProgramBatch { Programs = programs }, new QemuOptions { Timeout = TimeSpan.FromSeconds(300) }, parallel: 2);
        var report = new List<string> { $"vm: {runs.Count} kernels booted under qemu in {watch.Elapsed.TotalSeconds:0} s (2 at a time), {Programs} programs each (seed {Seed})" };
        foreach (var run in runs)
        {
            output.WriteLine($"{run.Kernel}: {BootPhases.Of(run)}");
            foreach (var line in run.Problems.Select(p => $"  problem: {p}").Concat(run.Notes.Select(n => $"  note: {n}")))
            {
                output.WriteLine(line);
            }

            var diff = Differential.Compare(run, programs);
            report.Add($"vm: {run.Kernel} ({run.Hello?.Kernel ?? run.Release}) {(run.Failed ? "FAILED" : $"booted in {run.WallSeconds:0.0} s")}; engine vs kernel: {diff.Equal} of {diff.Programs} programs equal"
                + (diff.First is { } d ? $"; first difference program {d.Index} line {d.Line}: kernel '{d.KernelLine}' engine '{d.EngineLine}'" : string.Empty));
        }

        foreach (var line in report)
        {
            output.WriteLine(line);
        }

        var results = Path.Combine(TestEnvironment.RepoRoot, "TestResults");
        Directory.CreateDirectory(results);
        File.AppendAllLines(Path.Combine(results, "oracle-report.txt"), report);

        foreach (var (run, kernel) in runs.Zip(kernels))
        {
            Assert.False(run.Failed, $"kernel {run.Kernel}: the VM run failed:\n  {string.Join("\n  ", run.Problems)}\nconsole (tail):\n{run.ConsoleTail(60)}");
            Assert.Equal(kernel.Release, run.Hello!.Kernel);
            Assert.NotNull(run.Hello.Profile);
            Assert.Equal(Programs, run.Done!.Ran);
            Assert.All(run.Results, r => Assert.NotNull(r));
        }
    }
}
