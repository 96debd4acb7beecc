using IoUring.Abi.Clang;
using IoUring.Abi.Model;
using Xunit;
using Xunit.Abstractions;

namespace IoUring.Abi.Tests;

/// <summary>
/// Any UAPI header, not just io_uring's: perf_event.h (a struct of some fifty bitfields, unions and a
/// negotiated size) extracted from the whole cached tree and judged by gcc on the four targets.
/// </summary>
public sealed class UapiHeaderTests
{
    private const string PerfEvent = "linux/perf_event.h";

    private static readonly Dictionary<string, Lazy<AbiSnapshot>> PerfSnapshots = new[] { "6.12", "7.2" }
        .ToDictionary(k => k, k => new Lazy<AbiSnapshot>(() => Extractor.Extract(new IncludeTree(Corpus.Tree(k).Root, roots: [PerfEvent]), CTarget.All, k, new HeaderSource { Kind = "debian" })));

    private readonly ITestOutputHelper output;

    public UapiHeaderTests(ITestOutputHelper output) => this.output = output;

    public static IEnumerable<object[]> Cases =>
        new[] { "6.12", "7.2" }.SelectMany(k => CTarget.All.Select(t => new object[] { k, t.ShortName }));

    [Theory]
    [MemberData(nameof(Cases))]
    public void GccConfirmsPerfEventLayoutsAndBitfields(string kernel, string targetName)
    {
        var snap = PerfSnapshots[kernel].Value;
        var target = CTarget.Parse(targetName);
        var root = Corpus.Tree(kernel).Root;
        Assert.Equal([PerfEvent], snap.Headers.Select(h => h.Path));
        Assert.Contains(snap.Records, r => r.Name == "perf_event_attr");

        // Sizes, alignments, offsets, member types and macro values through _Static_assert.
        GccOracleTests.AssertGccConfirms(snap, $"{kernel}-perf_event", root, target, output);

        // Bit positions through the bytes gcc lays out.
        var index = snap.Targets.ToList().IndexOf(target.Triple);
        var probes = BitfieldOracle.Probes(snap, index);
        Assert.True(probes.Count(p => p.Record == "perf_event_attr") >= 30, $"perf_event_attr should have dozens of bitfields; found {probes.Count(p => p.Record == "perf_event_attr")}");
        var bytes = BitfieldOracle.Compile(snap, probes, root, target);
        var wrong = BitfieldOracle.Mismatches(probes, bytes);
        Assert.True(wrong.Count == 0, $"gcc lays out {wrong.Count} bitfield(s) of {PerfEvent} ({kernel}, {target.Triple}) elsewhere than the snapshot:\n{string.Join("\n", wrong.Take(15))}");
        var line = $"gcc bitfield oracle: {PerfEvent} {kernel} {target.Triple,-20} {probes.Count} bitfields at the snapshot's bit offset and width";
        output.WriteLine(line);
        Report.Append(line);

        // The oracle can fail: one bit off is seen.
        var off = probes.Select((p, i) => i == 0 ? p with { BitOffset = p.BitOffset + 1 } : p).ToList();
        Assert.Single(BitfieldOracle.Mismatches(off, bytes));
    }
}
