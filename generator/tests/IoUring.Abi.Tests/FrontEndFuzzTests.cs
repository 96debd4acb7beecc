using System.Text;
using IoUring.Abi.Cli;
using IoUring.Abi.Cli.Fuzzing;
using IoUring.Abi.Headers;
using IoUring.Abi.Model;
using Xunit;

namespace IoUring.Abi.Tests;

/// <summary>
/// The front end under mutated headers (the fuzz command): a fixed-seed slice finds nothing, the
/// mutators are deterministic, and each bug the fuzzer found stays fixed.
/// </summary>
public sealed class FrontEndFuzzTests : IDisposable
{
    private static readonly Lazy<FuzzCorpus> Seeds = new(() => FuzzCorpus.Load(Corpus.Lock, new HeaderCache(), "7.2"));

    private readonly string dir = Directory.CreateTempSubdirectory("abi-fuzz-").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    [Fact]
    public void AFixedSeedSliceFindsNoCrashHangOrBadError()
    {
        var findings = Path.Combine(dir, "findings");
        var (exit, stdout, stderr) = Corpus.RunCli(["fuzz", "--seed", "1", "--mutants", "200", "--base", "7.2", "--out", findings, "--process-check-every", "50"]);
        Assert.True(exit == 0, stdout + stderr);
        Assert.Contains("200 mutants, 600 runs of extract/diff/lint", stdout);
        Assert.Contains("crashes 0, hangs 0, errors without file:line 0, other findings 0; 4 mutants rerun as processes", stdout);
        Assert.False(Directory.Exists(findings));
    }

    [Fact]
    public void TheSameSeedMakesTheSameMutantsWhateverTheOrder()
    {
        var a = new HeaderMutator(Seeds.Value, 42);
        var b = new HeaderMutator(Seeds.Value, 42);
        var forward = Enumerable.Range(0, 150).Select(i => a.Make(i).Fingerprint()).ToList();
        var backward = Enumerable.Range(0, 150).Reverse().Select(i => b.Make(i).Fingerprint()).Reverse().ToList();
        for (var i = 0; i < forward.Count; i++)
        {
            Assert.True(forward[i].AsSpan().SequenceEqual(backward[i]), $"mutant {i} differs between two mutators of seed 42");
        }

        var other = new HeaderMutator(Seeds.Value, 43);
        Assert.True(Enumerable.Range(0, 20).Count(i => !other.Make(i).Fingerprint().AsSpan().SequenceEqual(forward[i])) >= 19, "seed 43 should make other mutants than seed 42");
    }

    [Fact]
    public void TheGeneratorIsFixedByItsSeedAlone()
    {
        // The sequence is part of the reproducer lines in bug reports: it must never change.
        var prng = new Prng(1);
        Assert.Equal([0x910a2dec89025cc1UL, 0xbeeb8da1658eec67UL, 0xf893a2eefb32555eUL], new[] { prng.Next(), prng.Next(), prng.Next() });
    }

    [Fact]
    public void EveryMutatorIsUsed()
    {
        var mutator = new HeaderMutator(Seeds.Value, 7);
        var log = string.Join("\n", Enumerable.Range(0, 400).SelectMany(i => mutator.Make(i).Mutations));
        foreach (var kind in new[] { "flip bit", "insert byte", "delete", "truncate", "replace token", "swap tokens", "delete token", "insert token", "duplicate", "swap with line", "new io_uring/fuzz_extra0.h", "#include \"../io_uring.h\"", "#include \"io_uring.h\"", "#include \"fuzz_missing.h\"", "#include <linux>", "hunk header number", "p.diff:" })
        {
            Assert.Contains(kind, log);
        }
    }

    [Fact]
    public void TheGeneratedPatchTurnsTheBaseIntoTheMutant()
    {
        var mutator = new HeaderMutator(Seeds.Value, 11);
        var baseText = Encoding.Latin1.GetString(Seeds.Value.BaseHeader);
        var checkedCount = 0;
        for (var i = 0; i < 200; i++)
        {
            var m = mutator.Make(i);

            // The patch reader reads text: plain ASCII mutants with a final newline and an undamaged
            // patch must come back byte for byte.
            if (m.Mutations.Any(x => x.StartsWith(Mutant.PatchName, StringComparison.Ordinal)) || m.Header.Any(b => b >= 0x80 || b == '\r') || m.Header.Length == 0 || m.Header[^1] != '\n')
            {
                continue;
            }

            var files = UnifiedPatch.Parse(Encoding.Latin1.GetString(m.Patch), Mutant.PatchName);
            Assert.Equal(Encoding.Latin1.GetString(m.Header), UnifiedPatch.Apply(baseText, files[0], Mutant.PatchName, "base"));
            for (var e = 0; e < m.Extras.Count; e++)
            {
                Assert.Equal("linux/" + m.Extras[e].Path, files[e + 1].Target);
            }

            checkedCount++;
        }

        Assert.True(checkedCount > 50, $"only {checkedCount} mutants checked");
    }

