using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using IoUring.Abi.Model;

namespace IoUring.Conformance.Vm;

/// <summary>
/// The conformance agent's build output (IoUring.Conformance.Agent), which the initramfs packs. It is
/// found, in order: $IOURING_CONFORMANCE_AGENT (a folder: a build output, or the native agent that
/// 'dotnet publish -r linux-x64 -p:NativeAgent=true' writes), then the repository's
/// conformance/src/IoUring.Conformance.Agent/bin/&lt;configuration this library was built in&gt;/net10.0.
/// </summary>
public sealed record AgentBuild(string Directory)
{
    public const string EntryAssembly = "IoUring.Conformance.Agent.dll";

    /// <summary>The agent compiled ahead of time ('dotnet publish -r linux-x64 -p:NativeAgent=true'): one executable.</summary>
    public const string NativeExecutable = "IoUring.Conformance.Agent";

    /// <summary>
    /// Whether this is the native agent: an executable that needs no .NET runtime, only the C library
    /// (the initramfs carries it and what ldd lists instead of the runtime's files).
    /// </summary>
    public bool IsNative => !File.Exists(Path.Combine(Directory, EntryAssembly)) && File.Exists(Path.Combine(Directory, NativeExecutable));

    /// <summary>What is started: the entry assembly (run by the dotnet host), or the native executable.</summary>
    public string EntryPath => Path.Combine(Directory, IsNative ? NativeExecutable : EntryAssembly);

    /// <summary>
    /// The agent and this runner must be built from the same sources: the runner writes the batch and
    /// reads the results with its copy of IoUring.Conformance and IoUring.Engine, the agent with its own,
    /// and a field one side has and the other has not makes every message unreadable. Every assembly
    /// both folders hold must be the same build (same module version id).
    /// </summary>
    public void CheckMatches(string runnerDirectory)
    {
        var stale = System.IO.Directory.GetFiles(Directory, "*.dll")
            .Where(a => Path.GetFileName(a) != EntryAssembly)
            .Select(a => (Agent: a, Runner: Path.Combine(runnerDirectory, Path.GetFileName(a))))
            .Where(x => File.Exists(x.Runner) && Mvid(x.Agent) != Mvid(x.Runner))
            .Select(x => Path.GetFileName(x.Agent))
            .ToList();
        if (stale.Count > 0)
        {
            throw new ToolException($"the agent ({Directory}) and this runner ({runnerDirectory}) hold different builds of {string.Join(", ", stale)}; rebuild both from the same sources: 'dotnet build conformance/src/IoUring.Conformance.Cli' (it builds the agent first)");
        }
    }

    private static Guid Mvid(string assembly)
    {
        using var stream = File.OpenRead(assembly);
        using var pe = new PEReader(stream);
        var md = pe.GetMetadataReader();
        return md.GetGuid(md.GetModuleDefinition().Mvid);
    }

    /// <summary>
    /// Compiles the agent of a checkout ahead of time for <paramref name="arch"/> (default x86_64) into
    /// <paramref name="outputDir"/> ('dotnet publish -r linux-x64 -p:NativeAgent=true'), as './make.sh
    /// matrix' does, and returns it. For another architecture the architecture's cross gcc links it
    /// (the project file explains the one option that needs adjusting). The publish is incremental:
    /// run again on unchanged sources, it only checks that nothing changed.
    /// </summary>
    public static AgentBuild PublishNative(string repoRoot, string outputDir, string configuration, VmArchitecture? arch = null)
    {
        arch ??= VmArchitecture.X86_64;
        string[] cross = arch.IsHost ? [] : [$"-p:CppCompilerAndLinker={arch.Gcc}", $"-p:ObjCopyName={arch.Triple}-objcopy"];

        // One publish at a time: each restores the project for its own runtime into the one assets file,
        // and a publish for x86_64 beside one for arm64 finds the other's there (NETSDK1047).
        (int, string) published;
        lock (PublishLock)
        {
            published = Tools.Run("dotnet", ["publish", SupervisedHost.AgentProject(repoRoot), "-c", configuration, "-r", arch.RuntimeIdentifier, "-p:NativeAgent=true", .. cross, "-o", outputDir, "-nologo", "-v", "quiet"], TimeSpan.FromMinutes(10));
        }

        var (rc, output) = published;
        var build = new AgentBuild(outputDir);
        return rc == 0 && build.IsNative
            ? build
            : throw new ToolException($"compiling the agent ahead of time for {arch.RuntimeIdentifier} failed (exit {rc}; it needs {(arch.IsHost ? "gcc and zlib1g-dev" : arch.GccPackage)}):\n{output}");
    }

