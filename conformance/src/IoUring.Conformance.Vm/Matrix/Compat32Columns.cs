using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using IoUring.Abi.Headers;
using IoUring.Abi.Model;
using IoUring.Engine;

namespace IoUring.Conformance.Vm;

/// <summary>
/// A matrix program as a 32-bit C program for one kernel: the expectation it checks (<see cref="Reproducer"/>),
/// and the binary built from it, or why there is none.
/// </summary>
public sealed record Compat32Program(int Index, RingProgram Program, CReproducer Reproducer)
{
    /// <summary>The i686 executable (in the build cache), or null when the program could not be built.</summary>
    public string? Binary { get; init; }

    /// <summary>Why there is no binary: the expected trace cannot be exported, or the compiler refused the C.</summary>
    public string? Problem { get; init; }

    /// <summary>Its name in the VM (and in the console's reports).</summary>
    public string Name => string.Create(CultureInfo.InvariantCulture, $"program-{Index:D4}");
}

/// <summary>
/// One kernel's 32-bit column before it runs: the profile the expectations come from (the kernel's ABI
/// snapshot for i686), the profile the column's cells are decided with (the probed one when there is
/// one), and each program's reproducer.
/// </summary>
public sealed record Compat32Plan(LockedImage Kernel, KernelProfile EngineProfile, KernelProfile ColumnProfile, IReadOnlyList<Compat32Program> Programs);

/// <summary>
/// The matrix's columns for 32-bit processes on x86_64 kernels (the compat syscall path: io_uring's UAPI
/// is meant to be the same for both). No .NET runtime exists for linux-x86, so the agent cannot run as
/// one: each program of the batch is exported with <see cref="CExport"/>, expecting what the reference
/// engine does given the kernel's i686 snapshot profile, built with i686-linux-gnu-gcc against the
/// kernel's own UAPI headers, and run in one boot of the kernel by <see cref="CProgramVm"/>. Each program
/// checks its own trace; what comes back is its exit and the first difference it printed.
/// <para>
/// The binaries are dynamically linked, with the cross C library's loader and libc.so.6 in the image:
/// 16-20 KB a program plus 2.4 MB once, where static ones are about 850 KB each (measured, 30 programs:
/// an initramfs of 4.4 MB against about 27 MB). They are cached by a hash of their C text, compiler and
/// header tree, so a rerun of the same batch builds nothing.
/// </para>
/// </summary>
public sealed class Compat32Columns
{
    /// <summary>What brings the i686 compiler, its readelf and the i386 C library the programs link.</summary>
    private const string CrossPackages = "gcc-i686-linux-gnu libc6-dev-i386-cross";

    /// <summary>Run first in every boot: a kernel that cannot execute 32-bit programs shows here, once, instead of as every program failing.</summary>
    private const string CheckName = "ia32-check";

    private const string CheckSource = """
        /* The first program of a 32-bit boot: the kernel runs i386 programs at all, and which kernel it is. */
        #include <stdio.h>
        #include <sys/utsname.h>

        int main(void)
        {
        	struct utsname u;
        	if (uname(&u) != 0)
        		return 2;
        	printf("release=%s machine=%s pointer-bits=%u\n", u.release, u.machine, (unsigned)(sizeof(void *) * 8));
        	return sizeof(void *) == 4 ? 0 : 1;
        }

        """;

    /// <summary>Built programs kept in the cache; the least recently used beyond this are removed.</summary>
    private const int BinariesKept = 5000;

    private readonly VmCache cache;
    private readonly string repoRoot;
    private readonly Action<string> log;
    private readonly Lazy<string> compilerVersion;
    private readonly Lazy<IReadOnlyList<AbiSnapshot>> snapshots;

    public Compat32Columns(VmCache cache, string repoRoot, Action<string> log)
    {
        this.cache = cache;
        this.repoRoot = repoRoot;
        this.log = log;
        compilerVersion = new(CompilerVersion);
        snapshots = new(() => SnapshotCorpus.All(repoRoot));
    }

    private string BuildDir => Path.Combine(cache.VmDir, "compat32");

