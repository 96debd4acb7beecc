using IoUring.Abi.Headers;
using IoUring.Abi.Model;
using Xunit;

namespace IoUring.Abi.Tests;

/// <summary>
/// The whole UAPI tree in the cache and the commands over any header of it: show finds a declaration's
/// header, --uapi names one, diff --all compares every header (on two small made-up kernels, so the
/// test stays fast; the real 6.12 -> 7.2 run is in docs/benchmarks.md).
/// </summary>
public sealed class AnyUapiHeaderCliTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("abi-any-uapi-").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    [Fact]
    public void ShowFindsTheHeaderThatDeclaresAName()
    {
        var (exit, stdout, stderr) = Corpus.RunCli(["show", "perf_event_attr", "--kernel", "7.2"]);
        Assert.True(exit == 0, stderr);
        Assert.Contains("declared in linux/perf_event.h", stderr);
        Assert.Contains("struct perf_event_attr {", stdout);
        Assert.Contains("disabled:1;", stdout);
        Assert.Contains("/* bit 0, width 1 */", stdout);

        // Named, the header gives the same text.
        var named = Corpus.RunCli(["show", "perf_event_attr", "--kernel", "7.2", "--uapi", "linux/perf_event.h"]);
        Assert.Equal(0, named.Exit);
        Assert.Equal(stdout, named.Stdout);
    }

    [Fact]
    public void AnUnknownUapiHeaderIsAnErrorNamingTheTree()
    {
        var (exit, stdout, stderr) = Corpus.RunCli(["extract", "7.2", "--uapi", "linux/perf_evnt.h"]);
        Assert.Equal(1, exit);
        Assert.Equal(string.Empty, stdout);
        Assert.Contains("error: linux/perf_evnt.h: no such header in kernel 7.2's UAPI tree", stderr);

        var escape = Corpus.RunCli(["extract", "7.2", "--uapi", "../../etc/passwd"]);
        Assert.Equal(1, escape.Exit);
        Assert.Contains("relative to the include folder", escape.Stderr);

        var unknown = Corpus.RunCli(["show", "no_such_declaration_anywhere", "--kernel", "7.2"]);
        Assert.Equal(1, unknown.Exit);
        Assert.Contains("no UAPI header of the kernel declares it either", unknown.Stderr);
    }

    [Fact]
    public void AClosureOnlyCacheIsRefilledFromTheCachedPackage()
    {
        // A cache holding just the package of 7.2, as an older version of the tool left it: the
        // io_uring closure and no manifest.
        var kernel = Corpus.Lock.Find("7.2");
        var real = new HeaderCache();
        var cache = new HeaderCache(Path.Combine(dir, "cache"));
        var archives = Path.Combine(cache.AptState, "archives");
        Directory.CreateDirectory(archives);
        foreach (var deb in kernel.Debs)
        {
            File.Copy(Path.Combine(real.AptState, "archives", deb.File), Path.Combine(archives, deb.File));
        }

        var tree = cache.TreeDir(kernel.Kernel, kernel.Version!);
        foreach (var f in kernel.Files)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(tree, f.Path))!);
            File.Copy(Path.Combine(Corpus.Tree("7.2").Root, f.Path), Path.Combine(tree, f.Path));
        }

        Assert.Null(cache.TryGetVerified(kernel, out var problem));
        Assert.Contains("holds only the io_uring headers", problem);

        // --locked refills it from the package without the mirror.
        var (exit, stdout, stderr) = Corpus.RunCli(["--cache", cache.Root, "headers", "fetch", "--locked", "--kernel", "7.2"], new Dictionary<string, string> { ["IO_URING_CODEGEN_MIRROR"] = "http://127.0.0.1:9/unreachable" });
        Assert.True(exit == 0, stderr);
        Assert.Contains("extracted", stdout);
        var verified = cache.TryGetVerified(kernel, out problem);
        Assert.True(verified is not null, problem);
        Assert.True(File.Exists(Path.Combine(verified.Root, "linux", "perf_event.h")));
        Assert.True(File.Exists(Path.Combine(verified.Root, "x86_64-linux-gnu", "asm", "byteorder.h")));
        Assert.False(Directory.Exists(Path.Combine(verified.Root, "s390x-linux-gnu")), "only the targets' multiarch folders are kept");

        // A header changed in the cache, outside the io_uring closure, is found.
        File.AppendAllText(Path.Combine(verified.Root, "linux", "perf_event.h"), "\n");
        Assert.Null(cache.TryGetVerified(kernel, out problem));
        Assert.Contains("perf_event.h", problem);
    }

    [Fact]
    public void DiffAllGroupsChangesPerHeaderAndListsHeadersThatDoNotCompileAlone()
    {
        var repo = MadeUpCorpus();
        string[] args = ["--repo", repo, "--cache", Path.Combine(repo, "cache"), "diff", "1.0", "2.0", "--all"];
        var (exit, stdout, stderr) = Corpus.RunCli(args);
        Assert.True(exit is 7, $"exit {exit}: {stderr}\n{stdout}");

        // One section per changed header, in name order.
        var sections = stdout.Split('\n').Where(l => l.StartsWith("== ", StringComparison.Ordinal)).ToList();
        Assert.Equal(["== asm/only.h (2 changes, compared on x86_64, i686)", "== linux/gone.h (1 change)", "== linux/grow.h (3 changes)", "== linux/new.h (1 change)", "== linux/regress.h (1 change)"], sections);
        Assert.Contains("BREAK  #1  linux/gone.h: header removed [linux/gone.h:1]", stdout);
        Assert.Contains("COMPAT #0  linux/new.h: header added [linux/new.h:1]", stdout);
        Assert.Contains("RISK   #4  grow: struct grow grew at the tail from 4 to 8 bytes", stdout);
        Assert.Contains("COMPAT #13 GROW_FLAG: macro GROW_FLAG = 1 added (int) [linux/grow.h:1]", stdout);
        Assert.Contains("RISK   #4  only: struct only grew at the tail from 8 to 16 bytes; new tail: 'long b' at 8 (check that the kernel takes its size from the caller) (on x86_64) [x86_64-linux-gnu/asm/only.h:1]", stdout);
        Assert.Contains("RISK   #1  linux/regress.h: no longer compiles alone: linux/regress.h:1:10: error: 'linux/missing.h' file not found", stdout);

        // Headers that do not compile alone are listed, with why, and counted.
        Assert.Contains("  linux/broken.h (skipped)\n      1.0, 2.0 on x86_64, i686, aarch64, arm: linux/broken.h:1:10: error: 'linux/missing.h' file not found\n", stdout);
        Assert.Contains("  asm/only.h\n      1.0, 2.0 on aarch64, arm: asm/only.h is not in this target's asm/ folder\n", stdout);
        Assert.Contains("  linux/regress.h\n      2.0 on x86_64, i686, aarch64, arm: linux/regress.h:1:10: error: 'linux/missing.h' file not found\n", stdout);
        Assert.Contains("1.0: 6 headers, 4 compile alone on every target, 1 on some, 1 on none", stdout);
        Assert.Contains("2.0: 6 headers, 3 compile alone on every target, 1 on some, 2 on none", stdout);
        Assert.Contains("headers: 3 changed, 1 unchanged, 1 added, 1 removed, 1 skipped", stdout);
        Assert.Contains("verdict: BREAK (exit 7)", stdout);

        // Same input, same bytes; JSON carries the same per-header verdicts.
        Assert.Equal(stdout, Corpus.RunCli(args).Stdout);
        var json = (JsonObject)JsonText.Parse(Corpus.RunCli([.. args, "--format", "json"]).Stdout, "diff --all");
        Assert.Equal(7, (int)((JsonNumber)json["exitCode"]!).Value);
        var broken = ((JsonArray)json["headers"]!).Items.Cast<JsonObject>().Single(h => ((JsonString)h["header"]!).Value == "linux/broken.h");
        Assert.Equal("skipped", ((JsonString)broken["state"]!).Value);
    }

    [Fact]
    public void DiffAllNeedsTwoKernels()
    {
        var (exit, _, stderr) = Corpus.RunCli(["diff", "7.2", "--all"]);
        Assert.Equal(64, exit);
        Assert.Contains("--all compares two kernels of the corpus", stderr);
    }

    /// <summary>A repository whose lock names two kernels, and a cache holding their whole (tiny) trees.</summary>
    private string MadeUpCorpus()
    {
        var repo = Path.Combine(dir, "repo");
        var cache = new HeaderCache(Path.Combine(repo, "cache"));
        var old = new Dictionary<string, string>
        {
            ["linux/same.h"] = "struct same { int a; };\n",
            ["linux/grow.h"] = "struct grow { unsigned int a; };\n",
            ["linux/gone.h"] = "struct gone { int a; };\n",
            ["linux/broken.h"] = "#include <linux/missing.h>\nstruct broken { int a; };\n",
            ["linux/regress.h"] = "struct regress { int a; };\n",
            ["x86_64-linux-gnu/asm/only.h"] = "struct only { long a; };\n",
            ["i386-linux-gnu/asm/only.h"] = "struct only { long a; };\n",
        };
        var @new = new Dictionary<string, string>(old)
        {
            ["linux/grow.h"] = "#define GROW_FLAG 1\nstruct grow { unsigned int a; unsigned int b; };\n",
            ["linux/new.h"] = "struct fresh { int a; };\n",
            ["linux/regress.h"] = "#include <linux/missing.h>\nstruct regress { int a; };\n",
            ["x86_64-linux-gnu/asm/only.h"] = "struct only { long a; long b; };\n",
        };
        @new.Remove("linux/gone.h");

        var kernels = new List<LockedKernel>();
        foreach (var (kernel, files) in new[] { ("1.0", old), ("2.0", @new) })
        {
            var root = cache.TreeDir(kernel, kernel);
            foreach (var (path, text) in files)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(root, path))!);
                File.WriteAllText(Path.Combine(root, path), text);
            }

            var debSha = new string('0', 63) + kernel[0];
            var manifest = files.Keys.Select(p => (p, FileHash.Sha256(Path.Combine(root, p)))).ToList();
            File.WriteAllText(cache.ManifestPath(kernel, kernel), new TreeManifest([debSha], manifest).Write());
            kernels.Add(new LockedKernel
            {
                Kernel = kernel,
                Suite = "made-up",
                Version = kernel,
                Debs = [new LockedDeb("all", $"made-up_{kernel}_all.deb", debSha)],
                Files = [new LockedFile("linux/same.h", FileHash.Sha256(Path.Combine(root, "linux/same.h")))],
            });
        }

        Directory.CreateDirectory(Path.Combine(repo, "headers"));
        var kernelLock = new KernelLock();
        kernelLock.Kernels.AddRange(kernels);
        File.WriteAllText(Path.Combine(repo, "headers", "kernels.lock.json"), kernelLock.ToJson());
        return repo;
    }
}
