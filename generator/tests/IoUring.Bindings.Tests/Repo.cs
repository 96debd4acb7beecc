using System.Collections.Immutable;
using System.Diagnostics;
using IoUring.Abi.Headers;
using IoUring.Abi.Model;
using IoUring.Bindings.Generator;

namespace IoUring.Bindings.Tests;

internal static class Repo
{
    public static readonly string Root = Checkout.OfBuildOutput();

    public static string AbiDir => Checkout.SnapshotDirectory(Root);

    public static IEnumerable<object[]> Kernels =>
        Directory.GetFiles(Checkout.SnapshotDirectory(Root), "*.json").Select(f => new object[] { Path.GetFileNameWithoutExtension(f) }).OrderBy(k => (string)k[0], StringComparer.Ordinal);

    public static ImmutableArray<InputFile> Snapshots() =>
        Directory.GetFiles(AbiDir, "*.json").OrderBy(f => f, StringComparer.Ordinal).Select(f => new InputFile(f, File.ReadAllText(f))).ToImmutableArray();

    public static ImmutableArray<InputFile> Curation()
    {
        var path = Path.Combine(Root, "generated", "IoUring.Bindings", "flags.txt");
        return [new InputFile(path, File.ReadAllText(path))];
    }

    /// <summary>The locked, verified include tree of a kernel, from the header cache.</summary>
    public static string CacheTree(string kernel)
    {
        var locked = KernelLock.Load(Path.Combine(Root, "headers", "kernels.lock.json")).Find(kernel);
        return (new HeaderCache().TryGetVerified(locked, out var problem)
            ?? throw new InvalidOperationException($"{problem}: run './make.sh test' (it fetches the locked headers first)")).Root;
    }

    public static (int Exit, string Stdout, string Stderr) Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Root };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output, err.Result);
    }

    public static string CliDll
    {
        get
        {
            var config = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
            return Path.Combine(Root, "generator", "src", "IoUring.Abi.Cli", "bin", config, "net10.0", "io_uring-codegen.dll");
        }
    }

    /// <summary>Compiles and runs a C program with gcc; returns its standard output.</summary>
    public static string RunC(string source, string includeTree, string name, params string[] programArgs)
    {
        var dir = Directory.CreateTempSubdirectory("bindings-probe-").FullName;
        try
        {
            var c = Path.Combine(dir, name + ".c");
            var exe = Path.Combine(dir, name);
            File.WriteAllText(c, source);
            var (rc, _, err) = Run("gcc", "-std=gnu11", "-O0", "-w", "-isystem", includeTree, "-isystem", Path.Combine(includeTree, "x86_64-linux-gnu"), "-o", exe, c);
            if (rc != 0)
            {
                throw new InvalidOperationException($"gcc could not build the probe {name}:\n{err}");
            }

            var (prc, output, perr) = Run(exe, programArgs);
            if (prc != 0)
            {
                throw new InvalidOperationException($"probe {name} exited {prc}: {perr}");
            }

            return output;
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
