using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using IoUring.Abi.Headers;
using IoUring.Abi.Model;
using IoUring.Cli;
using IoUring.Conformance;
using IoUring.Conformance.Liburing;
using IoUring.Conformance.Vm;

namespace IoUring.Conformance.Cli;

internal static class Commands
{
    /// <summary>Candidates the agent tries, inside the VM, when it shrinks a program whose traces differ.</summary>
    private const int ShrinkBudget = 300;

    /// <summary>Exit code bits of 'vm run': traces differ from the engine; a VM failed (panic, hang, lost output).</summary>
    private const int Differences = 2;
    private const int VmFailures = 4;

    public static readonly Option<string?> RepoOption = new("--repo")
    {
        Description = "Repository root (holds conformance/kernels.lock.json); default: found upward from the current folder",
        Recursive = true,
    };

    public static readonly Option<string?> CacheOption = new("--cache")
    {
        Description = "Cache folder (default: $IO_URING_CODEGEN_CACHE or ~/.cache/io_uring-codegen, shared with the header corpus)",
        Recursive = true,
    };

    public static Command Kernels()
    {
        var locked = new Option<bool>("--locked") { Description = "Fetch exactly the versions in the lock (verify hashes); never change the lock" };
        var kernels = new Option<string[]>("--kernel") { Description = "Only these kernels (repeatable); default: every kernel of the lock", AllowMultipleArgumentsPerToken = true };
        var fetch = new Command("fetch", "Download each kernel's image package (linux-image-cloud-amd64 of its Debian suite) through the machine's mirror, keep vmlinuz in the cache, and update conformance/kernels.lock.json (works offline from the cache).")
        {
            locked, kernels,
        };
        fetch.SetAction(r => Run(() =>
        {
            var repo = Repo.Find(r.GetValue(RepoOption));
            var kernelLock = KernelImageLock.Load(repo.LockPath);
            // An installed tool's lock is part of the tool: it fetches what its lock names and never moves it.
            var mode = r.GetValue(locked) || Checkout.IsBundled(repo.Root) ? FetchMode.Locked : FetchMode.Refresh;
            var reports = TerminalProgress.Run("kernels fetch", Console.Error, log => new KernelImageFetcher(new VmCache(r.GetValue(CacheOption)), log).Fetch(kernelLock, mode, r.GetValue(kernels)));
            foreach (var rep in reports)
            {
                Console.WriteLine($"{rep.Kernel,-12} {rep.Status,-9} {rep.Detail}");
            }

            if (mode == FetchMode.Refresh && reports.Any(x => x.Changed))
            {
                AtomicFile.WriteAllText(repo.LockPath, kernelLock.ToJson());
                Console.WriteLine($"lock updated: {Path.GetRelativePath(Environment.CurrentDirectory, repo.LockPath)} ({string.Join(", ", reports.Where(x => x.Changed).Select(x => x.Kernel))})");
            }
            else
            {
                Console.WriteLine("lock unchanged");
            }

            return 0;
        }));

        var list = new Command("list", "The kernels of the lock and whether each image is in the cache.");
        list.SetAction(r => Run(() =>
        {
            var repo = Repo.Find(r.GetValue(RepoOption));
            var cache = new VmCache(r.GetValue(CacheOption));
            foreach (var k in KernelImageLock.Load(repo.LockPath).Kernels)
            {
                var state = cache.TryGetVerified(k, out var problem) is { } path ? $"cached {path}" : $"not ready: {problem}";
                Console.WriteLine($"{k.Name,-12} {k.Suite,-13} {k.Version ?? "-",-18} {k.Release ?? "-",-30} {state}");
            }

            return 0;
        }));
        return new Command("kernels", "The kernels the VMs boot: conformance/kernels.lock.json and the cached images.") { fetch, list };
    }

