using System.Security.Cryptography;
using System.Text;
using IoUring.Abi.Headers;
using IoUring.Abi.Model;
using IoUring.Conformance.Vm;

namespace IoUring.Conformance.Liburing;

/// <summary>
/// Extracts the locked upstream tarball into the cache, configures it with <see cref="ConfigureOptions"/>
/// and builds the library and its tests with gcc and make. Incremental: a stamp beside the tree records
/// the version, the options and a hash of everything that went in, and a build whose stamp matches is
/// returned at once; anything else is built again from a fresh extraction.
/// </summary>
public sealed class LiburingBuilder
{
    /// <summary>The machine is shared; two jobs keep a build to about 20 s without taking it over.</summary>
    public const int DefaultJobs = 2;

    /// <summary>
    /// --use-libc: liburing's default (nolibc) build issues io_uring_setup/enter/register and mmap as
    /// inline system calls, which nothing can intercept; with libc they go through syscall() and mmap(),
    /// which an LD_PRELOAD library can replace, so the tests can be pointed at another engine. On x86_64
    /// the option alone is not enough: the system-call header is force-included as well
    /// (<see cref="EngineLibrary.SyscallHeaderSource"/>), and the build checks the library it made
    /// (<see cref="CheckLibcSystemCalls"/>).
    /// </summary>
    public static readonly IReadOnlyList<string> ConfigureOptions = ["--use-libc"];

    /// <summary>What is built: the library, then the tests (not the examples, not the man pages).</summary>
    private static readonly string[] MakeDirs = ["src", "test"];

    // Bumped when the recipe below changes in a way the stamp could not see.
    private const int Recipe = 3;

    private const string StampName = "build.stamp";

    private readonly LiburingCache cache;
    private readonly string syscallHeader;

    /// <param name="cache">Where the source package is and the build goes.</param>
    /// <param name="syscallHeader">The header force-included into the library and its tests (<see cref="EngineLibrary.SyscallHeaderSource"/>).</param>
    public LiburingBuilder(LiburingCache cache, string syscallHeader)
    {
        this.cache = cache;
        this.syscallHeader = syscallHeader;
    }

    /// <summary>
    /// Builds the lock's version from the cached files (fetched first with <see cref="LiburingSource.Fetch"/>).
    /// A cached file that is missing or differs from the lock's SHA-256 is refused, naming it and the fix.
    /// </summary>
    public LiburingBuild Build(LiburingLock l, Action<string> log, int jobs = DefaultJobs)
    {
        var version = l.Version ?? throw new ToolException($"{l.Path} names no version of {l.Package}; run 'io_uring-conformance liburing fetch' (without --locked) to record one");
        foreach (var f in l.Files)
        {
            var path = cache.FilePath(version, f);
            if (!File.Exists(path))
            {
                throw new ToolException($"{path} is missing: {l.Package} {version} is not in the cache; run 'io_uring-conformance liburing fetch --locked' to download it");
            }

            var sha = FileHash.Sha256(path);
            if (sha != f.Sha256)
            {
                throw new ToolException($"{path}: SHA-256 {sha} differs from the lock's {f.Sha256} ({l.Path}); the cached file is corrupt or not the locked one: delete it and run 'io_uring-conformance liburing fetch --locked' to download it again");
            }
        }

        var versionDir = cache.VersionDir(version);
        var srcRoot = cache.SourceRoot(version);
        var stampPath = Path.Combine(versionDir, StampName);
        if (!File.Exists(syscallHeader))
        {
            throw new ToolException($"{syscallHeader} is missing: it is part of the checkout (engine/src/IoUring.Engine.Native/preload); run from a checkout, or pass --repo");
        }

        var stamp = Stamp(l, syscallHeader);

        // One build at a time per version (a test run and a command line may ask together); the second waits and finds it built.
        using var buildLock = AcquireLock(Path.Combine(versionDir, "build.lock"));
        if (File.Exists(stampPath) && File.ReadAllText(stampPath) == stamp && TopFolder(srcRoot) is { } built)
        {
            var tests = Collect(built);
            if (tests.Count > 0)
            {
                return Result(version, built, tests, upToDate: true);
            }
        }

        RequireTools();
        File.Delete(stampPath);
        if (Directory.Exists(srcRoot))
        {
            Directory.Delete(srcRoot, true);
        }

        Directory.CreateDirectory(srcRoot);
        var logPath = Path.Combine(versionDir, "build.log");
        using var buildLog = new StreamWriter(logPath, append: false);
        var orig = cache.FilePath(version, l.Orig);
        log($"extracting {l.Orig.Name} into {srcRoot}");
        Step(buildLog, logPath, "tar", ["-xf", orig, "-C", srcRoot], srcRoot, $"extracting {orig} failed: delete it and run 'io_uring-conformance liburing fetch --locked'");
        var tree = TopFolder(srcRoot)
            ?? throw new ToolException($"{l.Orig.Name} does not hold one top folder with a configure script; the upstream tarball's layout changed: fix LiburingBuilder");
        log($"./configure {string.Join(' ', ConfigureOptions)} in {tree}");
        // Started by its full path: a relative program name is looked up from this process's folder, not the step's.
        Step(buildLog, logPath, Path.Combine(tree, "configure"), ConfigureOptions.ToArray(), tree, "./configure failed; it needs a working C compiler (apt-get install gcc make libc6-dev)");
        // CFLAGS given to make replace the Makefiles' defaults (kept here) and keep their own additions.
        var cflags = $"CFLAGS=-O3 -Wall -Wextra -fno-stack-protector -g -include {syscallHeader}";
        foreach (var dir in MakeDirs)
        {
            log($"make -j{jobs} -C {dir} (system calls through the C library)");
            Step(buildLog, logPath, "make", [$"-j{jobs}", "-C", dir, cflags], tree, $"building liburing's {dir} failed; install the compiler and C library headers (apt-get install gcc make libc6-dev), or report the compiler error above if they are there");
        }

        CheckLibcSystemCalls(tree, buildLog, logPath);
        var result = Collect(tree);
        if (result.Count == 0)
        {
            throw new ToolException($"make -C test built no test program (test/*.t) in {tree}; see {logPath}");
        }

        AtomicFile.WriteAllText(stampPath, stamp);
        return Result(version, tree, result, upToDate: false);
    }

