using System.CommandLine;
using System.Diagnostics;
using IoUring.Abi.Headers;
using IoUring.Abi.Model;
using IoUring.Conformance.Vm;

namespace IoUring.Conformance.Cli;

/// <summary>
/// The trace corpus (conformance/corpus): 'record' keeps the kernels' traces of generated programs,
/// 'replay' holds the engine to them with no kernel at hand, and 'soak' runs new seeds on the kernels
/// and keeps every divergence it finds, shrunk, as a regression program.
/// </summary>
internal static class CorpusCommands
{
    private const int Differences = 2;
    private const int VmFailures = 4;

    public static readonly Option<string?> CorpusOption = new("--corpus")
    {
        Description = "The trace corpus folder (default: conformance/corpus of the repository)",
    };

    private static Argument<string[]> KernelsArgument() => new("kernel")
    {
        Description = "Kernels of the lock (e.g. 6.1 7.2) and/or 'host' (the host's kernel, in a supervised child); default: host and every locked kernel",
        Arity = ArgumentArity.ZeroOrMore,
    };

    public static Command Record()
    {
        var kernels = KernelsArgument();
        var seed = new Option<ulong>("--seed") { Description = "Generate the programs from this seed", DefaultValueFactory = _ => 7 };
        var cases = new Option<int>("--cases") { Description = "Programs per kernel", DefaultValueFactory = _ => 1000 };
        var parallel = new Option<int>("--parallel") { Description = "VMs booted at a time", DefaultValueFactory = _ => 2 };
        var from = new Option<string[]>("--from") { Description = "Record the programs of these corpus files instead (by their names; every kernel runs all of them), e.g. the regressions a soak kept elsewhere", AllowMultipleArgumentsPerToken = true };
        var cmd = new Command("record", "Run generated programs on the host's kernel (supervised child) and on each locked kernel under qemu, and keep every kernel's traces and probed profile in the trace corpus (conformance/corpus/<kernel>.jsonl.gz), which 'replay' and the test suite hold the engine to. Programs already in a kernel's file are kept; its profile is replaced by the new probe. Exit code: bit 2 some trace differs from the engine's (recorded all the same), bit 4 a VM failed.")
        {
            kernels, seed, cases, parallel, from, CorpusOption,
        };
        cmd.SetAction((r, cancel) => Commands.RunAsync(async () =>
        {
            var repo = Repo.FindWithAgent(r.GetValue(Commands.RepoOption), r.GetValue(CorpusOption) is null ? "the trace corpus (conformance/corpus)" : null);
            var (host, selected) = Select(repo, r.GetValue(kernels));
            var s = r.GetValue(seed);
            var n = r.GetValue(cases);
            if (n < 1)
            {
                throw new ToolException($"--cases {n}: record at least one program");
            }

            var opLast = SnapshotCorpus.OpLast(repo.Root);
            var (names, programs) = r.GetValue(from) is { Length: > 0 } files ? FromCorpusFiles(files) : SeedPrograms(opLast, s, n);
            var batch = new ProgramBatch { Programs = programs };
            var (matrix, runs) = await RunAll(repo, r.GetValue(Commands.CacheOption), batch, new ProgramSource(null, s, programs.Length, opLast), selected, host, r.GetValue(parallel), cancel);
            var rc = 0;
            foreach (var k in matrix.Kernels)
            {
                rc |= (k.Failed ? VmFailures : 0) | (k.Differences.Count > 0 ? Differences : 0);
            }

            RecordAll(CorpusDirectory(repo, r.GetValue(CorpusOption)), matrix, names, programs);
            return rc;
        }));
        return cmd;
    }

