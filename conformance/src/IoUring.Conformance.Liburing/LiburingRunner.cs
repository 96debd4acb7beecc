using System.Diagnostics;
using System.Text.Json.Serialization;
using IoUring.Engine;

namespace IoUring.Conformance.Liburing;

/// <summary>How one run of one test program ended.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<TestOutcome>))]
public enum TestOutcome
{
    /// <summary>Exit status 0.</summary>
    Pass,

    /// <summary>Any other exit status, or a signal.</summary>
    Fail,

    /// <summary>liburing's skip status (77): the test found a feature missing.</summary>
    Skip,

    /// <summary>Killed at the deadline.</summary>
    Timeout,

    /// <summary>The engine threw (its log says "crash:"): always an engine bug.</summary>
    EngineCrash,

    /// <summary>The engine could not start (no profile, no library): a set-up error, not a result.</summary>
    EngineError,

    /// <summary>Not run on this side (the kernel's, with --no-kernel).</summary>
    NotRun,
}

/// <summary>One side's run of one test: outcome, exit status (null when killed), time, and the output's last lines.</summary>
public sealed record SideResult(TestOutcome Outcome, int? ExitStatus, double Seconds, string Tail)
{
    public static readonly SideResult NotRun = new(TestOutcome.NotRun, null, 0, string.Empty);
}

/// <summary>
/// A test on both sides. <see cref="Unmodelled"/> lists what the engine was asked for and does not model
/// (from its log); <see cref="Reason"/> says why the engine's outcome differs from the kernel's, by class.
/// </summary>
/// <param name="EngineServed">The engine served the test's io_uring calls (its log says it started): false for a test that made none, or whose calls escaped the preload library.</param>
public sealed record TestResult(string Test, SideResult Kernel, SideResult Engine, IReadOnlyList<string> Unmodelled, string? Reason, bool EngineServed)
{
    /// <summary>
    /// The reason class of an engine run that does not match a passing kernel run: the engine crashed
    /// or could not start; the test asked for something unmodelled; a kernel behaviour the engine lacks
    /// (<see cref="EngineLimitations"/>); else a difference nobody has explained yet ("different result",
    /// "timeout", "skipped on the engine"), which is an engine bug until shown otherwise. A test of the
    /// limitations table that passes on both is "listed as a limitation, but passes".
    /// </summary>
    public static string? Classify(string test, SideResult kernel, SideResult engine, IReadOnlyList<string> unmodelled)
    {
        if (engine.Outcome == TestOutcome.EngineCrash)
        {
            return "engine crash";
        }

        if (engine.Outcome == TestOutcome.EngineError)
        {
            return "engine could not start";
        }

        var limitation = EngineLimitations.ByTest.GetValueOrDefault(test);
        if (kernel.Outcome != TestOutcome.Pass || engine.Outcome == TestOutcome.Pass)
        {
            return limitation is not null && kernel.Outcome == TestOutcome.Pass ? "listed as a limitation, but passes" : null;
        }

        if (unmodelled.Count > 0)
        {
            return "unmodelled";
        }

        if (limitation is not null)
        {
            return $"limitation: {limitation.Name}";
        }

        return engine.Outcome == TestOutcome.Timeout ? "timeout" : engine.Outcome == TestOutcome.Skip ? "skipped on the engine" : "different result";
    }
}

/// <summary>What a run was: where the tests came from, which kernel and which engine profile.</summary>
public sealed record RunSettings(string Liburing, string KernelRelease, string EngineProfile, double DeadlineSeconds);

/// <summary>
/// Runs liburing's test programs one at a time, each on the engine (the binary under the preload
/// library) and then on the running kernel, each in a process group of its own with a
/// deadline, from the tests' own folder (as liburing's runtests.sh does). Kernel runs go through
/// <see cref="SupervisedProcess"/>: a test that trips the host's waiting livelock is freed and killed,
/// never left spinning.
/// </summary>
public sealed record LiburingRunner(EngineLibrary Engine, string EngineProfile, string Snapshots, TimeSpan Deadline)
{
    /// <summary>liburing's exit status for a skipped test.</summary>
    public const int SkipStatus = 77;

