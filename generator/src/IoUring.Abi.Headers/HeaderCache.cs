using System.Text.RegularExpressions;
using IoUring.Abi.Model;

namespace IoUring.Abi.Headers;

/// <summary>
/// The git-ignored cache of downloaded headers: one include tree per kernel and package version
/// (&lt;cache&gt;/headers/&lt;kernel&gt;/&lt;version&gt;/include), and the private apt state (&lt;cache&gt;/apt).
/// </summary>
public sealed class HeaderCache
{
    public HeaderCache(string? root = null) =>
        Root = Path.GetFullPath(root ?? Environment.GetEnvironmentVariable("IO_URING_CODEGEN_CACHE") ?? DefaultRoot());

    public string Root { get; }

    public string AptState => Path.Combine(Root, "apt");

    public static string DefaultRoot()
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(string.IsNullOrEmpty(xdg) ? Path.Combine(home, ".cache") : xdg, "io_uring-codegen");
    }

    public string TreeDir(string kernel, string version) => Path.Combine(Root, "headers", kernel, Sanitize(version), "include");

    /// <summary>
    /// The list of every file of a cached tree and the packages it came from, beside the tree. Its
    /// presence is what tells a whole UAPI tree from the io_uring-only trees older versions of this
    /// tool kept (they have no manifest, and are filled again from the package).
    /// </summary>
    public string ManifestPath(string kernel, string version) => Path.Combine(Path.GetDirectoryName(TreeDir(kernel, version))!, TreeManifest.FileName);

    /// <summary>
    /// The cached include tree of a locked kernel: the whole UAPI tree of its packages, verified
    /// against the lock's file hashes and against the tree's manifest, which must name the lock's
    /// packages (by SHA-256) and whose every file must be present with its recorded hash.
    /// </summary>
    public IncludeTree? TryGetVerified(LockedKernel k, out string? problem)
    {
        problem = null;
        if (k.Version is null || k.Files.Count == 0)
        {
            problem = $"kernel {k.Kernel} has no locked version yet";
            return null;
        }

        var dir = TreeDir(k.Kernel, k.Version);
        if (!Directory.Exists(dir))
        {
            problem = $"kernel {k.Kernel} ({KernelLock.PackageName} {k.Version}) is not in the cache";
            return null;
        }

        foreach (var f in k.Files)
        {
            var path = Path.Combine(dir, f.Path);
            if (!File.Exists(path))
            {
                problem = $"{path} is missing from the cache";
                return null;
            }

            if (FileHash.Sha256(path) != f.Sha256)
            {
                problem = $"{path} does not match the SHA-256 in the lock";
                return null;
            }
        }

        var manifestPath = ManifestPath(k.Kernel, k.Version);
        var manifest = TreeManifest.TryRead(manifestPath);
        if (manifest is null)
        {
            problem = $"the cached tree of kernel {k.Kernel} holds only the io_uring headers (no {TreeManifest.FileName}); the whole UAPI tree is needed";
            return null;
        }

        var lockedDebs = k.Debs.Select(d => d.Sha256).Order(StringComparer.Ordinal);
        if (!manifest.DebSha256s.Order(StringComparer.Ordinal).SequenceEqual(lockedDebs))
        {
            problem = $"{manifestPath}: the cached tree was extracted from other packages than the lock names";
            return null;
        }

        // Hashing a thousand files on every use costs more than the work that uses them (a one-header
        // diff). Once every file matched its hash, their sizes and modification times are kept beside
        // the manifest; a later use that finds them all unchanged trusts that verification, and any
        // change (a file written, touched, removed or added) makes it hash everything again.
        var stampPath = Path.Combine(Path.GetDirectoryName(dir)!, VerifiedStampName);
        var stamp = Stamp(dir, manifest);
        if (!File.Exists(stampPath) || File.ReadAllText(stampPath) != stamp)
        {
            foreach (var (rel, sha) in manifest.Files)
            {
                var path = Path.Combine(dir, rel);
                if (!File.Exists(path) || FileHash.Sha256(path) != sha)
                {
                    problem = $"{path} is missing from the cache or differs from its package";
                    return null;
                }
            }

            try
            {
                AtomicFile.WriteAllText(stampPath, stamp);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A read-only cache is verified in full on every use instead.
            }
        }

        return new IncludeTree(dir);
    }

    /// <summary>The file beside a verified tree that records its files' sizes and times at verification.</summary>
    public const string VerifiedStampName = "uapi-tree.verified";

    /// <summary>Size and modification time of every file of the manifest, and how many files the tree holds now.</summary>
    private static string Stamp(string dir, TreeManifest manifest)
    {
        var text = new System.Text.StringBuilder();
        text.Append("files ").Append(Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Count()).Append('\n');
        foreach (var (rel, _) in manifest.Files)
        {
            var info = new FileInfo(Path.Combine(dir, rel));
            text.Append(info.Exists ? info.Length : -1).Append(' ')
                .Append(info.Exists ? info.LastWriteTimeUtc.Ticks : 0).Append(' ')
                .Append(rel).Append('\n');
        }

        return text.ToString();
    }

    private static string Sanitize(string version) => version.Replace(':', '_').Replace('~', '_');
}