    /// <summary>
    /// One column per kernel (at most <paramref name="parallel"/> booted at a time), in the order given.
    /// <paramref name="probed"/>: a profile probed on each kernel, by kernel name (the x86_64 columns' of
    /// the same run), for the cells and for the query answers the header cannot predict.
    /// </summary>
    public async Task<IReadOnlyList<KernelColumn>> RunAsync(
        IReadOnlyList<LockedImage> kernels, IReadOnlyList<RingProgram> programs, IReadOnlyDictionary<string, KernelProfile>? probed, QemuOptions options, int parallel, CancellationToken cancel = default)
    {
        RequireCompiler();
        using var gate = new SemaphoreSlim(Math.Max(1, parallel));
        var columns = kernels.Select(async kernel =>
        {
            Compat32Plan plan;
            try
            {
                plan = Plan(kernel, programs, probed?.GetValueOrDefault(kernel.Kernel));
            }
            catch (ToolException e)
            {
                return Unrun(kernel, programs.Count, e.Message);
            }

            plan = Build(plan);
            await gate.WaitAsync(cancel);
            try
            {
                return await RunAsync(plan, options, cancel);
            }
            finally
            {
                gate.Release();
            }
        }).ToList();
        return await Task.WhenAll(columns);
    }

    /// <summary>Each program's expectation for <paramref name="kernel"/>: the engine given the kernel's i686 snapshot profile.</summary>
    public Compat32Plan Plan(LockedImage kernel, IReadOnlyList<RingProgram> programs, KernelProfile? probed)
    {
        if (!File.Exists(Checkout.SnapshotPath(repoRoot, kernel.Kernel)))
        {
            throw new ToolException($"no ABI snapshot of {kernel.Kernel} in generated/abi: the 32-bit programs of that kernel have nothing to expect");
        }

        var snapshot = Checkout.ReadSnapshot(repoRoot, kernel.Kernel);
        // The query's zero-copy receive and ring-header answers are numbers of the running kernel, not
        // of its header: they come from the probe, as for the x86_64 columns' snapshot row.
        var engine = KernelBehaviour.FromSnapshot(snapshot, Targets.I686) with { QueryAnswers = probed?.QueryAnswers };
        var list = programs.Select((program, i) => new Compat32Program(i, program, CReproducer.FromEngine(
            $"io_uring program {i} of a conformance matrix batch, run as a 32-bit process on kernel {kernel.Kernel}",
            [
                $"Built for i686 and run on the x86_64 kernel {kernel.Kernel} ({kernel.Release}): io_uring's UAPI is meant to be the same for 32- and 64-bit processes.",
                $"Every check below compares what the kernel does with what the conformance suite's reference engine does given the profile of {kernel.Kernel}'s ABI snapshot for i686.",
            ],
            program,
            engine,
            engine.MixedOverflowWaitSpins))).ToList();
        return new Compat32Plan(kernel, engine, probed ?? engine, list);
    }

