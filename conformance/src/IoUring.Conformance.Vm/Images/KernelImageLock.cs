using IoUring.Abi.Headers;
using IoUring.Abi.Model;

namespace IoUring.Conformance.Vm;

/// <summary>
/// conformance/kernels.lock.json: the kernels the conformance VMs boot, each for a Debian architecture
/// (amd64, arm64), the Debian suite each follows (through the meta package linux-image-cloud-&lt;arch&gt;),
/// the exact package version last fetched, the
/// .deb that holds the kernel image with its SHA-256, and the SHA-256 of the vmlinuz inside it. The same
/// semantics as headers/kernels.lock.json: a plain fetch follows each suite and records what moved,
/// <c>--locked</c> fetches exactly what the lock names.
/// </summary>
public sealed class KernelImageLock
{
    public const string SchemaId = "io_uring-kernel-images-lock/1";

    /// <summary>The Debian architecture of an entry that names none (the lock's first entries were all amd64).</summary>
    public const string DefaultArch = "amd64";

    public const string FileName = "kernels.lock.json";

    public required string Path { get; init; }

    public List<LockedImage> Kernels { get; init; } = new();

    public LockedImage Find(string kernel, string arch = DefaultArch) =>
        Kernels.FirstOrDefault(k => k.Kernel == kernel && k.Arch == arch)
        ?? throw new ToolException($"unknown kernel '{kernel}'{(arch == DefaultArch ? string.Empty : $" for {arch}")}: {Path} has {string.Join(", ", Kernels.Where(k => k.Arch == arch).Select(k => k.Kernel))}; pick one of those, or add an entry (kernel, arch and suite) and run 'kernels fetch'");

    /// <summary>
    /// The kernels named, for the Debian architectures named (default: amd64 only, what every command ran
    /// before arm64 entries existed), in lock order; "all" or none named means every kernel of those architectures.
    /// </summary>
    public List<LockedImage> Select(IReadOnlyCollection<string>? kernels, IReadOnlyCollection<string>? arches = null)
    {
        arches ??= [DefaultArch];
        var unknown = arches.Where(a => !Kernels.Any(k => k.Arch == a)).ToList();
        if (unknown.Count > 0)
        {
            throw new ToolException($"{Path} has no kernel for {string.Join(", ", unknown)}; it has kernels for {string.Join(", ", Kernels.Select(k => k.Arch).Distinct())}");
        }

        if (kernels is null || kernels.Count == 0 || kernels.Contains("all"))
        {
            return Kernels.Where(k => arches.Contains(k.Arch)).ToList();
        }

        var named = kernels.SelectMany(k => arches.Select(a => Find(k, a))).ToHashSet();
        return Kernels.Where(named.Contains).ToList();
    }

    /// <summary>Every entry of the lock, all architectures: what 'kernels fetch' keeps in the cache.</summary>
    public List<LockedImage> SelectAllArches(IReadOnlyCollection<string>? kernels) =>
        Select(kernels, Kernels.Select(k => k.Arch).Distinct().ToList());