    public static Command Vm()
    {
        var kernels = new Argument<string[]>("kernel") { Description = "Kernels of the lock to boot (e.g. 7.2 6.1), or 'all' (default)", Arity = ArgumentArity.ZeroOrMore };
        var programs = new Option<string?>("--programs") { Description = "A batch file of programs (as written by 'programs' or 'vm run --output')" };
        var seed = new Option<ulong?>("--seed") { Description = "Generate the programs from this seed (default: a new seed, printed)" };
        var cases = new Option<int>("--cases") { Description = "Number of programs to generate", DefaultValueFactory = _ => 200 };
        var opLast = new Option<uint?>("--op-last") { Description = "IORING_OP_LAST the generator uses for unknown opcodes (default: the largest of the corpus's snapshots)" };
        var output = new Option<string?>("--output", "-o") { Description = "Write the whole run (programs, profiles, traces, problems, differential, console logs) as JSON here" };
        var logs = new Option<string?>("--logs") { Description = "Write each VM's console log to DIR/<kernel>.console.log" };
        var parallel = new Option<int>("--parallel") { Description = "VMs booted at a time", DefaultValueFactory = _ => 2 };
        var timeout = new Option<double?>("--timeout") { Description = "Watchdog per VM in seconds (default: 180 + 0.5 per program; a boot takes 10-30 s, more on a loaded host)" };
        var noEngine = new Option<bool>("--no-engine") { Description = "Boot and collect the traces only; no differential against the reference engine" };
        var kernelArgs = new Option<string?>("--kernel-args") { Description = "More kernel command-line parameters, to look inside a run (e.g. 'trace_event=io_uring:* tp_printk loglevel=8' prints io_uring's tracepoints on the console; see --logs)" };
        var arch = new Option<string[]>("--arch") { Description = "The architectures whose kernels boot: x86_64 (default), arm64", DefaultValueFactory = _ => ["x86_64"], AllowMultipleArgumentsPerToken = true };
        var run = new Command("run", "Boot each kernel once under qemu (software emulation), run the programs on it with the conformance agent, and compare every trace with the reference engine given that kernel's probed profile. Exit code: 0 all equal; bit 2 traces differ; bit 4 a VM failed (panic, hang, oops, lost output); 1 error.")
        {
            kernels, programs, seed, cases, opLast, output, logs, parallel, timeout, noEngine, arch, kernelArgs,
        };
        run.SetAction((r, cancel) => RunAsync(async () =>
        {
            var repo = Repo.FindWithAgent(r.GetValue(RepoOption));
            var cache = new VmCache(r.GetValue(CacheOption));
            var kernelLock = KernelImageLock.Load(repo.LockPath);
            var selected = kernelLock.Select(r.GetValue(kernels), r.GetValue(arch)!.Select(Targets.KernelArchOf).ToList());
            var (batch, source) = LoadOrGenerate(repo, r.GetValue(programs), r.GetValue(seed), r.GetValue(cases), r.GetValue(opLast), r.GetResult(cases) is { Implicit: false });
            var options = new QemuOptions { Timeout = TimeSpan.FromSeconds(r.GetValue(timeout) ?? (180 + (0.5 * batch.Programs.Length))) };
            if (r.GetValue(kernelArgs) is { } extra)
            {
                options = options with { KernelCommandLine = $"{options.KernelCommandLine} {extra}" };
            }

            var watch = Stopwatch.StartNew();
            var runs = await TerminalProgress.RunAsync($"vm run: {selected.Count} kernels, {batch.Programs.Length} programs", Console.Error, log => new KernelBoots(cache, repo.Root, log).RunAsync(selected, batch, options, r.GetValue(parallel), cancel));
            var wall = watch.Elapsed;

            var reports = new List<KernelRunReport>();
            var rc = 0;
            foreach (var vm in runs)
            {
                var diff = r.GetValue(noEngine) ? null : VmDifferential.Compare(vm, batch.Programs);
                reports.Add(RunReport.For(vm, diff));
                rc |= (vm.Failed ? VmFailures : 0) | (diff is { Different: > 0 } or { PacedOtherwise.Count: > 0 } ? Differences : 0);
                Print(vm, diff, source);
            }

            var failed = runs.Count(x => x.Failed);
            var differing = reports.Count(x => x.Differential is { Different: > 0 });
            Console.WriteLine($"{runs.Count} kernel(s), {batch.Programs.Length} programs each, {wall.TotalSeconds:0.0} s ({r.GetValue(parallel)} at a time): {failed} VM failure(s){(r.GetValue(noEngine) ? string.Empty : $", {differing} kernel(s) differ from the engine")}");
            if (source.Seed is { } s)
            {
                Console.WriteLine($"replay: io_uring-conformance vm run {string.Join(' ', selected.Select(k => k.Kernel).Distinct())}{(r.GetValue(arch) is ["x86_64"] ? string.Empty : " --arch " + string.Join(' ', r.GetValue(arch)!))} --seed {s} --cases {source.Cases}{(r.GetValue(opLast) is { } o ? $" --op-last {o}" : string.Empty)}");
            }

            if (r.GetValue(logs) is { } dir)
            {
                Directory.CreateDirectory(dir);
                foreach (var vm in runs)
                {
                    AtomicFile.WriteAllText(Path.Combine(dir, $"{vm.Kernel.Replace(' ', '-')}.console.log"), vm.Console);
                }
            }

            if (r.GetValue(output) is { } file)
            {
                var report = new RunReport(RunReport.SchemaId, source, batch.Programs, reports);
                AtomicFile.WriteAllText(file, JsonSerializer.Serialize(report, ReportJson.Default.RunReport) + "\n");
                Console.Error.WriteLine($"wrote {file}");
            }

            return rc;
        }));
        var checkKernels = new Argument<string[]>("kernel") { Description = "Kernels of the lock to check (default: all)", Arity = ArgumentArity.ZeroOrMore };
        var check = new Command("check", "List what booting the VMs needs and is missing on this machine, with how to get each (exit 1 when something is missing).") { checkKernels };
        check.SetAction(r => Run(() =>
        {
            var repo = Repo.Find(r.GetValue(RepoOption));
            var missing = VmPrerequisites.Missing(repo.Root, new VmCache(r.GetValue(CacheOption)), r.GetValue(checkKernels) ?? []);
            foreach (var m in missing)
            {
                Console.WriteLine($"missing: {m}");
            }

            Console.WriteLine(missing.Count == 0 ? "ready: every prerequisite of 'vm run' is present" : $"{missing.Count} prerequisite(s) missing");
            return missing.Count == 0 ? 0 : 1;
        }));
        return new Command("vm", "The conformance VMs.") { run, check };
    }