    public static Command Replay()
    {
        var kernels = new Argument<string[]>("kernel") { Description = "Kernels whose recorded traces to replay (file names in the corpus, e.g. 6.1 or host-6.18.44-fc-v1045); default: all", Arity = ArgumentArity.ZeroOrMore };
        var program = new Option<string?>("--program") { Description = "Only the program of this name (as 'record', 'soak' and this command print it), shown in full" };
        var cmd = new Command("replay", "Run every recorded program on the reference engine given the recorded profile of its kernel, and compare with the kernel's recorded trace: no io_uring and no qemu needed. Exit code: 0 all equal, 2 a trace differs.")
        {
            kernels, program, CorpusOption,
        };
        cmd.SetAction(r => Commands.Run(() =>
        {
            var repo = Repo.Find(r.GetValue(Commands.RepoOption));
            var dir = CorpusDirectory(repo, r.GetValue(CorpusOption));
            var files = TraceCorpus.Files(dir);
            var wanted = r.GetValue(kernels) ?? [];
            var unknown = wanted.Where(w => files.All(f => TraceCorpus.KernelOf(f) != w)).ToList();
            if (files.Count == 0 || unknown.Count > 0)
            {
                throw new ToolException($"{(files.Count == 0 ? $"no recorded traces in {dir}" : $"no recorded traces of {string.Join(", ", unknown)} in {dir}")} (it has: {string.Join(", ", files.Select(TraceCorpus.KernelOf).DefaultIfEmpty("none"))}); record them with 'io_uring-conformance record'");
            }

            var name = r.GetValue(program);
            var rc = 0;
            var found = false;
            foreach (var file in files.Where(f => wanted.Length == 0 || wanted.Contains(TraceCorpus.KernelOf(f))))
            {
                var corpus = LoadCorpus(file);
                var (results, elapsed) = corpus.Replay(name is null ? null : e => e.Name == name);
                found |= results.Count > 0;
                var different = results.Where(x => !x.Verdict.Equal).ToList();
                rc |= different.Count > 0 ? Differences : 0;
                Console.WriteLine($"{corpus.Header.Kernel,-24} {corpus.Header.Release,-30} {results.Count} programs, {results.Count - different.Count} equal, {different.Count} different, {elapsed.TotalSeconds:0.00} s ({results.Count / Math.Max(elapsed.TotalSeconds, 1e-6):0} programs/s)");
                foreach (var d in different.Take(name is null ? 10 : int.MaxValue))
                {
                    Console.WriteLine($"  DIFF '{d.Entry.Name}': {d.Verdict.Difference}");
                }

                foreach (var d in results.Where(_ => name is not null))
                {
                    Console.WriteLine(Differential.Describe(d.Verdict, $"{corpus.Header.Kernel} (recorded)"));
                }
            }

            if (name is not null && !found)
            {
                throw new ToolException($"no recorded program is named '{name}'");
            }

            return rc;
        }));
        return cmd;
    }

