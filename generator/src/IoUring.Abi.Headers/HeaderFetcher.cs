using IoUring.Abi.Model;

namespace IoUring.Abi.Headers;

public enum FetchMode
{
    /// <summary>Follow each suite: fetch its newest package, record it, report what moved.</summary>
    Refresh,

    /// <summary>Make the cache hold exactly what the lock names; never change the lock.</summary>
    Locked,
}

public sealed record FetchReport(string Kernel, string Status, string Detail, bool Changed);

/// <summary>Brings the corpus's headers into the cache with apt and keeps the lock in step.</summary>
public sealed class HeaderFetcher
{
    private readonly HeaderCache cache;
    private readonly DebianArchive archive;
    private readonly Action<string> log;
    private bool updated;

    public HeaderFetcher(HeaderCache cache, Action<string> log)
    {
        this.cache = cache;
        this.log = log;
        archive = new DebianArchive(cache.AptState);
    }

    /// <summary>Fetches every kernel of the lock; the lock object is updated in place in Refresh mode.</summary>
    public List<FetchReport> Fetch(KernelLock kernelLock, FetchMode mode, IReadOnlyCollection<string>? only = null)
    {
        var reports = new List<FetchReport>();
        var kernels = kernelLock.Kernels.Where(k => only is null || only.Count == 0 || only.Contains(k.Kernel)).ToList();
        if (mode == FetchMode.Refresh)
        {
            try
            {
                UpdateOnce(kernelLock);
            }
            catch (RegistryUnreachableException e)
            {
                // Offline: the cache still answers for every kernel it holds.
                var missing = kernels.Where(k => cache.TryGetVerified(k, out _) is null).Select(k => k.Kernel).ToList();
                if (missing.Count > 0)
                {
                    throw new RegistryUnreachableException($"{e.Message}\nthe cache ({cache.Root}) has no verified headers for {string.Join(", ", missing)}; connect to the mirror and run 'headers fetch' again");
                }

                log($"offline: the mirror could not be reached; using the cached headers ({e.Message.Split('\n')[0]})");
                return kernels.Select(k => new FetchReport(k.Kernel, "cached", $"{KernelLock.PackageName} {k.Version} (offline)", false)).ToList();
            }
        }

        foreach (var k in kernels)
        {
            reports.Add(mode == FetchMode.Refresh ? Refresh(kernelLock, k) : EnsureLocked(kernelLock, k));
        }

        return reports;
    }

    private void UpdateOnce(KernelLock kernelLock)
    {
        if (!updated)
        {
            log($"apt-get update (private state in {cache.AptState}) for suites {string.Join(", ", kernelLock.Kernels.Select(k => k.Suite).Distinct())}");
            archive.Update(kernelLock.Kernels.Select(k => k.Suite));
            updated = true;
        }
    }

    private FetchReport EnsureLocked(KernelLock kernelLock, LockedKernel k)
    {
        if (cache.TryGetVerified(k, out var problem) is not null)
        {
            return new FetchReport(k.Kernel, "cached", $"{KernelLock.PackageName} {k.Version}", false);
        }

        if (k.Version is null || k.Debs.Count == 0)
        {
            throw new ToolException($"kernel {k.Kernel} has no locked version; run 'headers fetch' (without --locked) to record one");
        }

        // A package already downloaded whose SHA-256 is the lock's is as good as a fresh download: a
        // cache that lost (or never had) the whole tree is filled again without the mirror.
        var cachedDebs = k.Debs.Select(d => Path.Combine(archive.ArchivesDir, d.File)).ToList();
        if (cachedDebs.All(File.Exists) && k.Debs.Zip(cachedDebs).All(p => FileHash.Sha256(p.Second) == p.First.Sha256))
        {
            log($"{k.Kernel}: {problem}; extracting the cached {string.Join(", ", k.Debs.Select(d => d.File))}");
            var (fromCache, _) = Materialize(k.Kernel, k.Version, k.Debs.Select(d => d.Arch).ToList(), arch => cachedDebs[k.Debs.FindIndex(d => d.Arch == arch)]);
            RequireLockedFiles(k, fromCache);
            return new FetchReport(k.Kernel, "extracted", $"{KernelLock.PackageName} {k.Version} (from the cached package)", false);
        }

        log($"{k.Kernel}: {problem}; downloading {KernelLock.PackageName} {k.Version}");
        try
        {
            UpdateOnce(kernelLock);
        }
        catch (RegistryUnreachableException e)
        {
            throw new RegistryUnreachableException($"{e.Message}\nthe cache ({cache.Root}) has no verified headers for kernel {k.Kernel}; connect to the mirror and run 'headers fetch --locked' again");
        }

        var (files, debs) = Materialize(k.Kernel, k.Version, k.Debs.Select(d => d.Arch).ToList(), Download(k.Version));
        var debMismatch = debs.FirstOrDefault(d => k.Debs.All(l => l.Sha256 != d.Sha256));
        if (debMismatch is not null)
        {
            throw new ToolException($"{debMismatch.File}: SHA-256 {debMismatch.Sha256} differs from the lock; the mirror serves a different package under version {k.Version}. Run 'headers fetch' to record it deliberately.");
        }

        RequireLockedFiles(k, files);
        return new FetchReport(k.Kernel, "fetched", $"{KernelLock.PackageName} {k.Version}", false);
    }