    public static Command Matrix()
    {
        var kernels = new Argument<string[]>("kernel") { Description = "Kernels of the lock to boot (e.g. 7.2 6.1), or 'all' (default)", Arity = ArgumentArity.ZeroOrMore };
        var programs = new Option<string?>("--programs") { Description = "A batch file of programs (as written by 'programs'); its hostile cases too" };
        var seed = new Option<ulong?>("--seed") { Description = "Generate the programs and hostile cases from this seed (default: a new seed, printed)" };
        var cases = new Option<int>("--cases") { Description = "Number of programs to generate", DefaultValueFactory = _ => 200 };
        var hostile = new Option<int>("--hostile") { Description = "Number of hostile cases (random SQE bytes) each VM runs on its kernel and on the engine", DefaultValueFactory = _ => 300 };
        var opLast = new Option<uint?>("--op-last") { Description = "IORING_OP_LAST the generator uses for unknown opcodes (default: the largest of the corpus's snapshots)" };
        var outDir = new Option<string>("--out", "-o") { Description = "Write matrix.md, matrix.json and matrix.svg into this folder", DefaultValueFactory = _ => "conformance-matrix" };
        var noHost = new Option<bool>("--no-host") { Description = "Leave out the host's own kernel" };
        var parallel = new Option<int>("--parallel") { Description = "VMs booted at a time", DefaultValueFactory = _ => 2 };
        var timeout = new Option<double?>("--timeout") { Description = "Watchdog per VM in seconds (default: 180 + 0.5 per program and hostile case)" };
        var logs = new Option<string?>("--logs") { Description = "Write each VM's console log to DIR/<kernel>.console.log" };
        var record = new Option<string?>("--record") { Description = "Also keep every kernel's traces of the programs in the trace corpus in DIR (the repository's is conformance/corpus; see 'record')" };
        var arch = new Option<string[]>("--arch")
        {
            Description = $"Architectures to run the programs as, each booted kernel once per architecture ({string.Join(", ", Targets.All.Select(a => a.Arch))}; default x86_64). The host's column is x86_64",
            AllowMultipleArgumentsPerToken = true,
            DefaultValueFactory = _ => ["x86_64"],
        };
        var liburing = new Option<bool>("--liburing") { Description = "Also run liburing's own test suite on the host's kernel and on the engine given its probed profile: the host column's liburing rows, and liburing.md and liburing.json beside the matrix (about 6 min)" };
        var cmd = new Command("matrix", "Run the same programs on the host's kernel and on each locked kernel under qemu (plus hostile SQE bytes inside each VM), compare every trace with the reference engine, and write the kernels x features matrix as markdown, JSON and SVG. Exit code: 0 every cell agrees; bit 2 a cell fails; bit 4 a VM failed; 1 error.")
        {
            kernels, programs, seed, cases, hostile, opLast, outDir, noHost, parallel, timeout, logs, record, arch, liburing,
        };
        cmd.SetAction((r, cancel) => RunAsync(async () =>
        {
            var repo = Repo.FindWithAgent(r.GetValue(RepoOption));
            var cache = new VmCache(r.GetValue(CacheOption));
            var archs = (r.GetValue(arch) ?? []).Distinct().ToList();
            var targets = archs.Select(Targets.FromArch).ToList();
            // The images every target runs on: its own architecture's kernels (a 32-bit process: x86_64's).
            var selected = KernelImageLock.Load(repo.LockPath).Select(r.GetValue(kernels), targets.Select(t => Targets.All.First(a => a.Target == t).DebianArch).Distinct().ToList());
            if (r.GetValue(hostile) < 0)
            {
                throw new ToolException($"--hostile {r.GetValue(hostile)}: the number of hostile cases must be 0 or more");
            }

            var (batch, source) = LoadOrGenerate(repo, r.GetValue(programs), r.GetValue(seed), r.GetValue(cases), r.GetValue(opLast), r.GetResult(cases) is { Implicit: false }, r.GetValue(hostile));
            var options = new QemuOptions { Timeout = TimeSpan.FromSeconds(r.GetValue(timeout) ?? (180 + (0.5 * (batch.Programs.Length + batch.Hostile.Length)))) };
            LiburingReport? liburingReport = null;
            var (matrix, runs) = await TerminalProgress.RunAsync($"matrix: {selected.Count} kernels{(r.GetValue(noHost) ? string.Empty : " and the host")}, {batch.Programs.Length} programs", Console.Error, log => new MatrixRunner(cache, repo.Root, log)
            {
                HostLiburing = r.GetValue(liburing) ? profile => (liburingReport = LiburingCommands.RunForMatrix(repo.Root, r.GetValue(CacheOption), profile, log)).Summary() : null,
            }.RunAsync(selected, targets, batch, source, options, r.GetValue(parallel), !r.GetValue(noHost), cancel));

            var dir = r.GetValue(outDir)!;
            WriteMatrix(dir, matrix);
            if (liburingReport is not null)
            {
                LiburingCommands.Write(liburingReport, dir);
            }

            if (r.GetValue(logs) is { } logDir)
            {
                Directory.CreateDirectory(logDir);
                foreach (var vm in runs)
                {
                    AtomicFile.WriteAllText(Path.Combine(logDir, $"{vm.Kernel.Replace(' ', '-')}.console.log"), vm.Console);
                }
            }

            if (r.GetValue(record) is { } corpus)
            {
                var names = batch.Programs.Select((_, i) => source.Seed is { } s ? $"seed {s} #{i}" : $"{Path.GetFileName(source.File)} #{i}").ToArray();
                CorpusCommands.RecordAll(CorpusCommands.CorpusDirectory(repo, corpus), matrix, names, batch.Programs);
            }

            PrintMatrix(matrix, dir);
            if (source.Seed is { } s)
            {
                var archText = archs.SequenceEqual(["x86_64"]) ? string.Empty : $" --arch {string.Join(' ', archs)}";
                Console.WriteLine($"replay: io_uring-conformance matrix {string.Join(' ', selected.Select(k => k.Kernel).Distinct())} --seed {s} --cases {source.Cases} --hostile {batch.Hostile.Length}{archText}");
            }

            return (runs.Any(x => x.Failed) ? VmFailures : 0) | (matrix.AnyFail ? Differences : 0);
        }));
        cmd.Subcommands.Add(MergeCommand());
        return cmd;
    }

