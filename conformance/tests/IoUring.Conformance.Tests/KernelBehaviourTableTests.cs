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
        var profile = Repository.SnapshotProfile(kernel);
        Assert.Empty(KernelBehaviour.Disagreements(profile, KernelVersion.Parse(kernel)));
    }

    /// <summary>
    /// What a snapshot profile reads from the kernel's header is what the kernel, probed, was found to
    /// know: the same opcodes, SQE, NOP and enter flags, features, register opcodes and query. Without
    /// IORING_REGISTER_QUERY (before 6.18) the probe cannot ask for the enter flags or the setup flags
    /// that need arguments, and assumes what every kernel since 6.0 has; those two are compared only
    /// where the kernel answers the query.
    /// </summary>
    [Theory]
    [InlineData("6.1")]
    [InlineData("6.12")]
    [InlineData("7.2")]
    [InlineData("7.3-rc")]
    public void SnapshotProfilesKnowWhatTheKernelWasProbedToKnow(string kernel)
    {
        var probed = TraceCorpus.Load(Path.Combine(ReplayTests.CorpusDirectory, kernel + TraceCorpus.Extension)).Header.Profile;
        var snapshot = Repository.SnapshotProfile(kernel);
        var facts = new (string Name, Func<KernelProfile, object> Of)[]
        {
            ("OpLast", p => p.OpLast), ("SupportedOps", p => p.SupportedOps), ("SqeFlags", p => p.SqeFlags), ("NopFlags", p => p.NopFlags),
            ("Features", p => p.Features), ("RegisterOpLast", p => p.RegisterOpLast), ("HasQuery", p => p.HasQuery),
            ("QueryOps", p => p.QueryOps), ("QueryOpcodeSize", p => p.QueryOpcodeSize), ("HasMemRegion", p => p.HasMemRegion),
        };
        if (probed.HasQuery)
        {
            facts = [.. facts, ("EnterFlags", p => p.EnterFlags), ("KnownSetupFlags", p => p.KnownSetupFlags)];
        }

        var differ = facts.Where(f => !f.Of(probed).Equals(f.Of(snapshot))).Select(f => $"{f.Name}: probed {f.Of(probed)}, snapshot {f.Of(snapshot)}").ToList();
        Assert.True(differ.Count == 0, $"{kernel}: " + string.Join("; ", differ));
        Assert.Equal($"{kernel} (snapshot)", snapshot.Name);
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
