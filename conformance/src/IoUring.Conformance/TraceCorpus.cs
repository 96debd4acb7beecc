using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using IoUring.Engine;

namespace IoUring.Conformance;

/// <summary>Who recorded a corpus file: the kernel (its corpus name, or "host-" and its release), where it ran, its exact release and package, and its probed profile.</summary>
public sealed record CorpusHeader(string Schema, string Kernel, string Where, string Release, string? Package, KernelProfile Profile);

/// <summary>
/// One recorded program: a name that says where it came from ("seed 7 #12": program 12 of seed 7;
/// "soak 6.1 seed 9 #40 shrunk": a divergence soak found and shrank), the program, and the kernel's trace.
/// </summary>
public sealed record CorpusEntry(string Name, RingProgram Program, ProgramTrace Trace);

/// <summary>One entry replayed: the engine's verdict against the recorded trace.</summary>
public sealed record ReplayResult(CorpusEntry Entry, Verdict Verdict);

/// <summary>
/// Recorded kernel traces, one file per kernel: the header, then one entry per line (JSON lines,
/// gzip-compressed, written deterministically), so the engine can be held to real kernels with no
/// io_uring and no qemu at hand. Kernel traces are derived facts, not the kernels' code.
/// </summary>
public sealed class TraceCorpus
{
    public const string SchemaId = "io_uring-conformance-corpus/1";

    /// <summary>The file name extension of a corpus file.</summary>
    public const string Extension = ".jsonl.gz";

    public TraceCorpus(CorpusHeader header, IEnumerable<CorpusEntry> entries)
    {
        Header = header;
        Entries = entries.ToList();
    }

    public CorpusHeader Header { get; }

    public List<CorpusEntry> Entries { get; }

    /// <summary>The corpus name of a host kernel ("host-" and its release): hosts differ, so each records its own file.</summary>
    public static string HostName(string release) => "host-" + release;

    /// <summary>Reads a corpus file; a damaged or foreign one is an error naming the file and line.</summary>
    public static TraceCorpus Load(string path)
    {
        using var file = File.OpenRead(path);
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var reader = new StreamReader(gzip, Encoding.UTF8);
        var line = 0;
        try
        {
            line++;
            var header = JsonSerializer.Deserialize(reader.ReadLine() ?? throw new InvalidDataException("the file is empty"), CorpusJson.Default.CorpusHeader)
                ?? throw new InvalidDataException("the header is null");
            if (header.Schema != SchemaId)
            {
                throw new InvalidDataException($"schema '{header.Schema}', expected '{SchemaId}'");
            }

            var entries = new List<CorpusEntry>();
            while (reader.ReadLine() is { } text)
            {
                line++;
                entries.Add(JsonSerializer.Deserialize(text, CorpusJson.Default.CorpusEntry) ?? throw new InvalidDataException("an entry is null"));
            }

            return new TraceCorpus(header, entries);
        }
        catch (Exception e) when (e is JsonException or InvalidDataException)
        {
            throw new InvalidDataException($"{path}:{line}: not a trace corpus ({e.Message}); record it again with 'io_uring-conformance record'", e);
        }
    }

    /// <summary>The file's bytes: the same corpus always gives the same bytes.</summary>
    public byte[] ToBytes()
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            var newline = "\n"u8.ToArray();
            gzip.Write(JsonSerializer.SerializeToUtf8Bytes(Header, CorpusJson.Default.CorpusHeader));
            gzip.Write(newline);
            foreach (var entry in Entries)
            {
                gzip.Write(JsonSerializer.SerializeToUtf8Bytes(entry, CorpusJson.Default.CorpusEntry));
                gzip.Write(newline);
            }
        }

        return buffer.ToArray();
    }

    /// <summary>Adds entries whose program is not in the corpus yet (by their JSON); returns how many were new.</summary>
    public int AddNew(IEnumerable<CorpusEntry> entries)
    {
        var known = Entries.Select(e => JsonSerializer.Serialize(e.Program, CorpusJson.Default.RingProgram)).ToHashSet(StringComparer.Ordinal);
        var added = 0;
        foreach (var entry in entries)
        {
            if (known.Add(JsonSerializer.Serialize(entry.Program, CorpusJson.Default.RingProgram)))
            {
                Entries.Add(entry);
                added++;
            }
        }

        return added;
    }

    /// <summary>
    /// Replays every entry (or those <paramref name="select"/> keeps) on the engine given the recorded
    /// profile, on every core: each verdict, in entry order, and the time it took.
    /// </summary>
    public (IReadOnlyList<ReplayResult> Results, TimeSpan Elapsed) Replay(Func<CorpusEntry, bool>? select = null, KernelProfile? profile = null)
    {
        var chosen = Entries.Where(select ?? (_ => true)).ToArray();
        var results = new ReplayResult[chosen.Length];
        var engineProfile = profile ?? Header.Profile;
        var watch = Stopwatch.StartNew();
        Parallel.For(0, chosen.Length, i => results[i] = new ReplayResult(chosen[i], Differential.Compare(chosen[i].Program, chosen[i].Trace, engineProfile)));
        return (results, watch.Elapsed);
    }

    /// <summary>Every corpus file in <paramref name="directory"/>, by name.</summary>
    public static IReadOnlyList<string> Files(string directory) =>
        Directory.Exists(directory) ? Directory.GetFiles(directory, "*" + Extension).Order(StringComparer.Ordinal).ToList() : [];

    /// <summary>The kernel a corpus file is of, from its name.</summary>
    public static string KernelOf(string path) => Path.GetFileName(path)[..^Extension.Length];
}

/// <summary>System.Text.Json metadata for the corpus: nulls left out (not defaults: a record parameter may default to something else), enums by name, unknown members refused.</summary>
[JsonSourceGenerationOptions(
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    RespectNullableAnnotations = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(CorpusHeader))]
[JsonSerializable(typeof(CorpusEntry))]
[JsonSerializable(typeof(RingProgram))]
public sealed partial class CorpusJson : JsonSerializerContext;
