using IoUring.Abi.Diff;
using IoUring.Abi.Headers;
using IoUring.Abi.Model;
using Xunit;
using Xunit.Abstractions;

namespace IoUring.Abi.Tests;

/// <summary>
/// The IORING_OP_MMAP proposals (headers/proposals/op-mmap-v*.patch, docs/op-mmap-proposal.md): each
/// applies to the newest kernel of the corpus, its committed snapshot is what the CLI extracts, the
/// layouts are those of docs/op-mmap-proposal.md, and gcc confirms every fact over the patched headers.
/// </summary>
public sealed class ProposalTests
{
    private readonly ITestOutputHelper output;

    public ProposalTests(ITestOutputHelper output) => this.output = output;

    public static IEnumerable<object[]> Proposals => new[] { "op-mmap-v1", "op-mmap-v2" }.Select(p => new object[] { p });

    public static IEnumerable<object[]> OracleCases =>
        Proposals.SelectMany(p => CTarget.All.Select(t => new object[] { p[0], t.ShortName }));

    private static string PatchPath(string name) => Path.Combine(Corpus.Root, "headers", "proposals", name + ".patch");

    private static string SnapshotPath(string name) => Checkout.SnapshotPath(Corpus.Root, "proposals/" + name);

    private static AbiSnapshot Snapshot(string name) => SnapshotJson.Read(File.ReadAllText(SnapshotPath(name)), SnapshotPath(name));

    private static string NewestKernel => Corpus.Lock.Kernels.OrderBy(k => k.Kernel, KernelVersion.Order).Last().Kernel;

    /// <summary>A copy of the base kernel's locked include tree with the proposal applied, as the CLI builds it.</summary>
    private sealed class PatchedTree : IDisposable
    {
        public PatchedTree(string name)
        {
            var text = File.ReadAllText(PatchPath(name));
            var baseKernel = UnifiedPatch.DeclaredBase(text) ?? throw new InvalidOperationException($"{name}.patch declares no base kernel");
            Root = Directory.CreateTempSubdirectory($"proposal-{name}-").FullName;
            var from = Corpus.Tree(baseKernel).Root;
            foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            {
                var dest = Path.Combine(Root, Path.GetRelativePath(from, file));
                Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
                File.Copy(file, dest);
            }

            UnifiedPatch.ApplyToTree(Root, UnifiedPatch.Parse(text, name + ".patch"), name + ".patch", $"kernel {baseKernel}");
        }

        public string Root { get; }

        public void Dispose() => Directory.Delete(Root, true);
    }

    [Theory]
    [MemberData(nameof(Proposals))]
    public void ThePatchNamesTheNewestKernelAndAppliesToIt(string name)
    {
        var text = File.ReadAllText(PatchPath(name));

        // A proposal is written over the newest header of the corpus; when the lock gains a newer
        // kernel, rebase the patch and change its base-kernel line.
        Assert.Equal(NewestKernel, UnifiedPatch.DeclaredBase(text));
        using var tree = new PatchedTree(name);
        var header = File.ReadAllText(Path.Combine(tree.Root, "linux", "io_uring.h"));
        Assert.Contains("\t\t__u32\t\tmmap_flags;\n", header);
        Assert.Contains("\tIORING_OP_URING_CMD128,\n\tIORING_OP_MMAP,\n", header);
        Assert.Contains("struct io_uring_mmap_desc {", header);
    }

    [Theory]
    [MemberData(nameof(Proposals))]
    public void TheCommittedSnapshotIsWhatExtractGivesAndNamesItsPatch(string name)
    {
        // Twice through the CLI's extract --patch: deterministic, and equal to the committed file.
        var texts = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            var o = Path.Combine(Path.GetTempPath(), $"proposal-{name}-{Guid.NewGuid():N}.json");
            try
            {
                var (rc, _, err) = Corpus.RunCli(["extract", "--patch", PatchPath(name), "-o", o]);
                Assert.True(rc == 0, $"extract --patch {name} failed: {err}");
                texts.Add(File.ReadAllText(o));
            }
            finally
            {
                File.Delete(o);
            }
        }