    /// <summary>
    /// 'matrix merge': shards (matrix runs of one batch on different kernels or architectures, on
    /// different machines) joined into the report one run of all their columns writes.
    /// </summary>
    private static Command MergeCommand()
    {
        var shards = new Argument<string[]>("shard") { Description = "The matrix.json of each shard (or the folder holding it)", Arity = ArgumentArity.OneOrMore };
        var outDir = new Option<string>("--out", "-o") { Description = "Write the merged matrix.md, matrix.json and matrix.svg into this folder", DefaultValueFactory = _ => "conformance-matrix" };
        var cmd = new Command("merge", "Join matrix shards (runs of the same programs on other kernels or architectures) into one matrix, as one run of all their columns would have written it. Refuses shards of other programs, of another schema, or holding the same column. Exit code as 'matrix'.")
        {
            shards, outDir,
        };
        cmd.SetAction(r => Run(() =>
        {
            var repo = Repo.Find(r.GetValue(RepoOption));
            var read = r.GetValue(shards)!.Select(p => (Path: p, Matrix: MatrixMerge.Read(p))).ToList();
            MatrixMerge.CheckSameSource(read);

            // The programs exactly as the shards' 'matrix' had them: regenerated from the seed, or read from the file.
            var source = read[0].Matrix.Source;
            var programs = source.Seed is { } seed
                ? LoadOrGenerate(repo, null, seed, source.Cases, source.OpLast, true, read[0].Matrix.HostileCases).Batch.Programs
                : LoadOrGenerate(repo, source.File, null, 0, null, false).Batch.Programs;
            var kernelOrder = KernelImageLock.Load(repo.LockPath).Kernels.Select(k => k.Kernel).ToList();
            var matrix = MatrixMerge.Merge(read, programs, kernelOrder, MatrixRunner.OpLast(source, repo.Root), MatrixRunner.MmapOpcode(repo.Root));

            var dir = r.GetValue(outDir)!;
            WriteMatrix(dir, matrix);
            Console.WriteLine($"merged {read.Count} shard(s): {string.Join(", ", matrix.Kernels.Select(k => k.Name))}");
            PrintMatrix(matrix, dir);
            return (matrix.Kernels.Any(k => k.Failed) ? VmFailures : 0) | (matrix.AnyFail ? Differences : 0);
        }));
        return cmd;
    }

