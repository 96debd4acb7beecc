using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using IoUring.Engine;
using IoUring.Probe;
using IoUring.Ring;
using IoUring.Ring.Bench;

// NOP round trips: liburing (a C program built here), the client ring on the live kernel,
// and the client ring on the reference engine, interleaved in one run for each batch size; medians.
//   dotnet run -c Release --project engine/bench/IoUring.Ring.Bench [-- --rounds N --ops N --batches 1,8,32]
var options = Options.Parse(args);
if (options is null)
{
    Console.Error.WriteLine("usage: IoUring.Ring.Bench [--rounds N] [--ops N] [--batches 1,8,32] [--entries N]");
    return 2;
}

var work = Directory.CreateTempSubdirectory("io_uring-nop-bench-");
Peer? peer = null;
Ring? liveRing = null;
Ring? engineRing = null;
try
{
    peer = Peer.Start(work.FullName, options.Entries);
    var live = new LiveKernel();
    var engine = new ReferenceEngine(KernelProbe.Probe(live));

    // One ring per backend for the whole run, as the C peer keeps one: the samples measure a
    // ring in steady state, not setup, mapping or the kernel's deferred teardown of a closed ring.
    liveRing = Open(live, options.Entries);
    engineRing = Open(engine, options.Entries);
    var variants = new Variant[]
    {
        new("liburing", "liburing (C, gcc -O2)", peer.Run),
        new("live", "client ring, live kernel", (b, n) => NopLoop.Run<LiveCopy>(liveRing, b, n)),
        new("engine", "client ring, reference engine", (b, n) => NopLoop.Run<EngineCopy>(engineRing, b, n)),
    };

    // Warm-up outside the record: the C# loop starts at tier 0 and is promoted (OSR, instrumented
    // tier 0, then tier 1 with PGO) by call counts and a background thread that waits for a quiet
    // spell. Short runs of every variant and a pause, until a pass compiles nothing new, so every
    // measured round runs the same steady-state code (the C program has that from the start).
    var compiled = -1L;
    for (var pass = 0; pass < 20 && compiled != System.Runtime.JitInfo.GetCompiledMethodCount(); pass++)
    {
        compiled = System.Runtime.JitInfo.GetCompiledMethodCount();
        foreach (var batch in options.Batches)
        {
            foreach (var v in variants)
            {
                for (var i = 0; i < 40; i++)
                {
                    v.Run(batch, Math.Max(batch, options.Ops / 200));
                }
            }
        }

        Thread.Sleep(300);
    }

    var samples = new Dictionary<(uint Batch, string Variant), List<Sample>>();
    for (var round = 0; round < options.Rounds; round++)
    {
        foreach (var batch in options.Batches)
        {
            // Each round starts with a different variant, so none of them always runs first or
            // always right after the same other one.
            for (var k = 0; k < variants.Length; k++)
            {
                var v = variants[(round + k) % variants.Length];
                var s = v.Run(batch, options.Ops);
                if (!samples.TryGetValue((batch, v.Key), out var list))
                {
                    samples[(batch, v.Key)] = list = [];
                }

                list.Add(s);
            }
        }

        Console.Error.Write($"\rround {round + 1}/{options.Rounds}");
    }

    Console.Error.WriteLine();
    Report.Print(options, peer, engine.Name, variants, samples);
    return 0;
}
finally
{
    liveRing?.Dispose();
    engineRing?.Dispose();
    peer?.Dispose();
    work.Delete(recursive: true);
}

static Ring Open(IRingBackend backend, uint entries)
{
    var rc = Ring.Create(backend, entries, default, out var ring);
    return rc < 0 || ring is null ? throw new InvalidOperationException($"{backend.Name}: ring setup failed ({rc})") : ring;
}

/// <summary>One way of running the loop: a label for the table and a function from (batch, ops) to a sample.</summary>
internal sealed record Variant(string Key, string Label, Func<uint, long, Sample> Run);

internal sealed record Options(int Rounds, long Ops, uint[] Batches, uint Entries)
{
    public static Options? Parse(string[] args)
    {
        var o = new Options(15, 2_000_000, [1, 8, 32], 64);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            var value = args[i + 1];
            o = args[i] switch
            {
                "--rounds" => o with { Rounds = int.Parse(value, CultureInfo.InvariantCulture) },
                "--ops" => o with { Ops = long.Parse(value, CultureInfo.InvariantCulture) },
                "--batches" => o with { Batches = value.Split(',').Select(b => uint.Parse(b, CultureInfo.InvariantCulture)).ToArray() },
                "--entries" => o with { Entries = uint.Parse(value, CultureInfo.InvariantCulture) },
                _ => null,
            };
            if (o is null)
            {
                return null;
            }
        }

        var valid = args.Length % 2 == 0 && o.Rounds > 0 && o.Batches.Length > 0 && o.Batches.All(b => b > 0 && b <= o.Entries && b <= o.Ops);
        return valid ? o : null;
    }
}

/// <summary>
/// The liburing program: compiled from nop-liburing.c into the run's temporary directory and started
/// once; each sample is a line "BATCH OPS" on its stdin, answered with ns/op on its stdout.
/// </summary>
internal sealed class Peer : IDisposable
{
    private readonly Process process;

    private Peer(Process process, string liburingVersion, string gccVersion)
    {
        this.process = process;
        LiburingVersion = liburingVersion;
        GccVersion = gccVersion;
    }

    public string LiburingVersion { get; }

