using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using IoUring.Engine;

namespace IoUring.Conformance;

/// <summary>What the supervisor did about a child that stopped making progress.</summary>
/// <param name="What">The request the child was running ("program 12", "the livelock trap").</param>
/// <param name="Why">What the watchdog saw: a thread spinning in the kernel, or no answer by the deadline.</param>
/// <param name="RingsFreed">CQ heads moved to free spinning threads (0 when none was needed).</param>
/// <param name="Exited">Whether the child was gone (reaped, no thread left) when the supervisor let go of it.</param>
public sealed record StuckChild(string What, string Why, int RingsFreed, bool Exited, double Seconds)
{
    public override string ToString() =>
        $"{What}: {Why}; {(RingsFreed > 0 ? $"freed by consuming its CQ ({RingsFreed} ring writes), " : string.Empty)}{(Exited ? "the child was killed and is gone" : "THE CHILD COULD NOT BE ENDED")} after {Seconds:0.0} s";
}

/// <summary>
/// The host's kernel, driven from a child process that the test or tool supervises: the conformance
/// agent started with <c>--serve</c>, which probes the kernel, then runs one program per request line
/// and answers with one framed line (<see cref="AgentProtocol"/>). Nothing the programs do to the kernel
/// happens in the supervising process.
/// <para>
/// The watchdog: while a request is outstanding, the child's threads are sampled every 100 ms. A thread
/// that spends most of a second running in the kernel (the waiting livelock spins; a sleeping wait uses no
/// CPU), or no answer within <see cref="Deadline"/>, ends the child: SIGKILL, then, until the process is
/// gone, every CQ of its rings is consumed through /proc (<see cref="StuckThreads"/>), which lets a
/// spinning wait flush its overflow and return to the signal. The request is answered with a failed trace
/// naming what happened (<see cref="Incidents"/> keeps them), and the next request starts a new child.
/// </para>
/// </summary>
public sealed class SupervisedHost : ILiveRunner, IDisposable
{
    private readonly string agentDll;
    private readonly Action<string> log;
    private Process? child;
    private BlockingCollection<string>? lines;
    private StreamWriter? input;
    private int nextIndex;

    private SupervisedHost(string agentDll, Action<string>? log)
    {
        this.agentDll = agentDll;
        this.log = log ?? (_ => { });
    }

