using IoUring.Engine;
using Xunit;

namespace IoUring.Conformance.Tests;

/// <summary>Kernels only ever add: what the host kernel knows (probed), the newest header of the corpus knows too.</summary>
[Collection("serial")]
public sealed class HostProfileTests
{
    [HostKernelFact]
    public void TheHostKnowsNothingTheNewestReleasedHeaderLacks()
    {
        var host = HostKernel.Profile;
        var newest = Repository.SnapshotProfile("7.2");
        Assert.Equal(0u, host.KnownSetupFlags & ~newest.KnownSetupFlags);
        Assert.Equal(0u, host.Features & ~newest.Features);
        Assert.True(host.OpLast <= newest.OpLast, $"the host knows {host.OpLast} opcodes, the newest header {newest.OpLast}");
    }
}
