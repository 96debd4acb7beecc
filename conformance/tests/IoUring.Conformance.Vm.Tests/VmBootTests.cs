using IoUring.Abi.Model;
using IoUring.Conformance.Vm;
using Xunit;
using Xunit.Abstractions;

namespace IoUring.Conformance.Vm.Tests;

/// <summary>
/// The conformance matrix, for real: the host's kernel (through the supervised child) and every kernel of
/// conformance/kernels.lock.json booted once under qemu (two at a time), all with the same generated
/// programs, and hostile SQE bytes inside each VM. Every VM must boot, run the batch and power off
/// (image, initramfs, init, runtime, agent, console protocol), report the locked kernel and a profile;
/// the engine must agree with every kernel on every cell, hostile cases included, and never crash.
/// The matrix is written to TestResults/matrix (markdown, JSON, SVG) and summed up in oracle-report.txt.
/// Outside CI it is skipped when qemu or a kernel image is missing; with CI=true it fails instead.
/// </summary>
public sealed class VmBootTests
{
    private const int Programs = 120;
    private const int HostileCases = 150;
    private const ulong Seed = 20251121;

    private readonly ITestOutputHelper output;

    public VmBootTests(ITestOutputHelper output) => this.output = output;

    [NeedsFact("kernel:all")]
    public async Task EveryLockedKernelAgreesWithTheEngineOnEveryCell()
    {
        Needs.Require("kernel:all");
        var kernels = KernelImageLock.Load(TestEnvironment.LockPath).Kernels;
        var opLast = SnapshotCorpus.OpLast(TestEnvironment.RepoRoot);
        var batch = new ProgramBatch
        {
            Programs = ProgramSampler.Sample(opLast, Seed, Programs),
            Hostile = ProgramSampler.SampleHostile(opLast, Seed, HostileCases),

            // A difference is shrunk inside its VM, so the cell it fails is the feature it is about.
            ShrinkBudget = 300,
        };
        var source = new ProgramSource(null, Seed, Programs, opLast);
        var (matrix, runs) = await new MatrixRunner(new VmCache(), TestEnvironment.RepoRoot, output.WriteLine)
            .RunAsync(kernels, [Targets.X86_64], batch, source, new QemuOptions { Timeout = TimeSpan.FromSeconds(300) }, parallel: 2, host: true);

        var results = Path.Combine(TestEnvironment.RepoRoot, "TestResults");
        var dir = Path.Combine(results, "matrix");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "matrix.md"), MatrixRender.Markdown(matrix));
        File.WriteAllText(Path.Combine(dir, "matrix.json"), MatrixRender.Json(matrix));
        File.WriteAllText(Path.Combine(dir, "matrix.svg"), MatrixRender.Svg(matrix));

        var cells = matrix.Rows.SelectMany(r => r.Cells).ToList();
        var report = new List<string>
        {
            $"matrix: {matrix.Kernels.Count} kernels (host + {runs.Count} under qemu, 2 at a time) in {matrix.WallSeconds:0} s, {Programs} programs and {HostileCases} hostile cases (seed {Seed}): "
                + string.Join(", ", Enum.GetValues<CellState>().Select(s => $"{cells.Count(c => c.State == s)} {MatrixRender.StateName(s)}")),
        };
        foreach (var (k, hostile) in matrix.Kernels.Zip(matrix.Rows[^1].Cells))
        {
            report.Add($"matrix: {k.Kernel} ({k.Release}{(k.Package is null ? string.Empty : ", " + k.Package)}) {(k.Failed ? "FAILED" : $"{k.Seconds:0.0} s")}; hostile: {hostile.Detail}");
        }

        foreach (var line in report)
        {
            output.WriteLine(line);
        }

        Checkout.AppendToTestReport(TestEnvironment.RepoRoot, [.. report]);

        foreach (var (run, kernel) in runs.Zip(kernels))
        {
            Assert.False(run.Failed, $"kernel {run.Kernel}: the VM run failed:\n  {string.Join("\n  ", run.Problems)}\nconsole (tail):\n{run.ConsoleTail(60)}");
            Assert.Equal(kernel.Release, run.Hello!.Kernel);
            Assert.NotNull(run.Hello.Profile);
            Assert.Equal(Programs, run.Done!.Ran);
            Assert.All(run.Results, r => Assert.NotNull(r));
            Assert.All(run.Hostile, r => Assert.NotNull(r));
        }

        var failing = matrix.Rows.SelectMany(r => r.Cells.Select((c, i) => (r, c, k: matrix.Kernels[i]))).Where(x => x.c.State == CellState.Fail)
            .Select(x => $"{x.k.Kernel}, {x.r.Name}: {x.c.Detail}").ToList();
        Assert.True(failing.Count == 0, $"the engine and the kernels disagree (TestResults/matrix/matrix.md has the first difference of each):\n  {string.Join("\n  ", failing)}");
    }
}
