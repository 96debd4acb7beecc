using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace IoUring.Abi.Cli.Fuzzing;

internal sealed record FuzzOptions(
    ulong Seed,
    long From,
    long Mutants,
    string BaseKernel,
    string OutDir,
    TimeSpan Timeout,
    int ProcessCheckEvery,
    int RecheckEvery,
    string RepoRoot,
    string CacheRoot);

/// <summary>
/// A fuzzing run. The mutants run in a worker: a child process of this tool that runs them one after
/// the other in process (no start-up per mutant) and reports each one's result before the next. This
/// process supervises it. Whatever kills the worker (a native crash in libclang, a stack overflow, the
/// runtime giving up) is pinned on the mutant it had begun, whose three commands are then rerun as real
/// processes to see which of them dies; a worker silent past the watchdog is killed and its mutant
/// counted as a hang; in both cases a new worker carries on with the next mutant. A sample of mutants,
/// and every mutant with a finding, are also run as real processes, so the exit codes the user sees
/// are checked, not only the in-process ones.
/// </summary>
internal sealed class FuzzSession
{
    /// <summary>The worker's exit code after a hang: a thread is stuck in the run, start a new worker.</summary>
    public const int WorkerStuck = 3;

    private const string Begin = "fuzz-worker begin ";
    private const string Result = "fuzz-worker result ";

    // A worker is recycled now and then, so that whatever libclang or the runtime keeps between parses
    // cannot build up over a long run.
    private const int MutantsPerWorker = 2000;

    private readonly FuzzOptions options;
    private readonly TextWriter stdout;
    private readonly TextWriter stderr;
    private readonly HeaderMutator mutator;

    public FuzzSession(FuzzOptions options, FuzzCorpus corpus, TextWriter stdout, TextWriter stderr)
    {
        this.options = options;
        this.stdout = stdout;
        this.stderr = stderr;
        mutator = new HeaderMutator(corpus, options.Seed);
    }

    /// <summary>The worker's side: runs its mutants in process and writes one result line per mutant.</summary>
    public int Work()
    {
        var scratch = Path.Combine(Path.GetTempPath(), $"io_uring-codegen-fuzz-{Environment.ProcessId}");
        var runner = new MutantRunner(options.RepoRoot, options.CacheRoot, options.BaseKernel, options.Timeout, options.RecheckEvery, scratch);
        try
        {
            for (var i = options.From; i < options.From + options.Mutants; i++)
            {
                stdout.WriteLine(Begin + i.ToString(CultureInfo.InvariantCulture));
                stdout.Flush();
                var result = runner.Run(mutator.Make(i));
                stdout.WriteLine(Result + JsonSerializer.Serialize(result, FuzzJson.Default.MutantResult));
                stdout.Flush();
                if (result.Runs.Any(r => r.Verdict == Verdict.Hang))
                {
                    return WorkerStuck;
                }
            }

            return 0;
        }
        finally
        {
            if (Directory.Exists(scratch))
            {
                Directory.Delete(scratch, recursive: true);
            }
        }
    }

    /// <summary>The supervisor's side: runs workers over the range, checks a sample as processes, saves reproducers.</summary>
    public int Supervise()
    {
        var clock = Stopwatch.StartNew();
        ClearOldFindings();
        var scratch = Directory.CreateTempSubdirectory("io_uring-codegen-fuzz-check-").FullName;
        var tally = new Tally();
        try
        {
            var next = options.From;
            var end = options.From + options.Mutants;
            while (next < end)
            {
                var count = Math.Min(end - next, MutantsPerWorker);
                foreach (var result in RunWorker(next, count))
                {
                    next = result.Index + 1;
                    var checkedAsProcess = result.Findings.Count > 0 || (options.ProcessCheckEvery > 0 && result.Index % options.ProcessCheckEvery == 0);
                    var full = checkedAsProcess ? CheckAsProcesses(result, scratch, tally) : result;
                    tally.Add(full);
                    if (full.Findings.Count > 0)
                    {
                        Save(full);
                    }

                    if ((result.Index - options.From + 1) % 500 == 0)
                    {
                        stderr.WriteLine($"fuzz: {result.Index - options.From + 1}/{options.Mutants} mutants, {tally.Findings} findings, {clock.Elapsed.TotalSeconds:0} s");
                    }
                }
            }
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }

        stdout.WriteLine(tally.Summary(options, clock.Elapsed));
        return tally.Findings == 0 ? 0 : 2;
    }

