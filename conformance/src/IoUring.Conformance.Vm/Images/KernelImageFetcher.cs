using System.Diagnostics;
using System.Formats.Tar;
using System.Text.RegularExpressions;
using IoUring.Abi.Headers;
using IoUring.Abi.Model;

namespace IoUring.Conformance.Vm;

public sealed record ImageFetchReport(string Kernel, string Status, string Detail, bool Changed);

/// <summary>
/// Brings the lock's kernel images into the cache through the machine's Debian mirror (the header
/// corpus's private apt state) and keeps the lock in step, with the header fetcher's semantics:
/// <see cref="FetchMode.Refresh"/> follows each suite's linux-image-cloud-amd64 and records what moved
/// (a suite that moved on to another kernel series is kept and reported); <see cref="FetchMode.Locked"/>
/// makes the cache hold exactly what the lock names and never changes the lock.
/// </summary>
public sealed partial class KernelImageFetcher
{
    private readonly VmCache cache;
    private readonly DebianArchive archive;
    private readonly Action<string> log;
    private bool updated;

    public KernelImageFetcher(VmCache cache, Action<string> log)
    {
        this.cache = cache;
        this.log = log;
        archive = new DebianArchive(cache.AptState);
    }

    public List<ImageFetchReport> Fetch(KernelImageLock kernelLock, FetchMode mode, IReadOnlyCollection<string>? only = null)
    {
        var kernels = kernelLock.SelectAllArches(only);
        if (mode == FetchMode.Refresh)
        {
            try
            {
                UpdateOnce(kernelLock);
            }
            catch (RegistryUnreachableException e)
            {
                // Offline: the cache still answers for every kernel it holds.
                var missing = kernels.Where(k => cache.TryGetVerified(k, out _) is null).Select(k => k.Name).ToList();
                if (missing.Count > 0)
                {
                    throw new RegistryUnreachableException($"{e.Message}\nthe cache ({cache.Root}) has no verified kernel image for {string.Join(", ", missing)}; connect to the mirror and run 'kernels fetch' again");
                }

                log($"offline: the mirror could not be reached; using the cached kernel images ({e.Message.Split('\n')[0]})");
                return kernels.Select(k => new ImageFetchReport(k.Name, "cached", $"{k.MetaPackage} {k.Version} (offline)", false)).ToList();
            }
        }

        return kernels.Select(k => mode == FetchMode.Refresh ? Refresh(kernelLock, k) : EnsureLocked(kernelLock, k)).ToList();
    }

    private void UpdateOnce(KernelImageLock kernelLock)
    {
        if (!updated)
        {
            log($"apt-get update (private state in {cache.AptState}) for suites {string.Join(", ", kernelLock.Kernels.Select(k => k.Suite).Distinct())}");
            archive.Update(kernelLock.Kernels.Select(k => k.Suite));
            updated = true;
        }
    }

    private ImageFetchReport EnsureLocked(KernelImageLock kernelLock, LockedImage k)
    {
        if (cache.TryGetVerified(k, out var problem) is not null)
        {
            return new ImageFetchReport(k.Name, "cached", $"{k.MetaPackage} {k.Version} ({k.Release})", false);
        }

        if (k.Version is null || k.Deb is null || k.Vmlinuz is null)
        {
            throw new ToolException($"kernel {k.Name} has no locked version in {kernelLock.Path}; run 'kernels fetch' (without --locked) to record one");
        }

        log($"{k.Name}: {problem}; downloading {k.Deb.Package} {k.Deb.Version}");
        try
        {
            UpdateOnce(kernelLock);
        }
        catch (RegistryUnreachableException e)
        {
            throw new RegistryUnreachableException($"{e.Message}\nthe cache ({cache.Root}) has no verified image for kernel {k.Name}; connect to the mirror and run 'kernels fetch --locked' again");
        }

        string deb;
        try
        {
            deb = archive.Download(k.Deb.Package, k.Arch, k.Deb.Version);
        }
        catch (RegistryUnreachableException e)
        {
            throw new RegistryUnreachableException($"{e.Message}\nthe mirror no longer offers {k.Deb.Package} {k.Deb.Version} (suite {k.Suite} moved on?); run 'kernels fetch' (without --locked) to lock what the suite offers now");
        }

        try
        {
            var sha = FileHash.Sha256(deb);
            if (sha != k.Deb.Sha256)
            {
                throw new ToolException($"{Path.GetFileName(deb)}: SHA-256 {sha} differs from the lock ({kernelLock.Path}); the mirror serves a different package under version {k.Deb.Version}. Run 'kernels fetch' to record it deliberately.");
            }

            var (path, vmlinuzSha) = ExtractVmlinuz(deb, k, k.Version, k.Vmlinuz.Path);
            if (path != k.Vmlinuz.Path || vmlinuzSha != k.Vmlinuz.Sha256)
            {
                File.Delete(cache.VmlinuzPath(k, k.Version));
                throw new ToolException($"{k.Deb.File}: {k.Vmlinuz.Path} does not match the lock's SHA-256; run 'kernels fetch' to re-record kernel {k.Name}");
            }
        }
        finally
        {
            // The image is what the cache keeps (verified by its own hash); the package is 13-35 MB more.
            File.Delete(deb);
        }

        return new ImageFetchReport(k.Name, "fetched", $"{k.MetaPackage} {k.Version} ({k.Release})", false);
    }

