using IoUring.Abi.Model;

namespace IoUring.Abi.Headers;

/// <summary>
/// headers/kernels.lock.json: the kernels of the corpus, the Debian suite each follows, the exact
/// linux-libc-dev version last fetched, the SHA-256 of each .deb and of every header file used.
/// </summary>
public sealed class KernelLock
{
    public const string SchemaId = "io_uring-headers-lock/1";
    public const string PackageName = "linux-libc-dev";

    public List<LockedKernel> Kernels { get; init; } = new();

    public LockedKernel Find(string kernel) =>
        Kernels.FirstOrDefault(k => k.Kernel == kernel)
        ?? throw new ToolException($"unknown kernel version '{kernel}'; the corpus (headers/kernels.lock.json) has: {string.Join(", ", Kernels.Select(k => k.Kernel))}");

    /// <summary>The newest released kernel (no -rc), the default for bindings.</summary>
    public LockedKernel NewestReleased() =>
        Find(KernelVersion.NewestReleased(Kernels.Select(k => k.Kernel)) ?? throw new ToolException("headers/kernels.lock.json names no kernel"));

    public static KernelLock Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new ToolException($"{path}: lock file not found; run from the repository root or pass --lock");
        }

        var root = JsonText.Parse(File.ReadAllText(path), path) as JsonObject
            ?? throw new ToolException($"{path}: the lock file should hold a JSON object");
        if ((root["schema"] as JsonString)?.Value != SchemaId)
        {
            throw new ToolException($"{path}: schema should be '{SchemaId}'");
        }

        var kernels = (root["kernels"] as JsonArray)?.Items
            ?? throw new ToolException($"{path}: missing 'kernels' array");
        var result = new KernelLock();
        foreach (var node in kernels)
        {
            var o = node as JsonObject ?? throw new ToolException($"{node.Position}: a kernel entry should be an object");
            string Req(string key) => (o[key] as JsonString)?.Value ?? throw new ToolException($"{o.Position}: kernel entry needs a string '{key}'");
            string? Opt(string key) => (o[key] as JsonString)?.Value;
            result.Kernels.Add(new LockedKernel
            {
                Kernel = Req("kernel"),
                Suite = Req("suite"),
                Version = Opt("version"),
                Debs = ((o["debs"] as JsonArray)?.Items ?? new()).Select(d =>
                {
                    var x = (JsonObject)d;
                    return new LockedDeb(((JsonString)x["arch"]!).Value, ((JsonString)x["file"]!).Value, ((JsonString)x["sha256"]!).Value);
                }).ToList(),
                Files = ((o["files"] as JsonArray)?.Items ?? new()).Select(d =>
                {
                    var x = (JsonObject)d;
                    return new LockedFile(((JsonString)x["path"]!).Value, ((JsonString)x["sha256"]!).Value);
                }).ToList(),
            });
        }

        var dup = result.Kernels.GroupBy(k => k.Kernel).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null)
        {
            throw new ToolException($"{path}: kernel '{dup.Key}' is listed twice");
        }

        return result;
    }

    public string ToJson()
    {
        var root = new JsonObject()
            .Add("schema", new JsonString(SchemaId))
            .Add("package", new JsonString(PackageName))
            .Add("kernels", new JsonArray(Kernels.Select(k => (JsonNode)new JsonObject()
                .Add("kernel", new JsonString(k.Kernel))
                .Add("suite", new JsonString(k.Suite))
                .Add("version", k.Version is null ? null : new JsonString(k.Version))
                .Add("debs", new JsonArray(k.Debs.Select(d => (JsonNode)new JsonObject()
                    .Add("arch", new JsonString(d.Arch))
                    .Add("file", new JsonString(d.File))
                    .Add("sha256", new JsonString(d.Sha256)))))
                .Add("files", new JsonArray(k.Files.Select(f => (JsonNode)new JsonObject()
                    .Add("path", new JsonString(f.Path))
                    .Add("sha256", new JsonString(f.Sha256))))))));
        return JsonText.Write(root);
    }
}

public sealed class LockedKernel
{
    public required string Kernel { get; init; }

    public required string Suite { get; init; }

    public string? Version { get; set; }

    public List<LockedDeb> Debs { get; set; } = new();

    public List<LockedFile> Files { get; set; } = new();
}

public sealed record LockedDeb(string Arch, string File, string Sha256);

public sealed record LockedFile(string Path, string Sha256);
