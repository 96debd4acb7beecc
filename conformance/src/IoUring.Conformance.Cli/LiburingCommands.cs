using System.CommandLine;
using System.Diagnostics;
using IoUring.Abi.Headers;
using IoUring.Abi.Model;
using IoUring.Cli;
using IoUring.Conformance.Liburing;
using IoUring.Conformance.Vm;
using IoUring.Engine;

namespace IoUring.Conformance.Cli;

/// <summary>
/// 'liburing': liburing's own test suite, from Debian's source package (conformance/liburing.lock.json),
/// fetched and built in the cache. <see cref="Liburing"/> returns the group with its 'fetch' subcommand;
/// the commands that use the built tests are added to it beside fetch (group.Subcommands.Add).
/// </summary>
internal static class LiburingCommands
{

    public static Command Liburing()
    {
        var locked = new Option<bool>("--locked") { Description = "Fetch exactly the version in the lock (verify hashes); never change the lock" };
        var noBuild = new Option<bool>("--no-build") { Description = "Only fetch; do not build the library and its tests" };
        var fetch = new Command("fetch", "Download Debian's liburing source package (deb-src of the lock's suite) through the machine's mirror into the cache, update conformance/liburing.lock.json, and build the library (configure --use-libc) and its tests with gcc (works offline from the cache).")
        {
            locked, noBuild,
        };
        fetch.SetAction(r => Commands.Run(() =>
        {
            var repo = Repo.Find(r.GetValue(Commands.RepoOption));
            var lockPath = LiburingLock.PathIn(repo.Root);
            var liburingLock = LiburingLock.Load(lockPath);
            // An installed tool's lock is part of the tool: it fetches what its lock names and never moves it.
            var mode = r.GetValue(locked) || Checkout.IsBundled(repo.Root) ? FetchMode.Locked : FetchMode.Refresh;
            var source = new LiburingSource(new LiburingCache(r.GetValue(Commands.CacheOption)));
            var report = TerminalProgress.Run("liburing fetch", Console.Error, log => source.Fetch(liburingLock, mode, log));
            Console.WriteLine($"{liburingLock.Package} {report.Version,-10} {report.Status,-9} {report.Detail}");
            Console.WriteLine($"cached in {report.CacheDir}");
            if (mode == FetchMode.Refresh && report.Changed)
            {
                AtomicFile.WriteAllText(lockPath, liburingLock.ToJson());
                Console.WriteLine($"lock updated: {Path.GetRelativePath(Environment.CurrentDirectory, lockPath)}");
            }
            else
            {
                Console.WriteLine("lock unchanged");
            }

            if (!r.GetValue(noBuild))
            {
                var watch = Stopwatch.StartNew();
                var build = TerminalProgress.Run("liburing build", Console.Error, log => source.Build(liburingLock, EngineLibrary.SyscallHeaderSource(repo.Root), log));
                var how = build.UpToDate ? "up to date" : $"built in {watch.Elapsed.TotalSeconds:F0} s";
                Console.WriteLine($"build {how}: {build.BuildDir} (configure {string.Join(' ', build.ConfigureOptions)}), {build.Tests.Count} test programs in {build.TestDir}");
            }

            return 0;
        }));
        var cmd = new Command("liburing", "Run liburing's own test suite (Debian's source package, conformance/liburing.lock.json, fetched and built in the cache) twice per test program, unmodified: on the running kernel (supervised) and on the reference engine through its preload library; report pass, fail, skip per test for both, side by side, with why the engine fails where the kernel passes. Exit code: 0; 2 the engine crashed or could not start, or failed a test the kernel passes with nothing to explain it (neither an unmodelled request nor a listed limitation); 1 error.")
        {
            fetch,
        };
        AddRun(cmd);
        return cmd;
    }

