using System.Diagnostics;
using System.Globalization;
using IoUring.Bindings;
using IoUring.Engine;

namespace IoUring.Conformance;

/// <summary>
/// One thread of a process as /proc/PID/task/TID shows it: its state letter and CPU ticks in user and
/// kernel mode (stat), and the nanoseconds it has been runnable, on a CPU or waiting in a run queue for one
/// (schedstat; -1 when the kernel does not keep it).
/// </summary>
public readonly record struct ThreadSample(int Tid, char State, long UserTicks, long KernelTicks, long RunnableNs = -1);

/// <summary>
/// Finding and freeing a thread that spins inside io_uring_enter. The host kernel's waiting livelock
/// (KernelProfile.MixedOverflowWaitSpins) keeps a thread running in the kernel without ever looking at
/// its signals, so SIGKILL alone does not end the process: the loop ends only when the overflow list can
/// be flushed, which needs CQ space, which the application makes by moving the CQ head. This does that
/// from outside: every io_uring ring mapping of every thread's address space has its CQ head set to its
/// tail through /proc/PID/task/TID/mem (ptrace access, which a parent has over its child).
/// </summary>
public static class StuckThreads
{
    /// <summary>Kernel ticks per second for the times in /proc/PID/task/TID/stat (USER_HZ, 100 on Linux).</summary>
    public const int TicksPerSecond = 100;

    /// <summary>The threads of <paramref name="pid"/> (empty when the process is gone).</summary>
    public static IReadOnlyList<ThreadSample> Sample(int pid)
    {
        var samples = new List<ThreadSample>();
        string[] tasks;
        try
        {
            tasks = Directory.GetDirectories($"/proc/{pid}/task");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return samples;
        }

        foreach (var task in tasks)
        {
            if (int.TryParse(Path.GetFileName(task), out var tid) && Read(Path.Combine(task, "stat")) is { } stat && Parse(tid, stat) is { } s)
            {
                samples.Add(s with { RunnableNs = Read(Path.Combine(task, "schedstat")) is { } sched ? ParseRunnable(sched) : -1 });
            }
        }

        return samples;
    }

