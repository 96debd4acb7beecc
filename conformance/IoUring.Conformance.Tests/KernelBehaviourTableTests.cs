using IoUring.Abi.Model;
using IoUring.Engine;
using Xunit;
using Xunit.Abstractions;

namespace IoUring.Conformance.Tests;

/// <summary>
/// The kernel-behaviour table is the one place for facts a header cannot say: every kernel whose traces
/// are recorded was probed, and each probed behaviour must be what the table says for that kernel's
/// version; the snapshot profiles and docs/engine.md are read from the table.
/// </summary>
public sealed class KernelBehaviourTableTests
{
    private readonly ITestOutputHelper output;

    public KernelBehaviourTableTests(ITestOutputHelper output) => this.output = output;

    [Theory]
    [MemberData(nameof(ReplayTests.Kernels), MemberType = typeof(ReplayTests))]
    public void EveryRecordedKernelWasProbedAsTheTableSays(string kernel)
    {
        var header = TraceCorpus.Load(Path.Combine(ReplayTests.CorpusDirectory, kernel + TraceCorpus.Extension)).Header;
        var version = KernelVersion.Parse(header.Release);
        var disagreements = KernelBehaviour.Disagreements(header.Profile, version).ToList();
        output.WriteLine($"{kernel} ({header.Release}, table row {version}): {KernelBehaviour.Table.Count - disagreements.Count} of {KernelBehaviour.Table.Count} behaviours as the table says");
        Assert.True(disagreements.Count == 0, string.Join("\n", disagreements.Select(d => $"{kernel} ({header.Release}): {d.Behaviour.Name} probed {d.Probed}, the table says {d.Table} for {version}")));
    }

    [Theory]
    [InlineData("6.1")]
    [InlineData("6.12")]
    [InlineData("7.2")]
    [InlineData("7.3-rc")]
    public void SnapshotProfilesTakeEveryBehaviourFromTheTable(string kernel)
    {
        var profile = KernelBehaviour.FromCorpus(Repository.Root, kernel);
        Assert.Empty(KernelBehaviour.Disagreements(profile, KernelVersion.Parse(kernel)));
    }

    [Fact]
    public void TheEngineDocPrintsTheTable()
    {
        var path = Path.Combine(Repository.Root, "docs", "engine.md");
        var text = File.ReadAllText(path);
        Assert.True(BehaviourTableDoc.Write(text, path) == text, "docs/engine.md's kernel behaviour section is not the table's: run 'io_uring-conformance behaviours --write'");
    }

    [Theory]
    [InlineData("6.1", 6, 1)]
    [InlineData("7.3-rc", 7, 3)]
    [InlineData("6.1.0-50-cloud-amd64", 6, 1)]
    [InlineData("6.18.44-fc-v1045", 6, 18)]
    public void KernelVersionsAreReadFromNamesAndReleases(string text, int major, int minor) =>
        Assert.Equal(new KernelVersion(major, minor), KernelVersion.Parse(text));

    [Fact]
    public void ARangeHoldsItsStartAndNotItsEnd()
    {
        var range = KernelRange.Between(6, 10, 6, 15);
        Assert.True(range.Contains(new KernelVersion(6, 10)));
        Assert.True(range.Contains(new KernelVersion(6, 14)));
        Assert.False(range.Contains(new KernelVersion(6, 15)));
        Assert.False(range.Contains(new KernelVersion(6, 9)));
        Assert.False(KernelRange.None.Contains(new KernelVersion(6, 1)));
        Assert.Equal(KernelVersion.Future, KernelVersion.Parse("proposals/op-mmap-v1"));
    }
}
