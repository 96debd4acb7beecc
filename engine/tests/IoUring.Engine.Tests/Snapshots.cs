using System.Collections.Concurrent;
using IoUring.Abi.Model;
using IoUring.Engine;
using Xunit;
using Xunit.Abstractions;

namespace IoUring.Engine.Tests;

/// <summary>Engine profiles from the checkout's committed ABI snapshots, and the oracle report CI prints.</summary>
internal static class Snapshots
{
    public static string Root { get; } = Checkout.OfBuildOutput();

    /// <summary>A corpus kernel's profile as the kernel-behaviour table derives it from its snapshot (a proposal: "proposals/op-mmap-v1").</summary>
    /// <remarks>Each snapshot is read once per test run: profiles are immutable, and a snapshot is 100 KB of JSON to parse.</remarks>
    public static KernelProfile Profile(string kernel) =>
        Profiles.GetOrAdd(kernel, k => new Lazy<KernelProfile>(() => KernelBehaviour.FromSnapshot(Checkout.ReadSnapshot(Root, k)))).Value;

    /// <summary>The newest released kernel of the corpus: the profile the spec tests of the newest features use.</summary>
    public static KernelProfile Newest => Profile(NewestReleased.Value);

    private static readonly ConcurrentDictionary<string, Lazy<KernelProfile>> Profiles = new(StringComparer.Ordinal);

    private static readonly Lazy<string> NewestReleased = new(() =>
        KernelVersion.NewestReleased(Directory.GetFiles(Checkout.SnapshotDirectory(Root), "*.json").Select(Path.GetFileNameWithoutExtension).OfType<string>())
        ?? throw new InvalidOperationException($"no released kernel among the snapshots of {Checkout.SnapshotDirectory(Root)}; run ./make.sh generate"));

    /// <summary>Says, in the test's output and the oracle report, what a spec property checked and on how many programs.</summary>
    public static void ReportSpecRun(ITestOutputHelper output, string feature, string profile, int cases)
    {
        var line = $"{feature}: engine ({profile} profile) held to the spec over {cases} generated programs";
        output.WriteLine(line);
        Checkout.AppendToTestReport(Root, "engine: " + line);
    }

    /// <summary>How many generated programs a spec property runs (IOURING_ENGINE_CASES; default 200).</summary>
    public static int Cases => int.TryParse(Environment.GetEnvironmentVariable("IOURING_ENGINE_CASES"), out var n) ? Math.Max(1, n) : 200;
}

/// <summary>Tests that map memory and read /proc/self/maps run one at a time.</summary>
[CollectionDefinition("serial", DisableParallelization = true)]
public sealed class SerialCollection
{
}
