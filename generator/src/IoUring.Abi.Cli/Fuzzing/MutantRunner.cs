using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using IoUring.Abi.Model;

namespace IoUring.Abi.Cli.Fuzzing;

/// <summary>How one command ended on one mutant.</summary>
internal enum Verdict
{
    /// <summary>A result (a snapshot, a report).</summary>
    Ok,

    /// <summary>"error: ..." and the command's error exit code: the input was refused.</summary>
    CleanError,

    /// <summary>Exit 70 (an exception the tool did not expect), any other exit code, or a dead process.</summary>
    Crash,

    /// <summary>Still running at the deadline.</summary>
    Hang,
}

/// <summary>What the fuzzer holds against a run. Crashes and hangs are findings too.</summary>
internal enum FindingKind
{
    Crash,
    Hang,

    /// <summary>An error that does not say where (file:line) the problem is.</summary>
    ErrorWithoutLocation,

    /// <summary>An output file created, changed or left half-written by a failing run, or stdout written.</summary>
    OutputOnError,

    /// <summary>A successful run whose output is not what it should be (unreadable, or different the second time).</summary>
    BadOutput,

    /// <summary>A temporary file or folder the run left behind.</summary>
    Leftover,

    /// <summary>The real process ended otherwise than the in-process run.</summary>
    ProcessMismatch,
}

internal sealed record Finding(FindingKind Kind, string Command, string Message);

internal sealed record CommandRun(string Command, string[] Args, int Exit, Verdict Verdict, long Milliseconds, string? OutputSha256, string Stdout, string Stderr);

internal sealed record MutantResult(long Index, List<CommandRun> Runs, List<Finding> Findings);

/// <summary>
/// Runs extract, diff and lint on one mutant inside this process, through the same command tree and
/// actions as the command line (<see cref="CommandLine.Invoke"/>), each on a thread of its own with a
/// deadline, and checks each run: the exit code, file:line in every error, no output on error, the
/// snapshot readable, no temporary files left, and on a sample the same bytes a second time.
/// </summary>
internal sealed class MutantRunner
{
    // A location as every error of the front end writes it: path:LINE or path:LINE:COL, where the
    // path is a header, a patch or a snapshot.
    private static readonly Regex Location = new(@"(?<file>[^\s:'""()]+\.(?:h|diff|patch|json)):(?<line>\d+)(?::\d+)?", RegexOptions.CultureInvariant);

    // One line of the compiler's error list ("  file:line:col: error: message").
    private static readonly Regex ListedDiagnostic = new(@"^[ \t]+\S.*?: error: ", RegexOptions.Multiline | RegexOptions.CultureInvariant);

    private readonly string repoRoot;
    private readonly string cacheRoot;
    private readonly string baseKernel;
    private readonly TimeSpan timeout;
    private readonly int recheckEvery;
    private readonly string scratch;

    public MutantRunner(string repoRoot, string cacheRoot, string baseKernel, TimeSpan timeout, int recheckEvery, string scratch)
    {
        this.repoRoot = repoRoot;
        this.cacheRoot = cacheRoot;
        this.baseKernel = baseKernel;
        this.timeout = timeout;
        this.recheckEvery = recheckEvery;
        this.scratch = scratch;
    }

    /// <summary>The three command lines of a mutant whose files are in <paramref name="dir"/>.</summary>
    public static IReadOnlyList<(string Command, string[] Args)> CommandLines(string dir, string output, string baseKernel, string repoRoot, string cacheRoot)
    {
        var header = Path.Combine(dir, Mutant.HeaderName);
        var patch = Path.Combine(dir, Mutant.PatchName);
        string[] common = ["--repo", repoRoot, "--cache", cacheRoot];
        return
        [
            ("extract", ["extract", "--header", header, "--base", baseKernel, "-o", output, .. common]),
            ("diff", ["diff", "--base", baseKernel, "--patch", patch, .. common]),
            ("lint", ["lint", "--base", baseKernel, "--patch", patch, .. common]),
        ];
    }

