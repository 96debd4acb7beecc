using Xunit;
using Xunit.Abstractions;

namespace IoUring.Conformance.Tests;

/// <summary>
/// Every program of the trace corpus (conformance/corpus: real kernels' traces, recorded by
/// 'io_uring-conformance record' and grown by 'soak') replayed on the engine given the profile recorded
/// with it: the traces must be equal. Needs neither io_uring nor qemu, so it holds the engine to five
/// kernels on any machine, a container that refuses io_uring_setup included.
/// </summary>
public sealed class ReplayTests
{
    private readonly ITestOutputHelper output;

    public ReplayTests(ITestOutputHelper output) => this.output = output;

    public static string CorpusDirectory => Path.Combine(Repository.Root, "conformance", "corpus");

    public static TheoryData<string> Kernels()
    {
        var data = new TheoryData<string>();
        foreach (var file in TraceCorpus.Files(CorpusDirectory))
        {
            data.Add(TraceCorpus.KernelOf(file));
        }

        return data;
    }

    [Fact]
    public void TheCorpusHoldsEveryLockedKernelAndAHost()
    {
        var kernels = TraceCorpus.Files(CorpusDirectory).Select(TraceCorpus.KernelOf).ToList();
        foreach (var locked in new[] { "6.1", "6.12", "7.2", "7.3-rc" })
        {
            Assert.Contains(locked, kernels);
        }

        Assert.Contains(kernels, k => k.StartsWith("host-", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void EveryRecordedProgramReplaysOnTheEngine(string kernel)
    {
        var corpus = TraceCorpus.Load(Path.Combine(CorpusDirectory, kernel + TraceCorpus.Extension));
        var (results, elapsed) = corpus.Replay();
        var different = results.Where(r => !r.Verdict.Equal).ToList();
        var regressions = corpus.Entries.Count(e => e.Name.StartsWith("soak", StringComparison.Ordinal));
        var line = $"replay {kernel} ({corpus.Header.Release}{(corpus.Header.Package is { } p ? ", " + p : string.Empty)}): {results.Count} recorded programs ({regressions} soak regressions), {results.Count - different.Count} equal, in {elapsed.TotalSeconds:0.00} s ({results.Count / elapsed.TotalSeconds:0} programs/s)";
        output.WriteLine(line);
        Repository.Report("conformance: " + line);
        Assert.True(different.Count == 0, $"{different.Count} of {results.Count} recorded programs of {kernel} differ; first: '{different.FirstOrDefault()?.Entry.Name}', {different.FirstOrDefault()?.Verdict.Difference}\n"
            + $"replay: io_uring-conformance replay {kernel} --program '{different.FirstOrDefault()?.Entry.Name}'\n"
            + (different.Count > 0 ? Differential.Describe(different[0].Verdict, $"{kernel} (recorded)") : string.Empty));
    }
}
