using IoUring.Abi.Headers;
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

    /// <summary>uname -r of the running kernel.</summary>
    public static string RunningRelease() => File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
}