    /// <summary>Longest a request may take before the child is ended (a program's settle waits are 2 s each).</summary>
    public TimeSpan Deadline { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a thread must run in the kernel before it counts as spinning.</summary>
    public TimeSpan SpinWindow { get; init; } = TimeSpan.FromSeconds(1);

    public KernelProfile Profile { get; private set; } = null!;

    public string Release { get; private set; } = string.Empty;

    public string Name => $"host {Release} (supervised child)";

    /// <summary>Every child the watchdog had to end, in order.</summary>
    public List<StuckChild> Incidents { get; } = new();

    /// <summary>The process id of the current child (0 when none runs).</summary>
    public int ChildPid => child is { HasExited: false } c ? c.Id : 0;

    /// <summary>The agent's project folder in a checkout (its build output is bin/CONFIGURATION/net10.0).</summary>
    public static string AgentProject(string repoRoot) => Path.Combine(repoRoot, "conformance", "src", "IoUring.Conformance.Agent");

    /// <summary>The agent's entry assembly as built in <paramref name="configuration"/>.</summary>
    public static string AgentDll(string repoRoot, string configuration) =>
        Path.Combine(AgentProject(repoRoot), "bin", configuration, "net10.0", "IoUring.Conformance.Agent.dll");

    /// <summary>
    /// Starts the agent at <paramref name="agentDll"/> (IoUring.Conformance.Agent.dll) as a child and reads
    /// its probe of the host kernel. Throws when the child cannot start or cannot probe (io_uring disabled,
    /// say), with what it said.
    /// </summary>
    public static SupervisedHost Start(string agentDll, Action<string>? log = null, TimeSpan? deadline = null)
    {
        if (!File.Exists(agentDll))
        {
            throw new FileNotFoundException($"the conformance agent is not built: {agentDll} is missing (build conformance/src/IoUring.Conformance.Agent)", agentDll);
        }

        var host = new SupervisedHost(agentDll, log) { Deadline = deadline ?? TimeSpan.FromSeconds(60) };
        host.Launch();
        return host;
    }

    /// <summary>Runs one program on the host kernel in the child, paced by <paramref name="ready"/>.</summary>
    public ProgramTrace Run(RingProgram program, IReadOnlyList<uint>? ready)
    {
        var index = nextIndex++;
        var request = new HostRequest(HostRequest.ProgramKind, index, program, ready?.ToArray());
        var reply = Ask(request, $"program {index}");
        if (reply.Error is { } error)
        {
            return ProgramTrace.Failed(error);
        }

        var result = JsonSerializer.Deserialize(reply.Json!, AgentJson.Default.AgentResult)!;
        return result.Trace ?? ProgramTrace.Failed($"the runner threw in the child: {FirstLine(result.Error)}");
    }

    /// <summary>The child's own io_uring descriptors, program memfds and ring mappings (a leak check).</summary>
    public AgentResources Resources()
    {
        var reply = Ask(new HostRequest(HostRequest.ResourcesKind, nextIndex++, null, null), "the resource count");
        return reply.Error is { } error
            ? throw new InvalidOperationException(error)
            : JsonSerializer.Deserialize(reply.Json!, AgentJson.Default.AgentResources)!;
    }

    /// <summary>
    /// Has the child build the waiting livelock's state on purpose and wait in it, with no timeout and
    /// no help: on a kernel with the bug the watchdog must find the spinning thread and free it. Returns
    /// what came back (a result when the kernel let the wait go, or the incident).
    /// </summary>
    public (string? Answer, StuckChild? Incident) TrapInLivelock()
    {
        var before = Incidents.Count;
        var reply = Ask(new HostRequest(HostRequest.TrapKind, nextIndex++, null, null), "the livelock trap");
        return (reply.Json, Incidents.Count > before ? Incidents[^1] : null);
    }

    private (string? Json, string? Error) Ask(HostRequest request, string what)
    {
        if (child is null || child.HasExited)
        {
            Launch();
        }

        var sent = JsonSerializer.Serialize(request, AgentJson.Default.HostRequest);
        try
        {
            input!.WriteLine(sent);
            input.Flush();
        }
        catch (IOException e)
        {
            return (null, $"the child took no request: {e.Message}");
        }

        var watch = Stopwatch.StartNew();
        var samples = new Queue<(TimeSpan At, IReadOnlyList<ThreadSample> Threads)>();
        while (true)
        {
            if (lines!.TryTake(out var line, 100))
            {
                var frame = AgentProtocol.TryParse(line, out var damaged);
                if (frame is { Kind: AgentProtocol.ResultKind or AgentProtocol.ResourcesKind } f)
                {
                    return (f.Json, null);
                }

                if (damaged)
                {
                    return (null, $"the child's answer to {what} arrived damaged: {line}");
                }

                continue;
            }

            if (lines.IsCompleted)
            {
                var code = child!.WaitForExit(5000) ? child.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : "unknown";
                return (null, $"the child died while running {what} (exit code {code})");
            }

            var now = watch.Elapsed;
            samples.Enqueue((now, StuckThreads.Sample(child!.Id)));
            while (samples.Count > 1 && now - samples.Peek().At > SpinWindow)
            {
                samples.Dequeue();
            }

            var (oldestAt, oldest) = samples.Peek();
            var spinning = now - oldestAt >= SpinWindow * 0.9 ? StuckThreads.Spinning(oldest, samples.Last().Threads, now - oldestAt) : [];
            if (spinning.Count > 0 || now > Deadline)
            {
                var why = spinning.Count > 0
                    ? $"thread {string.Join(", ", spinning)} ran in the kernel for {(now - oldestAt).TotalSeconds:0.0} s without returning (a spinning wait)"
                    : $"no answer within {Deadline.TotalSeconds:0} s";
                var incident = End(what, why);
                Incidents.Add(incident);
                log($"supervisor: {incident}");
                return (null, $"stuck: {incident}");
            }
        }
    }

    /// <summary>Kills the child and, while it lingers, consumes its CQs so a spinning wait can return to the signal.</summary>
    private StuckChild End(string what, string why)
    {
        var watch = Stopwatch.StartNew();
        var (freed, gone) = StuckThreads.KillAndFree(child!, Profile?.RingHeader, TimeSpan.FromSeconds(30));
        input?.Dispose();
        child = null;
        return new StuckChild(what, why, freed, gone, watch.Elapsed.TotalSeconds);
    }

    private void Launch()
    {
        // The agent's entry assembly runs on the dotnet host; a native agent is its own executable.
        var (program, arguments) = agentDll.EndsWith(".dll", StringComparison.Ordinal)
            ? (DotnetHost(), new[] { "exec", agentDll, "--serve" })
            : (agentDll, new[] { "--serve" });
        var start = new ProcessStartInfo(program, arguments)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        child = Process.Start(start) ?? throw new InvalidOperationException($"could not start {start.FileName} {string.Join(' ', start.ArgumentList)}");
        input = child.StandardInput;
        var queue = new BlockingCollection<string>();
        lines = queue;
        var stdout = child.StandardOutput;
        var stderr = new StringBuilder();
        child.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (stderr)
                {
                    stderr.AppendLine(e.Data);
                }
            }
        };
        child.BeginErrorReadLine();
        new Thread(() =>
        {
            try
            {
                while (stdout.ReadLine() is { } line)
                {
                    queue.Add(line);
                }
            }
            catch (IOException)
            {
                // the child is gone
            }

            queue.CompleteAdding();
        })
        { IsBackground = true, Name = "supervised child stdout" }.Start();

