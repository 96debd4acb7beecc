using System.Diagnostics;
using System.Text;
using System.Text.Json;
using IoUring.Conformance;
using IoUring.Engine;
using IoUring.Probe;
using IoUring.Ring;

// The workload of a conformance VM (see AgentProtocol): probe the kernel, run every program of the
// batch on the engine and on the kernel (the differential, shrinking a difference when the batch asks),
// one framed line per result on standard output, which init connected to the serial console. Nothing a
// program does may end the run early: each is caught and reported on its own.
//   agent [BATCH] [--program-timeout SECONDS] [--loaded-files FILE]
//   agent --serve     the supervised child on the host (SupervisedHost): requests on standard input
// --loaded-files is for the initramfs builder, which runs the agent once on the host and packs only the
// runtime files it loaded (see InitramfsBuilder). Exit codes: 0 every program ran; 2 the batch could not
// be read; 3 a program did not return in time; 64 bad arguments.
if (args is ["--serve"])
{
    return Serve.Run();
}

var batchPath = AgentProtocol.BatchPath;
var perProgramLimit = TimeSpan.FromSeconds(20);
string? loadedFiles = null;
for (var a = 0; a < args.Length; a++)
{
    switch (args[a])
    {
        case "--program-timeout" when a + 1 < args.Length && double.TryParse(args[a + 1], System.Globalization.CultureInfo.InvariantCulture, out var seconds) && seconds > 0:
            perProgramLimit = TimeSpan.FromSeconds(seconds);
            a++;
            break;
        case "--loaded-files" when a + 1 < args.Length:
            loadedFiles = args[++a];
            break;
        case var path when !path.StartsWith('-'):
            batchPath = path;
            break;
        default:
            Console.Error.WriteLine($"error: unknown or incomplete argument '{args[a]}'; usage: agent [BATCH] [--program-timeout SECONDS] [--loaded-files FILE]");
            return 64;
    }
}

var output = new Output(Console.OpenStandardOutput());
var clock = Stopwatch.StartNew();

var kernel = LiveKernel.Release;
ProgramBatch batch;
try
{
    batch = JsonSerializer.Deserialize(File.ReadAllText(batchPath), AgentJson.Default.ProgramBatch)
        ?? throw new JsonException("the file holds null");
    if (batch.Schema != ProgramBatch.SchemaId)
    {
        throw new JsonException($"schema is '{batch.Schema}', expected '{ProgramBatch.SchemaId}'");
    }
}
catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
{
    output.Send(AgentProtocol.HelloKind, new AgentHello(kernel, null, null, 0, Uptime()));
    output.Send(AgentProtocol.DoneKind, new AgentDone(0, clock.Elapsed.TotalSeconds, $"{batchPath}: cannot read the batch: {e.Message}"));
    return 2;
}

KernelProfile? profile = null;
string? profileError = null;
IReadOnlyList<LayoutFact>? layout = null;
try
{
    profile = KernelProbe.Probe(new LiveKernel());
    // The initramfs builder's run on the host (--loaded-files) touches no live io_uring.
    layout = loadedFiles is null ? LayoutCheck.Run(new LiveKernel()) : null;
}
catch (Exception e)
{
    profileError = e.ToString();
}

output.Send(AgentProtocol.HelloKind, new AgentHello(kernel, profile, profileError, batch.Programs.Length, Uptime(), layout));