    public static Command Soak()
    {
        var kernels = KernelsArgument();
        var minutes = new Option<double>("--minutes") { Description = "Keep starting new rounds for this long", DefaultValueFactory = _ => 10 };
        var cases = new Option<int>("--cases") { Description = "Programs per round (each round is one new seed, one boot per kernel)", DefaultValueFactory = _ => 1000 };
        var parallel = new Option<int>("--parallel") { Description = "VMs booted at a time", DefaultValueFactory = _ => 2 };
        var seed = new Option<ulong?>("--seed") { Description = "The first round's seed (default: a new one); each later round takes the next" };
        var cmd = new Command("soak", "Run new seeds on the host's kernel (supervised child) and on each locked kernel under qemu until the time is up; every program whose kernel and engine traces differ is shrunk (inside its VM, or against the host's child), printed with its replay line, and added to the trace corpus as a regression program. Exit code: 0 nothing found, bit 2 divergences found, bit 4 a VM failed.")
        {
            kernels, minutes, cases, parallel, seed, CorpusOption,
        };
        cmd.SetAction((r, cancel) => Commands.RunAsync(async () =>
        {
            var repo = Repo.FindWithAgent(r.GetValue(Commands.RepoOption), r.GetValue(CorpusOption) is null ? "the trace corpus (conformance/corpus)" : null);
            var (host, selected) = Select(repo, r.GetValue(kernels));
            var n = r.GetValue(cases);
            if (n < 1)
            {
                throw new ToolException($"--cases {n}: a round runs at least one program");
            }

            var dir = CorpusDirectory(repo, r.GetValue(CorpusOption));
            var opLast = SnapshotCorpus.OpLast(repo.Root);
            var until = Stopwatch.StartNew();
            var next = r.GetValue(seed) ?? (ulong)Random.Shared.NextInt64(1, long.MaxValue);
            var totals = new Dictionary<string, (int Programs, int Divergences)>();
            var rc = 0;
            var rounds = 0;
            do
            {
                var s = next++;
                rounds++;
                var batch = new ProgramBatch { Programs = ProgramSampler.Sample(opLast, s, n), ShrinkBudget = 600 };
                Console.WriteLine($"round {rounds}: seed {s}, {n} programs on {(host ? "host, " : string.Empty)}{string.Join(", ", selected.Select(k => k.Kernel))}");
                var (matrix, _) = await RunAll(repo, r.GetValue(Commands.CacheOption), batch, new ProgramSource(null, s, n, opLast), selected, host, r.GetValue(parallel), cancel);
                foreach (var k in matrix.Kernels)
                {
                    rc |= k.Failed ? VmFailures : 0;
                    var ran = k.ProgramEqual.Count(x => x is not null);
                    var (programs, divergences) = totals.GetValueOrDefault(k.Kernel);
                    totals[k.Kernel] = (programs + ran, divergences + k.Differences.Count);
                    if (k.Failed)
                    {
                        Console.WriteLine($"  {k.Kernel}: FAILED: {string.Join("; ", k.Problems)}");
                    }

                    if (k.Differences.Count == 0 || k.Profile is null)
                    {
                        continue;
                    }

                    rc |= Differences;
                    var corpusName = k.Where == "host" ? TraceCorpus.HostName(k.Release ?? "unknown") : k.Kernel;
                    var found = k.Differences.Select(d =>
                    {
                        var v = d.Shrunk ?? d.Verdict;
                        return new CorpusEntry($"soak seed {s} #{d.Index}{(d.Shrunk is null ? string.Empty : " shrunk")}", v.Program, v.Kernel);
                    }).ToList();
                    var (path, added, _) = Keep(dir, k, found);
                    foreach (var (d, e) in k.Differences.Zip(found))
                    {
                        var v = d.Shrunk ?? d.Verdict;
                        Console.WriteLine($"  DIVERGENCE {k.Kernel}, {e.Name}: {v.Difference}");
                        Console.WriteLine($"    {v.Program.ToString().Replace("\n", "\n    ", StringComparison.Ordinal)}");
                        Console.WriteLine($"    replay: io_uring-conformance replay {corpusName} --program '{e.Name}'");
                    }

                    Console.WriteLine($"  {added} new regression program(s) in {Path.GetRelativePath(Environment.CurrentDirectory, path)}");
                }
            }
            while (until.Elapsed.TotalMinutes < r.GetValue(minutes));

            Console.WriteLine($"soak: {rounds} round(s) in {until.Elapsed.TotalMinutes:0.0} min");
            foreach (var (k, (programs, divergences)) in totals)
            {
                Console.WriteLine($"  {k,-8} {programs} programs, {divergences} divergence(s)");
            }

            return rc;
        }));
        return cmd;
    }