    private static void WriteMatrix(string dir, FeatureMatrix matrix)
    {
        Directory.CreateDirectory(dir);
        AtomicFile.WriteAllText(Path.Combine(dir, "matrix.json"), MatrixRender.Json(matrix));
        AtomicFile.WriteAllText(Path.Combine(dir, "matrix.svg"), MatrixRender.Svg(matrix));
        AtomicFile.WriteAllText(Path.Combine(dir, "matrix.md"), MatrixRender.Markdown(matrix));
    }

    /// <summary>The columns, the cell counts, every failing cell and the hostile verdicts, as 'matrix' and 'matrix merge' print them.</summary>
    private static void PrintMatrix(FeatureMatrix matrix, string dir)
    {
        foreach (var k in matrix.Kernels)
        {
            Console.WriteLine($"{k.Name,-20} {k.Where,-5} {k.Release ?? "?",-30} {(k.Failed ? "FAILED" : "ok"),-7} {k.Seconds,6:0.0} s{(k.Failed ? ": " + string.Join("; ", k.Problems) : string.Empty)}");
        }

        var cells = matrix.Rows.SelectMany(x => x.Cells).ToList();
        Console.WriteLine($"{matrix.Rows.Count} features x {matrix.Kernels.Count} kernels: "
            + string.Join(", ", Enum.GetValues<CellState>().Select(st => $"{cells.Count(c => c.State == st)} {MatrixRender.StateName(st)}")));
        foreach (var row in matrix.Rows)
        {
            foreach (var (cell, k) in row.Cells.Zip(matrix.Kernels).Where(x => x.First.State == CellState.Fail))
            {
                Console.WriteLine($"FAIL {k.Name}, {row.Name}: {cell.Detail}");
            }
        }

        foreach (var (k, c) in matrix.Kernels.Zip(matrix.HostileRow.Cells).Where(x => x.First.Hostile is not null))
        {
            Console.WriteLine($"hostile {k.Name}: {c.Detail}");
        }

        Console.WriteLine($"wrote {Path.Combine(dir, "matrix.md")}, matrix.json, matrix.svg ({matrix.WallSeconds:0} s)");
    }

