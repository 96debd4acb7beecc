using IoUring.Abi.Model;

namespace IoUring.Conformance.Liburing;

/// <summary>
/// conformance/liburing.lock.json: the Debian source package whose upstream tarball holds the liburing
/// test suite, the suite it follows, the exact version last fetched and the SHA-256 of each of its files
/// (.dsc, orig tarball with its upstream signature when Debian ships one, debian tarball). The same semantics as the kernel image lock: a plain fetch
/// follows the suite and records what moved, <c>--locked</c> fetches exactly what the lock names.
/// </summary>
public sealed class LiburingLock
{
    public const string SchemaId = "io_uring-liburing-lock/1";

    public const string FileName = "liburing.lock.json";

    /// <summary>Where the lock was read from (named in errors), or where it is to be written.</summary>
    public required string Path { get; init; }

    public string Package { get; init; } = "liburing";

    public string Suite { get; init; } = "sid";

    /// <summary>The source package version last fetched (e.g. 2.15-1); null until the first fetch.</summary>
    public string? Version { get; set; }

    /// <summary>The files of that version, at most one of each <see cref="LiburingFileKind"/>; empty until the first fetch.</summary>
    public List<LockedSourceFile> Files { get; set; } = new();

    /// <summary>The upstream tarball the build extracts.</summary>
    public LockedSourceFile Orig => File(LiburingFileKind.Orig);

    /// <summary>The upstream version (2.15 of 2.15-1): the epoch and the Debian revision dropped.</summary>
    public string UpstreamVersion
    {
        get
        {
            var v = Version ?? throw NotFetched();
            var colon = v.IndexOf(':', StringComparison.Ordinal);
            var dash = v.LastIndexOf('-');
            return v[(colon + 1)..(dash > colon ? dash : v.Length)];
        }
    }

    /// <summary>The lock of a checkout (conformance/liburing.lock.json under <paramref name="root"/>).</summary>
    public static string PathIn(string root) => System.IO.Path.Combine(root, "conformance", FileName);

    public LockedSourceFile File(LiburingFileKind kind) =>
        Files.FirstOrDefault(f => f.Kind == kind) ?? throw NotFetched();

    public static LiburingLock Load(string path)
    {
        if (!System.IO.File.Exists(path))
        {
            throw new ToolException($"{path}: liburing lock not found; run from the repository root or pass --repo");
        }

        var root = JsonText.Parse(System.IO.File.ReadAllText(path), path) as JsonObject
            ?? throw new ToolException($"{path}: the lock should hold a JSON object");
        if ((root["schema"] as JsonString)?.Value != SchemaId)
        {
            throw new ToolException($"{root.Position}: schema should be '{SchemaId}'");
        }

        var result = new LiburingLock
        {
            Path = path,
            Package = Required(root, "package"),
            Suite = Required(root, "suite"),
            Version = root["version"] switch
            {
                null or JsonNull => null,
                JsonString s => s.Value,
                var other => throw new ToolException($"{other.Position}: 'version' should be a string"),
            },
        };
        var files = root["files"] switch
        {
            null or JsonNull => new List<JsonNode>(),
            JsonArray a => a.Items,
            var other => throw new ToolException($"{other.Position}: 'files' should be an array of {{kind, name, sha256}}"),
        };
        foreach (var node in files)
        {
            var o = node as JsonObject ?? throw new ToolException($"{node.Position}: a file entry should be an object {{kind, name, sha256}}");
            var kindName = Required(o, "kind");
            var kind = KindNames.Where(k => k.Value == kindName).Select(k => (LiburingFileKind?)k.Key).FirstOrDefault()
                ?? throw new ToolException($"{o["kind"]!.Position}: file kind '{kindName}' should be one of {string.Join(", ", KindNames.Values)}");

            var name = Required(o, "name");
            if (name.Contains('/', StringComparison.Ordinal) || name is "." or "..")
            {
                throw new ToolException($"{o["name"]!.Position}: '{name}' should be a bare file name");
            }

            result.Files.Add(new LockedSourceFile(kind, name, Hash(o, "sha256")));
        }

        var dup = result.Files.GroupBy(f => f.Kind).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null)
        {
            throw new ToolException($"{path}: file kind '{KindNames[dup.Key]}' is listed twice; keep one entry");
        }