    /// <summary>The exit codes that mean a result, and the one that means a refused input.</summary>
    public static Verdict Classify(string command, int exit) => command == "extract"
        ? exit switch { 0 => Verdict.Ok, 1 => Verdict.CleanError, _ => Verdict.Crash }
        : exit switch { >= 0 and <= 7 => Verdict.Ok, IoUring.Abi.Diff.Report.ExitError => Verdict.CleanError, _ => Verdict.Crash };

    public MutantResult Run(Mutant mutant)
    {
        var dir = Path.Combine(scratch, "mutant");
        mutant.WriteTo(dir);
        var outDir = Path.Combine(scratch, "out");
        Directory.CreateDirectory(outDir);
        var output = Path.Combine(outDir, "snapshot.json");

        // Half the runs find an output file already there: a failing run must leave it as it was.
        var existing = mutant.Index % 2 == 1 ? Encoding.UTF8.GetBytes($"an earlier snapshot ({mutant.Index})\n") : null;
        if (existing is null)
        {
            File.Delete(output);
        }
        else
        {
            File.WriteAllBytes(output, existing);
        }

        var runs = new List<CommandRun>();
        var findings = new List<Finding>();
        foreach (var (command, args) in CommandLines(dir, output, baseKernel, repoRoot, cacheRoot))
        {
            var run = Execute(command, args, command == "extract" ? output : null);
            runs.Add(run);
            findings.AddRange(Check(run, output, existing));
            if (run.Verdict == Verdict.Hang)
            {
                // The stuck thread still owns its files; the worker process is ended after this mutant.
                break;
            }

            findings.AddRange(Leftovers(command, outDir));
            if (run.Verdict == Verdict.Ok && recheckEvery > 0 && mutant.Index % recheckEvery == 0 && command != "lint")
            {
                findings.AddRange(Recheck(run, outDir));
            }
        }

        return new MutantResult(mutant.Index, runs, findings);
    }

    private CommandRun Execute(string command, string[] args, string? output)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = -1;

        // The main thread's stack size: libclang's recursive descent on a deeply nested mutant must not
        // overflow here where the command line would not.
        var thread = new Thread(() => exit = CommandLine.Invoke(args, stdout, stderr), 8 * 1024 * 1024)
        {
            IsBackground = true,
            Name = $"fuzz {command}",
        };
        var clock = Stopwatch.StartNew();
        thread.Start();
        if (!thread.Join(timeout))
        {
            return new CommandRun(command, args, -1, Verdict.Hang, clock.ElapsedMilliseconds, null, string.Empty, $"still running after {timeout.TotalMilliseconds:0} ms");
        }

