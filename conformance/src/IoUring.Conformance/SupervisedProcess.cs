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
    private const int SigKill = 9;

    public static SupervisedExit Run(string program, TimeSpan deadline) => Run(new ProcessStartInfo(program), deadline);

    /// <summary>
    /// As <see cref="Run(string, TimeSpan)"/> for a prepared start (arguments, working folder,
    /// environment). With <paramref name="ownProcessGroup"/> the program starts in a session and
    /// process group of its own (setsid(1), which execs it under the same process id), and whatever
    /// it forked and left behind is killed with it when it ends: a test that forks must not leave a
    /// child running into the next.
    /// </summary>
    public static SupervisedExit Run(ProcessStartInfo start, TimeSpan deadline, bool ownProcessGroup = false)
    {
        if (ownProcessGroup)
        {
            var program = start.FileName;
            start.FileName = "setsid";
            start.ArgumentList.Insert(0, program);
        }

        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.RedirectStandardInput = true;
        var watch = Stopwatch.StartNew();
        using var p = Process.Start(start) ?? throw new InvalidOperationException($"{start.FileName} could not be started");
        var pid = p.Id;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        var killed = !p.WaitForExit(deadline);
        var freed = killed ? StuckThreads.KillAndFree(p, null, TimeSpan.FromSeconds(10)).Freed : 0;
        if (ownProcessGroup)
        {
            // Gone before the next program starts: a child still holding a socket address or a file
            // would make that program fail for a reason of this one's.
            var until = Stopwatch.StartNew();
            while (Kill(-pid, SigKill) == 0 && until.Elapsed < TimeSpan.FromSeconds(5))
            {
                Thread.Sleep(10);
            }
        }

        var exited = p.HasExited;
        if (exited)
        {
            p.WaitForExit();
        }

        // A child left in the group may hold the pipes open: the output read so far is what there is.
        string Text(Task<string> t) => t.Wait(TimeSpan.FromSeconds(5)) ? t.Result : string.Empty;
        var output = exited ? (Text(stdout) + Text(stderr)).Trim() : "(still running: it could not be freed)";
        return new SupervisedExit(killed ? null : p.ExitCode, output, freed, watch.Elapsed);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