    private static void AddRun(Command cmd)
    {
        var profile = new Option<string>("--profile") { Description = "The engine's kernel: 'host' (probed on the running kernel, the default), a kernel of the corpus (7.2: its ABI snapshot), or a profile file", DefaultValueFactory = _ => "host" };
        var tests = new Option<string[]>("--tests") { Description = "Only the tests whose names match these globs (e.g. 'nop*' '*timeout*'); default: every test program", AllowMultipleArgumentsPerToken = true };
        var timeout = new Option<double>("--timeout") { Description = "Seconds each run of a test may take before it is killed (kernel and engine alike)", DefaultValueFactory = _ => LiburingSuite.DefaultTimeoutSeconds };
        var noKernel = new Option<bool>("--no-kernel") { Description = "Run on the engine only (no io_uring on the host's kernel; --profile must then name a kernel of the corpus or a profile file)" };
        var output = new Option<string?>("-o", "--output") { Description = "Folder to write liburing.md and liburing.json into (e.g. docs/conformance)" };
        var kernel = new Option<string?>("--kernel") { Description = "Run the kernel side on a kernel of the corpus under qemu (x86_64 image of conformance/kernels.lock.json) instead of the host's; the engine's profile defaults to that kernel's. Software emulation is slow: pick tests with --tests" };
        cmd.Options.Add(profile);
        cmd.Options.Add(tests);
        cmd.Options.Add(timeout);
        cmd.Options.Add(noKernel);
        cmd.Options.Add(output);
        cmd.Options.Add(kernel);
        cmd.SetAction(r => Commands.Run(() =>
        {
            var repo = Repo.Find(r.GetValue(Commands.RepoOption));
            var liburingLock = LiburingLock.Load(LiburingLock.PathIn(repo.Root));
            var source = new LiburingSource(new LiburingCache(r.GetValue(Commands.CacheOption)));
            var kernelRuns = !r.GetValue(noKernel);
            var vmKernel = r.GetValue(kernel);
            var profileName = vmKernel is not null && r.GetResult(profile) is null or { Implicit: true } ? vmKernel : r.GetValue(profile)!;
            if (vmKernel is not null && !kernelRuns)
            {
                throw new ToolException("--kernel runs the tests on a VM's kernel and --no-kernel on none: give one of them");
            }

            if (vmKernel is not null && profileName == "host")
            {
                throw new ToolException($"--kernel {vmKernel} --profile host: the host's profile is not the VM kernel's; give --profile {vmKernel} (the default with --kernel) or a kernel or profile file of your choice");
            }

            if (!kernelRuns && profileName == "host")
            {
                throw new ToolException("--no-kernel runs no io_uring on this machine's kernel, so it cannot probe it: give --profile a kernel of the corpus (e.g. --profile 7.2) or a profile file");
            }

            var seconds = r.GetValue(timeout);
            if (seconds <= 0)
            {
                throw new ToolException($"--timeout {seconds}: give a positive number of seconds");
            }

            var watch = Stopwatch.StartNew();
            var suite = TerminalProgress.Run("liburing build", Console.Error, log => LiburingSuite.Prepare(repo.Root, r.GetValue(Commands.CacheOption), log));
            var chosen = Select(suite.Build.Tests, r.GetValue(tests) ?? []);
            var image = vmKernel is null ? null : KernelImageLock.Load(repo.LockPath).Select([vmKernel]).Single();
            var report = TerminalProgress.Run($"liburing {chosen.Count} tests", Console.Error, log =>
            {
                if (profileName == "host")
                {
                    // Probed once, in the supervised agent (never in this process), and handed to every test's engine.
                    using var host = SupervisedHost.Start(AgentBuild.Locate(repo.Root).EntryPath, log);
                    return suite.Run(chosen, host.Profile, LiburingSuite.RunningRelease(), seconds, log);
                }

                // A kernel of the corpus is read here first, so a wrong name is this command's error and not every test's.
                var (setting, label) = File.Exists(profileName)
                    ? (Path.GetFullPath(profileName), Path.GetFileName(profileName))
                    : (profileName, KernelBehaviour.FromSnapshot(Checkout.ReadSnapshot(repo.Root, profileName)).Name);
                return image is not null
                    ? suite.RunOnVmAsync(new VmCache(r.GetValue(Commands.CacheOption)), image, chosen, setting, label, seconds, log).GetAwaiter().GetResult()
                    : suite.Run(chosen, setting, label, kernelRuns ? LiburingSuite.RunningRelease() : null, seconds, log);
            });
            var results = report.Results;
            Console.WriteLine($"liburing {suite.Build.Version}: {results.Count} tests on {(kernelRuns ? report.Settings.KernelRelease : "no kernel")} and on the engine ({report.Settings.EngineProfile}), {watch.Elapsed.TotalSeconds:F0} s");
            Console.WriteLine($"  pass on the kernel: {report.KernelPasses}; of those, pass on the engine: {report.EnginePassesOfKernelPasses}; engine crashes: {report.EngineCrashes}; unexplained: {report.Unexplained.Count}");
            Console.WriteLine($"  engine: {string.Join(", ", results.GroupBy(x => x.Engine.Outcome).OrderBy(g => g.Key).Select(g => $"{g.Count()} {g.Key}"))}");
            foreach (var g in results.Where(x => x.Reason is not null).GroupBy(x => x.Reason!).OrderByDescending(g => g.Count()))
            {
                Console.WriteLine($"  engine fails where the kernel passes, {g.Key}: {g.Count()} ({string.Join(", ", g.Take(8).Select(x => x.Test))}{(g.Count() > 8 ? ", ..." : string.Empty)})");
            }

            if (r.GetValue(output) is { } dir)
            {
                Write(report, dir);
            }

            return report.ExitCode;
        }));
    }