    public static Command Behaviours()
    {
        var write = new Option<bool>("--write") { Description = "Rewrite the kernel behaviour section of docs/engine.md from the table instead of printing it" };
        var cmd = new Command("behaviours", "Print the kernel-behaviour table: what kernels do differently where their UAPI header cannot say, by kernel version, with how the probe asks a live kernel (markdown).")
        {
            write,
        };
        cmd.SetAction(r => Run(() =>
        {
            if (!r.GetValue(write))
            {
                Console.Write(BehaviourTableDoc.Render());
                return 0;
            }

            var path = Path.Combine(Repo.Find(r.GetValue(RepoOption), "docs/engine.md").Root, "docs", "engine.md");
            var text = File.ReadAllText(path);
            string updated;
            try
            {
                updated = BehaviourTableDoc.Write(text, path);
            }
            catch (InvalidDataException e)
            {
                throw new ToolException(e.Message);
            }

            if (updated != text)
            {
                AtomicFile.WriteAllText(path, updated);
            }

            Console.WriteLine($"{path}: kernel behaviour section {(updated == text ? "unchanged" : "written")}");
            return 0;
        }));
        return cmd;
    }

    public static Command Programs()
    {
        var seed = new Option<ulong>("--seed") { Description = "Generator seed", DefaultValueFactory = _ => 1 };
        var cases = new Option<int>("--cases") { Description = "Number of programs", DefaultValueFactory = _ => 200 };
        var opLast = new Option<uint?>("--op-last") { Description = "IORING_OP_LAST for unknown opcodes (default: the largest of the corpus's snapshots)" };
        var output = new Option<string?>("--output", "-o") { Description = "Write the batch here (atomically); default: standard output" };
        var hostile = new Option<int>("--hostile") { Description = "Also this many hostile cases (the ones 'matrix --seed S --hostile N' runs)", DefaultValueFactory = _ => 0 };
        var cmd = new Command("programs", "Write a batch of generated programs (the same ones 'vm run --seed S --cases N' runs), to edit or replay with 'vm run --programs' or 'matrix --programs'.")
        {
            seed, cases, opLast, output, hostile,
        };
        cmd.SetAction(r => Run(() =>
        {
            var repo = Repo.Find(r.GetValue(RepoOption));
            var (batch, _) = LoadOrGenerate(repo, null, r.GetValue(seed), r.GetValue(cases), r.GetValue(opLast), false, r.GetValue(hostile));
            var json = JsonSerializer.Serialize(batch, ReportJson.Default.ProgramBatch) + "\n";
            if (r.GetValue(output) is { } o)
            {
                AtomicFile.WriteAllText(o, json);
                Console.Error.WriteLine($"wrote {o}: {batch.Programs.Length} programs, {batch.Hostile.Length} hostile cases");
            }
            else
            {
                Console.Out.Write(json);
            }

            return 0;
        }));
        return cmd;
    }