    /// <summary>
    /// Exports and compiles every program of <paramref name="plan"/> (from the cache when built before).
    /// A program whose header needs are met by its kernel's own UAPI tree is built against that tree,
    /// as a user of that kernel would; one that names newer constants against the newest tree of the lock.
    /// </summary>
    public Compat32Plan Build(Compat32Plan plan)
    {
        RequireCompiler();
        var watch = Stopwatch.StartNew();
        var headerCache = new HeaderCache(cache.Root);
        var newest = CBuild.IncludeDir(repoRoot, headerCache);
        var headerLock = KernelLock.Load(Path.Combine(repoRoot, "headers", "kernels.lock.json"));
        var own = headerLock.Kernels.FirstOrDefault(k => k.Kernel == plan.Kernel.Kernel) is { } locked
            ? headerCache.TryGetVerified(locked, out _)?.Root
            : null;
        var version = KernelVersion.Parse(plan.Kernel.Kernel);
        var built = new Compat32Program[plan.Programs.Count];
        var fresh = 0;
        Directory.CreateDirectory(BuildDir);
        Parallel.For(0, plan.Programs.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
        {
            var p = plan.Programs[i];
            string text;
            try
            {
                text = CExport.Write(p.Reproducer, snapshots.Value);
            }
            catch (ToolException e)
            {
                built[i] = p with { Binary = null, Problem = $"not exported: {e.Message}" };
                return;
            }

            var needs = CExport.HeaderNeededFrom(text, snapshots.Value);
            var tree = own is not null && (needs is null || KernelVersion.Parse(needs) <= version) ? own : newest;
            try
            {
                var (binary, compiled) = Compile(text, tree);
                if (compiled)
                {
                    Interlocked.Increment(ref fresh);
                }

                built[i] = p with { Binary = binary, Problem = null };
            }
            catch (ToolException e)
            {
                var error = e.Message.Split('\n').FirstOrDefault(l => l.Contains("error:", StringComparison.Ordinal)) ?? e.Message.Split('\n')[0];
                var at = error.IndexOf(".c:", StringComparison.Ordinal);
                built[i] = p with { Binary = null, Problem = $"does not build as a 32-bit program: line {(at < 0 ? error : error[(at + 3)..]).Trim()}" };
            }
        });
        Prune();
        log($"{plan.Kernel.Kernel} i686: {built.Count(b => b.Binary is not null)} of {built.Length} programs built as 32-bit ({fresh} compiled, the rest cached) in {watch.Elapsed.TotalSeconds:0.0} s");
        return plan with { Programs = built };
    }

    /// <summary>Boots the plan's kernel once with its built programs (a failed boot once more) and reads the column back.</summary>
    public async Task<KernelColumn> RunAsync(Compat32Plan plan, QemuOptions options, CancellationToken cancel = default)
    {
        var check = Compile(CheckSource, CBuild.IncludeDir(repoRoot, new HeaderCache(cache.Root))).Binary;
        List<(string Name, string Binary)> binaries = [(CheckName, check), .. plan.Programs.Where(p => p.Binary is not null).Select(p => (p.Name, p.Binary!))];
        // The cross C library's loader and what the programs link, where their interpreter and the loader find them.
        var runtimeFiles = InitramfsBuilder.CrossLibraries(binaries.Select(b => b.Binary), CTarget.I686, CrossPackages).Select(l => (l.GuestPath, l.HostPath)).ToList();
        var notes = new List<string>();
        // The boot's own lines name the kernel; here they say which column they are for.
        var prefix = plan.Kernel.Kernel + ":";
        void Log(string line) => log(line.StartsWith(prefix, StringComparison.Ordinal) ? $"{plan.Kernel.Kernel} i686:{line[prefix.Length..]}" : line);
        var run = await CProgramVm.RunAsync(cache, plan.Kernel, binaries, runtimeFiles, options, Log, cancel);
        if (run.Failed)
        {
            log($"{plan.Kernel.Kernel} i686: boot failed ({run.Problems[0]}); booting it again with the same programs");
            var again = await CProgramVm.RunAsync(cache, plan.Kernel, binaries, runtimeFiles, options, Log, cancel);
            notes.Add(again.Failed
                ? $"{KernelBoots.RetryNote} too: {string.Join("; ", run.Problems)}"
                : $"{KernelBoots.RetryNote} and the second, with the same programs, did not: {string.Join("; ", run.Problems)} (emulator instability suspected)");
            run = again;
        }

        notes.Add(string.Create(CultureInfo.InvariantCulture, $"{binaries.Count - 1} programs as 32-bit processes, dynamically linked; initramfs {run.ImageBytes / 1048576.0:0.0} MB"));
        return Column(plan, run, notes);
    }

