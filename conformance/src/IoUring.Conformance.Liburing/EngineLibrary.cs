using IoUring.Abi.Model;
using IoUring.Conformance.Vm;

namespace IoUring.Conformance.Liburing;

/// <summary>
/// The engine as a C program sees it: libiouring_engine.so (engine/src/IoUring.Engine.Native compiled
/// ahead of time) and iouring_preload.so (its preload library, compiled with gcc), which routes a
/// process's io_uring to the engine.
/// </summary>
public sealed record EngineLibrary(string Directory)
{
    public const string EngineFile = "libiouring_engine.so";
    public const string PreloadFile = "iouring_preload.so";

    /// <summary>The process exit status of a program whose engine could not start (the preload library's and the engine's).</summary>
    public const int CouldNotStart = 125;

    public string Engine => Path.Combine(Directory, EngineFile);

    public string Preload => Path.Combine(Directory, PreloadFile);

    public static string Project(string repoRoot) => Path.Combine(repoRoot, "engine", "src", "IoUring.Engine.Native");

    /// <summary>Force-included into liburing and its tests (gcc -include): the C library's system calls instead of inline ones.</summary>
    public static string SyscallHeaderSource(string repoRoot) => Path.Combine(Project(repoRoot), "preload", "libc_syscalls.h");

    /// <summary>
    /// Compiles the engine library of a checkout ahead of time into the project's
    /// bin/Release/native-linux-x64 (incrementally: on unchanged sources it only checks) and the
    /// preload library beside it when its source is newer. $IOURING_ENGINE_LIBRARY_DIR names a folder
    /// holding both instead.
    /// </summary>
    public static EngineLibrary Build(string repoRoot, Action<string>? log = null)
    {
        var env = Environment.GetEnvironmentVariable("IOURING_ENGINE_LIBRARY_DIR");
        if (!string.IsNullOrWhiteSpace(env))
        {
            var given = new EngineLibrary(Path.GetFullPath(env));
            return File.Exists(given.Engine) && File.Exists(given.Preload)
                ? given
                : throw new ToolException($"IOURING_ENGINE_LIBRARY_DIR={env}: it should hold {EngineFile} and {PreloadFile}; unset it to build them from the checkout");
        }

        if (Checkout.IsBundled(repoRoot))
        {
            throw new ToolException("running C programs on the engine needs the engine library, which is built from a checkout: run this command inside a checkout (or pass --repo), or set IOURING_ENGINE_LIBRARY_DIR");
        }

        var project = Project(repoRoot);
        var library = new EngineLibrary(Path.Combine(project, "bin", "Release", "native-linux-x64"));
        log?.Invoke("compiling the engine library ahead of time (dotnet publish)");
        var (rc, output) = Tools.Run("dotnet", ["publish", project, "-c", "Release", "-r", "linux-x64", "-o", library.Directory, "-nologo", "-v", "quiet"], TimeSpan.FromMinutes(10));
        if (rc != 0 || !File.Exists(library.Engine))
        {
            throw new ToolException($"compiling the engine library ahead of time failed (exit {rc}; it needs gcc and zlib1g-dev):\n{output}");
        }

        var source = Path.Combine(project, "preload", "iouring_preload.c");
        if (!File.Exists(library.Preload) || File.GetLastWriteTimeUtc(library.Preload) < File.GetLastWriteTimeUtc(source))
        {
            log?.Invoke("compiling the preload library (gcc)");
            var temporary = library.Preload + ".tmp";
            (rc, output) = Tools.Run("gcc", ["-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-o", temporary, source, "-ldl", "-lpthread"], TimeSpan.FromMinutes(2));
            if (rc != 0)
            {
                throw new ToolException($"gcc could not compile {source} (exit {rc}; apt-get install gcc):\n{output}");
            }

            File.Move(temporary, library.Preload, overwrite: true);
        }

        return library;
    }

    /// <summary>The environment that puts a C program on the engine with <paramref name="profile"/> (a profile file or a kernel of the corpus).</summary>
    public IReadOnlyDictionary<string, string> ProgramEnvironment(string profile, string snapshots, string log) => new Dictionary<string, string>
    {
        ["LD_PRELOAD"] = Preload,
        ["IOURING_ENGINE_LIBRARY"] = Engine,
        ["IOURING_ENGINE_PROFILE"] = profile,
        ["IOURING_ENGINE_SNAPSHOTS"] = snapshots,
        ["IOURING_ENGINE_LOG"] = log,
    };
}
