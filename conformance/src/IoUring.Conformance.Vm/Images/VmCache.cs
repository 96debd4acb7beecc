using IoUring.Abi.Headers;
using IoUring.Abi.Model;

namespace IoUring.Conformance.Vm;

/// <summary>
/// The VM side of the git-ignored cache the header corpus uses (same root: $IO_URING_CODEGEN_CACHE or
/// ~/.cache/io_uring-codegen; same private apt state): kernel images under kernels/&lt;kernel&gt;/&lt;version&gt;/
/// (amd64) or kernels/&lt;kernel&gt;/&lt;version&gt;_&lt;arch&gt;/ (the same version number is another image on another architecture),
/// the static init, initramfs images and per-run scratch files under vm/.
/// </summary>
public sealed class VmCache
{
    public VmCache(string? root = null)
    {
        var headers = new HeaderCache(root);
        Root = headers.Root;
        AptState = headers.AptState;
    }

    public string Root { get; }

    public string AptState { get; }

    public string VmDir => Path.Combine(Root, "vm");

    public string RunsDir => Path.Combine(VmDir, "runs");

    public string KernelDir(LockedImage k, string version) =>
        Path.Combine(Root, "kernels", k.Kernel, Sanitize(version) + (k.Arch == KernelImageLock.DefaultArch ? string.Empty : "_" + k.Arch));

    public string VmlinuzPath(LockedImage k, string version) => Path.Combine(KernelDir(k, version), "vmlinuz");

    /// <summary>The cached vmlinuz of a locked kernel, verified against the lock's SHA-256; null with the reason otherwise.</summary>
    public string? TryGetVerified(LockedImage k, out string? problem)
    {
        problem = null;
        if (k.Version is null || k.Vmlinuz is null)
        {
            problem = $"kernel {k.Name} has no locked version yet";
            return null;
        }

        var path = VmlinuzPath(k, k.Version);
        if (!File.Exists(path))
        {
            problem = $"kernel {k.Name} ({k.MetaPackage} {k.Version}) is not in the cache ({path})";
            return null;
        }

        if (FileHash.Sha256(path) != k.Vmlinuz.Sha256)
        {
            problem = $"{path} does not match the SHA-256 in the lock";
            return null;
        }

        return path;
    }

    private static string Sanitize(string version) => version.Replace(':', '_').Replace('~', '_');
}