    private static void RequireLockedFiles(LockedKernel k, List<LockedFile> files)
    {
        var fileMismatch = k.Files.FirstOrDefault(f => !files.Contains(f));
        if (fileMismatch is not null)
        {
            throw new ToolException($"{fileMismatch.Path}: the extracted header does not match the lock's SHA-256; run 'headers fetch' to re-record kernel {k.Kernel}");
        }
    }

    private Func<string, string> Download(string version) => arch => archive.Download(KernelLock.PackageName, arch, version);

    private FetchReport Refresh(KernelLock kernelLock, LockedKernel k)
    {
        var candidate = archive.Candidate(KernelLock.PackageName, k.Suite)
            ?? throw new ToolException($"suite '{k.Suite}' (kernel {k.Kernel}) offers no {KernelLock.PackageName}; fix the suite in headers/kernels.lock.json");
        var series = Series(candidate);
        var note = string.Empty;
        if (series != k.Kernel)
        {
            if (k.Version is null)
            {
                throw new ToolException($"suite '{k.Suite}' carries {KernelLock.PackageName} {candidate} (kernel {series}), not kernel {k.Kernel}; pick the suite that ships {k.Kernel} in headers/kernels.lock.json");
            }

            note = $" (suite {k.Suite} moved on to {candidate}, kernel {series}: kept {k.Version}; add a '{series}' entry to follow it)";
            candidate = k.Version;
        }

        var previous = k.Version;
        if (previous == candidate && cache.TryGetVerified(k, out _) is not null)
        {
            return new FetchReport(k.Kernel, "unchanged", $"{KernelLock.PackageName} {candidate}{note}", false);
        }

        var arches = archive.IsArchitectureIndependent(KernelLock.PackageName, candidate)
            ? new List<string> { "all" }
            : DebianArchive.Architectures.ToList();
        var (files, debs) = Materialize(k.Kernel, candidate, arches, Download(candidate));
        var oldFiles = k.Files;
        k.Version = candidate;
        k.Debs = debs;
        k.Files = files.OrderBy(f => f.Path, StringComparer.Ordinal).ToList();
        if (previous is null)
        {
            return new FetchReport(k.Kernel, "new", $"{KernelLock.PackageName} {candidate}, {k.Files.Count} header files", true);
        }

        var changedFiles = k.Files.Except(oldFiles).Select(f => f.Path).Union(oldFiles.Select(f => f.Path).Except(k.Files.Select(f => f.Path))).ToList();
        if (previous == candidate && changedFiles.Count == 0)
        {
            return new FetchReport(k.Kernel, "unchanged", $"{KernelLock.PackageName} {candidate} (cache restored){note}", false);
        }

        var detail = $"{KernelLock.PackageName} {previous} -> {candidate}: {changedFiles.Count} header file(s) changed" +
            (changedFiles.Count > 0 ? $" ({string.Join(", ", changedFiles.Take(5))}{(changedFiles.Count > 5 ? ", ..." : string.Empty)})" : string.Empty) +
            "; run 'generate' and review 'diff'" + note;
        return new FetchReport(k.Kernel, "CHANGED", detail, true);
    }

