using IoUring.Abi.Clang;
using IoUring.Abi.Headers;
using IoUring.Abi.Model;
using Xunit;

namespace IoUring.Abi.Tests;

public sealed class SnapshotTests
{
    [Theory]
    [MemberData(nameof(Corpus.Kernels), MemberType = typeof(Corpus))]
    public void ExtractionIsDeterministicAndTheCommittedSnapshotIsFresh(string kernel)
    {
        var k = Corpus.Lock.Find(kernel);
        var source = new HeaderSource { Kind = "debian", Package = KernelLock.PackageName, Version = k.Version, Suite = k.Suite };
        var first = SnapshotJson.Write(Extractor.Extract(Corpus.Tree(kernel), CTarget.All, kernel, source));
        var second = SnapshotJson.Write(Extractor.Extract(Corpus.Tree(kernel), CTarget.All, kernel, source));
        Assert.Equal(first, second);
        Assert.True(first == File.ReadAllText(Corpus.SnapshotPath(kernel)), $"generated/abi/{kernel}.json is stale: run './make.sh generate' and commit it");
    }

    [Theory]
    [MemberData(nameof(Corpus.Kernels), MemberType = typeof(Corpus))]
    public void SnapshotRoundTripsThroughTheReader(string kernel)
    {
        var text = File.ReadAllText(Corpus.SnapshotPath(kernel));
        Assert.Equal(text, SnapshotJson.Write(SnapshotJson.Read(text, kernel)));
    }

    [Fact]
    public void MacroTypesAndValuesAreTheCompilers()
    {
        var snap = Corpus.Snapshot("7.2");
        MacroConstant M(string name) => snap.Macros.Single(m => m.Name == name);
        Assert.Equal(("unsigned long long", 0xf8000000), (M("IORING_OFF_MMAP_MASK").Type.First, (long)M("IORING_OFF_MMAP_MASK").Value.First));
        Assert.Equal(("unsigned int", 4294967295), (M("IORING_FILE_INDEX_ALLOC").Type.First, (long)M("IORING_FILE_INDEX_ALLOC").Value.First));
        Assert.Equal(("unsigned int", 1048576), (M("IORING_SETUP_SQ_REWIND").Type.First, (long)M("IORING_SETUP_SQ_REWIND").Value.First));

        // Built from an enum constant: IOSQE_FIXED_FILE is 1U << IOSQE_FIXED_FILE_BIT.
        Assert.Equal(1, (int)M("IOSQE_FIXED_FILE").Value.First);
        Assert.Contains(snap.SkippedMacros, s => s.Name == "LINUX_IO_URING_H" && s.Reason.Contains("include guard", StringComparison.Ordinal));
    }

    [Fact]
    public void AnonymousMembersAndPerTargetLayoutsAreModelled()
    {
        var snap = Corpus.Snapshot("7.2");
        var sqe = snap.Records.Single(r => r.Name == "io_uring_sqe");
        Assert.Equal(64, sqe.Size.First);
        Assert.Equal(new long[] { 8, 4, 8, 8 }, sqe.Align.Values);
        var anon = sqe.Fields.Where(f => f.IsAnonymous).Select(f => f.Record).ToList();
        Assert.Contains("io_uring_sqe::union@48", anon);
        var union48 = snap.Records.Single(r => r.Id == "io_uring_sqe::union@48");
        var addr3Holder = snap.Records.Single(r => r.Parent == union48.Id && r.Fields.Any(f => f.Name == "addr3"));
        Assert.Equal(0, addr3Holder.Fields.Single(f => f.Name == "addr3").BitOffset.First);

        var bufRing = snap.Records.Where(r => r.Id.StartsWith("io_uring_buf_ring::", StringComparison.Ordinal)).SelectMany(r => r.Fields).Single(f => f.Name == "bufs");
        Assert.True(bufRing.Flexible);
        Assert.Equal("io_uring_buf", bufRing.Record);
    }

    [Fact]
    public void CliShowPrintsEveryMemberOfTheSqeAtItsOffset()
    {
        var (exit, stdout, err) = Corpus.RunCli(["show", "io_uring_sqe", "--kernel", "7.2"]);
        Assert.True(exit == 0, err);
        var snap = Corpus.Snapshot("7.2");
        var records = snap.Records.ToDictionary(r => r.Id);

        // Every named member, anonymous levels included, with its absolute offset on x86_64.
        void Walk(RecordDecl r, long baseBits)
        {
            foreach (var f in r.Fields)
            {
                var bits = baseBits + f.BitOffset.First;
                if (f.Name is null)
                {
                    Walk(records[f.Record!], bits);
                    continue;
                }

                var line = stdout.Split('\n').FirstOrDefault(l => System.Text.RegularExpressions.Regex.IsMatch(l, $@"\s{System.Text.RegularExpressions.Regex.Escape(f.Name)}(\[\d*\])?;"));
                Assert.True(line is not null, $"show lacks member {f.Name}");
                Assert.Matches($@"/\*\s+{bits / 8}\s", line);
            }
        }

        Walk(snap.Records.Single(r => r.Name == "io_uring_sqe"), 0);
    }
}
