using IoUring.Abi.Headers;
using IoUring.Abi.Model;
using IoUring.Conformance.Vm;
using Xunit;

namespace IoUring.Conformance.Vm.Tests;

/// <summary>The kernel image lock: the committed one loads; every kind of bad lock is an error that says what, where and how to fix it.</summary>
public sealed class KernelImageLockTests : IDisposable
{
    private readonly DirectoryInfo dir = Directory.CreateTempSubdirectory("vm-lock-tests-");

    public void Dispose() => dir.Delete(true);

    private const string Sha = "0000000000000000000000000000000000000000000000000000000000000000";

    private string Write(string json)
    {
        var path = Path.Combine(dir.FullName, "kernels.lock.json");
        File.WriteAllText(path, json);
        return path;
    }

    private static string Lock(params string[] entries) => LockOf(string.Join(", ", entries));

    private static string LockOf(string kernels) => $$"""
        {
          "schema": "io_uring-kernel-images-lock/1",
          "package": "linux-image-cloud-amd64",
          "kernels": [{{kernels}}]
        }
        """;

    private static string Entry(string kernel = "7.2", string sha = Sha) =>
        $$$"""{"kernel": "{{{kernel}}}", "suite": "sid", "version": "7.2.13-1", "release": "7.2.13+deb14-cloud-amd64", "deb": {"package": "linux-binary-7.2.13+deb14-cloud-amd64", "version": "7.2.13-1", "file": "f.deb", "sha256": "{{{sha}}}"}, "vmlinuz": {"path": "usr/lib/modules/7.2.13+deb14-cloud-amd64/vmlinuz", "sha256": "{{{sha}}}"}}""";

    private ToolException Fails(string json) => Assert.ThrowsAny<ToolException>(() => KernelImageLock.Load(Write(json)));

    [Fact]
    public void TheCommittedLockNamesTheFourKernelsOfTheMatrixForEachArchitecture()
    {
        var kernelLock = KernelImageLock.Load(TestEnvironment.LockPath);
        foreach (var arch in new[] { "amd64", "arm64" })
        {
            var images = kernelLock.Select(null, [arch]);
            Assert.Equal(["6.1", "6.12", "7.2", "7.3-rc"], images.Select(k => k.Kernel).ToArray());
            Assert.All(images, k =>
            {
                Assert.NotNull(k.Version);
                Assert.NotNull(k.Deb);
                Assert.NotNull(k.Vmlinuz);
                Assert.EndsWith($"-cloud-{arch}", k.Release, StringComparison.Ordinal);
                Assert.EndsWith($"_{arch}.deb", k.Deb.File, StringComparison.Ordinal);
            });
        }
    }

