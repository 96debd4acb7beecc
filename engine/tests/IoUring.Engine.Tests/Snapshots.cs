using IoUring.Abi.Model;
using IoUring.Engine;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>Engine profiles from the checkout's committed ABI snapshots, and the oracle report CI prints.</summary>
internal static class Snapshots
{
    private static readonly object Gate = new();

    public static string Root { get; } = Checkout.OfBuildOutput();

    /// <summary>A corpus kernel's profile as the kernel-behaviour table derives it from its snapshot (a proposal: "proposals/op-mmap-v1").</summary>
    public static KernelProfile Profile(string kernel) => KernelBehaviour.FromSnapshot(Checkout.ReadSnapshot(Root, kernel));

    /// <summary>The newest released kernel of the corpus: the profile the spec tests of the newest features use.</summary>
    public static KernelProfile Newest => Profile(KernelVersion.NewestReleased(Directory.GetFiles(Checkout.SnapshotDirectory(Root), "*.json").Select(Path.GetFileNameWithoutExtension).OfType<string>())
        ?? throw new InvalidOperationException($"no released kernel among the snapshots of {Checkout.SnapshotDirectory(Root)}; run ./make.sh generate"));

    /// <summary>Appends a line to TestResults/oracle-report.txt (the test command prints it).</summary>
    public static void Report(string line)
    {
        lock (Gate)
        {
            var dir = Path.Combine(Root, "TestResults");
            Directory.CreateDirectory(dir);
            File.AppendAllLines(Path.Combine(dir, "oracle-report.txt"), [line]);
        }
    }

    /// <summary>How many generated programs a spec property runs (IOURING_ENGINE_CASES; default 200).</summary>
    public static int Cases => int.TryParse(Environment.GetEnvironmentVariable("IOURING_ENGINE_CASES"), out var n) ? Math.Max(1, n) : 200;
}

/// <summary>Tests that map memory and read /proc/self/maps run one at a time.</summary>
[CollectionDefinition("serial", DisableParallelization = true)]
public sealed class SerialCollection
{
}
