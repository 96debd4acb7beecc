using System.Diagnostics;
using System.Reflection;
using System.Text;
using IoUring.Abi.Model;
using Xunit;

namespace IoUring.Packaging.Tests;

/// <summary>
/// The repository's packages, packed once per test run from the build the tests run in (pack --no-build)
/// into a folder feed of their own, with a NuGet configuration that knows only that feed and a package
/// folder of its own: nothing a test restores can come from the checkout or from an earlier run.
/// </summary>
public sealed class PackageFeed : IDisposable
{
    /// <summary>Every project that makes a package, with the package it makes.</summary>
    public static readonly (string Project, string Package)[] Packages =
    [
        ("generated/IoUring.Bindings/IoUring.Bindings.csproj", "IoUring.Bindings"),
        ("engine/src/IoUring.Ring/IoUring.Ring.csproj", "IoUring.Ring"),
        ("generator/src/IoUring.Bindings.Generator/IoUring.Bindings.Generator.csproj", "IoUring.Bindings.Generator"),
        ("generator/src/IoUring.Abi.Cli/IoUring.Abi.Cli.csproj", "IoUring.Codegen.Tool"),
        ("conformance/src/IoUring.Conformance.Cli/IoUring.Conformance.Cli.csproj", "IoUring.Conformance.Tool"),
    ];

    public PackageFeed()
    {
        RepoRoot = Checkout.OfBuildOutput();
        Root = Directory.CreateTempSubdirectory("iouring-packaging-").FullName;
        Feed = Directory.CreateDirectory(Path.Combine(Root, "feed")).FullName;
        NuGetPackages = Directory.CreateDirectory(Path.Combine(Root, "nuget-packages")).FullName;
        NuGetConfig = Path.Combine(Root, "nuget.config");
        File.WriteAllText(NuGetConfig, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="io_uring-packages" value="{Feed}" />
              </packageSources>
            </configuration>
            """);

        var configuration = typeof(PackageFeed).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        foreach (var (project, _) in Packages)
        {
            Run(RepoRoot, ["pack", Path.Combine(RepoRoot, project), "-c", configuration, "--no-build", "-o", Feed, "-nologo"]).Check($"pack {project}");
        }

        Version = Path.GetFileNameWithoutExtension(Directory.GetFiles(Feed, "IoUring.Ring.*.nupkg").Single())["IoUring.Ring.".Length..];
    }

    public string RepoRoot { get; }

    /// <summary>A folder outside the checkout that holds everything the tests make.</summary>
    public string Root { get; }

    public string Feed { get; }

    public string NuGetPackages { get; }

    public string NuGetConfig { get; }

    /// <summary>The version every package of this build carries.</summary>
    public string Version { get; }

    public string PackagePath(string id) => Path.Combine(Feed, $"{id}.{Version}.nupkg");

    /// <summary>
    /// Installs a tool package from the feed with 'dotnet tool install --tool-path', once per test run;
    /// returns the path of its command.
    /// </summary>
    public string InstallTool(string package, string command)
    {
        var tools = Path.Combine(Root, "tools");
        lock (this)
        {
            if (!Directory.Exists(Path.Combine(tools, ".store", package.ToLowerInvariant())))
            {
                Run(Root, ["tool", "install", package, "--tool-path", tools, "--version", Version, "--configfile", NuGetConfig]).Check($"install {package}");
            }
        }

        return Path.Combine(tools, command);
    }

    /// <summary>A new empty folder outside the checkout, with the feed's NuGet configuration in it.</summary>
    public string NewProjectFolder(string name)
    {
        var dir = Directory.CreateDirectory(Path.Combine(Root, name)).FullName;
        File.Copy(NuGetConfig, Path.Combine(dir, "nuget.config"), overwrite: true);
        return dir;
    }

    /// <summary>Runs dotnet with the feed's package folder, no telemetry and no first-run text.</summary>
    public ProcessResult Run(string workingDirectory, IReadOnlyList<string> arguments) => Process(workingDirectory, "dotnet", arguments);

    /// <summary>Runs a program (an installed tool, a built project) in the feed's environment.</summary>
    public ProcessResult Process(string workingDirectory, string program, IReadOnlyList<string> arguments, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo(program, arguments)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["NUGET_PACKAGES"] = NuGetPackages;
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        // Inside the test host these point at the test run; a separate build must not inherit them.
        start.Environment.Remove("MSBuildExtensionsPath");
        start.Environment.Remove("MSBUILD_EXE_PATH");
        start.Environment.Remove("MSBuildSDKsPath");
        using var process = System.Diagnostics.Process.Start(start)!;
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (stdout) { stdout.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (stderr) { stderr.AppendLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            return new ProcessResult($"{program} {string.Join(' ', arguments)}", -1, stdout.ToString(), stderr + "\n(timed out)");
        }

        process.WaitForExit();
        return new ProcessResult($"{program} {string.Join(' ', arguments)}", process.ExitCode, stdout.ToString(), stderr.ToString());
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // a build server may still hold a file for a moment; the folder is in the temp area
        }
    }
}

/// <summary>What a process printed and how it ended.</summary>
public sealed record ProcessResult(string Command, int ExitCode, string Stdout, string Stderr)
{
    /// <summary>Throws (failing the test) with everything the process printed unless it exited 0.</summary>
    public ProcessResult Check(string what) =>
        ExitCode == 0 ? this : throw new Xunit.Sdk.XunitException($"{what}: '{Command}' exited {ExitCode}\n{Stdout}\n{Stderr}");

    public override string ToString() => $"'{Command}' exited {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
}

[CollectionDefinition(Name)]
public sealed class PackageFeedCollection : ICollectionFixture<PackageFeed>
{
    public const string Name = "package feed";
}
