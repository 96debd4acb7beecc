using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using IoUring.Engine;

namespace IoUring.Conformance;

/// <summary>
/// The batch of programs the conformance agent runs inside a VM, as written into its initramfs. The
/// programs are serialized by System.Text.Json from the records themselves, so a field added to
/// <see cref="RingProgram"/> or its parts travels without a change here.
/// </summary>
public sealed class ProgramBatch
{
    public const string SchemaId = "io_uring-conformance-batch/1";

    public string Schema { get; init; } = SchemaId;

    public RingProgram[] Programs { get; init; } = [];

    /// <summary>Hostile cases, run inside the VM on the live kernel and on the engine there (never on a host).</summary>
    public HostileCase[] Hostile { get; init; } = [];

    /// <summary>Shrink each program whose kernel trace differs from the engine's, inside the VM (at most this many candidates each; 0: do not shrink).</summary>
    public int ShrinkBudget { get; init; }
}

/// <summary>First message of a run: which kernel the agent found and what it learnt by probing it.</summary>
/// <param name="Kernel">uname -r of the kernel the agent runs on.</param>
/// <param name="Profile">The probed profile; null when probing failed (then <paramref name="ProfileError"/> says why).</param>
/// <param name="Programs">Number of programs in the batch.</param>
/// <param name="Uptime">Seconds since the kernel booted when the profile was known (/proc/uptime), to time the run's phases.</param>
/// <param name="Layout">The in-VM layout check (<see cref="LayoutCheck"/>): the bindings' C layout against what the kernel showed; null where it was not run.</param>
public sealed record AgentHello(string Kernel, KernelProfile? Profile, string? ProfileError, int Programs, double Uptime, IReadOnlyList<LayoutFact>? Layout = null);

/// <summary>
/// One program's outcome: the kernel's trace, or the exception that stopped the runner (never both).
/// Inside a VM the agent also compares it with the engine there; <paramref name="Shrunk"/> is the
/// smallest program it found that still differs, with the kernel's trace of it, when the batch asked
/// for shrinking.
/// </summary>
/// <param name="EngineReady">The engine's ready counts that paced the kernel's run in the VM: the host
/// computes them again with its own engine, and a difference means the engine does not behave alike on
/// the VM's architecture and the host's (the kernel was then paced wrongly).</param>
/// <param name="EngineTrace">Where the kernel's trace differs from the engine's in the VM: the engine's trace there, which the host can hold to its own engine's.</param>
public sealed record AgentResult(int Index, ProgramTrace? Trace, string? Error, double Milliseconds, ShrunkProgram? Shrunk = null, uint[]? EngineReady = null, ProgramTrace? EngineTrace = null);

/// <summary>A program shrunk inside a VM: the program, the kernel's trace of it, and how many candidates the shrinking ran.</summary>
public sealed record ShrunkProgram(RingProgram Program, ProgramTrace Kernel, int Candidates);

/// <summary>
/// A request to the agent serving on its standard input (<c>--serve</c>, the supervised child on the
/// host): run a program with the given pacing; count the process's own io_uring resources; or build the
/// waiting livelock's state and wait in it (the supervisor's own test).
/// </summary>
public sealed record HostRequest(string Kind, int Index, RingProgram? Program, uint[]? Ready)
{
    public const string ProgramKind = "program";
    public const string ResourcesKind = "resources";
    public const string TrapKind = "trap-livelock";
}

/// <summary>The agent process's own io_uring descriptors, program memfds and io_uring or memfd mappings.</summary>
public sealed record AgentResources(int Rings, int Memfds, int RingMaps)
{
    /// <summary>Counts them in /proc/self (ring teardown in the kernel is asynchronous, but descriptors and mappings go at close and munmap).</summary>
    public static AgentResources OfThisProcess()
    {
        var targets = Directory.GetFiles("/proc/self/fd").Select(f =>
        {
            try
            {
                return new FileInfo(f).LinkTarget ?? string.Empty;
            }
            catch (IOException)
            {
                return string.Empty;
            }
        }).ToList();
        var maps = File.ReadAllLines("/proc/self/maps");
        return new AgentResources(
            targets.Count(t => t.Contains("io_uring", StringComparison.Ordinal)),
            targets.Count(t => t.Contains("memfd:io_uring-conformance", StringComparison.Ordinal)),
            maps.Count(l => l.Contains("io_uring", StringComparison.Ordinal) || l.Contains("memfd:io_uring-conformance", StringComparison.Ordinal)));
    }
}