    /// <summary>Keeps each column's traces of a run's programs (named by <paramref name="names"/>) in its kernel's corpus file, and says what it did.</summary>
    public static void RecordAll(string dir, FeatureMatrix matrix, IReadOnlyList<string> names, IReadOnlyList<RingProgram> programs)
    {
        foreach (var k in matrix.Kernels)
        {
            if (k.Profile is null || k.Failed)
            {
                Console.WriteLine($"{k.Kernel,-8} not recorded: {string.Join("; ", k.Problems)}");
                continue;
            }

            // The corpus keeps one file per kernel, recorded by an x86_64 process: another architecture's
            // traces would land in the same file under the same program names.
            if (k.Target != Targets.X86_64)
            {
                Console.WriteLine($"{k.Name,-8} not recorded: the trace corpus holds x86_64 processes' traces only");
                continue;
            }

            // A column that brings no traces back (the C programs check theirs inside the VM) has nothing to keep.
            if (k.Traces.All(t => t is null))
            {
                Console.WriteLine($"{k.Name,-8} not recorded: no kernel traces came back from this column");
                continue;
            }

            var entries = k.Traces.Select((t, i) => t is null ? null : new CorpusEntry(names[i], programs[i], t)).OfType<CorpusEntry>();
            var (path, added, total) = Keep(dir, k, entries);
            Console.WriteLine($"{k.Kernel,-8} {k.Release,-30} {added} programs recorded ({total} in {Path.GetRelativePath(Environment.CurrentDirectory, path)}); engine: {k.ProgramEqual.Count(x => x == true)} equal, {k.Differences.Count} different");
            foreach (var d in k.Differences.Take(5))
            {
                Console.WriteLine($"         differs: '{names[d.Index]}', {(d.Shrunk ?? d.Verdict).Difference}");
            }
        }
    }

    /// <summary>The programs of a seed, named "seed S #i".</summary>
    public static (string[] Names, RingProgram[] Programs) SeedPrograms(uint opLast, ulong seed, int count) =>
        (Enumerable.Range(0, count).Select(i => $"seed {seed} #{i}").ToArray(), ProgramSampler.Sample(opLast, seed, count));

    /// <summary>
    /// The programs of corpus files, each once, by name; held to the generator's rules
    /// (<see cref="ProgramGen.Normalize"/>), since a program kept before a rule existed may race.
    /// </summary>
    private static (string[] Names, RingProgram[] Programs) FromCorpusFiles(IEnumerable<string> files)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var names = new List<string>();
        var programs = new List<RingProgram>();
        foreach (var file in files)
        {
            foreach (var e in LoadCorpus(file).Entries)
            {
                var program = ProgramGen.Normalize(e.Program);
                if (seen.Add(System.Text.Json.JsonSerializer.Serialize(program, CorpusJson.Default.RingProgram)))
                {
                    names.Add(e.Name);
                    programs.Add(program);
                }
            }
        }

