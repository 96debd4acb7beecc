using System.Diagnostics;
using IoUring.Abi.Model;
using Xunit;
using Xunit.Abstractions;

namespace IoUring.Abi.Tests;

/// <summary>
/// Every committed snapshot, every target: gcc (a different compiler from the libclang that produced
/// the snapshot) must accept every _Static_assert the snapshot implies, against the same headers.
/// </summary>
public sealed class GccOracleTests
{
    private readonly ITestOutputHelper output;

    public GccOracleTests(ITestOutputHelper output) => this.output = output;

    public static IEnumerable<object[]> Cases =>
        Corpus.Kernels.SelectMany(k => CTarget.All.Select(t => new object[] { k[0], t.ShortName }));

    [Theory]
    [MemberData(nameof(Cases))]
    public void GccConfirmsEverySnapshotFact(string kernel, string targetName) =>
        AssertGccConfirms(Corpus.Snapshot(kernel), kernel, Corpus.Tree(kernel).Root, CTarget.Parse(targetName), output);

    /// <summary>
    /// Compiles the snapshot's _Static_asserts for one target with that target's gcc against
    /// <paramref name="includeRoot"/> (a kernel's tree, or a proposal's patched copy of its base).
    /// </summary>
    internal static void AssertGccConfirms(AbiSnapshot snap, string label, string includeRoot, CTarget target, ITestOutputHelper output)
    {
        var index = snap.Targets.ToList().IndexOf(target.Triple);
        Assert.True(index >= 0, $"snapshot {label} lacks target {target.Triple}");
        var gcc = Corpus.RequireTool(target.GccCommand, target.GccCommand == "gcc" ? "gcc" : "gcc-" + target.Triple);

        var (source, assertions, unexpressible) = StaticAssertOracle.Build(snap, index);
        var file = Path.Combine(Path.GetTempPath(), $"abi-oracle-{label.Replace('/', '_')}-{target.ShortName}-{Environment.ProcessId}.c");
        File.WriteAllText(file, source);
        try
        {
            var psi = new ProcessStartInfo(gcc)
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            };
            foreach (var a in new[] { "-std=gnu11", "-fsyntax-only", "-nostdinc", "-I", includeRoot, "-I", Path.Combine(includeRoot, target.MultiarchDir), file })
            {
                psi.ArgumentList.Add(a);
            }

            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            var failed = stderr.Split('\n').Where(l => l.Contains("error", StringComparison.Ordinal)).Take(15).ToList();
            Assert.True(p.ExitCode == 0, $"{gcc} rejected {failed.Count}+ facts of snapshot {label} for {target.Triple}:\n{string.Join("\n", failed)}");

            var line = $"gcc oracle: kernel {label,-7} {target.Triple,-20} {assertions,5} assertions passed ({unexpressible} unnamed-member/bitfield facts not expressible in C, covered through their named members)";
            output.WriteLine(line);
            Report.Append(line);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void TheOracleCanFail()
    {
        // A snapshot with one wrong offset must be refused, or the oracle proves nothing.
        var snap = Corpus.Snapshot(Corpus.Lock.NewestReleased().Kernel);
        var sqe = snap.Records.Single(r => r.Name == "io_uring_sqe");
        var userData = sqe.Fields.Single(f => f.Name == "user_data");
        var wrong = new FieldDecl
        {
            Name = userData.Name,
            Type = userData.Type,
            Canonical = userData.Canonical,
            Dims = userData.Dims,
            Line = userData.Line,
            Size = userData.Size,
            BitOffset = userData.BitOffset.Select(b => b + 8),
        };
        var bad = new AbiSnapshot
        {
            Kernel = snap.Kernel,
            Source = snap.Source,
            Targets = snap.Targets,
            Headers = snap.Headers,
            Enums = [],
            Typedefs = [],
            Macros = [],
            SkippedMacros = [],
            Records = [new RecordDecl { Id = sqe.Id, Name = sqe.Name, Kind = sqe.Kind, Location = sqe.Location, Size = sqe.Size, Align = sqe.Align, Fields = [wrong] }],
        };
        var (source, _, _) = StaticAssertOracle.Build(bad, 0);
        var tree = Corpus.Tree(snap.Kernel);
        var file = Path.Combine(Path.GetTempPath(), $"abi-oracle-negative-{Environment.ProcessId}.c");
        File.WriteAllText(file, source);
        try
        {
            var psi = new ProcessStartInfo(Corpus.RequireTool("gcc", "gcc")) { RedirectStandardError = true };
            foreach (var a in new[] { "-std=gnu11", "-fsyntax-only", "-nostdinc", "-I", tree.Root, "-I", Path.Combine(tree.Root, "x86_64-linux-gnu"), file })
            {
                psi.ArgumentList.Add(a);
            }

            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.NotEqual(0, p.ExitCode);
            Assert.Contains("user_data", stderr);
        }
        finally
        {
            File.Delete(file);
        }
    }
}

/// <summary>Collects the oracle's per-snapshot counts into the test run's report.</summary>
internal static class Report
{
    public static void Append(string line) => Checkout.AppendToTestReport(Corpus.Root, line);
}