    public string GccVersion { get; }

    public static Peer Start(string directory, uint entries)
    {
        var source = Path.Combine(AppContext.BaseDirectory, "nop-liburing.c");
        var binary = Path.Combine(directory, "nop-liburing");
        var (rc, _, errors) = Exec("gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", binary, source, "-luring");
        if (rc != 0)
        {
            throw new InvalidOperationException($"building {source} failed (needs gcc and liburing-dev: apt-get install gcc liburing-dev):\n{errors}");
        }

        var version = Exec("dpkg-query", "-W", "-f=${Version}", "liburing-dev").Output.Trim();
        var gcc = Exec("gcc", "-dumpfullversion").Output.Trim();
        var start = new ProcessStartInfo(binary) { RedirectStandardInput = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(entries.ToString(CultureInfo.InvariantCulture));
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {binary}");
        return new Peer(process, version.Length > 0 ? version : "unknown", gcc);
    }

    public Sample Run(uint batch, long ops)
    {
        process.StandardInput.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{batch} {ops}"));
        process.StandardInput.Flush();
        var line = process.StandardOutput.ReadLine();
        if (line is null || !double.TryParse(line, NumberStyles.Float, CultureInfo.InvariantCulture, out var ns))
        {
            throw new InvalidOperationException($"nop-liburing failed on \"{batch} {ops}\" (its error is above): {line ?? "no answer"}");
        }

        return new Sample(ns, -1);
    }

    public void Dispose()
    {
        process.StandardInput.Close();
        if (!process.WaitForExit(10_000))
        {
            process.Kill();
        }

        process.Dispose();
    }

    private static (int Rc, string Output, string Errors) Exec(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments)
        {
            start.ArgumentList.Add(a);
        }

        try
        {
            using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
            var errors = process.StandardError.ReadToEndAsync();
            var output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, output, errors.Result);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, "", $"{file}: {e.Message}");
        }
    }
}

/// <summary>The markdown table for docs/benchmarks.md and the goals' verdicts.</summary>
internal static class Report
{
    private const double LiveGoal = 0.95;
    private const double EngineGoal = 4.0;

    public static void Print(Options options, Peer peer, string engineName, Variant[] variants, Dictionary<(uint Batch, string Variant), List<Sample>> samples)
    {
        var kernel = LiveKernel.Release;
        var cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown"
            : "unknown";
        Console.WriteLine($"NOPs, {options.Ops:N0} per sample, {options.Rounds} interleaved rounds, ring of {options.Entries} entries; kernel {kernel}, liburing {peer.LiburingVersion} (gcc {peer.GccVersion}), {RuntimeInformation.FrameworkDescription}, {Environment.ProcessorCount} cores ({cpu}); engine: {engineName}");
        Console.WriteLine();
        Console.WriteLine("| batch | path | ns/op (median) | ns/op (min-max) | ops/s (median) | vs liburing | allocated B/op (max) |");
        Console.WriteLine("|---|---|---|---|---|---|---|");

        var verdicts = new List<string>();
        var ratios = new Dictionary<(uint, string), double>();
        var maxBytes = 0.0;
        foreach (var batch in options.Batches)
        {
            var peerMedian = Median(samples[(batch, variants[0].Key)]);
            foreach (var v in variants)
            {
                var list = samples[(batch, v.Key)];
                var median = Median(list);
                var ratio = peerMedian / median;
                ratios[(batch, v.Key)] = ratio;
                var bytes = list.Max(s => s.BytesPerOp);
                maxBytes = Math.Max(maxBytes, bytes);
                var allocated = bytes < 0 ? "n/a" : bytes.ToString(bytes == 0 ? "0" : "0.###", CultureInfo.InvariantCulture);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {batch} | {v.Label} | {median:0.0} | {list.Min(s => s.NsPerOp):0.0}-{list.Max(s => s.NsPerOp):0.0} | {1e9 / median / 1e6:0.00} M | {ratio:0.00}x | {allocated} |"));
            }
        }

        Console.WriteLine();
        Console.WriteLine("\"vs liburing\" is throughput relative to liburing at the same batch (its median ns/op over ours): above 1 is faster.");
        Console.WriteLine();
        var liveRatios = options.Batches.Select(b => (Batch: b, Ratio: ratios[(b, "live")])).ToList();
        var liveMet = liveRatios.All(r => r.Ratio >= LiveGoal);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"- live kernel >= {LiveGoal:0.00}x liburing at every batch: {(liveMet ? "met" : "NOT met")} ({string.Join(", ", liveRatios.Select(r => string.Create(CultureInfo.InvariantCulture, $"batch {r.Batch}: {r.Ratio:0.000}x")))})"));
        var engineRatios = options.Batches.Select(b => (Batch: b, Ratio: ratios[(b, "engine")])).ToList();
        var engineMet = engineRatios.All(r => r.Ratio >= EngineGoal);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"- engine >= {EngineGoal:0}x liburing at every batch: {(engineMet ? "met" : "NOT met")} ({string.Join(", ", engineRatios.Select(r => string.Create(CultureInfo.InvariantCulture, $"batch {r.Batch}: {r.Ratio:0.000}x")))})"));

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"- zero allocations per operation (client on both backends, every measured sample): {(maxBytes == 0 ? "met" : "NOT met")} (max {maxBytes:0.###} B/op)"));
    }

    private static double Median(List<Sample> list)
    {
        var sorted = list.Select(s => s.NsPerOp).Order().ToArray();
        var mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
