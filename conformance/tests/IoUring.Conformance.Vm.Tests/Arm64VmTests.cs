using IoUring.Abi.Model;
using IoUring.Conformance.Vm;
using IoUring.Engine;
using Xunit;
using Xunit.Abstractions;

namespace IoUring.Conformance.Vm.Tests;

/// <summary>
/// Debian's arm64 kernel under qemu-system-aarch64 with the agent cross-compiled ahead of time for
/// linux-arm64: the image holds arm64 code only, the kernel boots, the agent probes it and runs every
/// program, the C layout the kernel shows equals the bindings', its behaviours are the table's, the
/// engine compiled for arm64 paces the kernel as the host's engine does, and every trace agrees.
/// </summary>
public sealed class Arm64VmTests
{
    private const int Programs = 30;
    private const int HostileCases = 40;
    private const ulong Seed = 20261206;
    private const ushort MachineAarch64 = 183;

    private readonly ITestOutputHelper output;

    public Arm64VmTests(ITestOutputHelper output) => this.output = output;

    [NeedsFact("arm64-kernel:7.2")]
    public async Task AnArm64KernelBootsRunsTheAgentAndShowsTheBindingsLayout()
    {
        Needs.Require("arm64-kernel:7.2");
        var kernel = KernelImageLock.Load(TestEnvironment.LockPath).Select(["7.2"], ["arm64"]);
        Assert.Equal(Targets.Aarch64, Assert.Single(kernel).Target);

        // The agent and init really are arm64 code, not the host's.
        var agent = AgentBuild.ForArchitecture(TestEnvironment.RepoRoot, VmArchitecture.Arm64);
        Assert.True(agent.IsNative);
        Assert.Equal(MachineAarch64, ElfMachine(agent.EntryPath));
        Assert.Equal(MachineAarch64, ElfMachine(InitramfsBuilder.BuildStatic(new VmCache(), "init.c", VmArchitecture.Arm64)));

        var batch = TestEnvironment.Batch(Seed, Programs, HostileCases);
        var run = (await new KernelBoots(new VmCache(), TestEnvironment.RepoRoot, output.WriteLine) { Agents = new Dictionary<VmArchitecture, AgentBuild> { [VmArchitecture.Arm64] = agent } }
            .RunAsync(kernel, batch, new QemuOptions { Timeout = TimeSpan.FromSeconds(300) }, parallel: 1)).Single();

        Assert.False(run.Failed, string.Join("; ", run.Problems));
        Assert.EndsWith("-cloud-arm64", run.Hello!.Kernel, StringComparison.Ordinal);
        var layout = run.Hello.Layout;
        Assert.NotNull(layout);
        Assert.True(layout.Count >= 6, $"only {layout.Count} layout facts came back");
        Assert.All(layout, f => Assert.True(f.Equal, f.ToString()));
        var profile = run.Hello.Profile!;
        Assert.Empty(KernelBehaviour.Disagreements(profile, KernelVersion.Parse(run.Hello.Kernel)));
        Assert.Equal(Programs, run.Results.Count(r => r?.Trace is not null));
        Assert.Equal(HostileCases, run.Hostile.Count(h => h is not null));
        Assert.DoesNotContain(run.Hostile, h => h?.Verdict == HostileVerdict.EngineCrash);

        // The engine inside the VM (compiled for arm64) paces the kernel as the host's does, and the
        // traces agree: an engine that judged arm64 addresses by x86_64's user-space limit failed both.
        var differential = VmDifferential.Compare(run, batch.Programs);
        Assert.Empty(differential.PacedOtherwise);
        Assert.True(differential.Different == 0, differential.First is { } d ? $"program {d.Index}: {d.Verdict.Difference}" : null);
        Checkout.AppendToTestReport(TestEnvironment.RepoRoot, $"arm64: 7.2 ({run.Hello.Kernel}) under qemu-system-aarch64, {Programs} programs and {HostileCases} hostile cases: layout {layout.Count} facts equal, behaviours as the table says, engine {differential.Equal} equal, {differential.Different} different; {run.WallSeconds:0.0} s");
    }

    private static ushort ElfMachine(string path)
    {
        using var f = File.OpenRead(path);
        var header = new byte[20];
        f.ReadExactly(header);
        Assert.Equal([0x7f, (byte)'E', (byte)'L', (byte)'F'], header[..4]);
        return BitConverter.ToUInt16(header, 18);
    }
}