    /// <summary>
    /// The column a boot's results make. Exit 0 is equal; 1 a difference (the first one the program
    /// printed is kept); 77 a skip, see <see cref="Skip"/>; anything else (a signal, stuck, did not start)
    /// a failure. A kernel that cannot execute 32-bit programs at all fails the whole column with that
    /// reason, and no program is counted.
    /// </summary>
    public static KernelColumn Column(Compat32Plan plan, CProgramRun run, IReadOnlyList<string> notes)
    {
        var count = plan.Programs.Count;
        var check = run.Results.GetValueOrDefault(CheckName);
        var release = check?.Output.Select(l => l.Split(' ')).FirstOrDefault(f => f[0].StartsWith("release=", StringComparison.Ordinal))?[0]["release=".Length..] ?? plan.Kernel.Release;
        if (check is not { Exit: "0" })
        {
            var why = Unable(plan.Kernel, check);
            return new KernelColumn(plan.Kernel.Kernel, "qemu", release, plan.Kernel.Version, null, true, [why, .. run.Problems], notes, run.Seconds, new bool?[count], new bool?[count], null, [])
            {
                Target = Targets.I686,
            };
        }

        var equal = new bool?[count];
        var reported = new List<ReportedDifference>();
        foreach (var p in plan.Programs)
        {
            if (p.Binary is null)
            {
                equal[p.Index] = false;
                reported.Add(new ReportedDifference(p.Index, p.Program, p.Problem ?? "not built"));
                continue;
            }

            if (!run.Results.TryGetValue(p.Name, out var result))
            {
                continue;
            }

            var (same, detail) = result.Exit switch
            {
                "0" => (true, null),
                "1" => (false, FirstDifference(result.Output)),
                "77" => Skip(p.Program, plan.EngineProfile, result.Output),
                _ => (false, Abnormal(result)),
            };
            equal[p.Index] = same;
            if (!same)
            {
                reported.Add(new ReportedDifference(p.Index, p.Program, detail ?? "(no detail)"));
            }
        }

        return new KernelColumn(plan.Kernel.Kernel, "qemu", release, plan.Kernel.Version, plan.ColumnProfile, run.Failed, run.Problems, notes, run.Seconds, equal, [.. equal], null, [])
        {
            Target = Targets.I686,
            ReportedDifferences = reported,
        };
    }

    /// <summary>
    /// What exit 77 means here. A C program skips when setup refuses flags its expected trace says setup
    /// takes, or when the ring lacks feature bits the expected params have. Its expectation is the
    /// engine's run given the kernel's snapshot profile, so a skip says the kernel lacks something that
    /// profile claims: a difference, unless the profile lacks it too (then the kernel's refusal and the
    /// engine's agree, and it counts as equal). By construction the engine's setup refuses what its
    /// profile lacks, so that case should not arise; it is checked, not assumed. A skip for any other
    /// reason (no memfd, no memory) means the program could not run: a failure.
    /// </summary>
    public static (bool Equal, string? Detail) Skip(RingProgram program, KernelProfile engine, IReadOnlyList<string> output)
    {
        var line = output.FirstOrDefault(l => l.StartsWith("SKIP", StringComparison.Ordinal)) ?? "exit 77 without a SKIP line";
        if (line.StartsWith("SKIP: io_uring_setup refuses flags", StringComparison.Ordinal))
        {
            var lacking = program.SetupFlags & ~engine.SetupFlags;
            return lacking != 0 ? (true, null) : (false, $"the kernel refused setup flags the engine's profile has: {line}");
        }

        if (line.StartsWith("SKIP: this kernel lacks features 0x", StringComparison.Ordinal)
            && uint.TryParse(line["SKIP: this kernel lacks features 0x".Length..].Split(' ')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var features))
        {
            return (features & ~engine.Features) != 0 ? (true, null) : (false, $"the kernel lacks features the engine's profile has: {line}");
        }

        return (false, $"the program could not run: {line}");
    }

    /// <summary>The FAIL line a program printed, with the expected and actual values that follow it.</summary>
    private static string FirstDifference(IReadOnlyList<string> output)
    {
        var at = output.ToList().FindIndex(l => l.StartsWith("FAIL", StringComparison.Ordinal));
        return at < 0
            ? $"exit 1 without a FAIL line: {string.Join(" | ", output.Take(3))}"
            : string.Join("; ", output.Skip(at).Take(3).TakeWhile((l, i) => i == 0 || l.StartsWith("  ", StringComparison.Ordinal)).Select(l => string.Join(' ', l.Split(' ', StringSplitOptions.RemoveEmptyEntries))));
    }