    [Fact]
    public void AKernelIsNamedOncePerArchitectureAndSelectedByIt()
    {
        var arm64 = Entry().Replace("\"kernel\": \"7.2\",", "\"kernel\": \"7.2\", \"arch\": \"arm64\",", StringComparison.Ordinal);
        var kernelLock = KernelImageLock.Load(Write(Lock(Entry(), arm64)));
        Assert.Equal("amd64", Assert.Single(kernelLock.Select(["7.2"])).Arch);
        Assert.Equal("7.2 arm64", Assert.Single(kernelLock.Select(["7.2"], ["arm64"])).Name);
        Assert.Equal(2, kernelLock.Select(null, ["amd64", "arm64"]).Count);
        Assert.Contains("listed twice for arm64", Fails(Lock(Entry(), arm64, arm64)).Message, StringComparison.Ordinal);
        Assert.Contains("arch 'sparc'", Fails(Lock(Entry().Replace("\"kernel\": \"7.2\",", "\"kernel\": \"7.2\", \"arch\": \"sparc\",", StringComparison.Ordinal))).Message, StringComparison.Ordinal);
        Assert.Contains("no kernel for armhf", Assert.Throws<ToolException>(() => kernelLock.Select(null, ["armhf"])).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ItsSuitesAreTheHeaderCorpusSuites()
    {
        // Headers and kernel images follow the same suites: the ABI snapshot of kernel K describes the kernel the VM boots as K.
        var headers = KernelLock.Load(Path.Combine(TestEnvironment.RepoRoot, "headers", "kernels.lock.json"));
        var images = KernelImageLock.Load(TestEnvironment.LockPath);
        foreach (var arch in images.Kernels.Select(k => k.Arch).Distinct())
        {
            Assert.Equal(headers.Kernels.Select(k => (k.Kernel, k.Suite)), images.Select(null, [arch]).Select(k => (k.Kernel, k.Suite)));
        }
    }

    [Fact]
    public void WritingAndReadingBackGivesTheSameText()
    {
        var json = KernelImageLock.Load(TestEnvironment.LockPath).ToJson();
        Assert.Equal(json, KernelImageLock.Load(Write(json)).ToJson());
    }

    [Fact]
    public void AMissingLockSaysWhereItLookedAndWhatToDo()
    {
        var e = Assert.Throws<ToolException>(() => KernelImageLock.Load(Path.Combine(dir.FullName, "none.json")));
        Assert.Contains("none.json", e.Message, StringComparison.Ordinal);
        Assert.Contains("--repo", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BrokenJsonNamesTheFileLineAndColumn()
    {
        var e = Fails("{\n  \"schema\": \"io_uring-kernel-images-lock/1\",\n  \"kernels\": [ {\"kernel\": } ]\n}");
        Assert.Contains("kernels.lock.json:3:", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AWrongSchemaNamesTheExpectedOne()
    {
        var e = Fails("""{"schema": "io_uring-headers-lock/1", "kernels": []}""");
        Assert.Contains("io_uring-kernel-images-lock/1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnEntryWithoutASuiteNamesTheFieldAndWhere()
    {
        var e = Fails(Lock("""{"kernel": "7.2"}"""));
        Assert.Contains("kernel 7.2 needs a string 'suite'", e.Message, StringComparison.Ordinal);
        Assert.Contains("kernels.lock.json:4:", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ABadHashNamesTheKernelAndHowToRecordItAgain()
    {
        var e = Fails(Lock(Entry(sha: "ABC")));
        Assert.Contains("kernel 7.2", e.Message, StringComparison.Ordinal);
        Assert.Contains("64 lower-case hex digits", e.Message, StringComparison.Ordinal);
        Assert.Contains("kernels fetch", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AVersionWithoutItsPackageIsIncomplete()
    {
        var e = Fails(Lock("""{"kernel": "7.2", "suite": "sid", "version": "7.2.13-1"}"""));
        Assert.Contains("kernel 7.2", e.Message, StringComparison.Ordinal);
        Assert.Contains("incomplete", e.Message, StringComparison.Ordinal);
        Assert.Contains("kernels fetch", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AKernelListedTwiceIsNamed()
    {
        var e = Fails(Lock(Entry() + "," + Entry()));
        Assert.Contains("'7.2' is listed twice", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnUnknownKernelListsTheKnownOnesAndHowToAddOne()
    {
        var kernelLock = KernelImageLock.Load(TestEnvironment.LockPath);
        var e = Assert.Throws<ToolException>(() => kernelLock.Select(["5.10"]));
        Assert.Contains("unknown kernel '5.10'", e.Message, StringComparison.Ordinal);
        Assert.Contains("6.1, 6.12, 7.2, 7.3-rc", e.Message, StringComparison.Ordinal);
        Assert.Contains("add an entry", e.Message, StringComparison.Ordinal);
        Assert.Equal(4, kernelLock.Select(["all"]).Count);
        Assert.Equal(["7.2", "6.1"], kernelLock.Select(["7.2", "6.1"]).Select(k => k.Kernel).Reverse().ToArray());
    }

    [Fact]
    public void LockedFetchOfAKernelNeverFetchedSaysToRecordItFirst()
    {
        var kernelLock = KernelImageLock.Load(Write(Lock("""{"kernel": "7.2", "suite": "sid"}""")));
        var fetcher = new KernelImageFetcher(new VmCache(Path.Combine(dir.FullName, "cache")), _ => { });
        var e = Assert.Throws<ToolException>(() => fetcher.Fetch(kernelLock, FetchMode.Locked));
        Assert.Contains("kernel 7.2 has no locked version", e.Message, StringComparison.Ordinal);
        Assert.Contains("'kernels fetch' (without --locked)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ACachedImageThatDoesNotMatchTheLockIsNotUsed()
    {
        var cache = new VmCache(Path.Combine(dir.FullName, "cache"));
        var k = KernelImageLock.Load(Write(Lock(Entry()))).Find("7.2");
        Assert.Null(cache.TryGetVerified(k, out var problem));
        Assert.Contains("is not in the cache", problem, StringComparison.Ordinal);
        var path = cache.VmlinuzPath(k, k.Version!);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "not a kernel");
        Assert.Null(cache.TryGetVerified(k, out problem));
        Assert.Contains("does not match the SHA-256 in the lock", problem, StringComparison.Ordinal);
    }
}