/// <summary>
/// The files the io_uring headers need, found by following #include lines through the include paths
/// of every target. It follows includes under every #if branch, so it may keep a file a target does
/// not need, never drop one it does.
/// </summary>
public static class IncludeClosure
{
    private static readonly Regex Include = new(@"^\s*#\s*include\s*[<""]([^>""]+)[>""]", RegexOptions.Multiline | RegexOptions.CultureInvariant);

    public static SortedSet<string> Find(string includeRoot, IEnumerable<string> roots)
    {
        var found = new SortedSet<string>(StringComparer.Ordinal);
        var work = new Queue<string>(roots);
        foreach (var r in roots)
        {
            found.Add(r);
        }

        while (work.Count > 0)
        {
            var rel = work.Dequeue();
            var text = File.ReadAllText(Path.Combine(includeRoot, rel));
            foreach (Match m in Include.Matches(text))
            {
                var name = m.Groups[1].Value;
                foreach (var dir in new[] { string.Empty }.Concat(CTarget.All.Select(t => t.MultiarchDir)))
                {
                    var candidate = dir.Length == 0 ? name : $"{dir}/{name}";
                    if (File.Exists(Path.Combine(includeRoot, candidate)) && found.Add(candidate))
                    {
                        work.Enqueue(candidate);
                    }
                }
            }
        }

        return found;
    }
}

/// <summary>
/// The manifest of a cached UAPI tree: the SHA-256 of each package it was extracted from and of every
/// file it holds. Lines: "deb SHA256" then "SHA256  PATH" (the form sha256sum -c reads), sorted.
/// </summary>
public sealed record TreeManifest(IReadOnlyList<string> DebSha256s, IReadOnlyList<(string Path, string Sha256)> Files)
{
    public const string FileName = "uapi-tree.sha256";

    private const string Header = "# io_uring-codegen UAPI tree/1";

    public static TreeManifest? TryRead(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        var lines = File.ReadAllLines(path);
        if (lines.Length == 0 || lines[0] != Header)
        {
            return null;
        }

        var debs = new List<string>();
        var files = new List<(string, string)>();
        foreach (var line in lines.Skip(1).Where(l => l.Length > 0))
        {
            if (line.StartsWith("deb ", StringComparison.Ordinal))
            {
                debs.Add(line.Split(' ')[1]);
            }
            else if (line.Length > 66 && line[64] == ' ' && line[65] == ' ')
            {
                files.Add((line[66..], line[..64]));
            }
            else
            {
                // A damaged manifest is as good as none: the tree is filled again.
                return null;
            }
        }

        return files.Count == 0 ? null : new TreeManifest(debs, files);
    }

    public string Write() =>
        Header + "\n"
        + string.Concat(DebSha256s.Order(StringComparer.Ordinal).Select(d => $"deb {d}\n"))
        + string.Concat(Files.OrderBy(f => f.Path, StringComparer.Ordinal).Select(f => $"{f.Sha256}  {f.Path}\n"));
}
