using System;
using System.IO;
using System.Linq;

namespace IoUring.Abi.Model;

/// <summary>
/// A checkout of this repository, found one way everywhere: the nearest folder at or above a start
/// that holds <see cref="Marker"/>. The tools start from the current folder (or take --repo), the tests
/// and benchmarks from their build output.
/// </summary>
public static class Checkout
{
    public const string Marker = "CodeGen.sln";

    /// <summary>The checkout at or above <paramref name="start"/>, or null.</summary>
    public static string? Above(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, Marker)))
            {
                return dir.FullName;
            }
        }

        return null;
    }

    /// <summary>
    /// The folder an installed tool carries beside its assembly: the read-only part of a checkout that
    /// the tools read (the locks, the committed snapshots, the proposals, the trace corpus), packed with
    /// it so that an installed tool works outside any checkout.
    /// </summary>
    public static string BundledCorpus => Path.Combine(AppContext.BaseDirectory, "corpus");

    /// <summary>Whether <paramref name="root"/> is the tool's own <see cref="BundledCorpus"/>, which nothing may write to.</summary>
    public static bool IsBundled(string root) =>
        string.Equals(Path.GetFullPath(root).TrimEnd('/'), Path.GetFullPath(BundledCorpus).TrimEnd('/'), StringComparison.Ordinal);

    /// <summary>
    /// The folder a tool works on: <paramref name="given"/> (its --repo), else the checkout above the
    /// current folder, else the corpus an installed tool carries (<see cref="BundledCorpus"/>); either way
    /// it must hold <paramref name="needs"/> (a path relative to it, e.g. headers/kernels.lock.json), the
    /// file the tool reads first. <paramref name="writes"/> names what a command would write into the
    /// folder: such a command refuses the bundled corpus, which belongs to the installed tool.
    /// </summary>
    public static string ForTool(string? given, string needs, string? writes = null)
    {
        var root = given is not null ? Path.GetFullPath(given) : Above(Environment.CurrentDirectory);
        if (root is null)
        {
            root = File.Exists(Path.Combine(BundledCorpus, needs))
                ? BundledCorpus
                : throw new ToolException($"no {Marker} in {Environment.CurrentDirectory} or above: run inside a checkout of the repository or pass --repo");
        }

        if (!File.Exists(Path.Combine(root, needs)))
        {
            throw new ToolException($"{(given is not null ? "--repo " + given : root)}: no {needs} there; pass the root of a checkout (--repo)");
        }

        return writes is not null && IsBundled(root)
            ? throw new ToolException($"this command writes {writes}, which needs a checkout of the repository (the corpus the installed tool carries is read-only): run it inside a checkout or pass --repo")
            : root;
    }

    /// <summary>The checkout a test or benchmark binary was built in.</summary>
    public static string OfBuildOutput() =>
        Above(AppContext.BaseDirectory) ?? throw new InvalidOperationException($"no {Marker} above {AppContext.BaseDirectory}: run the tests and benchmarks from the checkout's build output");

    /// <summary>The committed ABI snapshots of a checkout: one per kernel of the lock, proposals under proposals/.</summary>
    public static string SnapshotDirectory(string root) => Path.Combine(root, "generated", "abi");

    /// <summary>A kernel's snapshot file ("7.2"), or a proposal's ("proposals/op-mmap-v1").</summary>
    public static string SnapshotPath(string root, string kernel) => Path.Combine(SnapshotDirectory(root), kernel + ".json");

    /// <summary>Reads a kernel's (or proposal's) committed snapshot; a name the checkout lacks lists the ones it has.</summary>
    public static AbiSnapshot ReadSnapshot(string root, string kernel)
    {
        var path = SnapshotPath(root, kernel);
        if (!File.Exists(path))
        {
            var dir = Path.GetDirectoryName(path)!;
            var known = Directory.Exists(dir) ? string.Join(", ", Directory.GetFiles(dir, "*.json").Select(Path.GetFileNameWithoutExtension).OrderBy(n => n, StringComparer.Ordinal)) : "none";
            throw new ToolException($"no ABI snapshot for kernel '{kernel}' at {path}; the corpus has: {known} (run ./make.sh generate)");
        }

        return SnapshotJson.Read(File.ReadAllText(path), path);
    }

    /// <summary>
    /// The test run's report (TestResults/oracle-report.txt): what each oracle checked, one line each,
    /// which the test command prints sorted after the run. Every test project appends to it.
    /// </summary>
    public static void AppendToTestReport(string root, params string[] lines)
    {
        lock (ReportGate)
        {
            var dir = Path.Combine(root, "TestResults");
            Directory.CreateDirectory(dir);
            File.AppendAllText(Path.Combine(dir, "oracle-report.txt"), string.Concat(lines.Select(l => l + "\n")));
        }
    }

    private static readonly object ReportGate = new();
}
