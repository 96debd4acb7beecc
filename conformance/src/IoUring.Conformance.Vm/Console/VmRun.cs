using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace IoUring.Conformance.Vm;

/// <summary>
/// One boot of one kernel, read back from its console: what the agent reported (profile, one result
/// per program, its closing message), what init reported (when it started, the agent's exit code,
/// kernel warnings), and every reason the run cannot be trusted in <see cref="Problems"/>: a panic, a
/// hang, an oops or WARN, a lost or damaged line, an agent that stopped early.
/// </summary>
public sealed partial class VmRun
{
    public required string Kernel { get; init; }

    public string? Release { get; init; }

    public AgentHello? Hello { get; private set; }

    public required AgentResult?[] Results { get; init; }

    /// <summary>One verdict per hostile case of the batch (run and compared inside the VM).</summary>
    public HostileResult?[] Hostile { get; init; } = [];

    public AgentDone? Done { get; private set; }

    /// <summary>The agent's exit code as init reported it (128 + signal when it was killed).</summary>
    public int? ExitCode { get; private set; }

    /// <summary>Guest seconds since boot when init started; under -icount one guest second is a billion emulated instructions.</summary>
    public double? InitUptime { get; private set; }

    /// <summary>Guest seconds since boot when init powered off (the whole boot's cost in billions of instructions).</summary>
    public double? ExitUptime { get; private set; }

    public List<string> KernelMessages { get; } = new();

    public List<string> Problems { get; } = new();

    /// <summary>What the reader should know that does not make the run fail (an earlier boot that failed and did not reproduce).</summary>
    public List<string> Notes { get; } = new();

    /// <summary>The console of an earlier boot of this kernel in the same run that failed, when the VM was booted again.</summary>
    public string? EarlierConsole { get; set; }

    public bool Failed => Problems.Count > 0;

    public double WallSeconds { get; private set; }

    /// <summary>Host seconds from qemu's start to init's first line, the agent's first line, init's end marker.</summary>
    public (double? Init, double? Hello, double? Exit) HostMarks { get; private set; }

    public string Console { get; private set; } = string.Empty;

    public string QemuStderr { get; private set; } = string.Empty;

    /// <summary>What the agent was running when the run ended early: the first program, or hostile case, without a result.</summary>
    public string? Interrupted => Done is { Error: null } ? null
        : Array.FindIndex(Results, r => r is null) is var i && i >= 0 ? $"program {i}"
        : Array.FindIndex(Hostile, r => r is null) is var h && h >= 0 ? $"hostile case {h}" : null;

    /// <summary>Whether console text holds one of the kernel's own bug reports (oops, BUG, WARN, panic, lockup).</summary>
    public static bool IsKernelTrouble(string text) => KernelTrouble().IsMatch(text);

    public static VmRun Read(string kernel, string? release, int programs, QemuResult qemu, int hostile = 0)
    {
        var run = new VmRun { Kernel = kernel, Release = release, Results = new AgentResult?[programs], Hostile = new HostileResult?[hostile] };
        run.WallSeconds = qemu.Elapsed.TotalSeconds;
        double? Mark(int i) => qemu.Marks.TryGetValue(QemuRunner.MarkedText[i], out var t) ? t.TotalSeconds : null;
        run.HostMarks = (Mark(0), Mark(1), Mark(2));
        run.Console = qemu.Console;
        run.QemuStderr = qemu.Stderr;
        run.Parse(qemu.Console);
        run.Judge(qemu);
        return run;
    }

    /// <summary>The last lines of the console, for a report.</summary>
    public string ConsoleTail(int lines = 40) => string.Join("\n", Console.Split('\n').Where(l => l.Length > 0).TakeLast(lines));

    private void Parse(string console)
    {
        var expectedSeq = 0;
        var lineNumber = 0;
        var damaged = new List<int>();
        var lost = new List<int>();
        foreach (var line in console.Split('\n'))
        {
            lineNumber++;
            if (line.Contains(AgentProtocol.FramePrefix, StringComparison.Ordinal))
            {
                var frame = AgentProtocol.TryParse(line, out var bad);
                if (frame is null)
                {
                    if (bad)
                    {
                        damaged.Add(lineNumber);
                    }

                    continue;
                }

                var (kind, seq, json) = frame.Value;
                for (; expectedSeq < seq; expectedSeq++)
                {
                    lost.Add(expectedSeq);
                }

                expectedSeq = Math.Max(expectedSeq, seq + 1);
                Accept(kind, json, lineNumber);
                continue;
            }

            var marker = Marker().Match(line);
            if (marker.Success)
            {
                var fields = marker.Groups[2].Value;
                switch (marker.Groups[1].Value)
                {
                    case "INIT":
                        InitUptime = Field(fields, "uptime");
                        break;
                    case "EXIT":
                        ExitCode = (int?)Field(fields, "code");
                        ExitUptime = Field(fields, "uptime");
                        break;
                    case "ERROR":
                        Problems.Add($"init: {fields}");
                        break;
                }

                continue;
            }

            if (line.StartsWith("@@KMSG ", StringComparison.Ordinal))
            {
                KernelMessages.Add(line[7..]);
                continue;
            }

            if (KernelTrouble().IsMatch(line))
            {
                AddOnce($"kernel: {line.Trim()}");
            }
        }

        foreach (var message in KernelMessages.Where(m => KernelTrouble().IsMatch(m)))
        {
            AddOnce($"kernel: {message[2..].Trim()}");
        }

        if (damaged.Count > 0)
        {
            Problems.Add($"{damaged.Count} agent line(s) arrived damaged (console lines {string.Join(", ", damaged.Take(10))}): kernel output interleaved with them");
        }

        if (lost.Count > 0)
        {
            Problems.Add($"{lost.Count} agent line(s) never arrived (sequence numbers {string.Join(", ", lost.Take(10))})");
        }
    }