        return (names.ToArray(), programs.ToArray());
    }

    /// <summary>The trace corpus folder: the given one, or the repository's conformance/corpus.</summary>
    public static string CorpusDirectory(Repo repo, string? given) => given is not null ? Path.GetFullPath(given) : Path.Combine(repo.Root, "conformance", "corpus");

    public static Command Stress()
    {
        var cases = new Option<int>("--cases") { Description = "Programs to run", DefaultValueFactory = _ => 20000 };
        var seed = new Option<ulong>("--seed") { Description = "Generate the programs from this seed", DefaultValueFactory = _ => 1 };
        var cmd = new Command("stress", "Run programs pushed toward the host kernel's waiting livelock (two- and four-slot CQE_MIXED rings, 32-byte CQEs piling up in the overflow list, waits) on the host through the supervised child, each against the engine: counts programs, those that reached the overflow list, divergences and stuck children. Exit code: bit 2 a divergence, bit 8 a child had to be freed.")
        {
            cases, seed,
        };
        cmd.SetAction(r => Commands.Run(() =>
        {
            var repo = Repo.FindWithAgent(r.GetValue(Commands.RepoOption));
            var n = r.GetValue(cases);
            if (n < 1)
            {
                throw new ToolException($"--cases {n}: run at least one program");
            }

            var s = r.GetValue(seed);
            var opLast = SnapshotCorpus.OpLast(repo.Root);
            var programs = ProgramSampler.Sample(opLast, s, n).Select(ProgramGen.TowardMixedOverflow).ToArray();
            var watch = Stopwatch.StartNew();
            using var host = SupervisedHost.Start(AgentBuild.Locate(repo.Root).EntryPath, msg => Console.Error.WriteLine(msg));
            int overflowed = 0, different = 0;
            for (var i = 0; i < programs.Length; i++)
            {
                var verdict = Differential.Check(programs[i], host);
                overflowed += verdict.Kernel.Steps.Any(st => (st.SqFlags & (uint)IoUring.Bindings.IoUringSqRingFlags.IORING_SQ_CQ_OVERFLOW) != 0) ? 1 : 0;
                if (!verdict.Equal)
                {
                    different++;
                    var shrunk = Differential.Shrink(verdict, p => Differential.Check(p, host), 600);
                    Console.WriteLine($"DIFFERENT: program {i} (seed {s}), shrunk in {shrunk.Candidates} candidates:\n{Differential.Describe(shrunk.Smallest, host.Name)}");
                }

                if ((i + 1) % 5000 == 0)
                {
                    Console.Error.WriteLine($"stress: {i + 1} programs, {watch.Elapsed.TotalSeconds:0} s");
                }
            }

            Console.WriteLine($"stress: {programs.Length} programs on {host.Release} (mixed-ring livelock profile: {host.Profile.MixedOverflowWaitSpins}) in {watch.Elapsed.TotalSeconds:0.0} s: {overflowed} reached the overflow list, {different} differ from the engine, {host.Incidents.Count} stuck child(ren) freed");
            foreach (var incident in host.Incidents)
            {
                Console.WriteLine($"  stuck: {incident}");
            }

            return (different > 0 ? Differences : 0) | (host.Incidents.Count > 0 ? 8 : 0);
        }));
        return cmd;
    }

    /// <summary>The host's kernel (supervised child) and the chosen kernels of the lock, each with the same programs, as the matrix runs them.</summary>
    private static Task<(FeatureMatrix Matrix, IReadOnlyList<VmRun> Runs)> RunAll(Repo repo, string? cacheDir, ProgramBatch batch, ProgramSource source, IReadOnlyList<LockedImage> kernels, bool host, int parallel, CancellationToken cancel)
    {
        var options = new QemuOptions { Timeout = TimeSpan.FromSeconds(300 + (0.5 * batch.Programs.Length)) };
        return new MatrixRunner(new VmCache(cacheDir), repo.Root, msg => Console.Error.WriteLine(msg)).RunAsync(kernels, [Targets.X86_64], batch, source, options, parallel, host, cancel);
    }

    /// <summary>"host" and the kernels of the lock named (all of them, and the host, when none is).</summary>
    private static (bool Host, IReadOnlyList<LockedImage> Kernels) Select(Repo repo, string[]? names)
    {
        var kernelLock = KernelImageLock.Load(repo.LockPath);
        if (names is null || names.Length == 0)
        {
            return (true, kernelLock.Select(null));
        }

        var host = names.Contains("host");
        var rest = names.Where(x => x != "host").ToArray();
        return (host, rest.Length == 0 ? [] : kernelLock.Select(rest));
    }

    /// <summary>Adds entries to a kernel's corpus file (created when missing; its header takes the new profile); returns the file, how many were new, and how many it holds.</summary>
    private static (string Path, int Added, int Total) Keep(string dir, KernelColumn k, IEnumerable<CorpusEntry> entries)
    {
        var name = k.Where == "host" ? TraceCorpus.HostName(k.Release ?? "unknown") : k.Kernel;
        var path = Path.Combine(dir, name + TraceCorpus.Extension);
        var header = new CorpusHeader(TraceCorpus.SchemaId, name, k.Where, k.Release ?? "unknown", k.Package, k.Profile!);
        var corpus = new TraceCorpus(header, File.Exists(path) ? LoadCorpus(path).Entries : []);
        var added = corpus.AddNew(entries);
        AtomicFile.WriteAllBytes(path, corpus.ToBytes());
        return (path, added, corpus.Entries.Count);
    }

    public static TraceCorpus LoadCorpus(string path)
    {
        try
        {
            return TraceCorpus.Load(path);
        }
        catch (InvalidDataException e)
        {
            throw new ToolException(e.Message);
        }
    }
}