        Assert.Equal(texts[0], texts[1]);
        Assert.True(texts[0] == File.ReadAllText(SnapshotPath(name)), $"generated/abi/proposals/{name}.json is stale: run './make.sh generate' and commit it");

        var snap = Snapshot(name);
        var k = Corpus.Lock.Find(NewestKernel);
        Assert.Equal($"{k.Kernel}+{name}", snap.Kernel);
        Assert.Equal("patch", snap.Source.Kind);
        Assert.Equal($"headers/proposals/{name}.patch", snap.Source.Package);
        Assert.Equal("sha256:" + FileHash.Sha256(PatchPath(name)), snap.Source.Version);
        Assert.Equal($"base {k.Kernel} ({KernelLock.PackageName} {k.Version})", snap.Source.Suite);
    }

    [Theory]
    [MemberData(nameof(Proposals))]
    public void OpcodeAndSqeMemberAreAppendedAsSpecified(string name)
    {
        var baseSnap = Corpus.Snapshot(NewestKernel);
        var snap = Snapshot(name);
        long Enumerator(AbiSnapshot s, string n) => (long)s.Enums.Single(e => e.Name == "io_uring_op").Enumerators.Single(x => x.Name == n).Value;

        // IORING_OP_MMAP takes the value IORING_OP_LAST had; the sentinel moves up by one.
        Assert.Equal(Enumerator(baseSnap, "IORING_OP_LAST"), Enumerator(snap, "IORING_OP_MMAP"));
        Assert.Equal(Enumerator(baseSnap, "IORING_OP_LAST") + 1, Enumerator(snap, "IORING_OP_LAST"));
        Assert.Equal("IORING_OP_URING_CMD128", snap.Enums.Single(e => e.Name == "io_uring_op").Enumerators.TakeWhile(x => x.Name != "IORING_OP_MMAP").Last().Name);

        // mmap_flags in the union of nop_flags and pipe_flags, at offset 28, on every target.
        var records = snap.Records.ToDictionary(r => r.Id, StringComparer.Ordinal);
        var sqe = snap.Records.Single(r => r.Name == "io_uring_sqe");
        for (var t = 0; t < snap.Targets.Count; t++)
        {
            var members = RecordLayout.Flatten(records, sqe, t);
            var mmapFlags = members.Single(m => m.Path == "mmap_flags");
            Assert.Equal((28L, 4L), (mmapFlags.Start, mmapFlags.Size));
            Assert.Same(members.Single(m => m.Path == "nop_flags").Union, mmapFlags.Union);
            Assert.Same(members.Single(m => m.Path == "pipe_flags").Union, mmapFlags.Union);
            Assert.Equal(64, sqe.Size[t]);
        }
    }

    [Fact]
    public void V1DescriptorIsLp64Or32BitDependent()
    {
        var snap = Snapshot("op-mmap-v1");
        var desc = snap.Records.Single(r => r.Name == "io_uring_mmap_desc");
        Assert.Equal(["x86_64-linux-gnu", "i686-linux-gnu", "aarch64-linux-gnu", "arm-linux-gnueabihf"], snap.Targets);
        Assert.Equal([32L, 20L, 32L, 20L], desc.Size.Values);
        Assert.Equal(["addr", "len", "pgoff", "prot", "flags"], desc.Fields.Select(f => f.Name));

        // Byte offsets per target (x86_64/i686/aarch64/arm), as mmap.c of the series would read them.
        Assert.Equal(["0/0/0/0", "8/4/8/4", "16/8/16/8", "24/12/24/12", "28/16/28/16"], desc.Fields.Select(f => string.Join("/", f.BitOffset.Values.Select(b => b / 8))));
    }

    [Fact]
    public void V2DescriptorIsTheSameOnEveryTarget()
    {
        var snap = Snapshot("op-mmap-v2");
        var desc = snap.Records.Single(r => r.Name == "io_uring_mmap_desc");
        Assert.Equal(4, snap.Targets.Count);
        Assert.True(desc.Size.IsUniform, $"sizes: {string.Join(", ", desc.Size.Values)}");
        Assert.Equal(48, desc.Size.First);
        Assert.All(desc.Fields, f => Assert.True(f.BitOffset.IsUniform && f.Size.IsUniform, $"{f.Name} differs between targets"));
        Assert.Equal(["addr", "len", "pgoff", "prot", "flags", "__resv"], desc.Fields.Select(f => f.Name));
    }

    [Fact]
    public void LintOfV1FindsWhatTheReviewFoundAndV2IsClean()
    {
        var (rc, text, err) = Corpus.RunCli(["lint", "--patch", PatchPath("op-mmap-v1"), "--base", NewestKernel]);
        output.WriteLine(text);
        Assert.True((rc & IoUring.Abi.Diff.Report.ExitNeedsReview) != 0, $"exit {rc}: {err}");
        Assert.Contains("io_uring_mmap_desc.addr: pointer member 'void * addr' (x86_64: offset 0, size 8; i686: offset 0, size 4)", text);
        Assert.Contains("io_uring_mmap_desc.len: 'unsigned long len' is a C long", text);
        Assert.Contains("io_uring_mmap_desc.pgoff: 'unsigned long pgoff' is a C long", text);
        Assert.Contains("io_uring_mmap_desc.prot: 'unsigned int prot' uses a plain C type", text);
        Assert.Contains("io_uring_mmap_desc.flags: 'unsigned int flags' uses a plain C type", text);
        Assert.Contains("struct io_uring_mmap_desc size differs per target: x86_64 32; i686 20; aarch64 32; arm 20", text);
        Assert.Contains("has no reserved member", text);

        var (rc2, text2, err2) = Corpus.RunCli(["lint", "--patch", PatchPath("op-mmap-v2"), "--base", NewestKernel]);
        output.WriteLine(text2);
        Assert.True(rc2 == IoUring.Abi.Diff.Report.ExitNoChange, $"v2 lint exit {rc2}: {text2}{err2}");
    }

    [Fact]
    public void DiffV1ToV2BreaksThirtyTwoBitLayoutsOnly()
    {
        var report = AbiComparer.Compare(Snapshot("op-mmap-v1"), Snapshot("op-mmap-v2"));
        output.WriteLine(ReportWriter.Text(report, "v1 -> v2", color: false));
        var breaks = report.Changes.Where(c => c.Severity == Severity.Break).ToList();
        Assert.NotEmpty(breaks);
        Assert.All(breaks, c => Assert.Equal(["i686-linux-gnu", "arm-linux-gnueabihf"], c.Targets!));
        Assert.Contains(breaks, c => c.Class == 2 && c.Name == "io_uring_mmap_desc.addr");
        Assert.Contains(report.Changes, c => c.Class == 4 && c.Name == "io_uring_mmap_desc");
        Assert.All(report.Changes, c => Assert.StartsWith("io_uring_mmap_desc", c.Name, StringComparison.Ordinal));
    }

    [Fact]
    public void GenerateRefusesAProposalThatNamesNoBaseBeforeWritingAnything()
    {
        var repo = Directory.CreateTempSubdirectory("proposal-nobase-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(repo, "headers", "proposals"));
            File.Copy(Path.Combine(Corpus.Root, "headers", "kernels.lock.json"), Path.Combine(repo, "headers", "kernels.lock.json"));
            var text = string.Concat(File.ReadAllLines(PatchPath("op-mmap-v1")).Where(l => !l.StartsWith("base-kernel:", StringComparison.Ordinal)).Select(l => l + "\n"));
            File.WriteAllText(Path.Combine(repo, "headers", "proposals", "op-mmap-v1.patch"), text);

            var (rc, _, err) = Corpus.RunCli(["--repo", repo, "generate"]);
            Assert.Equal(1, rc);
            Assert.Contains("headers/proposals/op-mmap-v1.patch: a proposal names the kernel it applies to: add a 'base-kernel: KERNEL' line", err);
            Assert.False(Directory.Exists(Path.Combine(repo, "generated")), "generate wrote snapshots before refusing the proposal");
        }
        finally
        {
            Directory.Delete(repo, true);
        }
    }

    [Theory]
    [MemberData(nameof(OracleCases))]
    public void GccConfirmsEveryProposalSnapshotFact(string name, string targetName)
    {
        using var tree = new PatchedTree(name);
        GccOracleTests.AssertGccConfirms(Snapshot(name), "proposals/" + name, tree.Root, CTarget.Parse(targetName), output);
    }
}