    /// <summary>The report as liburing.md and liburing.json in <paramref name="dir"/>.</summary>
    internal static void Write(LiburingReport report, string dir)
    {
        Directory.CreateDirectory(dir);
        AtomicFile.WriteAllText(Path.Combine(dir, "liburing.md"), report.ToMarkdown());
        AtomicFile.WriteAllText(Path.Combine(dir, "liburing.json"), report.ToJson() + "\n");
        Console.WriteLine($"wrote {Path.Combine(dir, "liburing.md")} and liburing.json");
    }

    /// <summary>
    /// The whole suite on the host's kernel and on the engine given <paramref name="profile"/> (the
    /// host's, probed by the matrix's supervised child), as the matrix's host column runs it.
    /// </summary>
    internal static LiburingReport RunForMatrix(string repoRoot, string? cache, KernelProfile profile, Action<string> log)
    {
        var suite = LiburingSuite.Prepare(repoRoot, cache, log);
        return suite.Run(suite.Tests, profile, LiburingSuite.RunningRelease(), LiburingSuite.DefaultTimeoutSeconds, line => log($"liburing: {line}"));
    }

    /// <summary>The tests whose names match any of the globs (* and ?), in the build's order; a glob matching nothing is an error.</summary>
    private static IReadOnlyList<(string Name, string Path)> Select(IReadOnlyList<LiburingTest> all, string[] globs)
    {
        if (globs.Length == 0)
        {
            return all.Select(t => (t.Name, t.Path)).ToList();
        }

        var patterns = globs.Select(g => (Glob: g, Regex: new System.Text.RegularExpressions.Regex("^" + System.Text.RegularExpressions.Regex.Escape(g).Replace("\\*", ".*", StringComparison.Ordinal).Replace("\\?", ".", StringComparison.Ordinal) + "$"))).ToList();
        if (patterns.FirstOrDefault(p => !all.Any(t => p.Regex.IsMatch(t.Name))) is { Glob: { } unmatched })
        {
            throw new ToolException($"--tests {unmatched}: no test program of liburing is named so (e.g. {string.Join(", ", all.Take(5).Select(t => t.Name))}; the list: ls the build's test folder)");
        }

        return all.Where(t => patterns.Any(p => p.Regex.IsMatch(t.Name))).Select(t => (t.Name, t.Path)).ToList();
    }

}
