using IoUring.Abi.Model;
using IoUring.Conformance.Vm;
using Xunit;

namespace IoUring.Conformance.Vm.Tests;

/// <summary>Where the tests find the repository, and what a boot test needs from the machine.</summary>
internal static class TestEnvironment
{
    /// <summary>The batch a VM test boots with: <paramref name="programs"/> generated programs and <paramref name="hostile"/> hostile cases of <paramref name="seed"/>, at the corpus's opcode count.</summary>
    public static ProgramBatch Batch(ulong seed, int programs, int hostile)
    {
        var opLast = SnapshotCorpus.OpLast(RepoRoot);
        return new ProgramBatch { Programs = ProgramSampler.Sample(opLast, seed, programs), Hostile = ProgramSampler.SampleHostile(opLast, seed, hostile) };
    }

    /// <summary>CI=true: a missing prerequisite fails the test that needs it instead of skipping it.</summary>
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static string RepoRoot { get; } = Checkout.OfBuildOutput();

    public static string LockPath => Path.Combine(RepoRoot, "conformance", KernelImageLock.FileName);

    /// <summary>
    /// The corpus file recorded on this host's kernel, or null: releases equal up to the first '-'
    /// (6.18.44-fc-v1045 and 6.18.44-fc-v1300 are one kernel, rebuilt).
    /// </summary>
    public static string? HostCorpus()
    {
        var release = IoUring.Ring.LiveKernel.Release.Split('-')[0];
        return IoUring.Conformance.TraceCorpus.Files(Path.Combine(RepoRoot, "conformance", "corpus"))
            .FirstOrDefault(f => IoUring.Conformance.TraceCorpus.KernelOf(f) is var k && k.StartsWith("host-", StringComparison.Ordinal) && k["host-".Length..].Split('-')[0] == release);
    }
}

/// <summary>
/// A test that needs host tools or a booted kernel. Outside CI it is skipped, naming what is missing and
/// how to get it; in CI (CI=true) it runs and fails on the first missing piece, so a CI machine cannot
/// pass by skipping.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class NeedsFactAttribute : FactAttribute
{
    public NeedsFactAttribute(params string[] needs)
    {
        var missing = Needs.Missing(needs);
        if (missing.Count > 0 && !TestEnvironment.InCi)
        {
            Skip = $"needs {string.Join("; ", missing)} (with CI=true this fails instead of skipping)";
        }
    }
}

/// <summary>Named prerequisites: a host tool ("tool:cpio"), bootable kernels of the lock ("kernel:7.2", "kernel:all", "arm64-kernel:7.2"), the trace corpus of the host's kernel ("host-corpus"), or the i686 cross compiler with its C library ("cross:i686").</summary>
internal static class Needs
{
    public static List<string> Missing(IEnumerable<string> needs)
    {
        var missing = new List<string>();
        foreach (var need in needs)
        {
            if (need.StartsWith("tool:", StringComparison.Ordinal))
            {
                var tool = need[5..];
                if (!OnPath(tool))
                {
                    missing.Add($"{tool}: apt-get install {tool}");
                }
            }
            else if (need.StartsWith("kernel:", StringComparison.Ordinal))
            {
                missing.AddRange(VmPrerequisites.Missing(TestEnvironment.RepoRoot, new VmCache(), [need[7..]]));
            }
            else if (need.StartsWith("arm64-kernel:", StringComparison.Ordinal))
            {
                missing.AddRange(VmPrerequisites.Missing(TestEnvironment.RepoRoot, new VmCache(), [need["arm64-kernel:".Length..]], ["arm64"]));
            }
            else if (need == "cross:i686" && !(OnPath(CBuild.I686Compiler) && File.Exists("/usr/i686-linux-gnu/lib/libc.so.6")))
            {
                missing.Add($"{CBuild.I686Compiler} and the i386 C library: apt-get install gcc-i686-linux-gnu libc6-dev-i386-cross");
            }
            else if (need == "host-corpus" && TestEnvironment.HostCorpus() is null)
            {
                missing.Add($"recorded traces of this host's kernel ({IoUring.Ring.LiveKernel.Release}) in conformance/corpus: record them with 'io_uring-conformance record host'");
            }
        }

        return missing;
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':').Any(d => File.Exists(Path.Combine(d, tool)));

    /// <summary>Called first in a <see cref="NeedsFactAttribute"/> test: in CI a missing prerequisite fails here, by name.</summary>
    public static void Require(params string[] needs)
    {
        var missing = Missing(needs);
        Assert.True(missing.Count == 0, $"CI=true, so this test may not be skipped; missing: {string.Join("; ", missing)}");
    }
}
