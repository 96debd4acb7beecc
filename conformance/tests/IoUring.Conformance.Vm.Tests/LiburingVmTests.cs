using IoUring.Conformance.Liburing;
using IoUring.Conformance.Vm;
using Xunit;
using Xunit.Abstractions;

namespace IoUring.Conformance.Vm.Tests;

/// <summary>
/// liburing's tests on a kernel of the corpus under qemu and on the engine given that kernel's
/// profile ('liburing --kernel 7.2'): the same binaries pass on Debian's 7.2 and on the engine as 7.2,
/// among them tests that found faults in the engine (link_drain, pipe-reuse, nop32-overflow).
/// </summary>
public sealed class LiburingVmTests
{
    private readonly ITestOutputHelper output;

    public LiburingVmTests(ITestOutputHelper output) => this.output = output;

    [NeedsFact("kernel:7.2", "tool:gcc", "tool:make")]
    public async Task LiburingTestsPassOnDebians72AndOnTheEngineAs72()
    {
        Needs.Require("kernel:7.2", "tool:gcc", "tool:make");
        var suite = LiburingSuite.Prepare(TestEnvironment.RepoRoot, null, output.WriteLine);
        string[] names = ["nop", "nop-all-sizes", "link_drain", "pipe-reuse", "nop32-overflow", "fixed-link"];
        var tests = suite.Tests.Where(t => names.Contains(t.Name)).ToList();
        Assert.Equal(names.Length, tests.Count);
        var kernel = KernelImageLock.Load(TestEnvironment.LockPath).Find("7.2");
        var report = await suite.RunOnVmAsync(new VmCache(), kernel, tests, "7.2", "7.2 (snapshot)", LiburingSuite.DefaultTimeoutSeconds, output.WriteLine);
        Assert.Contains("7.2", report.Settings.KernelRelease, StringComparison.Ordinal);
        Assert.All(report.Results, r =>
        {
            Assert.True(r.Kernel.Outcome == TestOutcome.Pass, $"{r.Test} on 7.2 under qemu: {r.Kernel.Outcome} (exit {r.Kernel.ExitStatus}): {r.Kernel.Tail}");
            Assert.True(r.EngineServed && r.Engine.Outcome == TestOutcome.Pass, $"{r.Test} on the engine as 7.2: {r.Engine.Outcome} (exit {r.Engine.ExitStatus}, engine served: {r.EngineServed}): {r.Engine.Tail}");
        });
    }
}