    private ImageFetchReport Refresh(KernelImageLock kernelLock, LockedImage k)
    {
        var candidate = archive.Candidate(AptName(k.MetaPackage, k.Arch), k.Suite)
            ?? throw new ToolException($"suite '{k.Suite}' (kernel {k.Name}) offers no {k.MetaPackage}; fix the suite in {kernelLock.Path}");
        var series = HeaderFetcher.Series(candidate);
        var note = string.Empty;
        if (series != k.Kernel)
        {
            if (k.Version is null)
            {
                throw new ToolException($"suite '{k.Suite}' carries {k.MetaPackage} {candidate} (kernel {series}), not kernel {k.Kernel}; pick the suite that ships {k.Kernel} in {kernelLock.Path}");
            }

            note = $" (suite {k.Suite} moved on to {candidate}, kernel {series}: kept {k.Version}; add a '{series}' entry to follow it)";
            candidate = k.Version;
        }

        var previous = k.Version;
        var previousSha = k.Vmlinuz?.Sha256;
        if (previous == candidate && cache.TryGetVerified(k, out _) is not null)
        {
            return new ImageFetchReport(k.Name, "unchanged", $"{k.MetaPackage} {candidate} ({k.Release}){note}", false);
        }

        var (package, version, release) = ResolveImagePackage(k, candidate);
        var deb = archive.Download(package, k.Arch, version);
        try
        {
            var debSha = FileHash.Sha256(deb);
            var (path, sha) = ExtractVmlinuz(deb, k, candidate, null);
            k.Version = candidate;
            k.Release = release;
            k.Deb = new LockedImageDeb(package, version, Path.GetFileName(deb), debSha);
            k.Vmlinuz = new LockedVmlinuz(path, sha);
        }
        finally
        {
            File.Delete(deb);
        }

        if (previous is null)
        {
            return new ImageFetchReport(k.Name, "new", $"{k.MetaPackage} {candidate}: {k.Deb.Package}, {k.Vmlinuz.Path}", true);
        }

        if (previous == candidate && previousSha == k.Vmlinuz.Sha256)
        {
            return new ImageFetchReport(k.Name, "unchanged", $"{k.MetaPackage} {candidate} (cache restored){note}", false);
        }

        return new ImageFetchReport(k.Name, "CHANGED", $"{k.MetaPackage} {previous} -> {candidate} ({release}); run the VM matrix on it{note}", true);
    }