    private static string Abnormal(CProgramResult result)
    {
        var printed = result.Output.Count > 0 ? ": " + string.Join(" | ", result.Output.Take(3)) : string.Empty;
        return result.Exit switch
        {
            "stuck" => $"stuck: still running 5 s after SIGKILL at its deadline (a thread spinning in the kernel){printed}",
            "126" => $"did not start{printed}",
            var code when int.TryParse(code, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 128 => $"killed by signal {n - 128}{printed}",
            var code => $"exit {code}{printed}",
        };
    }

    /// <summary>Why the check program did not pass: no 32-bit support in the kernel, no loader, or something else, said plainly.</summary>
    private static string Unable(LockedImage kernel, CProgramResult? check)
    {
        var printed = check is null ? string.Empty : string.Join(" | ", check.Output.Take(3));
        return check switch
        {
            null => $"{kernel.Kernel}: the 32-bit check program never reported; no program was compared",
            { Exit: "126" } when printed.Contains("Exec format error", StringComparison.Ordinal) =>
                $"{kernel.Kernel} ({kernel.Release}) does not run 32-bit programs: execve of an i386 ELF fails with ENOEXEC (a kernel built without CONFIG_IA32_EMULATION, or booted with ia32_emulation=0); no program was compared",
            { Exit: "126" } when printed.Contains("No such file or directory", StringComparison.Ordinal) =>
                $"{kernel.Kernel}: the 32-bit loader or C library is missing from the image ({printed}); no program was compared",
            { } failed => $"{kernel.Kernel}: the 32-bit check program failed (exit {failed.Exit}: {printed}); no program was compared",
        };
    }

    private static KernelColumn Unrun(LockedImage kernel, int count, string why) =>
        new(kernel.Kernel, "qemu", kernel.Release, kernel.Version, null, true, [why], [], 0, new bool?[count], null, null, []) { Target = Targets.I686 };

    /// <summary>Compiles a C text against an include tree, or finds it built before; returns the binary and whether it was compiled now.</summary>
    private (string Binary, bool Compiled) Compile(string text, string includeRoot)
    {
        var key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
            $"{text}\n{compilerVersion.Value}\n{string.Join(' ', CBuild.Flags)}\n{includeRoot}\n")))[..20];
        Directory.CreateDirectory(BuildDir);
        var binary = Path.Combine(BuildDir, key);
        if (File.Exists(binary))
        {
            File.SetLastWriteTimeUtc(binary, DateTime.UtcNow);
            return (binary, false);
        }

        var unique = $"{Environment.ProcessId}-{Environment.CurrentManagedThreadId}";
        var source = $"{binary}.{unique}.c";
        var temp = $"{binary}.{unique}.tmp";
        try
        {
            File.WriteAllText(source, text);
            CBuild.CompileI686(source, temp, includeRoot);
            File.Move(temp, binary, overwrite: true);
            return (binary, true);
        }
        finally
        {
            File.Delete(source);
            File.Delete(temp);
        }
    }

    private void Prune()
    {
        var files = new DirectoryInfo(BuildDir).GetFiles().Where(f => f.Extension.Length == 0).OrderByDescending(f => f.LastWriteTimeUtc).ToList();
        foreach (var old in files.Skip(BinariesKept))
        {
            old.Delete();
        }
    }

    private static void RequireCompiler()
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':');
        if (!path.Any(d => File.Exists(Path.Combine(d, CBuild.I686Compiler))))
        {
            throw new ToolException($"{CBuild.I686Compiler} is not installed: the 32-bit columns build their programs with it; apt-get install {CrossPackages}");
        }
    }

    private static string CompilerVersion()
    {
        var (rc, version) = Tools.Run(CBuild.I686Compiler, ["-dumpfullversion"]);
        return rc == 0 ? version.Trim() : throw new ToolException($"{CBuild.I686Compiler} -dumpfullversion failed (exit {rc}): {version.Trim()}; apt-get install {CrossPackages}");
    }
}