        if (result.Version is not null && RequiredKinds.Any(k => result.Files.All(f => f.Kind != k)))
        {
            throw new ToolException($"{path}: version {result.Version} needs a file of each kind {string.Join(", ", RequiredKinds.Select(k => KindNames[k]))}; the entry is incomplete: remove 'version' and run 'io_uring-conformance liburing fetch' to record it again");
        }

        return result;
    }

    public string ToJson()
    {
        var root = new JsonObject()
            .Add("schema", new JsonString(SchemaId))
            .Add("package", new JsonString(Package))
            .Add("suite", new JsonString(Suite))
            .Add("version", Version is null ? null : new JsonString(Version))
            .Add("files", new JsonArray(Files.OrderBy(f => f.Kind).Select(f => (JsonNode)new JsonObject()
                .Add("kind", new JsonString(KindNames[f.Kind]))
                .Add("name", new JsonString(f.Name))
                .Add("sha256", new JsonString(f.Sha256)))));
        return JsonText.Write(root);
    }

    /// <summary>The kinds every locked version has (the upstream signature is there only when upstream signs the release).</summary>
    public static readonly IReadOnlyList<LiburingFileKind> RequiredKinds = [LiburingFileKind.Dsc, LiburingFileKind.Orig, LiburingFileKind.Debian];

    /// <summary>Which file of a source package a name is: the .dsc, the upstream (orig) tarball or its signature, or Debian's packaging tarball.</summary>
    public static LiburingFileKind KindOf(string fileName) =>
        fileName.EndsWith(".dsc", StringComparison.Ordinal) ? LiburingFileKind.Dsc
        : fileName.Contains(".orig.tar.", StringComparison.Ordinal) && fileName.EndsWith(".asc", StringComparison.Ordinal) ? LiburingFileKind.OrigSignature
        : fileName.Contains(".orig.tar.", StringComparison.Ordinal) ? LiburingFileKind.Orig
        : fileName.Contains(".debian.tar.", StringComparison.Ordinal) ? LiburingFileKind.Debian
        : throw new ToolException($"{fileName}: not a .dsc, .orig.tar.*[.asc] or .debian.tar.* file; the source package's layout changed (a native package, or a second upstream tarball): fix LiburingLock.KindOf");

    private static readonly Dictionary<LiburingFileKind, string> KindNames = new()
    {
        [LiburingFileKind.Dsc] = "dsc",
        [LiburingFileKind.Orig] = "orig",
        [LiburingFileKind.OrigSignature] = "orig-signature",
        [LiburingFileKind.Debian] = "debian",
    };

    private ToolException NotFetched() =>
        new($"{Path} names no fetched version of {Package} yet; run 'io_uring-conformance liburing fetch' (without --locked) to record one");

    private static string Required(JsonObject o, string key) =>
        (o[key] as JsonString)?.Value ?? throw new ToolException($"{o.Position}: needs a string '{key}'");

    private static string Hash(JsonObject o, string key)
    {
        var value = Required(o, key);
        if (value.Length != 64 || !value.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f')))
        {
            throw new ToolException($"{o[key]!.Position}: '{key}' should be 64 lower-case hex digits (a SHA-256); run 'io_uring-conformance liburing fetch' to record it again");
        }

        return value;
    }
}

public enum LiburingFileKind
{
    Dsc,
    Orig,
    OrigSignature,
    Debian,
}

/// <summary>One file of the locked source package: its kind, its name in the archive and its SHA-256.</summary>
public sealed record LockedSourceFile(LiburingFileKind Kind, string Name, string Sha256);