        // The hello carries the profile the child probed; probing takes a second or two.
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (!queue.TryTake(out var line, 100))
            {
                if (queue.IsCompleted)
                {
                    break;
                }

                continue;
            }

            if (AgentProtocol.TryParse(line, out _) is { Kind: AgentProtocol.HelloKind } hello)
            {
                var h = JsonSerializer.Deserialize(hello.Json, AgentJson.Default.AgentHello)!;
                if (h.Profile is null)
                {
                    throw new InvalidOperationException($"the host kernel could not be probed: {FirstLine(h.ProfileError)}");
                }

                Profile = h.Profile;
                Release = h.Kernel;
                log($"supervisor: child {child.Id} probed {Release}");
                return;
            }
        }

        string said;
        lock (stderr)
        {
            said = stderr.ToString().Trim();
        }

        try
        {
            child.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }

        throw new InvalidOperationException($"the supervised child ({agentDll}) sent no hello{(said.Length > 0 ? ": " + said : string.Empty)}");
    }

    /// <summary>The dotnet host running this process (the SDK sets DOTNET_HOST_PATH under test and build), else dotnet on PATH.</summary>
    private static string DotnetHost()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } fromSdk && File.Exists(fromSdk))
        {
            return fromSdk;
        }

        return Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
    }

    private static string FirstLine(string? text) => (text ?? "(no message)").Split('\n')[0].Trim();

    public void Dispose()
    {
        if (child is { HasExited: false } c)
        {
            try
            {
                input?.Close();
                if (!c.WaitForExit(5000))
                {
                    End("shutdown", "the child did not exit when its input closed");
                }
            }
            catch (IOException)
            {
            }
        }

        child?.Dispose();
    }
}
