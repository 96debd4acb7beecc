using IoUring.Abi.Headers;
using IoUring.Abi.Model;

namespace IoUring.Conformance.Liburing;

/// <summary>What a fetch did: the version the lock names now, "cached", "fetched", "new", "unchanged" or "CHANGED", and where the files are.</summary>
public sealed record LiburingFetchReport(string Version, string Status, string Detail, bool Changed, string CacheDir);

/// <summary>
/// Brings the lock's liburing source package into the cache through the machine's Debian mirror (deb-src,
/// in an apt state of its own) and keeps the lock in step, with the kernel image fetcher's semantics:
/// <see cref="FetchMode.Refresh"/> follows the suite's newest version and records what moved;
/// <see cref="FetchMode.Locked"/> makes the cache hold exactly the files the lock names (by SHA-256) and
/// never changes the lock. Either works offline when the cache already holds the verified files.
/// <see cref="Build"/> then builds the library and its tests in the cache (<see cref="LiburingBuilder"/>).
/// </summary>
public sealed class LiburingSource
{
    private readonly LiburingCache cache;
    private readonly DebianArchive archive;

    public LiburingSource(LiburingCache cache)
    {
        this.cache = cache;
        archive = new DebianArchive(cache.AptState);
    }

    public LiburingCache Cache => cache;

    public LiburingFetchReport Fetch(LiburingLock l, FetchMode mode, Action<string> log) =>
        mode == FetchMode.Refresh ? Refresh(l, log) : EnsureLocked(l, log);

    /// <summary>
    /// Builds the fetched version with <paramref name="syscallHeader"/> force-included (see
    /// <see cref="LiburingBuilder.Build"/>); a second call with nothing changed returns at once.
    /// </summary>
    public LiburingBuild Build(LiburingLock l, string syscallHeader, Action<string> log, int jobs = LiburingBuilder.DefaultJobs) =>
        new LiburingBuilder(cache, syscallHeader).Build(l, log, jobs);

    private LiburingFetchReport EnsureLocked(LiburingLock l, Action<string> log)
    {
        if (l.Version is null)
        {
            throw new ToolException($"{l.Path} names no version of {l.Package}; run 'io_uring-conformance liburing fetch' (without --locked) to record one");
        }

        if (cache.TryGetVerified(l, out var problem) is { } cached)
        {
            return new LiburingFetchReport(l.Version, "cached", $"{l.Package} {l.Version} ({l.Suite})", false, cached);
        }

        log($"{problem}; downloading {l.Package} {l.Version}");
        try
        {
            UpdateSources(l, log);
        }
        catch (RegistryUnreachableException e)
        {
            throw new RegistryUnreachableException($"{e.Message}\nthe cache ({cache.Root}) has no verified {l.Package} {l.Version}: {problem}; connect to the mirror and run 'io_uring-conformance liburing fetch --locked' again");
        }

        string temp;
        try
        {
            temp = Download(l.Package, l.Version);
        }
        catch (RegistryUnreachableException e)
        {
            throw new RegistryUnreachableException($"{e.Message}\nthe mirror no longer offers {l.Package} {l.Version} (suite {l.Suite} moved on?); run 'io_uring-conformance liburing fetch' (without --locked) to lock what the suite offers now");
        }

        try
        {
            foreach (var f in l.Files)
            {
                var path = Path.Combine(temp, f.Name);
                if (!File.Exists(path))
                {
                    throw new ToolException($"{l.Package} {l.Version} as the mirror serves it has no {f.Name} (the lock {l.Path} names it); run 'io_uring-conformance liburing fetch' to record the package deliberately");
                }

                var sha = FileHash.Sha256(path);
                if (sha != f.Sha256)
                {
                    throw new ToolException($"{f.Name}: SHA-256 {sha} differs from the lock's {f.Sha256} ({l.Path}); the mirror serves a different file under version {l.Version}. Run 'io_uring-conformance liburing fetch' to record it deliberately.");
                }
            }

            var dir = Keep(temp, l.Version, l.Files.Select(f => f.Name));
            return new LiburingFetchReport(l.Version, "fetched", $"{l.Package} {l.Version} ({l.Suite})", false, dir);
        }
        finally
        {
            Directory.Delete(temp, true);
        }
    }

