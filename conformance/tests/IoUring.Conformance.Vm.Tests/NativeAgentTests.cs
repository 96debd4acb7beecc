using System.Reflection;
using IoUring.Abi.Model;
using IoUring.Conformance.Vm;
using Xunit;
using Xunit.Abstractions;

namespace IoUring.Conformance.Vm.Tests;

/// <summary>
/// The agent compiled ahead of time (one executable and the C library, no .NET runtime in the
/// initramfs) gives, inside a VM, the same traces as the JIT agent: both boot the same kernel with the
/// same batch, and the engine agrees with both.
/// </summary>
public sealed class NativeAgentTests
{
    private const int Programs = 40;
    private const int HostileCases = 60;
    private const ulong Seed = 20261206;

    private readonly ITestOutputHelper output;

    public NativeAgentTests(ITestOutputHelper output) => this.output = output;

    [NeedsFact("kernel:7.2")]
    public async Task TheNativeAgentTracesInAVmEqualTheJitAgents()
    {
        Needs.Require("kernel:7.2");
        var configuration = typeof(NativeAgentTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        var native = AgentBuild.PublishNative(TestEnvironment.RepoRoot, Directory.CreateTempSubdirectory("iouring-native-agent-").FullName, configuration);

        var kernel = KernelImageLock.Load(TestEnvironment.LockPath).Select(["7.2"]);
        var batch = TestEnvironment.Batch(Seed, Programs, HostileCases);
        var options = new QemuOptions { Timeout = TimeSpan.FromSeconds(300) };
        var jitBoot = new KernelBoots(new VmCache(), TestEnvironment.RepoRoot, output.WriteLine).RunAsync(kernel, batch, options, parallel: 1);
        var nativeBoot = new KernelBoots(new VmCache(), TestEnvironment.RepoRoot, output.WriteLine) { Agents = new Dictionary<VmArchitecture, AgentBuild> { [VmArchitecture.X86_64] = native } }.RunAsync(kernel, batch, options, parallel: 1);
        var jit = (await jitBoot).Single();
        var aot = (await nativeBoot).Single();

        Assert.False(jit.Failed, string.Join("; ", jit.Problems));
        Assert.False(aot.Failed, string.Join("; ", aot.Problems));
        Assert.Equal(Programs, aot.Results.Count(r => r?.Trace is not null));
        for (var i = 0; i < Programs; i++)
        {
            Assert.Equal(jit.Results[i]!.Trace!.ToString(), aot.Results[i]!.Trace!.ToString());
        }

        static string Verdict(HostileResult? h) => h is null ? "(none)" : $"{h.Verdict} {h.Why} {string.Join(" | ", h.KernelTrace ?? [])}";
        Assert.Equal(jit.Hostile.Select(Verdict), aot.Hostile.Select(Verdict));
        var differential = VmDifferential.Compare(aot, batch.Programs);
        Assert.Equal(0, differential.Different);
        Assert.Equal(
            System.Text.Json.JsonSerializer.Serialize(jit.Hello!.Profile, AgentJson.Default.KernelProfile),
            System.Text.Json.JsonSerializer.Serialize(aot.Hello!.Profile, AgentJson.Default.KernelProfile));
        Checkout.AppendToTestReport(TestEnvironment.RepoRoot, $"native agent: 7.2 under qemu, {Programs} programs and {HostileCases} hostile cases: traces, hostile verdicts and probed profile equal to the JIT agent's; engine {differential.Equal} equal, 0 different; boot and run {aot.WallSeconds:0.0} s native, {jit.WallSeconds:0.0} s JIT");
    }
}
