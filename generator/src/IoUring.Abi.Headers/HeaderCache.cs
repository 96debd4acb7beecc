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

    /// <summary>The cached include tree of a locked kernel, verified against the lock's file hashes.</summary>
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

        return new IncludeTree(dir);
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
