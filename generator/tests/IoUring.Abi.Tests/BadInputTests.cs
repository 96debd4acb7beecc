using Xunit;

namespace IoUring.Abi.Tests;

/// <summary>Each kind of bad input gives a clear message, a non-zero exit, and no partial output file.</summary>
public sealed class BadInputTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("abi-bad-input-").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    private string Out => Path.Combine(dir, "out.json");

    [Fact]
    public void MissingHeader()
    {
        var (exit, _, err) = Corpus.RunCli(["extract", "--header", Path.Combine(dir, "nope.h"), "-o", Out]);
        Assert.Equal(1, exit);
        Assert.Contains("nope.h: no such header file", err);
        Assert.False(File.Exists(Out));
    }

    [Fact]
    public void SyntaxErrorIsReportedWithFileLineAndColumn()
    {
        var header = Path.Combine(dir, "io_uring.h");
        File.WriteAllText(header, "#include <linux/types.h>\nstruct io_uring_bad {\n\t__u32 a\n\t__u32 b;\n};\n");
        var (exit, _, err) = Corpus.RunCli(["extract", "--header", header, "-o", Out]);
        Assert.Equal(1, exit);
        Assert.Contains($"{header}:3:", err);
        Assert.Contains("error: expected ';'", err);
        Assert.False(File.Exists(Out));
    }

    [Fact]
    public void AnEmptyHeaderIsAWarningNotASilentEmptySnapshot()
    {
        var header = Path.Combine(dir, "io_uring.h");
        File.WriteAllText(header, string.Empty);
        var (exit, _, err) = Corpus.RunCli(["extract", "--header", header, "--target", "x86_64", "-o", Out]);
        Assert.Equal(0, exit);
        Assert.Contains($"warning: {header}: the headers declare nothing", err);
        Assert.True(File.Exists(Out));
    }

    [Fact]
    public void AQuotedIncludeIsFoundBesideTheHeader()
    {
        var header = Path.Combine(dir, "io_uring.h");
        File.WriteAllText(header, "#include <linux/types.h>\n#include \"extra.h\"\nstruct io_uring_x { struct extra e; __u32 y; };\n");
        File.WriteAllText(Path.Combine(dir, "extra.h"), "#include <linux/types.h>\nstruct extra { __u64 a; };\n");
        var (exit, _, err) = Corpus.RunCli(["extract", "--header", header, "--target", "x86_64", "-o", Out]);
        Assert.True(exit == 0, err);
        var snapshot = IoUring.Abi.Model.SnapshotJson.Read(File.ReadAllText(Out), Out);
        Assert.Equal(16, snapshot.Records.Single(r => r.Name == "io_uring_x").Size[0]);
        Assert.Contains(snapshot.Records, r => r.Name == "extra");
    }

    [Fact]
    public void UnknownTarget()
    {
        var (exit, _, err) = Corpus.RunCli(["extract", "7.2", "--target", "sparc", "-o", Out]);
        Assert.Equal(1, exit);
        Assert.Contains("unknown target 'sparc'", err);
        Assert.Contains("x86_64", err);
        Assert.False(File.Exists(Out));
    }

    [Fact]
    public void UnknownKernelVersion()
    {
        var (exit, _, err) = Corpus.RunCli(["extract", "5.4", "-o", Out]);
        Assert.Equal(1, exit);
        Assert.Contains("unknown kernel version '5.4'", err);
        Assert.Contains("7.2", err);
        Assert.False(File.Exists(Out));
    }

    [Fact]
    public void LibclangMissingNamesTheDebianPackage()
    {
        var (exit, _, err) = Corpus.RunCli(["extract", "7.2", "-o", Out], new Dictionary<string, string> { ["LIBCLANG_PATH"] = Path.Combine(dir, "libclang.so") });
        Assert.Equal(1, exit);
        Assert.Contains("apt-get install libclang1-19", err);
        Assert.False(File.Exists(Out));
    }

    [Fact]
    public void UnreachableRegistryWithEmptyCache()
    {
        // A private repository copy, so the real lock is never touched; port 9 (discard) on loopback refuses.
        var repo = Path.Combine(dir, "repo");
        Directory.CreateDirectory(Path.Combine(repo, "headers"));
        File.Copy(Path.Combine(Corpus.Root, "headers", "kernels.lock.json"), Path.Combine(repo, "headers", "kernels.lock.json"));
        var env = new Dictionary<string, string>
        {
            ["IO_URING_CODEGEN_MIRROR"] = "http://127.0.0.1:9/debian",
            ["IO_URING_CODEGEN_CACHE"] = Path.Combine(dir, "empty-cache"),
        };
        var (exit, _, err) = Corpus.RunCli(["headers", "fetch", "--repo", repo, "--kernel", "7.2"], env);
        Assert.Equal(1, exit);
        Assert.Contains("127.0.0.1:9", err);
        Assert.Contains("no verified headers for 7.2", err);
        Assert.Equal(File.ReadAllText(Path.Combine(Corpus.Root, "headers", "kernels.lock.json")), File.ReadAllText(Path.Combine(repo, "headers", "kernels.lock.json")));
    }

    [Fact]
    public void MalformedSnapshotNamesThePosition()
    {
        var bad = Path.Combine(dir, "bad.json");
        File.WriteAllText(bad, "{\n  \"schema\": \"io_uring-abi/1\",\n  \"targets\": 7\n}\n");
        var (exit, _, err) = Corpus.RunCli(["show", "io_uring_sqe", "--snapshot", bad]);
        Assert.Equal(1, exit);
        Assert.Contains($"{bad}:3:14: 'targets' should be an array", err);

        File.WriteAllText(bad, "{\"schema\": \"io_uring-abi/1\", \"records\": [");
        (exit, _, err) = Corpus.RunCli(["show", "io_uring_sqe", "--snapshot", bad]);
        Assert.Equal(1, exit);
        Assert.Contains("truncated", err);
    }

    [Fact]
    public void UnknownDeclarationSuggestsNames()
    {
        var (exit, _, err) = Corpus.RunCli(["show", "io_uring_sq", "--kernel", "7.2"]);
        Assert.Equal(1, exit);
        Assert.Contains("'io_uring_sq' is not declared", err);
        Assert.Contains("io_uring_sqe", err);
    }
}