    public static KernelImageLock Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new ToolException($"{path}: kernel image lock not found; run from the repository root or pass --repo");
        }

        var root = JsonText.Parse(File.ReadAllText(path), path) as JsonObject
            ?? throw new ToolException($"{path}: the lock should hold a JSON object");
        if ((root["schema"] as JsonString)?.Value != SchemaId)
        {
            throw new ToolException($"{root.Position}: schema should be '{SchemaId}'");
        }

        var kernels = (root["kernels"] as JsonArray)?.Items
            ?? throw new ToolException($"{root.Position}: missing 'kernels' array");
        var result = new KernelImageLock { Path = path };
        foreach (var node in kernels)
        {
            var o = node as JsonObject ?? throw new ToolException($"{node.Position}: a kernel entry should be an object");
            var kernel = Required(o, "kernel");
            var arch = Optional(o, "arch", kernel) ?? DefaultArch;
            if (!DebianArchive.Architectures.Contains(arch))
            {
                throw new ToolException($"{o["arch"]!.Position}: kernel {kernel}: arch '{arch}' should be one of {string.Join(", ", DebianArchive.Architectures)}");
            }

            var image = new LockedImage
            {
                Kernel = kernel,
                Arch = arch,
                Suite = Required(o, "suite", kernel),
                Version = Optional(o, "version", kernel),
                Release = Optional(o, "release", kernel),
            };
            if (o["deb"] is JsonObject deb)
            {
                image.Deb = new LockedImageDeb(Required(deb, "package", kernel), Required(deb, "version", kernel), Required(deb, "file", kernel), Hash(deb, "sha256", kernel));
            }
            else if (o["deb"] is not null and not JsonNull)
            {
                throw new ToolException($"{o["deb"]!.Position}: kernel {kernel}: 'deb' should be an object {{package, version, file, sha256}}");
            }

            if (o["vmlinuz"] is JsonObject vmlinuz)
            {
                image.Vmlinuz = new LockedVmlinuz(Required(vmlinuz, "path", kernel), Hash(vmlinuz, "sha256", kernel));
            }
            else if (o["vmlinuz"] is not null and not JsonNull)
            {
                throw new ToolException($"{o["vmlinuz"]!.Position}: kernel {kernel}: 'vmlinuz' should be an object {{path, sha256}}");
            }

            if (image.Version is not null && (image.Deb is null || image.Vmlinuz is null || image.Release is null))
            {
                throw new ToolException($"{o.Position}: kernel {kernel} has a version but no release, deb or vmlinuz; the entry is incomplete: remove 'version' and run 'kernels fetch' to record it again");
            }

            result.Kernels.Add(image);
        }

        var dup = result.Kernels.GroupBy(k => (k.Kernel, k.Arch)).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null)
        {
            throw new ToolException($"{path}: kernel '{dup.Key.Kernel}' is listed twice for {dup.Key.Arch}; keep one entry");
        }

        return result;
    }

    public string ToJson()
    {
        var root = new JsonObject()
            .Add("schema", new JsonString(SchemaId))
            .Add("kernels", new JsonArray(Kernels.Select(k => (JsonNode)new JsonObject()
                .Add("kernel", new JsonString(k.Kernel))
                .Add("arch", new JsonString(k.Arch))
                .Add("suite", new JsonString(k.Suite))
                .Add("version", k.Version is null ? null : new JsonString(k.Version))
                .Add("release", k.Release is null ? null : new JsonString(k.Release))
                .Add("deb", k.Deb is null ? null : new JsonObject()
                    .Add("package", new JsonString(k.Deb.Package))
                    .Add("version", new JsonString(k.Deb.Version))
                    .Add("file", new JsonString(k.Deb.File))
                    .Add("sha256", new JsonString(k.Deb.Sha256)))
                .Add("vmlinuz", k.Vmlinuz is null ? null : new JsonObject()
                    .Add("path", new JsonString(k.Vmlinuz.Path))
                    .Add("sha256", new JsonString(k.Vmlinuz.Sha256))))));
        return JsonText.Write(root);
    }

    private static string Required(JsonObject o, string key, string? kernel = null) =>
        (o[key] as JsonString)?.Value
        ?? throw new ToolException($"{o.Position}: {(kernel is null ? "kernel entry" : $"kernel {kernel}")} needs a string '{key}'");

    private static string? Optional(JsonObject o, string key, string kernel) => o[key] switch
    {
        null or JsonNull => null,
        JsonString s => s.Value,
        var other => throw new ToolException($"{other.Position}: kernel {kernel}: '{key}' should be a string"),
    };

    private static string Hash(JsonObject o, string key, string kernel)
    {
        var value = Required(o, key, kernel);
        if (value.Length != 64 || !value.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f')))
        {
            throw new ToolException($"{o[key]!.Position}: kernel {kernel}: '{key}' should be 64 lower-case hex digits (a SHA-256); run 'kernels fetch' to record it again");
        }

        return value;
    }
}

/// <summary>One kernel of the image lock. Version, Release, Deb and Vmlinuz are null until first fetched.</summary>
public sealed class LockedImage
{
    public required string Kernel { get; init; }

    /// <summary>The Debian architecture of the image (amd64, arm64).</summary>
    public string Arch { get; init; } = KernelImageLock.DefaultArch;

    public required string Suite { get; init; }

    /// <summary>The meta package the suite's cloud kernel is followed through.</summary>
    public string MetaPackage => $"linux-image-cloud-{Arch}";

    /// <summary>The process ABI (a snapshot target) of a program the image's kernel runs natively.</summary>
    public string Target => Targets.OfKernelArch(Arch);

    /// <summary>How the image is named to a user: the kernel, and its architecture where it is not x86_64 ("7.2", "7.2 arm64").</summary>
    public string Name => Targets.ColumnName(Kernel, Target);

    /// <summary>The version of the meta package in the suite when last fetched (e.g. 7.2.13-1).</summary>
    public string? Version { get; set; }

    /// <summary>The kernel release (uname -r) of that version, e.g. 7.2.13+deb14-cloud-amd64.</summary>
    public string? Release { get; set; }

    public LockedImageDeb? Deb { get; set; }

    public LockedVmlinuz? Vmlinuz { get; set; }
}

/// <summary>The package that holds the kernel image (linux-image-* up to 6.x, linux-binary-* from 7.x).</summary>
public sealed record LockedImageDeb(string Package, string Version, string File, string Sha256);

/// <summary>Where vmlinuz sits inside the package and its SHA-256.</summary>
public sealed record LockedVmlinuz(string Path, string Sha256);