    /// <summary>
    /// Extracts the packages into the cache as one include tree: every header under usr/include except
    /// the multiarch folders of architectures that are no target (the arch:all package carries about
    /// twenty), each file's content copied (Debian ships the asm headers as symlinks into usr/lib). The
    /// lock records the io_uring headers' include closure, the files the snapshots depend on; the
    /// tree's manifest records every file.
    /// </summary>
    private (List<LockedFile> Files, List<LockedDeb> Debs) Materialize(string kernel, string version, List<string> arches, Func<string, string> debOf)
    {
        var staging = Path.Combine(cache.Root, "tmp", $"{kernel}-{Environment.ProcessId}");
        if (Directory.Exists(staging))
        {
            Directory.Delete(staging, true);
        }

        try
        {
            var debs = new List<LockedDeb>();
            foreach (var arch in arches)
            {
                var deb = debOf(arch);
                debs.Add(new LockedDeb(arch, Path.GetFileName(deb), FileHash.Sha256(deb)));
                DebianArchive.Extract(deb, staging);
            }

            var include = Path.Combine(staging, "usr", "include");
            if (!File.Exists(Path.Combine(include, "linux", "io_uring.h")))
            {
                throw new ToolException($"{KernelLock.PackageName} {version} has no usr/include/linux/io_uring.h; is kernel {kernel} older than io_uring (5.1)?");
            }

            var roots = new IncludeTree(include).RootHeaders();
            var closure = IncludeClosure.Find(include, roots);

            // Build the tree beside its final place and rename it in, so a reader never sees half a tree.
            var final = cache.TreeDir(kernel, version);
            var temp = final + $".tmp{Environment.ProcessId}";
            if (Directory.Exists(temp))
            {
                Directory.Delete(temp, true);
            }

            var manifest = new List<(string Path, string Sha256)>();
            foreach (var rel in UapiFiles(include))
            {
                var dest = Path.Combine(temp, rel);
                Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
                File.Copy(Path.Combine(include, rel), dest);
                manifest.Add((rel, FileHash.Sha256(dest)));
            }

            var hashes = manifest.ToDictionary(f => f.Path, f => f.Sha256, StringComparer.Ordinal);
            var files = closure.Select(rel => new LockedFile(rel, hashes[rel])).ToList();

            // The manifest is removed first and written last: a tree without one is refilled, so an
            // interrupted fill is never taken for a whole tree.
            var manifestPath = cache.ManifestPath(kernel, version);
            if (File.Exists(manifestPath))
            {
                File.Delete(manifestPath);
            }

            if (Directory.Exists(final))
            {
                Directory.Delete(final, true);
            }

            Directory.CreateDirectory(Path.GetDirectoryName(final)!);
            Directory.Move(temp, final);
            AtomicFile.WriteAllText(manifestPath, new TreeManifest(debs.Select(d => d.Sha256).ToList(), manifest).Write());
            return (files, debs);
        }
        finally
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, true);
            }
        }
    }

    /// <summary>The package's headers the targets can include, relative to usr/include, sorted.</summary>
    public static List<string> UapiFiles(string include)
    {
        var targetDirs = CTarget.All.Select(t => t.MultiarchDir).ToHashSet(StringComparer.Ordinal);
        return Directory.EnumerateFiles(include, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(include, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Where(rel =>
            {
                var top = rel.Split('/')[0];
                return rel.Contains('/') && (targetDirs.Contains(top) || !IsMultiarchDir(top));
            })
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    // "x86_64-linux-gnu", "mips64el-linux-gnuabi64": Debian's multiarch tuples all read ARCH-linux-ABI.
    private static bool IsMultiarchDir(string name) => name.Contains("-linux-", StringComparison.Ordinal);

    /// <summary>"6.12.107-1" -> "6.12"; "7.3~rc7-1~exp1" -> "7.3-rc".</summary>
    public static string Series(string debianVersion)
    {
        var upstream = debianVersion;
        var colon = upstream.IndexOf(':');
        if (colon >= 0)
        {
            upstream = upstream[(colon + 1)..];
        }

        var dash = upstream.LastIndexOf('-');
        if (dash > 0)
        {
            upstream = upstream[..dash];
        }

        var rc = upstream.Contains("~rc", StringComparison.Ordinal);
        var parts = upstream.Split('~')[0].Split('.');
        var series = parts.Length >= 2 ? $"{parts[0]}.{parts[1]}" : parts[0];
        return rc ? series + "-rc" : series;
    }
}
