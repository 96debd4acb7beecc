using IoUring.Abi.Headers;
using IoUring.Abi.Model;

namespace IoUring.Conformance.Liburing;

/// <summary>
/// The liburing side of the git-ignored cache the header corpus and the VMs use (same root:
/// $IO_URING_CODEGEN_CACHE or ~/.cache/io_uring-codegen): liburing/&lt;version&gt;/ holds the source
/// package's files as downloaded, src/ the extracted upstream tree that is configured and built in place.
/// </summary>
public sealed class LiburingCache
{
    public LiburingCache(string? root = null) => Root = new HeaderCache(root).Root;

    public string Root { get; }

    /// <summary>
    /// An apt state of its own: the header and kernel fetches rewrite their state's sources list with
    /// binary suites only, so a source fetch sharing it would race them (and lose its deb-src lines).
    /// </summary>
    public string AptState => Path.Combine(Root, "liburing", "apt");

    public string VersionDir(string version) => Path.Combine(Root, "liburing", version.Replace(':', '_').Replace('~', '_'));

    /// <summary>Where the extracted upstream tree goes: src/&lt;the tarball's top folder&gt;.</summary>
    public string SourceRoot(string version) => Path.Combine(VersionDir(version), "src");

    public string FilePath(string version, LockedSourceFile file) => Path.Combine(VersionDir(version), file.Name);

    /// <summary>
    /// The folder of the lock's cached files when every one of them is there with the lock's SHA-256;
    /// otherwise null, with <paramref name="problem"/> naming the first file that is missing or differs.
    /// </summary>
    public string? TryGetVerified(LiburingLock l, out string? problem)
    {
        problem = null;
        if (l.Version is null || l.Files.Count == 0)
        {
            problem = $"{l.Path} names no fetched version of {l.Package} yet";
            return null;
        }

        foreach (var f in l.Files)
        {
            var path = FilePath(l.Version, f);
            if (!File.Exists(path))
            {
                problem = $"{l.Package} {l.Version} is not in the cache ({path} is missing)";
                return null;
            }

            var sha = FileHash.Sha256(path);
            if (sha != f.Sha256)
            {
                problem = $"{path}: SHA-256 {sha} differs from the lock's {f.Sha256} ({l.Path})";
                return null;
            }
        }

        return VersionDir(l.Version);
    }
}