/// <summary>Last message of a run: how many programs ran, or why the agent stopped early.</summary>
public sealed record AgentDone(int Ran, double Seconds, string? Error);

/// <summary>
/// How the agent's messages cross the VM's serial console. The console carries kernel messages too, and
/// the kernel writes them straight to the UART, so they can land anywhere, even inside one of our lines.
/// Each message is therefore one self-checking line,
/// <c>@@IOU &lt;kind&gt; &lt;seq&gt; &lt;crc32&gt; &lt;json&gt;</c>: the sequence number shows a lost line, the
/// CRC-32 (over kind, seq and JSON) a damaged one, and neither is ever mistaken for data.
/// </summary>
public static class AgentProtocol
{
    public const string FramePrefix = "@@IOU ";

    public const string HelloKind = "hello";
    public const string ResultKind = "result";
    public const string DoneKind = "done";
    public const string HostileKind = "hostile";
    public const string ResourcesKind = "resources";

    /// <summary>The file the agent reads its batch from inside the VM.</summary>
    public const string BatchPath = "/etc/vm/batch.json";

    /// <summary>The options both sides use (see <see cref="AgentJson"/>).</summary>
    public static JsonSerializerOptions Json => AgentJson.Default.Options;

    public static string Frame<T>(string kind, int seq, T message)
    {
        var json = JsonSerializer.Serialize(message, (JsonTypeInfo<T>)Json.GetTypeInfo(typeof(T)));
        var body = $"{kind} {seq} ";
        return $"{FramePrefix}{body}{Crc32(body + json):x8} {json}";
    }

    /// <summary>
    /// Reads a frame from a console line (anything before the prefix is ignored: a kernel message may
    /// have left text on the line). Null when the line holds no frame; <paramref name="damaged"/> is set
    /// when it holds one that fails its check.
    /// </summary>
    public static (string Kind, int Seq, string Json)? TryParse(string line, out bool damaged)
    {
        damaged = false;
        var at = line.IndexOf(FramePrefix, StringComparison.Ordinal);
        if (at < 0)
        {
            return null;
        }

        var parts = line[(at + FramePrefix.Length)..].Split(' ', 4);
        if (parts.Length < 4 || !int.TryParse(parts[1], out var seq) || parts[2].Length != 8
            || !uint.TryParse(parts[2], System.Globalization.NumberStyles.HexNumber, null, out var crc)
            || Crc32($"{parts[0]} {parts[1]} {parts[3]}") != crc)
        {
            damaged = true;
            return null;
        }

        return (parts[0], seq, parts[3]);
    }

    /// <summary>CRC-32 (IEEE) of the UTF-8 text; written here because System.IO.Hashing is not in the shared framework.</summary>
    public static uint Crc32(string text)
    {
        var crc = 0xffffffffu;
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
            }
        }

        return ~crc;
    }
}

/// <summary>
/// System.Text.Json metadata for the batch and the agent's messages, generated at build time from the
/// records themselves (a field added to a program record is picked up by the next build). Generated
/// rather than reflected because the agent runs under software emulation, where the reflection
/// serializer's emitted accessors and their JIT cost seconds per run. Unknown members are refused, so a
/// typo in a hand-written program file is an error and not a silently defaulted field; enums are
/// written by name for readers.
/// </summary>
[JsonSourceGenerationOptions(
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    RespectNullableAnnotations = true,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(ProgramBatch))]
[JsonSerializable(typeof(AgentHello))]
[JsonSerializable(typeof(AgentResult))]
[JsonSerializable(typeof(AgentDone))]
[JsonSerializable(typeof(HostileResult))]
[JsonSerializable(typeof(HostRequest))]
[JsonSerializable(typeof(AgentResources))]
public sealed partial class AgentJson : JsonSerializerContext;
