using System.Diagnostics;
using IoUring.Abi.Headers;
using IoUring.Abi.Model;

namespace IoUring.Abi.Tests;

/// <summary>The repository, its lock and its cached headers, as the tests see them.</summary>
internal static class Corpus
{
    private static readonly Lazy<string> RootDir = new(Checkout.OfBuildOutput);

    private static readonly Lazy<KernelLock> LockFile = new(() => KernelLock.Load(Path.Combine(Root, "headers", "kernels.lock.json")));

    public static string Root => RootDir.Value;

    public static KernelLock Lock => LockFile.Value;

    public static IEnumerable<object[]> Kernels => KernelLock.Load(Path.Combine(RootDir.Value, "headers", "kernels.lock.json")).Kernels.Select(k => new object[] { k.Kernel });

    public static string SnapshotPath(string kernel) => Checkout.SnapshotPath(Root, kernel);

    public static AbiSnapshot Snapshot(string kernel) => SnapshotJson.Read(File.ReadAllText(SnapshotPath(kernel)), SnapshotPath(kernel));

    /// <summary>The locked include tree of a kernel; the README's test command fetches it before the tests run.</summary>
    public static IncludeTree Tree(string kernel)
    {
        var k = Lock.Find(kernel);
        return new HeaderCache().TryGetVerified(k, out var problem)
            ?? throw new InvalidOperationException($"{problem}: run './make.sh test' (it runs 'headers fetch --locked' first)");
    }

    public static string CliDll
    {
        get
        {
            var config = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
            return Path.Combine(Root, "generator", "src", "IoUring.Abi.Cli", "bin", config, "net10.0", "io_uring-codegen.dll");
        }
    }

    public static (int Exit, string Stdout, string Stderr) RunCli(IEnumerable<string> args, IDictionary<string, string>? env = null, string? cwd = null)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = cwd ?? Root,
        };
        psi.ArgumentList.Add(CliDll);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }

        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output, err.Result);
    }

    /// <summary>
    /// A prerequisite the tests cannot run without. In CI it must be there; elsewhere the failure
    /// names the package that provides it (./make.sh test installs them as root).
    /// </summary>
    public static string RequireTool(string tool, string package)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':'))
        {
            var path = Path.Combine(dir, tool);
            if (File.Exists(path))
            {
                return path;
            }
        }

        throw new InvalidOperationException($"{tool} is missing: install it with 'apt-get install {package}' (./make.sh test does this when run as root)");
    }
}