    /// <summary>
    /// Parses one stat line. The command name (field 2) is in parentheses and may hold spaces or
    /// parentheses itself, so the fields are counted from the last ')': state is field 3, utime 14, stime 15.
    /// </summary>
    public static ThreadSample? Parse(int tid, string stat)
    {
        var close = stat.LastIndexOf(')');
        if (close < 0)
        {
            return null;
        }

        var fields = stat[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.Length > 12
            && long.TryParse(fields[11], NumberStyles.Integer, CultureInfo.InvariantCulture, out var utime)
            && long.TryParse(fields[12], NumberStyles.Integer, CultureInfo.InvariantCulture, out var stime)
            ? new ThreadSample(tid, fields[0][0], utime, stime)
            : null;
    }

    /// <summary>
    /// The nanoseconds a thread has been runnable, from its schedstat line: time on a CPU plus time waiting
    /// in a run queue (the first two fields); -1 when the line does not parse.
    /// </summary>
    public static long ParseRunnable(string schedstat)
    {
        var fields = schedstat.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.Length >= 2
            && long.TryParse(fields[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var running)
            && long.TryParse(fields[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var waiting)
            ? running + waiting
            : -1;
    }

    /// <summary>
    /// Threads that spun in the kernel between two samples. A thread asleep in a wait is not runnable and
    /// uses no CPU; one spinning in io_cqring_wait never sleeps and runs in kernel mode whenever it has a
    /// CPU. On an idle machine that shows as kernel time for at least <paramref name="share"/> of the wall
    /// time. On a busy one (the VM tests' qemu processes beside it) the thread gets only a part of a CPU,
    /// so the rule that holds under load is the schedstat one: runnable for most of the interval
    /// (on a CPU or queued for one), and nearly all the CPU time it did get spent in the kernel.
    /// </summary>
    public static IReadOnlyList<int> Spinning(IReadOnlyList<ThreadSample> before, IReadOnlyList<ThreadSample> after, TimeSpan elapsed, double share = 0.6)
    {
        var wanted = elapsed.TotalSeconds * TicksPerSecond * share;
        var result = new List<int>();
        foreach (var a in after)
        {
            if (a.State != 'R' || before.FirstOrDefault(b => b.Tid == a.Tid) is not { Tid: > 0 } b)
            {
                continue;
            }

            var kernel = a.KernelTicks - b.KernelTicks;
            var user = a.UserTicks - b.UserTicks;
            var alwaysRunnable = a.RunnableNs >= 0 && b.RunnableNs >= 0 && a.RunnableNs - b.RunnableNs >= elapsed.TotalNanoseconds * 0.8;
            if (kernel >= wanted || (alwaysRunnable && kernel >= 5 && kernel >= 9 * user))
            {
                result.Add(a.Tid);
            }
        }

        return result;
    }

    /// <summary>
    /// Consumes every CQE of every io_uring ring mapped in <paramref name="pid"/>'s address space (its
    /// CQ head set to its tail), read through any of its live threads. Returns how many rings were
    /// written; rings are found in /proc/PID/task/TID/maps as anon_inode:[io_uring] mappings at the SQ or
    /// CQ ring offset, and their head and tail where <paramref name="layout"/> puts them (when the layout
    /// is not known, both layouts the corpus has are tried: a write to the wrong one lands in the ring
    /// header of a process that is being killed anyway).
    /// </summary>
    public static int ConsumeCompletions(int pid, RingHeaderLayout? layout)
    {
        var headers = layout is { } l ? [RingHeader.For(l)] : new[] { RingHeader.Packed, RingHeader.CacheLineAligned };
        foreach (var task in TaskDirectories(pid))
        {
            var rings = RingMappings(Path.Combine(task, "maps"));
            if (rings.Count == 0)
            {
                continue;
            }

            var written = 0;
            try
            {
                using var mem = new FileStream(Path.Combine(task, "mem"), FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 1, FileOptions.None);
                foreach (var ring in rings)
                {
                    foreach (var header in headers)
                    {
                        if (ReadU32(mem, ring + header.CqTail) is { } tail)
                        {
                            WriteU32(mem, ring + header.CqHead, tail);
                            written++;
                        }
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // this thread (or the whole address space) went away; try the next thread
            }

            return written;
        }

        return 0;
    }

    /// <summary>
    /// Kills <paramref name="process"/> and, while it lingers (a thread spinning in the kernel does not see
    /// SIGKILL), consumes its CQs so the spinning wait can return to the signal; gives up after
    /// <paramref name="limit"/>. Returns how many rings were written and whether the process is gone.
    /// </summary>
    public static (int Freed, bool Gone) KillAndFree(Process process, RingHeaderLayout? layout, TimeSpan limit)
    {
        var watch = Stopwatch.StartNew();
        var pid = process.Id;
        var freed = 0;
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // already gone
        }

        while (!process.WaitForExit(20) && watch.Elapsed < limit)
        {
            freed += ConsumeCompletions(pid, layout);
        }

        return (freed, process.HasExited && !Directory.Exists($"/proc/{pid}/task"));
    }

    /// <summary>Start addresses of io_uring ring mappings (SQ ring or CQ ring offset) in a maps file.</summary>
    public static IReadOnlyList<ulong> RingMappings(string mapsPath)
    {
        var rings = new List<ulong>();
        if (Read(mapsPath) is not { } maps)
        {
            return rings;
        }

        foreach (var line in maps.Split('\n'))
        {
            // start-end perms offset dev inode path
            var f = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            if (f.Length == 6 && f[5].Trim() == "anon_inode:[io_uring]"
                && ulong.TryParse(f[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var offset)
                && offset is Constants.IORING_OFF_SQ_RING or Constants.IORING_OFF_CQ_RING
                && ulong.TryParse(f[0].Split('-')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var start))
            {
                rings.Add(start);
            }
        }

        return rings;
    }

    private static IEnumerable<string> TaskDirectories(int pid)
    {
        try
        {
            return Directory.GetDirectories($"/proc/{pid}/task");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static uint? ReadU32(FileStream mem, ulong address)
    {
        Span<byte> word = stackalloc byte[4];
        mem.Seek((long)address, SeekOrigin.Begin);
        return mem.Read(word) == 4 ? BitConverter.ToUInt32(word) : null;
    }

    private static void WriteU32(FileStream mem, ulong address, uint value)
    {
        Span<byte> word = stackalloc byte[4];
        BitConverter.TryWriteBytes(word, value);
        mem.Seek((long)address, SeekOrigin.Begin);
        mem.Write(word);
        mem.Flush();
    }

    private static string? Read(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
