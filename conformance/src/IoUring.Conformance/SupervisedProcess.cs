using System.Diagnostics;

namespace IoUring.Conformance;

/// <summary>What a supervised program did: its exit code (null when it had to be killed), its output, and how many of its rings were consumed to free a spinning thread.</summary>
public sealed record SupervisedExit(int? ExitCode, string Output, int RingsFreed, TimeSpan Elapsed);

/// <summary>
/// Runs a native program on the host (an exported C program, a reproducer) the way the supervised host
/// runner treats its child: with a deadline, and when the deadline passes with a thread of it spinning
/// in the kernel (the waiting livelock, deaf to SIGKILL), its CQs are consumed through /proc/PID/mem
/// (<see cref="StuckThreads"/>) so that it can die. One program at a time: the caller runs them in turn.
/// </summary>
public static class SupervisedProcess
{
    public static SupervisedExit Run(string program, TimeSpan deadline)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        var watch = Stopwatch.StartNew();
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"{program} could not be started");
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        var freed = 0;
        var killed = !p.WaitForExit(deadline);
        if (killed)
        {
            // Spinning threads first: SIGKILL is not seen by a thread looping in the kernel.
            var before = StuckThreads.Sample(p.Id);
            Thread.Sleep(200);
            if (StuckThreads.Spinning(before, StuckThreads.Sample(p.Id), TimeSpan.FromMilliseconds(200)).Count > 0)
            {
                freed = StuckThreads.ConsumeCompletions(p.Id, null);
            }

            p.Kill(entireProcessTree: true);
            for (var i = 0; i < 100 && !p.WaitForExit(100); i++)
            {
                freed += StuckThreads.ConsumeCompletions(p.Id, null);
            }
        }

        var exited = p.HasExited;
        if (exited)
        {
            p.WaitForExit();
        }

        var output = exited ? (stdout.Result + stderr.Result).Trim() : "(still running: it could not be freed)";
        return new SupervisedExit(killed ? null : p.ExitCode, output, freed, watch.Elapsed);
    }
}
