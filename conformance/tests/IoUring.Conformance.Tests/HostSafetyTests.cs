using IoUring.Bindings;
using Xunit;
using Xunit.Abstractions;

namespace IoUring.Conformance.Tests;

/// <summary>
/// The supervisor keeps the host safe from the kernel's waiting livelock: a child that spins in the
/// kernel is found, freed through its CQ and killed, and no thread of it is left running; the test host
/// itself never enters io_uring for a program.
/// </summary>
[Collection("serial")]
public sealed class HostSafetyTests
{
    private readonly ITestOutputHelper output;

    public HostSafetyTests(ITestOutputHelper output) => this.output = output;

    [HostKernelFact]
    public void AChildTrappedInTheWaitingLivelockIsFreedAndLeavesNoThreadBehind()
    {
        using var host = SupervisedHost.Start(HostKernel.AgentPath, output.WriteLine, deadline: TimeSpan.FromSeconds(10));
        var pid = host.ChildPid;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var (answer, incident) = host.TrapInLivelock();
        output.WriteLine($"answer: {answer ?? "(none)"}; incident: {incident?.ToString() ?? "(none)"}; {watch.Elapsed.TotalSeconds:0.0} s");
        if (!host.Profile.Has(IoUringSetupFlags.IORING_SETUP_CQE_MIXED))
        {
            // No CQE_MIXED ring, no trap: the child says so and goes on.
            Assert.Null(incident);
            Assert.Contains("no CQE_MIXED ring", answer, StringComparison.Ordinal);
            Repository.Report("conformance: host safety: the host kernel has no CQE_MIXED rings, so the waiting livelock cannot be trapped here");
            return;
        }

        Assert.NotNull(incident);
        if (host.Profile.MixedOverflowWaitSpins)
        {
            // The kernel spins: the watchdog saw it (not the deadline) and freed the ring.
            Assert.Contains("ran in the kernel", incident!.Why, StringComparison.Ordinal);
            Assert.True(incident.RingsFreed > 0, incident.ToString());
        }
        else
        {
            // A sound kernel sleeps in the wait: the deadline ends the child, with nothing to free.
            Assert.Contains("no answer", incident!.Why, StringComparison.Ordinal);
        }

        Assert.True(incident.Exited, incident.ToString());
        Assert.False(Directory.Exists($"/proc/{pid}"), $"process {pid} is still there");
        Assert.DoesNotContain(Environment.ProcessId, ProcessesRunning(pid));

        // The supervisor goes on with a new child.
        var nop = new RingProgram(2, 0, 0, [new Step([new SqeSpec(0, 0, 0, 0, 0, FdChoice.File, BufChoice.Area, 0, 0, 0, 0, 1)], true, 1, -1, null)]);
        Assert.True(Differential.Check(nop, host).Equal);
        Assert.NotEqual(pid, host.ChildPid);
        Repository.Report($"conformance: host safety: a child trapped in the waiting livelock on purpose was {(host.Profile.MixedOverflowWaitSpins ? "found spinning, freed by consuming its CQ" : "ended at its deadline")} and killed in {incident.Seconds:0.0} s; no thread of it remains");
    }

    /// <summary>Processes in the system whose parent is <paramref name="pid"/>, or which are it (threads show as /proc/PID/task).</summary>
    private static List<int> ProcessesRunning(int pid) =>
        Directory.GetDirectories("/proc").Select(Path.GetFileName).Select(n => int.TryParse(n, out var p) ? p : 0)
            .Where(p => p > 0 && (p == pid || ParentOf(p) == pid)).ToList();

    private static int ParentOf(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 0;
        }
    }

    [Fact]
    public void ThreadStatsAreReadFromAfterTheCommandName()
    {
        // A command name may hold spaces and parentheses: fields count from the last ')'.
        var stat = "4242 (dotnet (x) y) R 1 2 3 4 5 6 7 8 9 10 250 1700 0 0 20 0 1 0 100 0 0";
        Assert.Equal(new ThreadSample(4242, 'R', 250, 1700), StuckThreads.Parse(4242, stat));
        Assert.Null(StuckThreads.Parse(1, "garbage"));
    }

    [Fact]
    public void AThreadCountsAsSpinningOnlyWhenItRanInTheKernelMostOfTheTime()
    {
        ThreadSample S(int tid, char state, long user, long kernel) => new(tid, state, user, kernel);
        var before = new[] { S(1, 'R', 0, 0), S(2, 'S', 0, 0), S(3, 'R', 0, 0), S(4, 'R', 0, 0) };
        var after = new[] { S(1, 'R', 5, 95), S(2, 'S', 0, 0), S(3, 'R', 90, 10), S(4, 'S', 0, 99), S(5, 'R', 0, 100) };
        Assert.Equal([1], StuckThreads.Spinning(before, after, TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public void UnderLoadAThreadCountsAsSpinningWhenItStayedRunnableAndRanInTheKernel()
    {
        // Sharing a CPU with others, a spinning thread gets 30 % of it; what gives it away is that it
        // never slept (runnable, on a CPU or queued, the whole second) and its CPU time was kernel time.
        const long second = 1_000_000_000;
        ThreadSample S(int tid, char state, long user, long kernel, long runnable) => new(tid, state, user, kernel, runnable);
        var before = new[] { S(1, 'R', 0, 0, 0), S(2, 'R', 0, 0, 0), S(3, 'R', 0, 0, 0), S(4, 'R', 0, 0, -1), S(5, 'S', 0, 0, 0) };
        var after = new[]
        {
            S(1, 'R', 0, 30, second),          // spinning under load
            S(2, 'R', 0, 30, second / 2),      // slept half the time: a wait that woke and went back to sleep
            S(3, 'R', 20, 10, second),         // busy, but in user space
            S(4, 'R', 0, 30, -1),              // no schedstat: only the idle-machine rule applies
            S(5, 'S', 0, 30, second),          // asleep now
        };
        Assert.Equal([1], StuckThreads.Spinning(before, after, TimeSpan.FromSeconds(1)));
        Assert.Equal(1500, StuckThreads.ParseRunnable("1000 500 7\n"));
        Assert.Equal(-1, StuckThreads.ParseRunnable("garbage"));
    }

    [Fact]
    public void RingMappingsAreTheIoUringMappingsAtTheRingOffsets()
    {
        var maps = Path.GetTempFileName();
        try
        {
            File.WriteAllText(maps, string.Join("\n",
                "7f0000000000-7f0000001000 rw-s 00000000 00:0f 1234                       anon_inode:[io_uring]",
                "7f0000002000-7f0000003000 rw-s 10000000 00:0f 1234                       anon_inode:[io_uring]",
                "7f0000004000-7f0000005000 rw-s 08000000 00:0f 1234                       anon_inode:[io_uring]",
                "7f0000006000-7f0000007000 rw-p 00000000 08:01 99                         /usr/lib/libc.so.6",
                string.Empty));
            Assert.Equal([0x7f0000000000UL, 0x7f0000004000UL], StuckThreads.RingMappings(maps));
        }
        finally
        {
            File.Delete(maps);
        }
    }
}
