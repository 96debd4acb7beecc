using IoUring.Abi.Headers;
using IoUring.Conformance.Vm;
using IoUring.Engine;

namespace IoUring.Conformance.Liburing;

/// <summary>
/// Everything a run of liburing's tests needs, from a checkout: the locked source fetched and built
/// (with the C library's system calls), and the engine library with its preload library.
/// </summary>
public sealed record LiburingSuite(LiburingBuild Build, EngineLibrary Engine, string Snapshots)
{
    /// <summary>Seconds a test may take on each side: liburing's slowest tests take about 10 s on a kernel.</summary>
    public const double DefaultTimeoutSeconds = 30;

    public static LiburingSuite Prepare(string repoRoot, string? cache, Action<string> log)
    {
        var liburingLock = LiburingLock.Load(LiburingLock.PathIn(repoRoot));
        var source = new LiburingSource(new LiburingCache(cache));
        source.Fetch(liburingLock, FetchMode.Locked, log);
        var build = source.Build(liburingLock, EngineLibrary.SyscallHeaderSource(repoRoot), log);
        return new LiburingSuite(build, EngineLibrary.Build(repoRoot, log), Path.Combine(repoRoot, "generated", "abi"));
    }

    /// <summary>The built test programs, by name.</summary>
    public IReadOnlyList<(string Name, string Path)> Tests => Build.Tests.Select(t => (t.Name, t.Path)).ToList();

    /// <summary>
    /// Runs <paramref name="tests"/> on the engine given <paramref name="profile"/> (a kernel of the
    /// corpus, or a profile file) and, unless <paramref name="kernelRelease"/> is null, on the running
    /// kernel first.
    /// </summary>
    public LiburingReport Run(IReadOnlyList<(string Name, string Path)> tests, string profile, string profileLabel, string? kernelRelease, double timeoutSeconds, Action<string>? log = null)
    {
        var runner = new LiburingRunner(Engine, profile, Snapshots, TimeSpan.FromSeconds(timeoutSeconds)) { RunKernel = kernelRelease is not null, Log = log };
        return LiburingReport.Of(new RunSettings(Build.Version, kernelRelease ?? "not run", profileLabel, timeoutSeconds), runner.Run(tests));
    }

    /// <summary>As <see cref="Run(IReadOnlyList{ValueTuple{string, string}}, string, string, string?, double, Action{string}?)"/> with a profile this process holds (written to a file the tests' engines read).</summary>
    public LiburingReport Run(IReadOnlyList<(string Name, string Path)> tests, KernelProfile profile, string? kernelRelease, double timeoutSeconds, Action<string>? log = null)
    {
        var scratch = Directory.CreateTempSubdirectory("iouring-liburing-profile-");
        try
        {
            var file = Path.Combine(scratch.FullName, "profile.json");
            File.WriteAllText(file, System.Text.Json.JsonSerializer.Serialize(profile, ProfileJson.Default.KernelProfile));
            return Run(tests, file, profile.Name, kernelRelease, timeoutSeconds, log);
        }
        finally
        {
            scratch.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Runs <paramref name="tests"/> on a kernel of the corpus under qemu (one boot, the tests one at a
    /// time, each in its own process group with the VM runner's 30 s deadline, the C library beside
    /// them), then on the engine given <paramref name="profile"/> here. Software emulation makes each
    /// test several times slower than on the host: a subset (--tests) is the usual run.
    /// </summary>
    public async Task<LiburingReport> RunOnVmAsync(VmCache cache, LockedImage kernel, IReadOnlyList<(string Name, string Path)> tests, string profile, string profileLabel, double timeoutSeconds, Action<string> log)
    {
        var libraries = InitramfsBuilder.HostLibraries(tests.Select(t => t.Path)).Select(l => (l, l)).ToList();
        var options = new QemuOptions { Timeout = TimeSpan.FromSeconds(120 + (40 * tests.Count)) };
        var vm = await CProgramVm.RunAsync(cache, kernel, tests.Select(t => (t.Name, t.Path)).ToList(), libraries, options, log);
        var problem = vm.Failed ? $"no result: the VM {vm.Problems[0]}" : "no result";
        var kernelSide = tests.ToDictionary(
            t => t.Name,
            t => vm.Results.TryGetValue(t.Name, out var r) ? KernelSide(r) : new SideResult(TestOutcome.Fail, null, 0, problem),
            StringComparer.Ordinal);
        var runner = new LiburingRunner(Engine, profile, Snapshots, TimeSpan.FromSeconds(timeoutSeconds)) { KernelResults = kernelSide, Log = log };
        return LiburingReport.Of(new RunSettings(Build.Version, $"{vm.Release ?? kernel.Release} (qemu)", profileLabel, timeoutSeconds), runner.Run(tests));
    }

    /// <summary>A test's run in the VM: its exit status, "stuck" or a kill at the deadline (a timeout), its output's last lines.</summary>
    private static SideResult KernelSide(CProgramResult r)
    {
        var tail = LiburingRunner.Tail(r.Output);
        return int.TryParse(r.Exit, System.Globalization.CultureInfo.InvariantCulture, out var code)
            ? code == 128 + 9 && r.Seconds >= 29.9
                ? new SideResult(TestOutcome.Timeout, null, r.Seconds, tail)
                : new SideResult(LiburingRunner.Outcome(code), code, r.Seconds, tail)
            : new SideResult(TestOutcome.Timeout, null, r.Seconds, $"{r.Exit}: {tail}");
    }

    /// <summary>uname -r of the running kernel.</summary>
    public static string RunningRelease() => File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
}
