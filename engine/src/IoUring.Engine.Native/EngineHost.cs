using System.Runtime.InteropServices;
using IoUring.Abi.Model;

namespace IoUring.Engine.Native;

/// <summary>
/// The process's one engine and what it needs from the environment:
/// <list type="bullet">
/// <item><c>IOURING_ENGINE_PROFILE</c>: a kernel of the corpus (<c>7.2</c>: its ABI snapshot, read from
/// <c>IOURING_ENGINE_SNAPSHOTS</c>, a checkout's generated/abi) or the path of a profile file
/// (<see cref="ProfileJson"/>, e.g. one probed on the running kernel).</item>
/// <item><c>IOURING_ENGINE_LOG</c> (optional): a file the engine appends its findings to, one line each:
/// <c>started: PROFILE</c> when the engine serves its first call, <c>unmodelled: ...</c> for what a program asked for that the engine does not model, <c>crash: ...</c>
/// for an exception inside the engine, <c>error: ...</c> when it could not start.</item>
/// </list>
/// An engine crash is never turned into an errno: it is logged and the process aborts, so nothing
/// downstream mistakes it for a kernel's answer.
/// </summary>
internal static class EngineHost
{
    /// <summary>The exit status of a process whose engine could not start (bad or missing profile).</summary>
    public const int CouldNotStart = 125;

    private static readonly object Gate = new();
    private static readonly HashSet<string> Reported = new(StringComparer.Ordinal);
    private static ReferenceEngine? engine;

    /// <summary>The descriptor the preload library reserved for the ring being set up.</summary>
    public static int NextDescriptor { get; set; } = -1;

    public static T Call<T>(Func<ReferenceEngine, T> call)
    {
        lock (Gate)
        {
            try
            {
                return call(engine ??= Start());
            }
            catch (Exception ex)
            {
                Log($"crash: {ex}");
                Environment.FailFast($"io_uring engine: crash: {ex.GetType().Name}: {ex.Message}");
                throw;
            }
        }
    }

    private static ReferenceEngine Start()
    {
        KernelProfile profile;
        try
        {
            profile = LoadProfile(Environment.GetEnvironmentVariable("IOURING_ENGINE_PROFILE"), Environment.GetEnvironmentVariable("IOURING_ENGINE_SNAPSHOTS"));
        }
        catch (Exception ex) when (ex is ToolException or IOException or InvalidDataException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            Log($"error: {ex.Message}");
            Console.Error.WriteLine($"io_uring engine: error: {ex.Message}");
            Environment.Exit(CouldNotStart);
            throw;
        }

        // The runner reads this line to know the program's io_uring was the engine's, not the kernel's.
        Log($"started: {profile.Name}");
        return new ReferenceEngine(profile)
        {
            Descriptors = () => NextDescriptor,

            // A wait for a wake-up lets go of the lock, so the thread whose call wakes it can make that call.
            Blocking = wait =>
            {
                Monitor.Exit(Gate);
                try
                {
                    wait();
                }
                finally
                {
                    Monitor.Enter(Gate);
                }
            },
            Unmodelled = what =>
            {
                // Once per process: a loop of refused requests must not fill the log.
                if (Reported.Add(what))
                {
                    Log($"unmodelled: {what}");
                }
            },
        };
    }

    public static KernelProfile LoadProfile(string? name, string? snapshots)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            throw new ToolException("IOURING_ENGINE_PROFILE is not set; set it to a kernel of the corpus (IOURING_ENGINE_PROFILE=7.2 with IOURING_ENGINE_SNAPSHOTS=<checkout>/generated/abi) or to a profile file ('io_uring-conformance liburing' writes one for the running kernel)");
        }

        if (name.Contains('/', StringComparison.Ordinal) || name.EndsWith(".json", StringComparison.Ordinal))
        {
            if (!File.Exists(name))
            {
                throw new ToolException($"IOURING_ENGINE_PROFILE={name}: no such profile file; give a profile file ('io_uring-conformance liburing' writes one for the running kernel) or a kernel of the corpus (7.2)");
            }

            try
            {
                return System.Text.Json.JsonSerializer.Deserialize(File.ReadAllText(name), ProfileJson.Default.KernelProfile)
                    ?? throw new InvalidDataException($"{name}: the profile file holds null; write it again");
            }
            catch (System.Text.Json.JsonException ex)
            {
                // The engine is compiled without resource strings: the position is what tells the user where.
                throw new InvalidDataException($"{name}:{(ex.LineNumber ?? 0) + 1}:{(ex.BytePositionInLine ?? 0) + 1}: not a kernel profile (JSON of ProfileJson, {ex.Path ?? "$"}); write it again or name a kernel of the corpus (IOURING_ENGINE_PROFILE=7.2)");
            }
        }

        if (string.IsNullOrWhiteSpace(snapshots))
        {
            throw new ToolException($"IOURING_ENGINE_PROFILE={name} names a kernel of the corpus, but IOURING_ENGINE_SNAPSHOTS is not set; set it to the folder of the ABI snapshots (<checkout>/generated/abi)");
        }

        var path = Path.Combine(snapshots, name + ".json");
        if (!File.Exists(path))
        {
            var known = Directory.Exists(snapshots) ? string.Join(", ", Directory.GetFiles(snapshots, "*.json").Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal)) : "none (no such folder)";
            throw new ToolException($"IOURING_ENGINE_PROFILE={name}: no ABI snapshot at {path}; the corpus has: {known}");
        }

        var target = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? CTarget.Aarch64.Triple : null;
        return KernelBehaviour.FromSnapshot(SnapshotJson.Read(File.ReadAllText(path), path), target);
    }

    private static void Log(string line)
    {
        var path = Environment.GetEnvironmentVariable("IOURING_ENGINE_LOG");
        if (string.IsNullOrEmpty(path))
        {
            return;
        }

        try
        {
            // Appended whole in one write: the test may fork, and both processes log to the same file.
            File.AppendAllText(path, $"{Environment.ProcessId} {line.ReplaceLineEndings(" | ")}\n");
        }
        catch (IOException)
        {
            // The log is a diagnosis aid; losing it must not change what the program sees.
        }
    }
}
