using IoUring.Abi.Headers;
using IoUring.Abi.Model;
using IoUring.Conformance.Liburing;
using Xunit;

namespace IoUring.Conformance.Liburing.Tests;

/// <summary>
/// The liburing lock and cache: the committed lock loads and writes back byte for byte, a bad lock is an
/// error that says where and how to fix it, and a cached file that differs from the lock is refused by
/// name with the command that repairs it. None of these reach the network.
/// </summary>
public sealed class LiburingSourceTests : IDisposable
{
    private readonly DirectoryInfo dir = Directory.CreateTempSubdirectory("liburing-tests-");

    public void Dispose() => dir.Delete(true);

    private static string CommittedLockPath => LiburingLock.PathIn(Repository.Root);

    [Fact]
    public void TheCommittedLockNamesDebiansLiburingSourcePackageAndWritesBackUnchanged()
    {
        var l = LiburingLock.Load(CommittedLockPath);
        Assert.Equal("liburing", l.Package);
        Assert.Equal("sid", l.Suite);
        Assert.NotNull(l.Version);
        Assert.All(LiburingLock.RequiredKinds, k => Assert.Single(l.Files, f => f.Kind == k));
        Assert.Equal($"liburing_{l.UpstreamVersion}.orig.tar.gz", l.Orig.Name);
        Assert.Equal(File.ReadAllText(CommittedLockPath), l.ToJson());
    }