    private static (ProgramBatch Batch, ProgramSource Source) LoadOrGenerate(Repo repo, string? file, ulong? seed, int cases, uint? opLast, bool casesGiven, int hostile = 0)
    {
        if (file is not null)
        {
            if (seed is not null || casesGiven || opLast is not null)
            {
                throw new ToolException("--programs runs the programs of a file; --seed, --cases and --op-last generate them: give one or the other");
            }

            var fromFile = ReadBatch(file);
            return (new ProgramBatch { Programs = fromFile.Programs, Hostile = fromFile.Hostile, ShrinkBudget = fromFile.ShrinkBudget > 0 ? fromFile.ShrinkBudget : ShrinkBudget }, new ProgramSource(Path.GetFullPath(file), null, 0, null));
        }

        if (cases < 0 || hostile < 0)
        {
            throw new ToolException(cases < 0 ? $"--cases {cases}: the number of programs must be 0 or more" : $"--hostile {hostile}: the number of hostile cases must be 0 or more");
        }

        var s = seed ?? (ulong)Random.Shared.NextInt64(1, long.MaxValue);
        var last = opLast ?? SnapshotCorpus.OpLast(repo.Root);
        var generated = ProgramSampler.Sample(last, s, cases);
        return (new ProgramBatch { Programs = generated, Hostile = ProgramSampler.SampleHostile(last, s, hostile), ShrinkBudget = ShrinkBudget }, new ProgramSource(null, s, cases, last));
    }

    public static ProgramBatch ReadBatch(string file)
    {
        if (!File.Exists(file))
        {
            throw new ToolException($"{file}: no such program file; write one with 'io_uring-conformance programs -o {file}'");
        }

        try
        {
            var batch = JsonSerializer.Deserialize(File.ReadAllText(file), AgentJson.Default.ProgramBatch)
                ?? throw new ToolException($"{file}: the file holds null; expected {{\"Schema\": \"{ProgramBatch.SchemaId}\", \"Programs\": [...]}}");
            if (batch.Schema != ProgramBatch.SchemaId)
            {
                throw new ToolException($"{file}: schema is '{batch.Schema}', expected '{ProgramBatch.SchemaId}'; write the batch with 'io_uring-conformance programs'");
            }

            for (var i = 0; i < batch.Hostile.Length; i++)
            {
                if (Hostile.Problem(batch.Hostile[i]) is { } problem)
                {
                    throw new ToolException($"{file}: hostile case {i}: {problem}; write hostile cases with 'io_uring-conformance programs --hostile N'");
                }
            }

            return batch;
        }
        catch (JsonException e)
        {
            var where = e.LineNumber is { } line ? $"{file}:{line + 1}:{(e.BytePositionInLine ?? 0) + 1}" : file;
            throw new ToolException($"{where}: not a program batch ({e.Message}); expected {{\"Schema\": \"{ProgramBatch.SchemaId}\", \"Programs\": [...]}} as 'io_uring-conformance programs' writes it");
        }
    }