    /// <summary>Whether each test runs on the running kernel first (false: the engine alone).</summary>
    public bool RunKernel { get; init; } = true;

    /// <summary>The kernel side run elsewhere already (in a VM of the corpus), by test name; then no test runs on this machine's kernel.</summary>
    public IReadOnlyDictionary<string, SideResult>? KernelResults { get; init; }

    /// <summary>Told of each test's outcome as it finishes.</summary>
    public Action<string>? Log { get; init; }

    public IReadOnlyList<TestResult> Run(IReadOnlyList<(string Name, string Path)> tests)
    {
        var results = new List<TestResult>(tests.Count);
        var scratch = Directory.CreateTempSubdirectory("iouring-liburing-");
        try
        {
            foreach (var (name, path) in tests)
            {
                // The engine first: a kernel's ring is torn down after its process exits (deferred
                // work), holding the files it had a little longer, so an engine run straight after the
                // kernel's could find the kernel run's socket address still bound (accept-test).
                var engineLog = Path.Combine(scratch.FullName, name + ".engine.log");
                var onEngine = RunOne(path, engineLog);
                var kernel = KernelResults is { } given ? given.GetValueOrDefault(name, SideResult.NotRun) : RunKernel ? RunOne(path, null) : SideResult.NotRun;
                var unmodelled = ReadLog(engineLog, "unmodelled: ");
                if (ReadLog(engineLog, "crash: ") is [var crash, ..])
                {
                    onEngine = onEngine with { Outcome = TestOutcome.EngineCrash, Tail = crash };
                }

                var result = new TestResult(name, kernel, onEngine, unmodelled, TestResult.Classify(name, kernel, onEngine, unmodelled), ReadLog(engineLog, "started: ").Count > 0);
                Log?.Invoke($"{name}: kernel {kernel.Outcome}, engine {onEngine.Outcome}{(result.Reason is { } r ? $" ({r})" : string.Empty)}");
                results.Add(result);
            }
        }
        finally
        {
            scratch.Delete(recursive: true);
        }

        return results;
    }

    private SideResult RunOne(string program, string? engineLog)
    {
        var start = new ProcessStartInfo(program) { WorkingDirectory = Path.GetDirectoryName(program)! };
        if (engineLog is not null)
        {
            foreach (var (key, value) in Engine.ProgramEnvironment(EngineProfile, Snapshots, engineLog))
            {
                start.Environment[key] = value;
            }
        }

        var exit = SupervisedProcess.Run(start, Deadline, ownProcessGroup: true);
        var outcome = exit.ExitCode switch
        {
            null => TestOutcome.Timeout,
            EngineLibrary.CouldNotStart when engineLog is not null && (exit.Output.Contains("io_uring engine: error", StringComparison.Ordinal) || exit.Output.Contains("io_uring preload: error", StringComparison.Ordinal)) => TestOutcome.EngineError,
            int code => Outcome(code),
        };
        return new SideResult(outcome, exit.ExitCode, Math.Round(exit.Elapsed.TotalSeconds, 2), Tail(exit.Output.Split('\n')));
    }

    /// <summary>A test's exit status as liburing's runner reads it: 0 pass, 77 skip, anything else fail.</summary>
    public static TestOutcome Outcome(int exitStatus) => exitStatus switch
    {
        0 => TestOutcome.Pass,
        SkipStatus => TestOutcome.Skip,
        _ => TestOutcome.Fail,
    };

    /// <summary>The last lines a test printed, for the report.</summary>
    public static string Tail(IEnumerable<string> output) =>
        string.Join(" | ", output.Select(l => l.Trim()).Where(l => l.Length > 0).TakeLast(3));

    private static IReadOnlyList<string> ReadLog(string path, string prefix) =>
        File.Exists(path)
            ? File.ReadAllLines(path)
                .Select(l => l[(l.IndexOf(' ', StringComparison.Ordinal) + 1)..])
                .Where(l => l.StartsWith(prefix, StringComparison.Ordinal))
                .Select(l => l[prefix.Length..])
                .Distinct(StringComparer.Ordinal)
                .Order(StringComparer.Ordinal)
                .ToList()
            : [];
}
