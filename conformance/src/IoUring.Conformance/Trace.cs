using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace IoUring.Conformance;

/// <summary>
/// One CQE as the runner reaped it. Its text form, "user_data:res:flags" plus ":big0:big1" for a
/// 32-byte CQE, is also its JSON form (a string), so a trace stays one short line per step.
/// </summary>
[JsonConverter(typeof(CqeTraceJsonConverter))]
public readonly record struct CqeTrace(ulong UserData, int Res, uint Flags, bool Big = false, ulong Big0 = 0, ulong Big1 = 0)
{
    public override string ToString() => Big
        ? string.Create(CultureInfo.InvariantCulture, $"{UserData}:{Res}:{Flags}:{Big0}:{Big1}")
        : string.Create(CultureInfo.InvariantCulture, $"{UserData}:{Res}:{Flags}");

    public static CqeTrace Parse(string text)
    {
        var parts = text.Split(':');
        if (parts.Length is not (3 or 5))
        {
            throw new FormatException($"'{text}' is not a CQE (user_data:res:flags[:big0:big1])");
        }

        var i = CultureInfo.InvariantCulture;
        return parts.Length == 3
            ? new CqeTrace(ulong.Parse(parts[0], i), int.Parse(parts[1], i), uint.Parse(parts[2], i))
            : new CqeTrace(ulong.Parse(parts[0], i), int.Parse(parts[1], i), uint.Parse(parts[2], i), true, ulong.Parse(parts[3], i), ulong.Parse(parts[4], i));
    }

    /// <summary>Orders CQEs the way a settled step records them (by their text, as the sorted list always was).</summary>
    public static int CompareText(CqeTrace a, CqeTrace b) => string.CompareOrdinal(a.ToString(), b.ToString());
}

public sealed class CqeTraceJsonConverter : JsonConverter<CqeTrace>
{
    public override CqeTrace Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var text = reader.GetString() ?? throw new JsonException("a CQE is a string, not null");
        try
        {
            return CqeTrace.Parse(text);
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            throw new JsonException(e.Message);
        }
    }

    public override void Write(Utf8JsonWriter writer, CqeTrace value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
}

/// <summary>
/// CQEs reaped after waiting for a count the engine gave (see <see cref="Runner"/>): sorted, since
/// io-wq completes in no fixed order, and whether the wait timed out (its return).
/// </summary>
public sealed record SettledCqes(CqeTrace[] Cqes, int? Timeout = null)
{
    public override string ToString()
    {
        var parts = new List<string>();
        if (Timeout is { } t)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"settle-timeout({t})"));
        }

        parts.AddRange(Cqes.Select(c => c.ToString()));
        return $"[{string.Join(" ", parts)}]";
    }
}

/// <summary>The setup params both backends report (sizes, features, and every offset).</summary>
public sealed record ParamsTrace(uint Sq, uint Cq, uint Features, uint[] SqOff, uint[] CqOff)
{
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"params sq {Sq} cq {Cq} features 0x{Features:x} sq_off {string.Join("/", SqOff)} cq_off {string.Join("/", CqOff)}");

    public bool Equals(ParamsTrace? other) =>
        other is not null && Sq == other.Sq && Cq == other.Cq && Features == other.Features && SqOff.AsSpan().SequenceEqual(other.SqOff) && CqOff.AsSpan().SequenceEqual(other.CqOff);

    public override int GetHashCode() => HashCode.Combine(Sq, Cq, Features);
}

/// <summary>
/// What one step of a program showed, field by field, in the order the runner observed it:
/// CQEs drained before an asynchronous step, SQEs a stopped submission left behind (submitted and
/// settled as their own phase), the register call's outcome, the batch (queued, enter's return, its
/// CQEs), the ring's counters, a registered wait's return, and digests of the file and memory.
/// </summary>
public sealed record StepTrace
{
    public CqeTrace[]? Drained { get; init; }

    public int? Leftovers { get; init; }

    public SettledCqes? LeftoverCqes { get; init; }

    public string? Register { get; init; }

    public int Queued { get; init; }

    public int Enter { get; init; }

    /// <summary>The batch's CQEs: in CQ order, or settled (sorted) when the step may complete from io-wq.</summary>
    public CqeTrace[] Cqes { get; init; } = [];

    public int? SettleTimeout { get; init; }

    public uint SqHead { get; init; }

    public uint SqTail { get; init; }

    public uint CqHead { get; init; }

    public uint CqTail { get; init; }

    public uint SqFlags { get; init; }

    public uint Overflow { get; init; }

    public uint Dropped { get; init; }

    public string? RegisteredWait { get; init; }

    public string Digest { get; init; } = string.Empty;

