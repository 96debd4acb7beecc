using System.Diagnostics;
using System.Text.RegularExpressions;
using IoUring.Abi.Diff;
using IoUring.Abi.Model;
using Xunit;
using Xunit.Abstractions;

namespace IoUring.Abi.Tests;

/// <summary>The ABI diff on synthetic header pairs (one or more per change class), on the real corpus, and against abidiff.</summary>
public sealed class DiffTests
{
    private static readonly string CasesDir = Path.Combine(Corpus.Root, "generator", "tests", "IoUring.Abi.Tests", "DiffCases");
    private readonly ITestOutputHelper output;

    public DiffTests(ITestOutputHelper output) => this.output = output;

    public static IEnumerable<object[]> Cases =>
        Directory.GetDirectories(Path.Combine(Corpus.Root, "generator", "tests", "IoUring.Abi.Tests", "DiffCases")).Select(d => new object[] { Path.GetFileName(d) }).OrderBy(c => (string)c[0], StringComparer.Ordinal);

    internal static AbiSnapshot ExtractHeader(string header)
    {
        var output = Path.Combine(Path.GetTempPath(), $"diffcase-{Guid.NewGuid():N}.json");
        try
        {
            var (rc, _, err) = Corpus.RunCli(["extract", "--header", header, "--name", Path.GetFileName(Path.GetDirectoryName(header)!) + "/" + Path.GetFileNameWithoutExtension(header), "-o", output]);
            Assert.True(rc == 0, $"extract {header} failed: {err}");
            return SnapshotJson.Read(File.ReadAllText(output), output);
        }
        finally
        {
            File.Delete(output);
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void SyntheticPairIsClassifiedAsExpected(string name)
    {
        var dir = Path.Combine(CasesDir, name);
        var report = AbiComparer.Compare(ExtractHeader(Path.Combine(dir, "old.h")), ExtractHeader(Path.Combine(dir, "new.h")));
        var expected = File.ReadAllLines(Path.Combine(dir, "expected.txt"))
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split(' ', 3))
            .Select(p => (Class: int.Parse(p[0], System.Globalization.CultureInfo.InvariantCulture), Severity: p[1], Name: p[2]))
            .ToList();
        var got = report.Changes.Select(c => (c.Class, Severity: ReportWriter.Label(c.Severity), c.Name)).ToList();
        var text = ReportWriter.Text(report, name, color: false);
        output.WriteLine(text);
        foreach (var e in expected)
        {
            Assert.True(got.Contains(e), $"{name}: expected '{e.Class} {e.Severity} {e.Name}' in:\n{text}");
        }

        var classes = expected.Select(e => e.Class).ToHashSet();
        var stray = got.Where(g => !classes.Contains(g.Class)).ToList();
        Assert.True(stray.Count == 0, $"{name}: unexpected classes {string.Join(", ", stray)} in:\n{text}");
    }

    [Fact]
    public void TheCorpusCoversEveryChangeClass()
    {
        var covered = Directory.GetDirectories(CasesDir)
            .SelectMany(d => File.ReadAllLines(Path.Combine(d, "expected.txt")))
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => int.Parse(l.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture))
            .ToHashSet();
        var missing = Enumerable.Range(1, 18).Where(c => !covered.Contains(c)).ToList();
        Assert.True(missing.Count == 0, $"no synthetic case for class(es) {string.Join(", ", missing)}");
    }

    [Fact]
    public void Diff612To72ListsTheKnownChanges()
    {
        var report = AbiComparer.Compare(Corpus.Snapshot("6.12"), Corpus.Snapshot("7.2"));
        bool Has(int cls, Severity sev, string name) => report.Changes.Any(c => c.Class == cls && c.Severity == sev && c.Name == name);

        Assert.True(report.Changes.Count(c => c.Class == 13 && c.Severity == Severity.Compat) >= 24, "added macros");
        Assert.True(Has(13, Severity.Compat, "IORING_SETUP_SQ_REWIND"));
        Assert.True(Has(13, Severity.Info, "IORING_URING_CMD_MASK"), "IORING_URING_CMD_MASK widened");
        foreach (var m in new[] { "pipe_flags", "write_stream", "zcrx_ifq_idx", "attr_ptr", "attr_type_mask" })
        {
            Assert.True(Has(7, Severity.Compat, "io_uring_sqe." + m), $"io_uring_sqe.{m} as a union member added");
        }

        Assert.True(Has(5, Severity.Risk, "io_uring_clone_buffers.pad"));
        Assert.True(Has(5, Severity.Risk, "io_uring_napi.pad"));
        Assert.True(Has(5, Severity.Risk, "io_uring_napi.resv"));
        Assert.True(Has(12, Severity.Compat, "IORING_OP_RECV_ZC") && Has(12, Severity.Compat, "IORING_OP_URING_CMD128"));
        Assert.True(Has(12, Severity.Info, "IORING_OP_LAST") && Has(12, Severity.Info, "IORING_REGISTER_LAST"), "moved sentinels");
        Assert.DoesNotContain(report.Changes, c => c.Severity == Severity.Break);
    }