        var hash = output is not null && File.Exists(output) ? Sha256(File.ReadAllBytes(output))
            : output is null ? Sha256(Encoding.UTF8.GetBytes(stdout.ToString())) : null;
        return new CommandRun(command, args, exit, Classify(command, exit), clock.ElapsedMilliseconds, hash, stdout.ToString(), stderr.ToString());
    }

    private IEnumerable<Finding> Check(CommandRun run, string output, byte[]? existing)
    {
        switch (run.Verdict)
        {
            case Verdict.Hang:
                yield return new Finding(FindingKind.Hang, run.Command, run.Stderr);
                yield break;
            case Verdict.Crash:
                yield return new Finding(FindingKind.Crash, run.Command, $"exit code {run.Exit}: {FirstLines(run.Stderr, 12)}");
                yield break;
            case Verdict.CleanError:
                if (LocationProblem(run.Stderr) is string problem)
                {
                    yield return new Finding(FindingKind.ErrorWithoutLocation, run.Command, $"{problem}: {FirstLines(run.Stderr, 6)}");
                }

                if (run.Stdout.Length > 0)
                {
                    yield return new Finding(FindingKind.OutputOnError, run.Command, $"the failing run wrote {run.Stdout.Length} chars to stdout");
                }

                if (run.Command == "extract")
                {
                    var now = File.Exists(output) ? File.ReadAllBytes(output) : null;
                    if (existing is null && now is not null)
                    {
                        yield return new Finding(FindingKind.OutputOnError, run.Command, "the failing run created the output file");
                    }
                    else if (existing is not null && (now is null || !now.AsSpan().SequenceEqual(existing)))
                    {
                        yield return new Finding(FindingKind.OutputOnError, run.Command, "the failing run changed or removed the existing output file");
                    }
                }

                yield break;
            default:
                if (run.Stderr.Contains("error:", StringComparison.Ordinal))
                {
                    yield return new Finding(FindingKind.BadOutput, run.Command, $"exit {run.Exit} but stderr has an error: {FirstLines(run.Stderr, 4)}");
                }

                if (run.Command == "extract")
                {
                    string? unreadable = null;
                    try
                    {
                        SnapshotJson.Read(File.ReadAllText(output), output);
                    }
                    catch (Exception e) when (e is ToolException or IOException)
                    {
                        unreadable = e.Message;
                    }

                    if (unreadable is not null)
                    {
                        yield return new Finding(FindingKind.BadOutput, run.Command, $"the snapshot written does not read back: {unreadable}");
                    }
                }

                yield break;
        }
    }

    /// <summary>
    /// Why an error message fails to say where the problem is, or null when it does: it must name a
    /// path:LINE, and when it lists compiler diagnostics, each of them must.
    /// </summary>
    public static string? LocationProblem(string stderr)
    {
        var at = stderr.IndexOf("error: ", StringComparison.Ordinal);
        if (at < 0)
        {
            return "no 'error: ' line";
        }

        var message = stderr[at..];
        if (!HasLocation(message))
        {
            return "the error names no file:line";
        }

        var unplaced = ListedDiagnostic.Matches(message).Select(m => message[m.Index..(message.IndexOf('\n', m.Index) is var nl and >= 0 ? nl : message.Length)])
            .FirstOrDefault(line => !HasLocation(line));
        return unplaced is null ? null : $"a listed diagnostic names no file:line ('{unplaced.Trim()}')";
    }

    private static bool HasLocation(string text) =>
        Location.Matches(text).Any(m => int.TryParse(m.Groups["line"].ValueSpan, out var line) && line >= 1);

    /// <summary>The atomic writer's temporary file, and the extractor's copy of the base tree, must be gone.</summary>
    private static IEnumerable<Finding> Leftovers(string command, string outDir)
    {
        foreach (var f in Directory.GetFiles(outDir, "*.tmp"))
        {
            File.Delete(f);
            yield return new Finding(FindingKind.Leftover, command, $"temporary file left beside the output: {Path.GetFileName(f)}");
        }

        foreach (var d in Directory.GetDirectories(Path.GetTempPath(), $"io_uring-codegen-{Environment.ProcessId}-*"))
        {
            Directory.Delete(d, recursive: true);
            yield return new Finding(FindingKind.Leftover, command, $"temporary include tree left behind: {d}");
        }
    }

    /// <summary>The same command on the same input again: the same bytes (snapshot, or report).</summary>
    private IEnumerable<Finding> Recheck(CommandRun first, string outDir)
    {
        var output = Path.Combine(outDir, "again.json");
        var args = (string[])first.Args.Clone();
        if (first.Command == "extract")
        {
            args[Array.IndexOf(args, "-o") + 1] = output;
        }

        var again = Execute(first.Command, args, first.Command == "extract" ? output : null);
        File.Delete(output);
        if (again.Exit != first.Exit || again.OutputSha256 != first.OutputSha256)
        {
            yield return new Finding(FindingKind.BadOutput, first.Command, $"not deterministic: the second run gave exit {again.Exit} and output sha256 {again.OutputSha256}, the first exit {first.Exit} and {first.OutputSha256}");
        }
    }

    public static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    public static string FirstLines(string text, int count)
    {
        var lines = text.TrimEnd().Split('\n');
        return string.Join("\n", lines.Take(count)) + (lines.Length > count ? $"\n... ({lines.Length - count} more lines)" : string.Empty);
    }
}