    /// <summary>
    /// Holds the built library to what --use-libc is for: its io_uring system calls and ring mappings go
    /// through libc (syscall and mmap are undefined symbols of liburing.a, resolved in libc), so an
    /// LD_PRELOAD library can take them over.
    /// </summary>
    private void CheckLibcSystemCalls(string tree, StreamWriter buildLog, string logPath)
    {
        var library = Path.Combine(tree, "src", "liburing.a");
        var output = Step(buildLog, logPath, "nm", ["-u", library], tree, "nm (binutils) is needed to check the library: apt-get install binutils", quiet: true);
        var undefined = output.Split('\n').Select(l => l.Trim().Split(' ')[^1]).ToHashSet(StringComparer.Ordinal);
        var missing = new[] { "syscall", "mmap" }.Where(s => !undefined.Contains(s) && !undefined.Contains(s + "64")).ToList();
        if (missing.Count > 0)
        {
            throw new ToolException($"{library} does not call libc's {string.Join(" and ", missing)}: this liburing issues its system calls inline even with {string.Join(' ', ConfigureOptions)}, so an LD_PRELOAD engine could not intercept them; fix the force-included {Path.GetFileName(syscallHeader)} for this version's system-call headers (src/arch/*/syscall.h)");
        }
    }

    /// <summary>
    /// The stamp: readable lines (version, options, what is built) and a SHA-256 over them and the
    /// upstream tarball's hash, so any change to what goes into the build makes it stale.
    /// </summary>
    private static string Stamp(LiburingLock l, string syscallHeader)
    {
        var inputs = new StringBuilder()
            .Append($"version {l.Version}\n")
            .Append($"configure {string.Join(' ', ConfigureOptions)}\n")
            .Append($"make {string.Join(' ', MakeDirs.Select(d => "-C " + d))}\n")
            .Append($"include {Path.GetFileName(syscallHeader)} {FileHash.Sha256(syscallHeader)}\n")
            .Append($"recipe {Recipe}\n")
            .ToString();
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(inputs + $"orig {l.Orig.Sha256}\n")));
        return inputs + $"sha256 {hash}\n";
    }

    private static LiburingBuild Result(string version, string tree, List<LiburingTest> tests, bool upToDate) => new()
    {
        Version = version,
        BuildDir = tree,
        ConfigureOptions = ConfigureOptions,
        Tests = tests,
        UpToDate = upToDate,
    };

    /// <summary>The test programs: every executable test/NAME.t, ordered by name.</summary>
    private static List<LiburingTest> Collect(string tree)
    {
        var testDir = Path.Combine(tree, "test");
        if (!Directory.Exists(testDir))
        {
            return new();
        }

        return Directory.GetFiles(testDir, "*.t")
            .Where(IsExecutable)
            .Select(p => new LiburingTest(Path.GetFileNameWithoutExtension(p), p))
            .OrderBy(t => t.Name, StringComparer.Ordinal)
            .ToList();
    }

    // What the linker wrote is executable; anything else named *.t in test/ is not a test program.
    private static bool IsExecutable(string path) =>
        !OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & UnixFileMode.UserExecute) != 0;

    /// <summary>The extracted tarball's one top folder (liburing-2.15), when it holds a configure script.</summary>
    private static string? TopFolder(string srcRoot)
    {
        if (!Directory.Exists(srcRoot))
        {
            return null;
        }

        var dirs = Directory.GetDirectories(srcRoot);
        return dirs.Length == 1 && File.Exists(Path.Combine(dirs[0], "configure")) ? dirs[0] : null;
    }

    private static void RequireTools()
    {
        var missing = new[] { "gcc", "make", "tar", "nm" }.Where(t => Tools.OnPath(t) is null).ToList();
        if (missing.Count > 0)
        {
            throw new ToolException($"building liburing needs {string.Join(", ", missing)}, not found on PATH; install them (apt-get install gcc make libc6-dev binutils tar)");
        }
    }

    /// <summary>Runs one build step, its output appended to the build log (unless quiet) and returned; a failure reports the output's tail and the fix.</summary>
    private static string Step(StreamWriter buildLog, string logPath, string tool, string[] args, string cwd, string fix, bool quiet = false)
    {
        var command = $"{tool} {string.Join(' ', args)}";
        buildLog.WriteLine($"$ {command}  (in {cwd})");
        var (rc, output) = Tools.Run(tool, args, TimeSpan.FromMinutes(10), cwd);
        if (!quiet)
        {
            buildLog.Write(output);
        }

        buildLog.Flush();
        if (rc != 0)
        {
            var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var tail = string.Join("\n", lines.Skip(Math.Max(0, lines.Length - 25)).Select(x => "  " + x));
            throw new ToolException($"{command} failed (exit {rc}) in {cwd}:\n{tail}\n{fix} (whole output: {logPath})");
        }

        return output;
    }

    private static FileStream AcquireLock(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(10);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(200);
            }
        }
    }
}