    /// <summary>
    /// The agent for VMs of <paramref name="arch"/>: for x86_64, <see cref="Locate"/>; for another
    /// architecture, $IOURING_CONFORMANCE_AGENT_&lt;ARCH&gt; (e.g. _ARM64: a native agent's folder), or else
    /// the checkout's agent compiled ahead of time for it into the agent project's
    /// bin/&lt;configuration&gt;/native-&lt;rid&gt; (incrementally, so it always matches the sources).
    /// </summary>
    public static AgentBuild ForArchitecture(string repoRoot, VmArchitecture arch)
    {
        if (arch.IsHost)
        {
            return Locate(repoRoot);
        }

        var variable = $"IOURING_CONFORMANCE_AGENT_{arch.DebianArch.ToUpperInvariant()}";
        var env = Environment.GetEnvironmentVariable(variable);
        if (!string.IsNullOrWhiteSpace(env))
        {
            var fromEnv = new AgentBuild(Path.GetFullPath(env));
            return fromEnv.IsNative
                ? fromEnv
                : throw new ToolException($"{variable}={env}: no native {NativeExecutable} there; point it at 'dotnet publish -r {arch.RuntimeIdentifier} -p:NativeAgent=true' output or unset it");
        }

        if (Checkout.IsBundled(repoRoot))
        {
            throw new ToolException($"the {arch.DebianArch} VMs need the conformance agent compiled for {arch.RuntimeIdentifier}, which is built from a checkout: run this command inside a checkout, or set {variable} to a native agent's folder");
        }

        var configuration = Configuration;
        return PublishNative(repoRoot, Path.Combine(SupervisedHost.AgentProject(repoRoot), "bin", configuration, $"native-{arch.RuntimeIdentifier}"), configuration, arch);
    }

    private static readonly Lock PublishLock = new();

    private static string Configuration =>
        typeof(AgentBuild).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "AgentConfiguration")?.Value ?? "Debug";

    public static AgentBuild Locate(string repoRoot)
    {
        var env = Environment.GetEnvironmentVariable("IOURING_CONFORMANCE_AGENT");
        if (!string.IsNullOrWhiteSpace(env))
        {
            var fromEnv = new AgentBuild(Path.GetFullPath(env));
            return File.Exists(fromEnv.EntryPath)
                ? fromEnv
                : throw new ToolException($"IOURING_CONFORMANCE_AGENT={env}: no {EntryAssembly} (nor a native {NativeExecutable}) there; point it at the agent's build output or unset it");
        }

        if (Checkout.IsBundled(repoRoot))
        {
            throw new ToolException("running programs on a kernel (the host's or a VM's) needs the conformance agent, which is built from a checkout of the repository: run this command inside a checkout (or pass --repo), or set IOURING_CONFORMANCE_AGENT to an agent's build output");
        }

        var configuration = Configuration;
        var project = SupervisedHost.AgentProject(repoRoot);
        var build = new AgentBuild(Path.Combine(project, "bin", configuration, "net10.0"));
        return File.Exists(build.EntryPath)
            ? build
            : throw new ToolException($"the conformance agent is not built ({build.EntryPath} is missing); run 'dotnet build {Path.GetRelativePath(Environment.CurrentDirectory, project)} -c {configuration}'");
    }
}