    /// <summary>
    /// linux-image-cloud-&lt;arch&gt; = V depends on linux-image-&lt;release&gt; (= V); up to 6.x that package holds
    /// /boot/vmlinuz-&lt;release&gt;, from 7.x it is empty and depends on linux-binary-&lt;release&gt;, which
    /// holds /usr/lib/modules/&lt;release&gt;/vmlinuz (the same on amd64 and arm64, where vmlinuz is an
    /// uncompressed arm64 Image qemu boots directly).
    /// </summary>
    private (string Package, string Version, string Release) ResolveImagePackage(LockedImage k, string metaVersion)
    {
        var depends = archive.ControlField(AptName(k.MetaPackage, k.Arch), metaVersion, "Depends")
            ?? throw new ToolException($"{k.MetaPackage} {metaVersion} has no Depends field; the archive's layout changed, fix KernelImageFetcher.ResolveImagePackage");
        var suffix = $"-cloud-{k.Arch}";
        var image = Dependencies(depends).Select(d => (d.Name, d.Version, Match: ImagePackage().Match(d.Name)))
            .FirstOrDefault(d => d.Match.Success && d.Name.EndsWith(suffix, StringComparison.Ordinal) && d.Version is not null);
        if (image.Name is null)
        {
            throw new ToolException($"{k.MetaPackage} {metaVersion} depends on no linux-image-<release>{suffix} (= version) (Depends: {depends}); the archive's layout changed, fix KernelImageFetcher.ResolveImagePackage");
        }

        var release = image.Match.Groups[1].Value + suffix;
        var imageDepends = archive.ControlField(AptName(image.Name, k.Arch), image.Version!, "Depends") ?? string.Empty;
        var binary = Dependencies(imageDepends).FirstOrDefault(d => d.Name == $"linux-binary-{release}" && d.Version is not null);
        return binary.Name is not null ? (binary.Name, binary.Version!, release) : (image.Name, image.Version!, release);
    }

    /// <summary>"a (= 1), b | c, d (>= 2)" -> (a, 1), (b, null), (c, null), (d, null): only exact versions are kept.</summary>
    private static IEnumerable<(string Name, string? Version)> Dependencies(string field)
    {
        foreach (var alternative in field.Split([',', '|'], StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var m = Dependency().Match(alternative);
            if (m.Success)
            {
                yield return (m.Groups[1].Value, m.Groups[2].Success ? m.Groups[2].Value : null);
            }
        }
    }

    /// <summary>
    /// Streams the package's data archive through dpkg-deb and keeps the kernel image (a regular file
    /// named vmlinuz or vmlinuz-*, or exactly <paramref name="expected"/>) in the cache, written beside its
    /// final place and renamed in. Returns the image's path inside the package and its SHA-256.
    /// </summary>
    private (string Path, string Sha256) ExtractVmlinuz(string deb, LockedImage kernel, string version, string? expected)
    {
        var final = cache.VmlinuzPath(kernel, version);
        Directory.CreateDirectory(Path.GetDirectoryName(final)!);
        var temp = $"{final}.{Environment.ProcessId}.tmp";
        var psi = new ProcessStartInfo("dpkg-deb") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("--fsys-tarfile");
        psi.ArgumentList.Add(deb);
        using var p = Process.Start(psi) ?? throw new ToolException("dpkg-deb could not be started; install dpkg");
        var stderr = p.StandardError.ReadToEndAsync();
        string? found = null;
        try
        {
            using (var tar = new TarReader(p.StandardOutput.BaseStream))
            {
                while (tar.GetNextEntry() is { } entry)
                {
                    var name = entry.Name.StartsWith("./", StringComparison.Ordinal) ? entry.Name[2..] : entry.Name;
                    var file = Path.GetFileName(name);
                    var wanted = expected is not null ? name == expected : file == "vmlinuz" || file.StartsWith("vmlinuz-", StringComparison.Ordinal);
                    if (wanted && entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile && entry.DataStream is not null)
                    {
                        using (var output = File.Create(temp))
                        {
                            entry.DataStream.CopyTo(output);
                        }

                        found = name;
                        break;
                    }
                }
            }

            // The rest of the archive (modules, docs) is not needed: stop reading it.
            if (!p.HasExited)
            {
                p.Kill();
            }

            p.WaitForExit();
            if (found is null)
            {
                throw new ToolException($"{Path.GetFileName(deb)} holds no {expected ?? "vmlinuz"} (dpkg-deb: {stderr.Result.Trim()}); the package layout changed: fix KernelImageFetcher");
            }

            var sha = FileHash.Sha256(temp);
            File.Move(temp, final, overwrite: true);
            return (found, sha);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    /// <summary>
    /// A package as apt names it: the private apt state's native architecture is amd64, whose packages
    /// apt names bare; a package of another architecture carries it as a qualifier (name:arm64).
    /// </summary>
    private static string AptName(string package, string arch) => arch == "amd64" ? package : $"{package}:{arch}";

    [GeneratedRegex(@"^linux-image-(.+)-cloud-[a-z0-9]+$")]
    private static partial Regex ImagePackage();

    [GeneratedRegex(@"^([a-z0-9][a-z0-9.+-]*)(?::[a-z0-9]+)?(?:\s*\(\s*=\s*([^)\s]+)\s*\))?")]
    private static partial Regex Dependency();
}
