using System.Reflection;
using System.Runtime.InteropServices;
using IoUring.Engine;
using Xunit;

namespace IoUring.Conformance.Tests;

/// <summary>
/// The host's kernel as the tests see it: through one supervised child (<see cref="SupervisedHost"/>),
/// started on first use and shared by every test of the run, never in the test host itself.
/// </summary>
internal static class HostKernel
{
    private static readonly Lazy<SupervisedHost> Child = new(() =>
    {
        var host = SupervisedHost.Start(AgentPath);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => host.Dispose();
        return host;
    });

    /// <summary>The agent's build output in the configuration the tests were built in.</summary>
    public static string AgentPath
    {
        get
        {
            var configuration = typeof(HostKernel).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
                .FirstOrDefault(a => a.Key == "AgentConfiguration")?.Value ?? "Debug";
            return SupervisedHost.AgentDll(Repository.Root, configuration);
        }
    }

    /// <summary>The supervised child running the host's kernel.</summary>
    public static SupervisedHost Supervised => Child.Value;

    /// <summary>The host kernel's profile, as the child probed it.</summary>
    public static KernelProfile Profile => Child.Value.Profile;

    /// <summary>Why io_uring cannot be used here (setup refused: disabled by sysctl, or a seccomp filter), or null.</summary>
    public static string? Unavailable { get; } = Check();

    private static unsafe string? Check()
    {
        // One ring set up and closed: not a program, so it may happen in the test host.
        var p = stackalloc byte[120];
        new Span<byte>(p, 120).Clear();
        var fd = (int)syscall(425, 1, p);
        if (fd >= 0)
        {
            close(fd);
            return null;
        }

        return $"io_uring (io_uring_setup fails with errno {Marshal.GetLastPInvokeError()}: check sysctl kernel.io_uring_disabled and the container's seccomp profile)";
    }

    [DllImport("libc", SetLastError = true)]
    private static extern unsafe long syscall(long number, uint entries, byte* p);

    [DllImport("libc")]
    private static extern int close(int fd);
}

/// <summary>
/// A test that drives the host's kernel (through the supervised child). Where io_uring is unavailable it
/// is skipped outside CI, naming why; with CI=true it runs and fails instead, so CI cannot pass by skipping.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class HostKernelFactAttribute : FactAttribute
{
    public HostKernelFactAttribute()
    {
        if (HostKernel.Unavailable is { } why && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Skip = $"needs {why} (with CI=true this fails instead of skipping)";
        }
    }
}
