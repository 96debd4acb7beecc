using IoUring.Abi.Model;
using IoUring.Engine;

namespace IoUring.Conformance.Tests;

/// <summary>The checkout the tests run in, and the oracle report CI prints.</summary>
internal static class Repository
{
    private static readonly object Gate = new();

    public static string Root { get; } = Checkout.OfBuildOutput();

    /// <summary>The engine profile of a corpus kernel's committed snapshot (a proposal: "proposals/op-mmap-v1").</summary>
    public static KernelProfile SnapshotProfile(string kernel) => KernelBehaviour.FromSnapshot(Checkout.ReadSnapshot(Root, kernel));

    /// <summary>Appends a line to TestResults/oracle-report.txt (printed by .ci/run).</summary>
    public static void Report(string line)
    {
        lock (Gate)
        {
            var dir = Path.Combine(Root, "TestResults");
            Directory.CreateDirectory(dir);
            File.AppendAllLines(Path.Combine(dir, "oracle-report.txt"), [line]);
        }
    }
}