    [Fact]
    public void ALockRoundTripsThroughItsJson()
    {
        var l = new LiburingLock { Path = Path.Combine(dir.FullName, LiburingLock.FileName), Version = "1:2.9-3" };
        l.Files.Add(new LockedSourceFile(LiburingFileKind.Debian, "liburing_2.9-3.debian.tar.xz", new string('c', 64)));
        l.Files.Add(new LockedSourceFile(LiburingFileKind.Dsc, "liburing_2.9-3.dsc", new string('a', 64)));
        l.Files.Add(new LockedSourceFile(LiburingFileKind.Orig, "liburing_2.9.orig.tar.gz", new string('b', 64)));
        File.WriteAllText(l.Path, l.ToJson());

        var back = LiburingLock.Load(l.Path);
        Assert.Equal("1:2.9-3", back.Version);
        Assert.Equal("2.9", back.UpstreamVersion);
        Assert.Equal(l.Files.OrderBy(f => f.Kind), back.Files);
        Assert.Equal(l.ToJson(), back.ToJson());

        // A lock that names no version yet (before the first fetch) round-trips too.
        var empty = new LiburingLock { Path = l.Path };
        File.WriteAllText(l.Path, empty.ToJson());
        Assert.Null(LiburingLock.Load(l.Path).Version);
        Assert.Contains("liburing fetch' (without --locked)", Assert.Throws<ToolException>(() => LiburingLock.Load(l.Path).Orig).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"schema\": \"io_uring-liburing-lock/2\"", "\"schema\": \"io_uring-liburing-lock/1\"", "schema should be 'io_uring-liburing-lock/1'")]
    [InlineData("\"sha256\": \"ABC\"}, {\"kind\": \"orig\"", "\"sha256\": \"" + Sha + "\"}, {\"kind\": \"orig\"", "64 lower-case hex digits")]
    [InlineData("\"kind\": \"tarball\"", "\"kind\": \"orig\"", "file kind 'tarball' should be one of dsc, orig, orig-signature, debian")]
    [InlineData("\"name\": \"../x.dsc\"", "\"name\": \"liburing_2.15-1.dsc\"", "should be a bare file name")]
    [InlineData("", ", {\"kind\": \"debian\", \"name\": \"liburing_2.15-1.debian.tar.xz\", \"sha256\": \"" + Sha + "\"}", "needs a file of each kind dsc, orig, debian")]
    public void ABadLockIsRefusedSayingWhatAndHow(string replacement, string original, string expected)
    {
        var good = GoodLock();
        Assert.Contains(original, good, StringComparison.Ordinal);
        var path = Path.Combine(dir.FullName, LiburingLock.FileName);
        File.WriteAllText(path, good);
        Assert.Equal("2.15-1", LiburingLock.Load(path).Version);

        File.WriteAllText(path, good.Replace(original, replacement, StringComparison.Ordinal));
        var e = Assert.ThrowsAny<ToolException>(() => LiburingLock.Load(path));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ALockedFetchIsAnsweredFromVerifiedCachedFilesWithoutTheMirror()
    {
        var (cache, l) = FakeCachedPackage();
        var report = new LiburingSource(cache).Fetch(l, FetchMode.Locked, _ => Assert.Fail("a verified cache needs no download"));
        Assert.Equal("cached", report.Status);
        Assert.False(report.Changed);
        Assert.Equal(cache.VersionDir("2.15-1"), report.CacheDir);
    }

    [Fact]
    public void ACorruptedCachedFileIsRefusedNamingTheFileAndTheFix()
    {
        var (cache, l) = FakeCachedPackage();
        var orig = cache.FilePath("2.15-1", l.Orig);
        File.AppendAllText(orig, "corrupted");

        Assert.Null(cache.TryGetVerified(l, out var problem));
        Assert.Contains(orig, problem, StringComparison.Ordinal);

        var e = Assert.Throws<ToolException>(() => new LiburingSource(cache).Build(l, EngineLibrary.SyscallHeaderSource(Repository.Root), _ => { }));
        Assert.Contains(orig, e.Message, StringComparison.Ordinal);
        Assert.Contains($"differs from the lock's {l.Orig.Sha256}", e.Message, StringComparison.Ordinal);
        Assert.Contains("delete it and run 'io_uring-conformance liburing fetch --locked'", e.Message, StringComparison.Ordinal);

        File.Delete(orig);
        e = Assert.Throws<ToolException>(() => new LiburingSource(cache).Build(l, EngineLibrary.SyscallHeaderSource(Repository.Root), _ => { }));
        Assert.Contains($"{orig} is missing", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ShowsrcRecordsGiveEachVersionsFilesWithTheirSha256()
    {
        var showsrc = $"""
            Package: liburing
            Binary: liburing2, liburing-dev
            Version: 2.14-2
            Checksums-Sha256:
             {new string('1', 64)} 1500 liburing_2.14-2.dsc
             {new string('2', 64)} 300000 liburing_2.14.orig.tar.gz

            Package: liburing
            Version: 2.15-1
            Files:
             0123456789abcdef0123456789abcdef 1600 liburing_2.15-1.dsc
            Checksums-Sha256:
             {new string('3', 64)} 1600 liburing_2.15-1.dsc
             {new string('4', 64)} 310000 liburing_2.15.orig.tar.gz
             {new string('5', 64)} 9000 liburing_2.15-1.debian.tar.xz
            Directory: pool/main/libu/liburing

            """;
        var records = DebianArchive.ParseSourceRecords(showsrc);
        Assert.Equal(["2.14-2", "2.15-1"], records.Select(r => r.Version));
        var newest = records[1];
        Assert.Equal(["liburing_2.15-1.dsc", "liburing_2.15.orig.tar.gz", "liburing_2.15-1.debian.tar.xz"], newest.Files.Select(f => f.Name));
        Assert.Equal(new string('4', 64), newest.Files[1].Sha256);
        Assert.Equal(310000, newest.Files[1].Size);
        Assert.Equal([LiburingFileKind.Dsc, LiburingFileKind.Orig, LiburingFileKind.Debian], newest.Files.Select(f => LiburingLock.KindOf(f.Name)));
        Assert.Equal(LiburingFileKind.OrigSignature, LiburingLock.KindOf("liburing_2.15.orig.tar.gz.asc"));
    }

    private const string Sha = "0000000000000000000000000000000000000000000000000000000000000000";

    private static string GoodLock() => $$"""
        {
          "schema": "io_uring-liburing-lock/1",
          "package": "liburing",
          "suite": "sid",
          "version": "2.15-1",
          "files": [{"kind": "dsc", "name": "liburing_2.15-1.dsc", "sha256": "{{Sha}}"}, {"kind": "orig", "name": "liburing_2.15.orig.tar.gz", "sha256": "{{Sha}}"}, {"kind": "debian", "name": "liburing_2.15-1.debian.tar.xz", "sha256": "{{Sha}}"}]
        }
        """;

    /// <summary>A cache in the test's folder holding three made-up files, and a lock that names them by their SHA-256.</summary>
    private (LiburingCache Cache, LiburingLock Lock) FakeCachedPackage()
    {
        var cache = new LiburingCache(Path.Combine(dir.FullName, "cache"));
        var l = new LiburingLock { Path = Path.Combine(dir.FullName, LiburingLock.FileName), Version = "2.15-1" };
        Directory.CreateDirectory(cache.VersionDir("2.15-1"));
        foreach (var (kind, name) in new[] { (LiburingFileKind.Dsc, "liburing_2.15-1.dsc"), (LiburingFileKind.Orig, "liburing_2.15.orig.tar.gz"), (LiburingFileKind.Debian, "liburing_2.15-1.debian.tar.xz") })
        {
            var path = Path.Combine(cache.VersionDir("2.15-1"), name);
            File.WriteAllText(path, $"not really {name}");
            l.Files.Add(new LockedSourceFile(kind, name, FileHash.Sha256(path)));
        }

        return (cache, l);
    }
}

/// <summary>
/// The committed lock's liburing fetched (--locked: from the cache when it holds the files) and built in
/// the shared cache; the first run builds (about 30 s on two cores), later runs find the stamp and
/// return at once.
/// </summary>
public sealed class LiburingBuildTests
{
    [LiburingBuildFact]
    public void TheLockedLiburingBuildsWithItsTestProgramsThroughLibc()
    {
        LiburingBuildFactAttribute.Require();
        var l = LiburingLock.Load(LiburingLock.PathIn(Repository.Root));
        var source = new LiburingSource(new LiburingCache());
        var fetched = source.Fetch(l, FetchMode.Locked, _ => { });
        Assert.Contains(fetched.Status, new[] { "cached", "fetched" });

        var build = source.Build(l, EngineLibrary.SyscallHeaderSource(Repository.Root), _ => { });
        Assert.Equal(l.Version, build.Version);
        Assert.Equal(["--use-libc"], build.ConfigureOptions);
        Assert.True(build.Tests.Count >= 250, $"{build.Tests.Count} test programs in {build.TestDir}");
        Assert.Equal(build.Tests.Select(t => t.Name).Order(StringComparer.Ordinal), build.Tests.Select(t => t.Name));
        Assert.All(build.Tests, t =>
        {
            Assert.False(t.Name.EndsWith(".t", StringComparison.Ordinal));
            Assert.Equal(Path.Combine(build.TestDir, t.Name + ".t"), t.Path);
            Assert.True(File.Exists(t.Path), t.Path);
        });
        Assert.Contains(build.Tests, t => t.Name == "nop");
        Assert.True(File.Exists(Path.Combine(build.LibraryDir, "liburing.a")));

        var again = source.Build(l, EngineLibrary.SyscallHeaderSource(Repository.Root), _ => Assert.Fail("an up-to-date build runs nothing"));
        Assert.True(again.UpToDate);
        Assert.Equal(build.Tests, again.Tests);
    }
}

/// <summary>
/// Needs gcc, make and nm on PATH. Outside CI a missing one skips the test, naming what to install; with
/// CI=true the test runs and fails on it instead, so CI cannot pass by skipping.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class LiburingBuildFactAttribute : FactAttribute
{
    public LiburingBuildFactAttribute()
    {
        if (Missing() is { } missing && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Skip = $"needs {missing} (with CI=true this fails instead of skipping)";
        }
    }

    public static void Require() => Assert.True(Missing() is null, $"CI=true, so this test may not be skipped; missing: {Missing()}");

    private static string? Missing()
    {
        var missing = new[] { "gcc", "make", "nm" }.Where(t => IoUring.Conformance.Vm.Tools.OnPath(t) is null).ToList();
        return missing.Count == 0 ? null : $"{string.Join(", ", missing)}: apt-get install gcc make binutils";
    }
}

/// <summary>As <see cref="LiburingBuildFactAttribute"/>, for a theory.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class LiburingBuildTheoryAttribute : TheoryAttribute
{
    public LiburingBuildTheoryAttribute() => Skip = new LiburingBuildFactAttribute().Skip;
}

/// <summary>The checkout the tests were built in.</summary>
internal static class Repository
{
    public static string Root { get; } = Checkout.OfBuildOutput();
}