    [Theory]
    [InlineData("6.1", "6.12")]
    [InlineData("6.12", "7.2")]
    [InlineData("7.2", "7.3-rc")]
    public void EveryStructAndEnumChangeAbidiffReportsIsInOurs(string older, string newer)
    {
        var abidiff = Corpus.RequireTool("abidiff", "abigail-tools");
        var a = Corpus.Snapshot(older);
        var b = Corpus.Snapshot(newer);
        var report = AbiComparer.Compare(a, b, ["x86_64-linux-gnu"]);
        var dir = Directory.CreateTempSubdirectory("abidiff-").FullName;
        try
        {
            var objects = new[] { older, newer }.Select(k =>
            {
                var tree = Corpus.Tree(k);
                var c = Path.Combine(dir, k + ".c");
                var o = Path.Combine(dir, k + ".o");
                File.WriteAllText(c, "#include <linux/io_uring.h>\nint abi_anchor;\n");
                Run("gcc", "-g", "-c", "-fno-eliminate-unused-debug-types", "-nostdinc", "-I", tree.Root, "-I", Path.Combine(tree.Root, "x86_64-linux-gnu"), "-o", o, c);
                return o;
            }).ToArray();
            var text = Run(abidiff, "--non-reachable-types", objects[0], objects[1]);

            var ours = report.Changes.Select(c => c.Name.Split('.')[0]).ToHashSet(StringComparer.Ordinal);
            var oursText = string.Join("\n", report.Changes.Select(c => $"{c.Name} {c.Message}"));
            var ioUringTypes = a.Records.Concat(b.Records).Where(r => r.Name is not null && IncludeTree.IsIoUringHeader(r.Location.File)).Select(r => r.Name!)
                .Concat(a.Enums.Concat(b.Enums).Where(e => e.Name is not null).Select(e => e.Name!)).ToHashSet(StringComparer.Ordinal);
            var namesInB = b.Enums.SelectMany(e => e.Enumerators.Select(x => x.Name)).ToHashSet(StringComparer.Ordinal);

            int named = 0, anonymousClaims = 0, falseClaims = 0;
            var missing = new List<string>();
            foreach (Match m in Regex.Matches(text, @"\[(?<k>[ACD])\] '(?<kind>struct|enum|union) (?<name>[A-Za-z_][A-Za-z0-9_]*)'"))
            {
                var typeName = m.Groups["name"].Value;
                if (!ioUringTypes.Contains(typeName))
                {
                    continue; // linux/fs.h and friends: not io_uring's UAPI
                }

                named++;
                if (!ours.Contains(typeName) && !report.Changes.Any(c => c.Message.Contains(typeName, StringComparison.Ordinal)))
                {
                    missing.Add($"[{m.Groups["k"].Value}] {m.Groups["kind"].Value} {typeName}");
                }
            }

            // Enumerators abidiff calls inserted or deleted (anonymous enums it pairs by order included):
            // each insertion must be in ours; each deletion is in ours or the enumerator still exists.
            foreach (Match m in Regex.Matches(text, @"enumerator (?<what>insertion|deletion)s?:\n(?<lines>(\s+'[^']+' value '[^']+'\n)+)"))
            {
                foreach (Match e in Regex.Matches(m.Groups["lines"].Value, @"'(?:[^:']+::)?(?<n>[A-Za-z_][A-Za-z0-9_]*)' value"))
                {
                    anonymousClaims++;
                    var n = e.Groups["n"].Value;
                    if (oursText.Contains(n, StringComparison.Ordinal))
                    {
                        continue;
                    }

                    if (m.Groups["what"].Value == "deletion" && namesInB.Contains(n))
                    {
                        falseClaims++;
                        continue;
                    }

                    missing.Add($"enumerator {m.Groups["what"].Value} {n}");
                }
            }

            output.WriteLine($"abidiff {older} -> {newer}: {named} io_uring struct/enum reports, {anonymousClaims} enumerator claims ({falseClaims} false: order-paired anonymous enums); ours: {report.Changes.Count} changes");
            Assert.True(missing.Count == 0, $"abidiff reports what our diff lacks:\n{string.Join("\n", missing)}\n--- abidiff:\n{text}");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void LintOfAPatchReportsPointerAndLongsWithI386AndX8664Layouts()
    {
        var patch = Path.Combine(CasesDir, "..", "Patches", "add-mmap-desc.patch");
        var (rc, stdout, stderr) = Corpus.RunCli(["lint", "--base", "7.2", "--patch", patch, "--format", "text"]);
        Assert.True((rc & IoUring.Abi.Diff.Report.ExitNeedsReview) != 0, $"exit {rc}: {stderr}");
        output.WriteLine(stdout);
        Assert.Contains("io_uring_mmap_desc.addr: pointer member 'void * addr' (x86_64: offset 0, size 8; i686: offset 0, size 4)", stdout);
        Assert.Contains("io_uring_mmap_desc.len: 'unsigned long len' is a C long (x86_64: offset 8, size 8; i686: offset 4, size 4)", stdout);
        Assert.Contains("io_uring_mmap_desc.pgoff: 'unsigned long pgoff' is a C long (x86_64: offset 16, size 8; i686: offset 8, size 4)", stdout);
        Assert.DoesNotContain("io_uring_sqe", stdout);
    }

    [Fact]
    public void AHunkThatDoesNotApplyIsNamed()
    {
        var patch = Path.Combine(CasesDir, "..", "Patches", "add-mmap-desc.patch");
        var (rc, _, stderr) = Corpus.RunCli(["diff", "--base", "6.1", "--patch", patch]);
        Assert.Equal(IoUring.Abi.Diff.Report.ExitError, rc);
        Assert.Contains("hunk #1", stderr);
        Assert.Contains("does not apply to linux/io_uring.h of kernel 6.1", stderr);
    }

    [Fact]
    public void TimelineNamesTheFirstKernelOfSqeMixed()
    {
        var (rc, stdout, _) = Corpus.RunCli(["timeline", "IORING_SETUP_SQE_MIXED"]);
        Assert.Equal(0, rc);
        Assert.Equal("IORING_SETUP_SQE_MIXED (macro): first in 7.2, last in 7.3-rc (the newest kernel of the corpus)", stdout.Trim());
    }

    private static string Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var text = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0 && !file.EndsWith("abidiff", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"{file} failed ({p.ExitCode}): {err.Result}");
        }

        return text;
    }
}