    [Theory]
    [InlineData("error: the headers do not compile for x86_64-linux-gnu (1 error):\n  /tmp/m/io_uring.h:12:3: error: expected ';'\nfix the header", null)]
    [InlineData("error: p.diff:3: hunk #1 does not apply", null)]
    [InlineData("error: p.diff: no unified diff found", "the error names no file:line")]
    [InlineData("error: the headers do not compile for i686-linux-gnu (2 errors):\n  /tmp/m/io_uring.h:4:1: error: x\n  (translation unit):7: error: y\n", "a listed diagnostic names no file:line ('(translation unit):7: error: y')")]
    [InlineData("error: /tmp/m/io_uring.h:0:0: error: too many errors", "the error names no file:line")]
    [InlineData("Unhandled exception: System.Exception", "no 'error: ' line")]
    public void AnErrorMustSayWhere(string stderr, string? problem)
    {
        Assert.Equal(problem, MutantRunner.LocationProblem(stderr));
    }

    [Fact]
    public void AnUnexpectedExceptionExitsWith70NotWithTheBadInputCode()
    {
        // A writer that fails stands in for any bug: before, System.CommandLine's own handler printed
        // the exception and exited 1, the code of a refused input.
        var stderr = new StringWriter();
        var exit = CommandLine.Invoke(["show", "io_uring_sqe", "--kernel", "7.2", "--repo", Corpus.Root], new FailingWriter(), stderr);
        Assert.Equal(CommandLine.ExitInternalError, exit);
        Assert.Contains("internal error (a bug in io_uring-codegen, not in the input): System.InvalidOperationException", stderr.ToString());
    }

