using System.Diagnostics;

namespace IoUring.Conformance;

/// <summary>What a supervised program did: its exit code (null when it had to be killed), its output, and how many of its rings were consumed to free a spinning thread.</summary>
public sealed record SupervisedExit(int? ExitCode, string Output, int RingsFreed, TimeSpan Elapsed);

/// <summary>
/// Runs a native program on the host (an exported C program, a reproducer) the way the supervised host
/// runner treats its child: with a deadline, after which it is killed and, while a thread of it spins in
/// the kernel (the waiting livelock, deaf to SIGKILL), its CQs are consumed through /proc/PID/mem
/// (<see cref="StuckThreads.KillAndFree"/>) so that it can die. One program at a time: the caller runs them in turn.
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
        var killed = !p.WaitForExit(deadline);
        var freed = killed ? StuckThreads.KillAndFree(p, null, TimeSpan.FromSeconds(10)).Freed : 0;
        var exited = p.HasExited;
        if (exited)
        {
            p.WaitForExit();
        }

        var output = exited ? (stdout.Result + stderr.Result).Trim() : "(still running: it could not be freed)";
        return new SupervisedExit(killed ? null : p.ExitCode, output, freed, watch.Elapsed);
    }
}