    private void Accept(string kind, string json, int lineNumber)
    {
        try
        {
            switch (kind)
            {
                case AgentProtocol.HelloKind:
                    Hello = JsonSerializer.Deserialize(json, AgentJson.Default.AgentHello);
                    break;
                case AgentProtocol.ResultKind:
                    var result = JsonSerializer.Deserialize(json, AgentJson.Default.AgentResult)!;
                    Store(Results, result.Index, result, "a result for program", lineNumber);
                    break;
                case AgentProtocol.HostileKind:
                    var verdict = JsonSerializer.Deserialize(json, AgentJson.Default.HostileResult)!;
                    Store(Hostile, verdict.Index, verdict, "a verdict for hostile case", lineNumber);
                    break;
                case AgentProtocol.DoneKind:
                    Done = JsonSerializer.Deserialize(json, AgentJson.Default.AgentDone);
                    break;
                default:
                    Problems.Add($"console line {lineNumber}: unknown agent message '{kind}' (agent and runner from different builds?)");
                    break;
            }
        }
        catch (JsonException e)
        {
            Problems.Add($"console line {lineNumber}: a '{kind}' message the runner cannot read ({e.Message}); agent and runner from different builds?");
        }
    }

    private void Judge(QemuResult qemu)
    {
        var running = Interrupted is { } what ? $" while {what} ran" : string.Empty;
        if (qemu.Killed is { } why)
        {
            Problems.Insert(0, $"hang: {why}{running}; the VM was killed");
        }
        else if (ExitCode is null)
        {
            var panic = Console.Split('\n').FirstOrDefault(l => l.Contains("Kernel panic", StringComparison.Ordinal));
            Problems.Insert(0, panic is not null
                ? $"kernel panic{running}: {panic.Trim()}"
                : $"the VM stopped without init's end marker{running} (qemu exit code {qemu.ExitCode}){(qemu.Stderr.Length > 0 ? ": " + qemu.Stderr : string.Empty)}");
        }
        else if (ExitCode != 0)
        {
            Problems.Add(ExitCode switch
            {
                2 => $"the agent could not read its batch: {Done?.Error ?? "(no message)"} (exit 2)",
                3 => $"the agent stopped: {Done?.Error ?? "a program did not return in time"} (exit 3)",
                127 => "init could not start the agent (exit 127)",
                > 128 => $"the agent was killed by signal {ExitCode - 128}{running}",
                _ => $"the agent exited with code {ExitCode}{running}",
            });
        }

        if (ExitCode is not null && Hello is null)
        {
            Problems.Add("the agent never reported: the .NET runtime did not start or died before its first line (see the console log)");
        }
        else if (Hello is { Profile: null, ProfileError: { } probeError })
        {
            Problems.Add($"the agent could not probe the kernel: {probeError}");
        }

        if (ExitCode == 0 && Done is null)
        {
            Problems.Add("the agent exited 0 without its closing line");
        }

        var missing = Results.Select((r, n) => (r, n)).Where(x => x.r is null).Select(x => x.n).ToList();
        if (missing.Count > 0 && ExitCode == 0)
        {
            Problems.Add($"{missing.Count} program result(s) missing ({string.Join(", ", missing.Take(10))}{(missing.Count > 10 ? ", ..." : string.Empty)})");
        }

        var missingHostile = Hostile.Select((r, n) => (r, n)).Where(x => x.r is null).Select(x => x.n).ToList();
        if (missingHostile.Count > 0 && ExitCode == 0)
        {
            Problems.Add($"{missingHostile.Count} hostile verdict(s) missing ({string.Join(", ", missingHostile.Take(10))}{(missingHostile.Count > 10 ? ", ..." : string.Empty)})");
        }
    }

    private void Store<T>(T?[] slots, int index, T value, string what, int lineNumber)
        where T : class
    {
        if (index < 0 || index >= slots.Length)
        {
            Problems.Add($"console line {lineNumber}: {what} {index}, but the batch has {slots.Length}");
        }
        else
        {
            slots[index] = value;
        }
    }

    private void AddOnce(string problem)
    {
        if (!Problems.Contains(problem))
        {
            Problems.Add(problem);
        }
    }

    private static double? Field(string fields, string name)
    {
        var m = Regex.Match(fields, $@"\b{name}=(-?[0-9.]+)");
        return m.Success && double.TryParse(m.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null;
    }

    [GeneratedRegex(@"@@IOURING-VM-(INIT|EXIT|ERROR)\b ?(.*)$")]
    private static partial Regex Marker();

    /// <summary>What the kernel prints when it has hit a bug, however the workload provoked it.</summary>
    [GeneratedRegex(@"Kernel panic|\bBUG:|\bOops\b|general protection fault|WARNING: CPU:|kernel BUG at|Unable to handle kernel|soft lockup|hard LOCKUP|rcu_\w+ (self-)?detected stall|detected stalls on CPUs")]
    private static partial Regex KernelTrouble();
}
