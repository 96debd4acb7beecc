using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace IoUring.Conformance.Liburing;

/// <summary>A run of liburing's tests on a kernel and on the engine, with the counts the report leads with.</summary>
public sealed record LiburingReport(string Schema, RunSettings Settings, IReadOnlyList<TestResult> Results)
{
    public const string SchemaId = "io_uring-conformance-liburing/1";

    public static LiburingReport Of(RunSettings settings, IReadOnlyList<TestResult> results) => new(SchemaId, settings, results);

    /// <summary>Tests that pass on the kernel.</summary>
    public int KernelPasses => Results.Count(r => r.Kernel.Outcome == TestOutcome.Pass);

    /// <summary>Of the tests that pass on the kernel, those that pass on the engine too.</summary>
    public int EnginePassesOfKernelPasses => Results.Count(r => r.Kernel.Outcome == TestOutcome.Pass && r.Engine.Outcome == TestOutcome.Pass);

    public int EngineCrashes => Results.Count(r => r.Engine.Outcome == TestOutcome.EngineCrash);

    /// <summary>Tests that pass on the kernel and fail on the engine with nothing to explain it: neither an unmodelled request nor a listed limitation.</summary>
    public IReadOnlyList<string> Unexplained => Results
        .Where(r => r.Reason is not null && r.Reason != "unmodelled" && !r.Reason.StartsWith("limitation: ", StringComparison.Ordinal))
        .Select(r => r.Test)
        .ToList();

    /// <summary>The run as one cell of the conformance matrix's liburing rows.</summary>
    public Vm.LiburingSummary Summary() => new(Settings.Liburing, Results.Count, KernelPasses, EnginePassesOfKernelPasses, EngineCrashes, Unexplained.Count, Unexplained);

    /// <summary>Exit status of the command: 0, or 2 when the engine crashed, could not start, or failed a test for no known reason (each a bug or a set-up error until shown otherwise).</summary>
    public int ExitCode => Unexplained.Count > 0 || Results.Any(r => r.Engine.Outcome is TestOutcome.EngineCrash or TestOutcome.EngineError) ? 2 : 0;

    public string ToJson() => JsonSerializer.Serialize(this, LiburingJson.Default.LiburingReport);

    public static LiburingReport FromJson(string json, string source) =>
        JsonSerializer.Deserialize(json, LiburingJson.Default.LiburingReport) ?? throw new InvalidDataException($"{source}: holds null");

    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        var s = Settings;
        sb.Append("# liburing's tests on the kernel and on the engine\n\n");
        sb.Append($"liburing {s.Liburing}, each test program run unmodified on the kernel ({s.KernelRelease}) and on the reference engine under the preload library (profile: {s.EngineProfile}), one at a time, deadline {s.DeadlineSeconds:0} s each. Written by `io_uring-conformance liburing`.\n\n");
        sb.Append("| | tests |\n|---|---:|\n");
        sb.Append($"| run | {Results.Count} |\n");
        sb.Append($"| pass on the kernel | {KernelPasses} |\n");
        sb.Append($"| of those, pass on the engine | {EnginePassesOfKernelPasses} |\n");
        sb.Append($"| engine crashes | {EngineCrashes} |\n");
        sb.Append($"| of the engine's passes, tests that never called the engine (no io_uring, or a kernel-only path) | {Results.Count(r => r.Engine.Outcome == TestOutcome.Pass && !r.EngineServed)} |\n\n");

        sb.Append("| outcome | kernel | engine |\n|---|---:|---:|\n");
        foreach (var o in Enum.GetValues<TestOutcome>().Where(o => o != TestOutcome.NotRun))
        {
            sb.Append($"| {Name(o)} | {Results.Count(r => r.Kernel.Outcome == o)} | {Results.Count(r => r.Engine.Outcome == o)} |\n");
        }

        var failing = Results.Where(r => r.Reason is not null).ToList();
        sb.Append("\n## Why the engine fails where the kernel passes\n\n");
        sb.Append("| reason | tests |\n|---|---:|\n");
        foreach (var g in failing.GroupBy(r => r.Reason!).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal))
        {
            sb.Append($"| {g.Key} | {g.Count()} |\n");
        }

        var limited = failing.Where(r => r.Reason!.StartsWith("limitation: ", StringComparison.Ordinal)).ToList();
        if (limited.Count > 0)
        {
            sb.Append("\nKernel behaviours the engine lacks (EngineLimitations), with the tests that fail for them:\n\n| limitation | what the engine does not do | tests |\n|---|---|---|\n");
            foreach (var l in EngineLimitations.All)
            {
                var tests = limited.Where(r => EngineLimitations.ByTest[r.Test] == l).Select(r => r.Test).ToList();
                if (tests.Count > 0)
                {
                    sb.Append($"| {l.Name} | {l.Behaviour} | {string.Join(", ", tests)} |\n");
                }
            }
        }

        var lacking = failing.SelectMany(r => r.Unmodelled.Select(u => (u, r.Test))).GroupBy(x => x.u).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).ToList();
        if (lacking.Count > 0)
        {
            sb.Append("\nWhat the engine does not model yet, by the number of those tests that asked for it:\n\n| unmodelled | tests |\n|---|---:|\n");
            foreach (var g in lacking)
            {
                sb.Append($"| {g.Key} | {g.Count()} |\n");
            }
        }

        sb.Append("\n## Every test\n\n| test | kernel | engine | why they differ |\n|---|---|---|---|\n");
        foreach (var r in Results)
        {
            var why = r.Reason switch
            {
                null => string.Empty,
                "unmodelled" => "unmodelled: " + string.Join(", ", r.Unmodelled),
                _ => $"{r.Reason}: {r.Engine.Tail}",
            };
            var engine = r.Engine.Outcome == TestOutcome.Pass && !r.EngineServed ? "pass (engine not called)" : Cell(r.Engine);
            sb.Append($"| {r.Test} | {Cell(r.Kernel)} | {engine} | {Escape(why)} |\n");
        }

        return sb.ToString();
    }

    private static string Cell(SideResult s) => s.Outcome switch
    {
        TestOutcome.Fail => $"fail ({s.ExitStatus})",
        _ => Name(s.Outcome),
    };

    private static string Name(TestOutcome o) => o switch
    {
        TestOutcome.EngineCrash => "engine crash",
        TestOutcome.EngineError => "engine error",
        TestOutcome.NotRun => "not run",
        _ => o.ToString().ToLowerInvariant(),
    };

    private static string Escape(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}

[JsonSourceGenerationOptions(WriteIndented = true, UseStringEnumConverter = true)]
[JsonSerializable(typeof(LiburingReport))]
internal sealed partial class LiburingJson : JsonSerializerContext;