    [Fact]
    public void ACompileErrorOnOneTargetOnlyIsACleanErrorWithItsLine()
    {
        // Found by the fuzzer (a token replaced with __arm__): the failing target's error came out of
        // the parallel loop as an AggregateException, i.e. a crash.
        var header = Path.Combine(dir, "io_uring.h");
        File.WriteAllText(header, "#include <linux/types.h>\nstruct io_uring_x {\n#ifdef __arm__\n\t__u32 a b;\n#endif\n\t__u32 c;\n};\n");
        var output = Path.Combine(dir, "out.json");
        var stderr = new StringWriter();
        var exit = CommandLine.Invoke(["extract", "--header", header, "--base", "7.2", "-o", output, "--repo", Corpus.Root], new StringWriter(), stderr);
        Assert.True(exit == 1, stderr.ToString());
        Assert.Contains("the headers do not compile for arm-linux-gnueabihf", stderr.ToString());
        Assert.Contains($"{header}:4:", stderr.ToString());
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void AHunkNumberBeyondAnyHeaderIsACleanErrorWithItsLine()
    {
        // Found by the fuzzer: "@@ -2147483648,7 ..." overflowed int.Parse and crashed diff and lint.
        var patch = "--- a/include/uapi/linux/io_uring.h\n+++ b/include/uapi/linux/io_uring.h\n@@ -2147483648,1 +30,1 @@\n-a\n+b\n";
        var e = Assert.Throws<ToolException>(() => UnifiedPatch.Parse(patch, "p.diff"));
        Assert.StartsWith("p.diff:3: hunk header '@@ -2147483648,1 +30,1 @@' has the line number or count 2147483648", e.Message);
    }

    [Fact]
    public void APatchMayNotClimbOutOfTheIoUringHeaders()
    {
        // The prefix test alone let "linux/io_uring/../../../x.h" through, to be written outside the
        // temporary tree the patch is applied in.
        var patch = "--- /dev/null\n+++ b/include/uapi/linux/io_uring/../../../escaped.h\n@@ -0,0 +1,1 @@\n+int x;\n";
        var e = Assert.Throws<ToolException>(() => UnifiedPatch.Parse(patch, "p.diff"));
        Assert.StartsWith("p.diff:1: the patch changes", e.Message);
    }

    [Theory]
    [InlineData("--- a/include/uapi/linux/io_uring.h\n", "p.diff:1: '--- a/include/uapi/linux/io_uring.h' is not followed by a '+++ b/...' line")]
    [InlineData("Subject: nothing here\n\n", "p.diff:1: no unified diff found in the file's 3 line(s)")]
    public void APatchWithoutADiffSaysWhere(string patch, string message)
    {
        // Found by the fuzzer (a patch truncated after its first line): the error named the file only.
        var e = Assert.Throws<ToolException>(() => UnifiedPatch.Parse(patch, "p.diff"));
        Assert.StartsWith(message, e.Message);
    }

    [Fact]
    public void APatchOfAHeaderTheBaseLacksSaysWhere()
    {
        var patch = "intro\n--- a/include/uapi/linux/io_uring/nope.h\n+++ b/include/uapi/linux/io_uring/nope.h\n@@ -1,1 +1,1 @@\n-a\n+b\n";
        var files = UnifiedPatch.Parse(patch, "p.diff");
        var e = Assert.Throws<ToolException>(() => UnifiedPatch.ApplyToTree(dir, files, "p.diff", "kernel 7.2"));
        Assert.StartsWith("p.diff:2: the patch changes linux/io_uring/nope.h, which kernel 7.2 does not have", e.Message);
    }

    [Fact]
    public void ANonAsciiCharacterBeforeAMacroLeavesItsExpressionIntact()
    {
        // libclang's offsets are bytes; slicing the decoded text with them gave "<< 3) #de" for
        // "(1U << 3)" after an "é" in a comment.
        var header = Path.Combine(dir, "io_uring.h");
        File.WriteAllText(header, "#include <linux/types.h>\n/* café, Jérôme */\n#define IORING_X (1U << 3)\n#define IORING_Y 7\nstruct io_uring_q { __u32 a; };\n");
        var output = Path.Combine(dir, "out.json");
        var stderr = new StringWriter();
        var exit = CommandLine.Invoke(["extract", "--header", header, "--base", "7.2", "--target", "x86_64", "-o", output, "--repo", Corpus.Root], new StringWriter(), stderr);
        Assert.True(exit == 0, stderr.ToString());
        var macros = SnapshotJson.Read(File.ReadAllText(output), output).Macros;
        Assert.Equal("(1U << 3)", macros.Single(m => m.Name == "IORING_X").Expression);
        Assert.Equal("7", macros.Single(m => m.Name == "IORING_Y").Expression);
    }

    [Fact]
    public void ANewFileOfAPatchHasExactlyItsLines()
    {
        // Seen in the fuzzer's extra headers: a created file ended with one empty line more than the patch has.
        var patch = "--- /dev/null\n+++ b/include/uapi/linux/io_uring/fresh.h\n@@ -0,0 +1,2 @@\n+#define A 1\n+#define B 2\n";
        var files = UnifiedPatch.Parse(patch, "p.diff");
        Assert.Equal("#define A 1\n#define B 2\n", UnifiedPatch.Apply(string.Empty, files[0], "p.diff", "base"));
    }

    [Fact]
    public void AGigabyteStructIsLintedAndDiffedWithoutAByteMap()
    {
        // Found by the fuzzer (seed 1, mutant 7138: a ';' replaced by '[1 << 30]'): lint and diff kept a
        // flag per byte of a record, and a 24 GiB struct overflowed the array (exit 70).
        string Snapshot(string name, string members)
        {
            var header = Path.Combine(dir, name + ".h");
            File.WriteAllText(header, $"#include <linux/types.h>\nstruct io_uring_big {{ __u64 addr; __u8 gap; {members} __u32 pad[6][1 << 30]; }};\n");
            var json = Path.Combine(dir, name + ".json");
            var err = new StringWriter();
            Assert.True(CommandLine.Invoke(["extract", "--header", header, "--base", "7.2", "--target", "x86_64", "-o", json, "--repo", Corpus.Root], new StringWriter(), err) == 0, err.ToString());
            return json;
        }

        var before = Snapshot("before", string.Empty);
        var after = Snapshot("after", "__u8 flag;");

        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = CommandLine.Invoke(["lint", before, "--repo", Corpus.Root, "--format", "md"], stdout, stderr);
        Assert.True(exit is > 0 and < 8, stderr.ToString());
        Assert.Contains("3 byte(s) of implicit padding at offset 9 before 'pad'", stdout.ToString());

        stdout = new StringWriter();
        exit = CommandLine.Invoke(["diff", before, after, "--repo", Corpus.Root, "--format", "md"], stdout, stderr);
        Assert.True(exit is > 0 and < 8, stderr.ToString());
        Assert.Contains("placed in what was implicit padding (bytes 9..9)", stdout.ToString());
    }

    [Fact]
    public void ADeclarationOnSomeTargetsOnlyIsAnErrorWithItsLine()
    {
        // The fuzzer's rule, every error names file:line, applied to an error class its mutants did not
        // reach: a struct declared for one architecture only was refused without saying where.
        var header = Path.Combine(dir, "io_uring.h");
        File.WriteAllText(header, "#include <linux/types.h>\nstruct io_uring_all { __u32 a; };\n#ifdef __x86_64__\nstruct io_uring_x86 { __u32 b; };\n#endif\n");
        var stderr = new StringWriter();
        var exit = CommandLine.Invoke(["extract", "--header", header, "--base", "7.2", "--repo", Corpus.Root], new StringWriter(), stderr);
        Assert.Equal(1, exit);
        Assert.Contains($"error: {header}:4: record 'io_uring_x86' is declared differently for x86_64-linux-gnu and i686-linux-gnu", stderr.ToString());
    }

    private sealed class FailingWriter : TextWriter
    {
        public override Encoding Encoding => Encoding.UTF8;

        public override void Write(char value) => throw new InvalidOperationException("the output broke");
    }
}