    private LiburingFetchReport Refresh(LiburingLock l, Action<string> log)
    {
        DebianSourcePackage candidate;
        try
        {
            UpdateSources(l, log);
            candidate = archive.SourceCandidate(l.Package, l.Suite)
                ?? throw new ToolException($"suite '{l.Suite}' offers no source package {l.Package}; fix the suite in {l.Path}");
        }
        catch (RegistryUnreachableException e)
        {
            // Offline: the cache still answers for the version the lock holds.
            if (cache.TryGetVerified(l, out var problem) is not { } cached)
            {
                throw new RegistryUnreachableException($"{e.Message}\n{problem}; connect to the mirror and run 'io_uring-conformance liburing fetch' again");
            }

            log($"offline: the mirror could not be reached; using the cached {l.Package} {l.Version} ({e.Message.Split('\n')[0]})");
            return new LiburingFetchReport(l.Version!, "cached", $"{l.Package} {l.Version} ({l.Suite}, offline)", false, cached);
        }

        if (candidate.Version == l.Version && cache.TryGetVerified(l, out _) is { } dir)
        {
            return new LiburingFetchReport(l.Version, "unchanged", $"{l.Package} {l.Version} ({l.Suite})", false, dir);
        }

        var files = candidate.Files.Select(f => new LockedSourceFile(LiburingLock.KindOf(f.Name), f.Name, f.Sha256)).ToList();
        if (files.GroupBy(f => f.Kind).Any(g => g.Count() > 1) || LiburingLock.RequiredKinds.Any(k => files.All(f => f.Kind != k)))
        {
            throw new ToolException($"{l.Package} {candidate.Version} is made of {string.Join(", ", candidate.Files.Select(f => f.Name))}, not one .dsc, one orig tarball (and its signature) and one debian tarball; the package's layout changed: fix LiburingLock");
        }

        var temp = Download(l.Package, candidate.Version);
        string kept;
        try
        {
            foreach (var f in files)
            {
                // apt-get source checked them against the Sources index already; the lock records what is kept.
                var sha = FileHash.Sha256(Path.Combine(temp, f.Name));
                if (sha != f.Sha256)
                {
                    throw new ToolException($"{f.Name}: SHA-256 {sha} differs from the Sources index's {f.Sha256}; the download is corrupt, run the fetch again");
                }
            }

            kept = Keep(temp, candidate.Version, files.Select(f => f.Name));
        }
        finally
        {
            Directory.Delete(temp, true);
        }

        var previous = l.Version;
        var previousFiles = l.Files.ToList();
        l.Version = candidate.Version;
        l.Files = files.OrderBy(f => f.Kind).ToList();
        if (previous is null)
        {
            return new LiburingFetchReport(l.Version, "new", $"{l.Package} {l.Version} ({l.Suite})", true, kept);
        }

        if (previous == l.Version && previousFiles.OrderBy(f => f.Kind).SequenceEqual(l.Files))
        {
            return new LiburingFetchReport(l.Version, "unchanged", $"{l.Package} {l.Version} ({l.Suite}, cache restored)", false, kept);
        }

        return new LiburingFetchReport(l.Version, "CHANGED", $"{l.Package} {previous} -> {l.Version} ({l.Suite}); run liburing's tests on it", true, kept);
    }

    private void UpdateSources(LiburingLock l, Action<string> log)
    {
        log($"apt-get update (deb-src, private state in {cache.AptState}) for suite {l.Suite}");
        archive.UpdateSources([l.Suite]);
    }

    /// <summary>Downloads a version's files into a fresh folder beside the cache's version folder (the same file system, so keeping them is a rename).</summary>
    private string Download(string package, string version)
    {
        var temp = $"{cache.VersionDir(version)}.download-{Environment.ProcessId}";
        if (Directory.Exists(temp))
        {
            Directory.Delete(temp, true);
        }

        archive.DownloadSource(package, version, temp);
        return temp;
    }

    /// <summary>Moves verified files into the version's folder, each replacing what was there.</summary>
    private string Keep(string temp, string version, IEnumerable<string> names)
    {
        var dir = cache.VersionDir(version);
        Directory.CreateDirectory(dir);
        foreach (var name in names)
        {
            File.Move(Path.Combine(temp, name), Path.Combine(dir, name), overwrite: true);
        }

        return dir;
    }
}
