using System.CommandLine;
using System.Diagnostics;
using IoUring.Abi.Headers;
using IoUring.Abi.Model;
using IoUring.Cli;
using IoUring.Conformance.Liburing;

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
                var build = TerminalProgress.Run("liburing build", Console.Error, log => source.Build(liburingLock, log));
                var how = build.UpToDate ? "up to date" : $"built in {watch.Elapsed.TotalSeconds:F0} s";
                Console.WriteLine($"build {how}: {build.BuildDir} (configure {string.Join(' ', build.ConfigureOptions)}), {build.Tests.Count} test programs in {build.TestDir}");
            }

            return 0;
        }));
        return new Command("liburing", "liburing's own test suite: Debian's source package (conformance/liburing.lock.json), fetched and built in the cache.") { fetch };
    }
}