    /// <summary>
    /// Results of one worker over [from, from + count), and a result made here for the mutant it was
    /// running when it died or went silent.
    /// </summary>
    private IEnumerable<MutantResult> RunWorker(long from, long count)
    {
        var args = new List<string>
        {
            "fuzz", "--worker", "--seed", options.Seed.ToString(CultureInfo.InvariantCulture),
            "--from", from.ToString(CultureInfo.InvariantCulture), "--mutants", count.ToString(CultureInfo.InvariantCulture),
            "--base", options.BaseKernel, "--timeout", $"{options.Timeout.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)}ms",
            "--recheck-every", options.RecheckEvery.ToString(CultureInfo.InvariantCulture),
            "--repo", options.RepoRoot, "--cache", options.CacheRoot,
        };
        using var worker = Process.Start(SelfProcess.StartInfo(args))!;
        var lines = new BlockingCollection<string?>();
        var errors = new StringBuilder();
        worker.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (errors)
                {
                    errors.AppendLine(e.Data);
                }
            }
        };
        worker.BeginErrorReadLine();
        var reader = new Thread(() =>
        {
            while (worker.StandardOutput.ReadLine() is string line)
            {
                lines.Add(line);
            }

            lines.Add(null);
        })
        { IsBackground = true };
        reader.Start();

        // Three commands, each within its deadline, and the deterministic rerun: past that the worker
        // itself is stuck (a hang the in-process deadline could not see, or a process that cannot end).
        var watchdog = (options.Timeout * 5) + TimeSpan.FromSeconds(30);
        long? begun = null;
        var ended = false;
        while (!ended)
        {
            if (!lines.TryTake(out var line, watchdog))
            {
                worker.Kill(entireProcessTree: true);
                worker.WaitForExit();
                RemoveScratchOf(worker.Id);
                if (begun is long stuck)
                {
                    yield return Dead(stuck, FindingKind.Hang, $"the worker process gave no result for {watchdog.TotalSeconds:0} s and was killed");
                }

                yield break;
            }

            switch (line)
            {
                case null:
                    ended = true;
                    break;
                case var l when l.StartsWith(Begin, StringComparison.Ordinal):
                    begun = long.Parse(l.AsSpan(Begin.Length), CultureInfo.InvariantCulture);
                    break;
                case var l when l.StartsWith(Result, StringComparison.Ordinal):
                    begun = null;
                    yield return JsonSerializer.Deserialize(l.AsSpan(Result.Length), FuzzJson.Default.MutantResult)!;
                    break;
            }
        }

        worker.WaitForExit();
        RemoveScratchOf(worker.Id);
        if (begun is long died)
        {
            yield return Dead(died, FindingKind.Crash, $"the worker process died with exit code {worker.ExitCode}{Signal(worker.ExitCode)}: {MutantRunner.FirstLines(errors.ToString(), 8)}");
        }
        else if (worker.ExitCode is not (0 or WorkerStuck))
        {
            throw new IoUring.Abi.Model.ToolException($"the fuzz worker failed before its first mutant (exit code {worker.ExitCode}): {errors.ToString().Trim()}");
        }
    }

    /// <summary>
    /// A worker that died, was killed or left a thread stuck could not remove its scratch folder or the
    /// extractor's temporary trees: the supervisor does, so a long run does not fill $TMPDIR.
    /// </summary>
    private static void RemoveScratchOf(int workerId)
    {
        var temp = Path.GetTempPath();
        foreach (var d in Directory.GetDirectories(temp, $"io_uring-codegen-fuzz-{workerId}").Concat(Directory.GetDirectories(temp, $"io_uring-codegen-{workerId}-*")))
        {
            Directory.Delete(d, recursive: true);
        }
    }

    private static MutantResult Dead(long index, FindingKind kind, string message) =>
        new(index, [], [new Finding(kind, "worker", message)]);

    private static string Signal(int exit) => exit > 128 && exit < 160 ? $" (signal {exit - 128})" : string.Empty;

    /// <summary>
    /// The mutant's three commands as real processes: their exit codes must be those of the in-process
    /// runs, extract's snapshot the same bytes, and their errors must name file:line too.
    /// </summary>
    private MutantResult CheckAsProcesses(MutantResult result, string scratch, Tally tally)
    {
        tally.ProcessChecked++;
        var dir = Path.Combine(scratch, "mutant");
        mutator.Make(result.Index).WriteTo(dir);
        var output = Path.Combine(scratch, "snapshot.json");
        var findings = new List<Finding>(result.Findings);
        foreach (var (command, args) in MutantRunner.CommandLines(dir, output, options.BaseKernel, options.RepoRoot, options.CacheRoot))
        {
            File.Delete(output);
            var (exit, outText, errText, timedOut) = SelfProcess.Run(args, options.Timeout + TimeSpan.FromSeconds(10));
            var inProcess = result.Runs.FirstOrDefault(r => r.Command == command);
            var verdict = timedOut ? Verdict.Hang : MutantRunner.Classify(command, exit);
            var where = $"{command} as a process";
            if (inProcess is null || inProcess.Verdict is Verdict.Hang || inProcess.Exit != exit)
            {
                if (verdict is Verdict.Crash or Verdict.Hang)
                {
                    findings.Add(new Finding(verdict == Verdict.Hang ? FindingKind.Hang : FindingKind.Crash, where, timedOut ? "killed at the deadline" : $"exit code {exit}{Signal(exit)}: {MutantRunner.FirstLines(errText, 12)}"));
                }

                if (inProcess is not null && inProcess.Verdict is not Verdict.Hang)
                {
                    findings.Add(new Finding(FindingKind.ProcessMismatch, where, $"exit code {(timedOut ? "none (killed)" : exit.ToString(CultureInfo.InvariantCulture))}, in process {inProcess.Exit}"));
                }
            }
            else if (verdict == Verdict.Ok)
            {
                var hash = MutantRunner.Sha256(command == "extract" ? (File.Exists(output) ? File.ReadAllBytes(output) : []) : Encoding.UTF8.GetBytes(outText));
                if (hash != inProcess.OutputSha256)
                {
                    findings.Add(new Finding(FindingKind.ProcessMismatch, where, $"output sha256 {hash}, in process {inProcess.OutputSha256}"));
                }
            }
            else if (verdict == Verdict.CleanError && MutantRunner.LocationProblem(errText) is string problem)
            {
                findings.Add(new Finding(FindingKind.ErrorWithoutLocation, where, $"{problem}: {MutantRunner.FirstLines(errText, 6)}"));
            }
        }

        File.Delete(output);
        return result with { Findings = findings.Distinct().ToList() };
    }

    /// <summary>Only this tool's own reproducer folders are removed, so that a run's folder shows that run.</summary>
    private void ClearOldFindings()
    {
        if (Directory.Exists(options.OutDir))
        {
            foreach (var d in Directory.GetDirectories(options.OutDir, "mutant-*"))
            {
                Directory.Delete(d, recursive: true);
            }
        }
    }

    /// <summary>A failing mutant's reproducer: its files, what was found, and the command lines that show it.</summary>
    private void Save(MutantResult result)
    {
        var dir = Path.Combine(options.OutDir, $"mutant-{result.Index:D6}");
        var mutant = mutator.Make(result.Index);
        mutant.WriteTo(dir);
        var repro = $"io_uring-codegen fuzz --seed {options.Seed} --from {result.Index} --mutants 1 --base {options.BaseKernel}";
        var lines = MutantRunner.CommandLines(dir, Path.Combine(dir, "snapshot.json"), options.BaseKernel, options.RepoRoot, options.CacheRoot)
            .Where(c => result.Findings.Any(f => f.Command.StartsWith(c.Command, StringComparison.Ordinal) || f.Command == "worker"))
            .Select(c => "io_uring-codegen " + string.Join(' ', c.Args.Take(c.Args.Length - 4).Select(Quote)))
            .ToList();
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"mutant {result.Index} of seed {options.Seed}, base {options.BaseKernel}");
        text.AppendLine("mutations:");
        foreach (var m in mutant.Mutations)
        {
            text.AppendLine("  " + m);
        }

        text.AppendLine("findings:");
        foreach (var f in result.Findings)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  {f.Kind} in {f.Command}: {f.Message.Replace("\n", "\n    ", StringComparison.Ordinal)}");
        }

        text.AppendLine("reproduce:");
        text.AppendLine("  " + repro);
        foreach (var l in lines)
        {
            text.AppendLine("  " + l);
        }

        File.WriteAllText(Path.Combine(dir, "finding.txt"), text.ToString());
        stdout.WriteLine($"FINDING mutant {result.Index}: {string.Join("; ", result.Findings.Select(f => $"{f.Kind} in {f.Command}"))}");
        stdout.WriteLine($"  reproduce: {(lines.Count > 0 ? lines[0] : repro)}");
        stdout.WriteLine($"  details:   {Path.Combine(dir, "finding.txt")}");
    }

    private static string Quote(string arg) => arg.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"' or '$') ? $"'{arg.Replace("'", "'\\''", StringComparison.Ordinal)}'" : arg;

    /// <summary>The run's counts.</summary>
    private sealed class Tally
    {
        private readonly Dictionary<Verdict, long> verdicts = new();
        private readonly Dictionary<FindingKind, long> findings = new();
        private long mutants;

        public long ProcessChecked { get; set; }

        public long Findings => findings.Values.Sum();

        public void Add(MutantResult r)
        {
            mutants++;
            foreach (var run in r.Runs)
            {
                verdicts[run.Verdict] = verdicts.GetValueOrDefault(run.Verdict) + 1;
            }

            foreach (var f in r.Findings)
            {
                findings[f.Kind] = findings.GetValueOrDefault(f.Kind) + 1;
            }
        }

        public string Summary(FuzzOptions o, TimeSpan time)
        {
            long Count(FindingKind k) => findings.GetValueOrDefault(k);
            var other = Findings - Count(FindingKind.Crash) - Count(FindingKind.Hang) - Count(FindingKind.ErrorWithoutLocation);
            return $"fuzz seed {o.Seed}, base {o.BaseKernel}: {mutants} mutant{(mutants == 1 ? string.Empty : "s")}, {verdicts.Values.Sum()} runs of extract/diff/lint: "
                + $"{verdicts.GetValueOrDefault(Verdict.Ok)} ok, {verdicts.GetValueOrDefault(Verdict.CleanError)} clean errors; "
                + $"crashes {Count(FindingKind.Crash)}, hangs {Count(FindingKind.Hang)}, errors without file:line {Count(FindingKind.ErrorWithoutLocation)}, "
                + $"other findings {other}; {ProcessChecked} mutants rerun as processes; {time.TotalSeconds:0.0} s";
        }
    }
}

/// <summary>This tool as a child process: the apphost, or 'dotnet io_uring-codegen.dll' when run that way.</summary>
internal static class SelfProcess
{
    public static ProcessStartInfo StartInfo(IEnumerable<string> args)
    {
        var host = Environment.ProcessPath ?? "dotnet";
        var psi = new ProcessStartInfo(host)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            // Beside the host's own files; Assembly.Location is empty in a native (single-file) build,
            // which never gets here: its process path is the tool itself.
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, typeof(SelfProcess).Assembly.GetName().Name + ".dll"));
        }

        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        return psi;
    }

    public static (int Exit, string Stdout, string Stderr, bool TimedOut) Run(IEnumerable<string> args, TimeSpan timeout)
    {
        using var p = Process.Start(StartInfo(args))!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            return (-1, output.Result, error.Result, true);
        }

        p.WaitForExit();
        return (p.ExitCode, output.Result, error.Result, false);
    }
}

/// <summary>The worker's result lines, with metadata generated at build time (the native build has no reflection serializer).</summary>
[JsonSerializable(typeof(MutantResult))]
internal sealed partial class FuzzJson : JsonSerializerContext;
