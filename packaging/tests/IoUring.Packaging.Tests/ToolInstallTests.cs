using IoUring.Abi.Model;
using Xunit;

namespace IoUring.Packaging.Tests;

/// <summary>
/// Both command lines as a user gets them: 'dotnet tool install --tool-path' from the folder feed, run
/// from a folder outside any checkout, where they work on the corpus they carry.
/// </summary>
[Collection(PackageFeedCollection.Name)]
public sealed class ToolInstallTests
{
    private readonly PackageFeed feed;

    public ToolInstallTests(PackageFeed feed) => this.feed = feed;

    [Fact]
    public void TheCodegenToolInstalledFromTheFeedDiffsAndShowsKernelsOutsideACheckout()
    {
        var tool = feed.InstallTool("IoUring.Codegen.Tool", "io_uring-codegen");
        var outside = feed.NewProjectFolder("codegen-user");
        Assert.Null(Checkout.Above(outside));

        // The committed snapshots travel with the tool: a diff needs no headers and no checkout.
        var diff = feed.Process(outside, tool, ["diff", "6.12", "7.2"]);
        Assert.True(diff.ExitCode is >= 1 and <= 7, diff.ToString());
        Assert.Contains("verdict:", diff.Stdout, StringComparison.Ordinal);
        Assert.Contains("IORING_SETUP_", diff.Stdout, StringComparison.Ordinal);

        var show = feed.Process(outside, tool, ["show", "io_uring_sqe", "--kernel", "7.2"]).Check("show");
        Assert.Contains("/* size: 64, align: 8/4/8/8", show.Stdout, StringComparison.Ordinal);

        // What writes into a checkout says it needs one, instead of writing into the installed tool.
        var generate = feed.Process(outside, tool, ["generate"]);
        Assert.Equal(1, generate.ExitCode);
        Assert.Contains("error: this command writes the snapshots of generated/abi, which needs a checkout", generate.Stderr, StringComparison.Ordinal);
        Checkout.AppendToTestReport(feed.RepoRoot, $"packaging: io_uring-codegen installed as a dotnet tool from the folder feed ({feed.Version}): diff 6.12 7.2 exit {diff.ExitCode}, show io_uring_sqe outside any checkout; generate refused (needs a checkout)");
    }

    [Fact]
    public void TheConformanceToolInstalledFromTheFeedReplaysItsTraceCorpusOnTheEngine()
    {
        var tool = feed.InstallTool("IoUring.Conformance.Tool", "io_uring-conformance");
        var outside = feed.NewProjectFolder("conformance-user");
        var replay = feed.Process(outside, tool, ["replay"]).Check("replay");
        var lines = replay.Stdout.Split('\n').Where(l => l.Contains(" programs, ", StringComparison.Ordinal)).ToList();
        Assert.True(lines.Count >= 4, replay.ToString());
        Assert.All(lines, l => Assert.Contains(" 0 different", l, StringComparison.Ordinal));

        // Running programs on a kernel needs the agent, which only a checkout builds.
        var matrix = feed.Process(outside, tool, ["matrix", "--cases", "1"]);
        Assert.Equal(1, matrix.ExitCode);
        Assert.Contains("needs the conformance agent", matrix.Stderr, StringComparison.Ordinal);
        Checkout.AppendToTestReport(feed.RepoRoot, $"packaging: io_uring-conformance installed as a dotnet tool: replay of its {lines.Count} bundled corpora outside any checkout, 0 different");
    }

    [MountNamespaceFact]
    public void TheInstalledCodegenToolSaysHowToInstallLibclangWhenItIsMissing()
    {
        // Hiding libclang needs a mount namespace of our own (root, unshare): every libclang the dynamic
        // linker knows is covered with /dev/null there, so loading it fails as on a machine without it.
        Assert.True(MountNamespaceFactAttribute.Missing is null, $"CI=true, so this test may not be skipped: it needs {MountNamespaceFactAttribute.Missing}");
        var unshare = MountNamespaceFactAttribute.Unshare!;

        var tool = feed.InstallTool("IoUring.Codegen.Tool", "io_uring-codegen");
        var outside = feed.NewProjectFolder("no-libclang");
        var header = Path.Combine(outside, "io_uring.h");
        File.WriteAllText(header, "#include <linux/types.h>\nstruct s { __u32 a; };\n");
        var output = Path.Combine(outside, "out.json");
        var script = "for f in $(ldconfig -p | grep -o '/[^ ]*libclang[^ ]*'); do mount --bind /dev/null \"$(readlink -f \"$f\")\"; done; exec \"$0\" \"$@\"";
        var run = feed.Process(outside, unshare, ["--mount", "sh", "-c", script, tool, "extract", "--header", header, "-o", output]);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("error: libclang was not found", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("apt-get install libclang1-19", run.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(output), "no output file after an error");
        Checkout.AppendToTestReport(feed.RepoRoot, "packaging: the installed io_uring-codegen, with libclang hidden, exits 1 naming 'apt-get install libclang1-19'");
    }
}

/// <summary>
/// A test that needs a mount namespace of its own: root and unshare(1). Outside CI it is skipped, naming
/// what is missing; with CI=true it runs and fails on it.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class MountNamespaceFactAttribute : FactAttribute
{
    public MountNamespaceFactAttribute()
    {
        if (Missing is { } missing && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Skip = $"needs {missing} (with CI=true this fails instead of skipping)";
        }
    }

    public static string? Unshare => new[] { "/usr/bin/unshare", "/bin/unshare" }.FirstOrDefault(File.Exists);

    /// <summary>What is missing to make a mount namespace, or null.</summary>
    public static string? Missing =>
        Unshare is null ? "unshare (apt-get install util-linux)"
        : Environment.UserName != "root" ? "root, to make a mount namespace (run the tests as root: ./make.sh test does)"
        : null;
}