    private static void Print(VmRun vm, DifferentialReport? diff, ProgramSource source)
    {
        var phases = BootPhases.Of(vm);
        Console.WriteLine($"{vm.Kernel,-12} {vm.Hello?.Kernel ?? vm.Release ?? "?",-30} {(vm.Failed ? "FAILED" : "ok"),-7} {phases}");
        if (vm.Hello?.Profile is { } p)
        {
            Console.WriteLine($"         profile: setup flags 0x{p.SetupFlags:x}, features 0x{p.Features:x}, {p.OpLast} opcodes, nop flags 0x{p.NopFlags:x}");
        }

        if (vm.Hello?.Layout is { } layout)
        {
            Console.WriteLine($"         layout: {layout.Count(f => f.Equal)} of {layout.Count} facts as the bindings say");
            foreach (var f in layout.Where(f => !f.Equal))
            {
                Console.WriteLine($"           {f}");
            }
        }

        foreach (var problem in vm.Problems)
        {
            Console.WriteLine($"         problem: {Indent(problem, 18)}");
        }

        foreach (var note in vm.Notes)
        {
            Console.WriteLine($"         note: {Indent(note, 15)}");
        }

        if (vm.Failed)
        {
            Console.WriteLine("         console (last 30 lines):");
            foreach (var line in vm.ConsoleTail(30).Split('\n'))
            {
                Console.WriteLine($"           | {line}");
            }
        }

        var threw = vm.Results.Count(x => x?.Error is not null);
        if (threw > 0)
        {
            var first = vm.Results.First(x => x?.Error is not null)!;
            Console.WriteLine($"         {threw} program(s) threw in the agent; first, program {first.Index}: {Indent(first.Error!.Split('\n')[0], 18)}");
        }

        if (diff is null)
        {
            return;
        }

        Console.WriteLine($"         engine: {diff.Programs} programs, {diff.Equal} equal, {diff.Different} different{(diff.NotCompared > 0 ? $", {diff.NotCompared} not compared ({diff.NotComparedWhy})" : string.Empty)}");
        if (diff.PacedOtherwise.Count > 0)
        {
            Console.WriteLine($"         problem: {MatrixRunner.PacingProblem(diff)}");
        }

        if (diff.First is { } d)
        {
            var name = source.Seed is { } s ? $"program {d.Index} (seed {s})" : $"program {d.Index} of {source.File}";
            var v = d.Shrunk ?? d.Verdict;
            Console.WriteLine($"         first difference: {name}{(d.Shrunk is null ? string.Empty : $", shrunk in {d.ShrinkCandidates} candidates")}, {v.Difference}");
            Console.WriteLine($"           program: {Indent(v.Program.ToString(), 20)}");
            Console.WriteLine($"           kernel:  {v.Difference?.Kernel ?? "(trace ended)"}");
            Console.WriteLine($"           engine:  {v.Difference?.Engine ?? "(trace ended)"}");
            if (vm.Results[d.Index]?.EngineReady is { } paced)
            {
                var here = d.Verdict.Ready;
                Console.WriteLine($"           pacing:  {(paced.SequenceEqual(here) ? "as the engine here computes it" : $"the engine in the VM paced the kernel by [{string.Join(' ', paced)}], the engine here computes [{string.Join(' ', here)}]")}");
                if (vm.Results[d.Index]?.EngineTrace is { } there)
                {
                    Console.WriteLine($"           engine in the VM: {Indent(there.ToString(), 28)}");
                }
            }

            if (diff.Differences.Count > 1)
            {
                Console.WriteLine($"           also: programs {string.Join(", ", diff.Differences.Skip(1).Take(12).Select(x => x.Index))}{(diff.Differences.Count > 13 ? ", ..." : string.Empty)}");
            }
        }
    }

    private static string Indent(string text, int by) => text.Replace("\n", "\n" + new string(' ', by), StringComparison.Ordinal);

    /// <summary>Runs a command's body; a user's error (bad input, a missing file) is printed as "error: ..." with exit code 1.</summary>
    internal static int Run(Func<int> body) => RunAsync(() => Task.FromResult(body())).GetAwaiter().GetResult();

    internal static async Task<int> RunAsync(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (Exception e) when (e is ToolException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }
}

/// <summary>Where the repository keeps the conformance inputs.</summary>
internal sealed record Repo(string Root)
{
    public string LockPath => Path.Combine(Root, "conformance", KernelImageLock.FileName);

    /// <summary>The checkout (or an installed tool's bundled corpus); <paramref name="writes"/> names what the command writes into it.</summary>
    public static Repo Find(string? given, string? writes = null) => new(Checkout.ForTool(given, Path.Combine("conformance", KernelImageLock.FileName), writes));

    /// <summary>
    /// As <see cref="Find"/>, for a command that runs programs on kernels: the conformance agent must be
    /// there before any VM boots or the host is asked, so a missing one is the first and only error.
    /// </summary>
    public static Repo FindWithAgent(string? given, string? writes = null)
    {
        var repo = Find(given, writes);
        AgentBuild.Locate(repo.Root);
        return repo;
    }
}
