using IoUring.Abi.Model;
using IoUring.Engine;

namespace IoUring.Conformance.Tests;

/// <summary>The checkout the tests run in, and the oracle report CI prints.</summary>
internal static class Repository
{
    public static string Root { get; } = Checkout.OfBuildOutput();

    /// <summary>The engine profile of a corpus kernel's committed snapshot (a proposal: "proposals/op-mmap-v1").</summary>
    public static KernelProfile SnapshotProfile(string kernel) => KernelBehaviour.FromSnapshot(Checkout.ReadSnapshot(Root, kernel));

    /// <summary>Appends a line to the test run's report (printed by the test command).</summary>
    public static void Report(string line) => Checkout.AppendToTestReport(Root, line);
}