// A program that blocks in the kernel cannot be interrupted from managed code, so the programs run on a
// worker thread and this thread watches the clock: past the limit it reports which program hung and
// ends the process (the kernel closes the rings with it), and init powers the VM off as usual.
var current = -1;
var progress = 0;
var finished = new ManualResetEventSlim();
var worker = new Thread(() =>
{
    // The initramfs builder's run on the host (--loaded-files) needs only the code paths loaded: the
    // engine stands in for the kernel there, so no generated program touches the host's io_uring.
    ILiveRunner? kernelRunner = profile is null ? null : loadedFiles is null ? new InProcessKernel(profile) : new EngineAsKernel(profile);
    var live = new LiveKernel();
    for (var i = 0; i < batch.Programs.Length; i++)
    {
        Volatile.Write(ref current, i);
        Interlocked.Increment(ref progress);
        var started = Stopwatch.GetTimestamp();
        AgentResult result;
        try
        {
            if (kernelRunner is null)
            {
                // No profile, no engine to pace by: the kernel's trace alone (the host reports the probe failure).
                result = new AgentResult(i, Runner.Run(live, batch.Programs[i]).Trace, null, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
            else
            {
                // The differential runs here, beside the kernel: the engine paces the live run (without
                // that a live trace would depend on how fast the emulated CPU is), and a difference can be
                // shrunk against the kernel itself. The host compares the traces again with its own engine.
                var verdict = Differential.Check(batch.Programs[i], kernelRunner);
                ShrunkProgram? shrunk = null;
                if (!verdict.Equal && batch.ShrinkBudget > 0)
                {
                    var s = Differential.Shrink(verdict, p => Differential.Check(p, kernelRunner), batch.ShrinkBudget, _ => Interlocked.Increment(ref progress));
                    shrunk = new ShrunkProgram(s.Smallest.Program, s.Smallest.Kernel, s.Candidates);
                }

                result = new AgentResult(i, verdict.Kernel, null, Stopwatch.GetElapsedTime(started).TotalMilliseconds, shrunk, verdict.Ready, verdict.Equal ? null : verdict.Engine);
            }
        }
        catch (Exception e)
        {
            result = new AgentResult(i, null, e.ToString(), Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        output.Send(AgentProtocol.ResultKind, result);
    }

    // Hostile cases run here and only here: their bytes may name any file or memory, so the engine
    // runs beside the kernel in this disposable VM, and only the verdict travels back.
    for (var i = 0; i < batch.Hostile.Length; i++)
    {
        Volatile.Write(ref current, batch.Programs.Length + i);
        Interlocked.Increment(ref progress);
        HostileResult result;
        try
        {
            result = profile is null
                ? new HostileResult(i, HostileVerdict.NotModelled, "no profile: the kernel could not be probed", null, null)
                : Hostile.Compare(i, batch.Hostile[i], profile, live);
        }
        catch (Exception e)
        {
            // The engine's crashes are caught inside Compare; this is the runner on the kernel side.
            result = new HostileResult(i, HostileVerdict.Different, $"the runner threw on the kernel: {e}", null, null);
        }

        output.Send(AgentProtocol.HostileKind, result);
    }

    finished.Set();
})
{ IsBackground = true, Name = "programs" };
worker.Start();

var lastSeen = -1;
var since = Stopwatch.GetTimestamp();
while (!finished.Wait(TimeSpan.FromMilliseconds(250)))
{
    var now = Volatile.Read(ref progress);
    if (now != lastSeen)
    {
        lastSeen = now;
        since = Stopwatch.GetTimestamp();
    }
    else if (Stopwatch.GetElapsedTime(since) > perProgramLimit)
    {
        var at = Volatile.Read(ref current);
        var what = at < batch.Programs.Length ? $"program {at}" : $"hostile case {at - batch.Programs.Length}";
        output.Send(AgentProtocol.DoneKind, new AgentDone(Math.Min(at, batch.Programs.Length), clock.Elapsed.TotalSeconds, $"{what} did not return within {perProgramLimit.TotalSeconds:0} s"));
        return 3;
    }
}

output.Send(AgentProtocol.DoneKind, new AgentDone(batch.Programs.Length, clock.Elapsed.TotalSeconds, null));
if (loadedFiles is not null)
{
    File.WriteAllLines(loadedFiles, LoadedFiles());
}

return 0;

// Every file this process has loaded: the managed assemblies, and whatever is mapped (the runtime's
// native libraries, the C and C++ libraries, anything dlopen'ed), as absolute paths.
static IEnumerable<string> LoadedFiles()
{
    var mapped = File.Exists("/proc/self/maps")
        ? File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries)).Where(f => f.Length == 6).Select(f => f[5].Trim())
        : [];
    // A native agent has no assembly files (their locations are empty, and dropped below): its mapped files are all.
    var assemblies = AppDomain.CurrentDomain.GetAssemblies().Where(x => !x.IsDynamic).Select(x => x.Location);
    return mapped.Concat(assemblies).Where(p => p.StartsWith('/') && File.Exists(p)).Distinct().Order(StringComparer.Ordinal);
}

// /proc/uptime's first field: the host lines the phases of a run up against init's own markers.
static double Uptime() =>
    File.Exists("/proc/uptime") && double.TryParse(File.ReadAllText("/proc/uptime").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture, out var up) ? up : 0;

/// <summary>Framed lines on standard output, one write(2) each, numbered in the order they are sent.</summary>
internal sealed class Output(Stream stdout)
{
    private readonly object gate = new();
    private int seq;

    public void Send<T>(string kind, T message)
    {
        lock (gate)
        {
            var line = Encoding.UTF8.GetBytes(AgentProtocol.Frame(kind, seq++, message) + "\n");
            stdout.Write(line);
            stdout.Flush();
        }
    }
}