    /// <summary>The step's fields as (name, text) pairs in line order: the line is their join, and a difference is named by the first pair that differs.</summary>
    public IEnumerable<(string Field, string Text)> Fields()
    {
        if (Drained is not null)
        {
            yield return ("drained", $"drained [{string.Join(" ", Drained.Select(c => c.ToString()))}]");
        }

        if (Leftovers is { } left)
        {
            yield return ("leftovers", string.Create(CultureInfo.InvariantCulture, $"leftovers {left} {LeftoverCqes}"));
        }

        if (Register is not null)
        {
            yield return ("register", Register);
        }

        var i = CultureInfo.InvariantCulture;
        yield return ("queued", string.Create(i, $"queued {Queued}"));
        yield return ("enter", string.Create(i, $"enter {Enter}"));
        yield return ("cqes", $"cqes {new SettledCqes(Cqes, SettleTimeout)}");
        yield return ("sq", string.Create(i, $"sq {SqHead}/{SqTail}"));
        yield return ("cq", string.Create(i, $"cq {CqHead}/{CqTail}"));
        yield return ("sqflags", string.Create(i, $"sqflags 0x{SqFlags:x}"));
        yield return ("overflow", string.Create(i, $"overflow {Overflow}"));
        yield return ("dropped", string.Create(i, $"dropped {Dropped}"));
        if (RegisteredWait is not null)
        {
            yield return ("registered-wait", $"registered-wait {RegisteredWait}");
        }

        yield return ("digest", Digest);
    }

    public override string ToString() => string.Join(" ", Fields().Select(f => f.Text));

    public bool Equals(StepTrace? other) => other is not null && ToString() == other.ToString();

    public override int GetHashCode() => ToString().GetHashCode(StringComparison.Ordinal);
}

/// <summary>
/// Everything the client observed of one program on one backend: setup's result, the params, a
/// <see cref="StepTrace"/> per step, or the error that stopped the runner. One stable text form (a line
/// for setup, one for the params, one per step: <see cref="Lines"/>) and one JSON form (the record
/// itself); two traces are equal when their lines are.
/// </summary>
public sealed record ProgramTrace(int Setup, ParamsTrace? Params, StepTrace[] Steps, string? Error = null)
{
    public IReadOnlyList<string> Lines
    {
        get
        {
            var lines = new List<string>(Steps.Length + 3) { string.Create(CultureInfo.InvariantCulture, $"setup {Setup}") };
            if (Params is not null)
            {
                lines.Add(Params.ToString());
            }

            lines.AddRange(Steps.Select(s => s.ToString()));
            if (Error is not null)
            {
                lines.Add($"error {Error}");
            }

            return lines;
        }
    }

    /// <summary>A trace that says only that the runner could not produce one (it threw, or the child running it did not answer).</summary>
    public static ProgramTrace Failed(string error) => new(0, null, [], error);

    public override string ToString() => string.Join("\n", Lines);

    public bool Equals(ProgramTrace? other) => other is not null && Lines.SequenceEqual(other.Lines);

    public override int GetHashCode() => Lines.Count;
}

/// <summary>
/// Where two traces of one program part: the first differing line, and within a step line the first
/// differing field (drained, leftovers, register, queued, enter, cqes, sq, cq, sqflags, overflow,
/// dropped, registered-wait, digest), with both sides' text.
/// </summary>
public sealed record TraceDifference(int Line, string Where, string? Kernel, string? Engine)
{
    /// <summary>The first difference between a kernel's trace and the engine's, or null when they are equal.</summary>
    public static TraceDifference? Between(ProgramTrace kernel, ProgramTrace engine)
    {
        var k = kernel.Lines;
        var e = engine.Lines;
        var n = Math.Min(k.Count, e.Count);
        for (var i = 0; i < n; i++)
        {
            if (k[i] != e[i])
            {
                return new TraceDifference(i, Describe(kernel, engine, i), k[i], e[i]);
            }
        }

        return k.Count == e.Count ? null
            : new TraceDifference(n, k.Count > n ? "the engine's trace ends here" : "the kernel's trace ends here", n < k.Count ? k[n] : null, n < e.Count ? e[n] : null);
    }

    /// <summary>Names the line (setup, params, step N) and, for a step, its first differing field.</summary>
    private static string Describe(ProgramTrace kernel, ProgramTrace engine, int line)
    {
        if (line == 0)
        {
            return "setup";
        }

        var firstStep = kernel.Params is null ? 1 : 2;
        if (line < firstStep)
        {
            return "params";
        }

        var step = line - firstStep;
        if (step >= kernel.Steps.Length || step >= engine.Steps.Length)
        {
            return kernel.Error is not null || engine.Error is not null ? "error" : $"step {step}";
        }

        var a = kernel.Steps[step].Fields().ToList();
        var b = engine.Steps[step].Fields().ToList();
        for (var f = 0; f < Math.Max(a.Count, b.Count); f++)
        {
            if (f >= a.Count || f >= b.Count || a[f].Field != b[f].Field)
            {
                return $"step {step}, {(f < a.Count ? a[f].Field : b[f].Field)} (present on one side only)";
            }

            if (a[f].Text != b[f].Text)
            {
                return $"step {step}, {a[f].Field}: kernel '{a[f].Text}', engine '{b[f].Text}'";
            }
        }

        return $"step {step}";
    }

    public override string ToString() => $"line {Line} ({Where})";
}

/// <summary>System.Text.Json metadata for traces (source-generated: the agent runs under emulation, where reflection costs seconds).</summary>
[JsonSourceGenerationOptions(
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    RespectNullableAnnotations = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(ProgramTrace))]
public sealed partial class TraceJson : JsonSerializerContext
{
    /// <summary>The stable one-line text of a trace's JSON form.</summary>
    public static string Write(ProgramTrace trace) => JsonSerializer.Serialize(trace, Default.ProgramTrace);

    public static ProgramTrace Read(string json) => JsonSerializer.Deserialize(json, Default.ProgramTrace) ?? throw new JsonException("a trace is an object, not null");
}
