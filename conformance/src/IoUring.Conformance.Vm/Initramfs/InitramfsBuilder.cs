using System.Diagnostics;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using IoUring.Abi.Headers;
using IoUring.Abi.Model;

namespace IoUring.Conformance.Vm;

/// <summary>A built initramfs in the cache.</summary>
public sealed record InitramfsImage(string Path, string Key, long Bytes, int Entries, long PayloadBytes);

/// <summary>
/// Builds the VM's initramfs: the static /init (conformance/vm/init.c, embedded in this assembly), the
/// agent, and the part of the installed .NET runtime the agent needs, at the same absolute paths as on
/// the host with the shared libraries <c>ldd</c> lists and the symlinks that lead to them.
/// <para>
/// "What the agent needs" is measured, not guessed: the builder runs the agent once on the host with a
/// sample batch and <c>--loaded-files</c>, which reports every assembly it loaded and every file mapped
/// into it. To that it adds the framework assemblies those reference (so an error path the sample did not
/// take still finds its assemblies) and what exception stack traces load for file and line numbers. That
/// is about half of the shared framework; every megabyte left out is one the kernel does not
/// unpack under emulation at every boot.
/// </para>
/// <para>
/// Images are cached under vm/ keyed by a hash of every input (init source, compiler, runtime version,
/// agent files, this builder's own build); the newest few are kept. The programs of a run are not part of
/// the image: <see cref="WithBatch"/> appends them as a second, small archive (the kernel unpacks
/// concatenated archives in order), so a new batch never rebuilds the image.
/// </para>
/// </summary>
public sealed partial class InitramfsBuilder
{
    private const string AgentDir = "agent";
    private const int ImagesKept = 3;

    private readonly VmCache cache;
    private readonly Action<string> log;

    public InitramfsBuilder(VmCache cache, Action<string> log)
    {
        this.cache = cache;
        this.log = log;
    }

    /// <summary>Seconds one program may run in the VM before the agent reports it hung.</summary>
    public double ProgramTimeoutSeconds { get; init; } = 30;

    public InitramfsImage Build(AgentBuild agent) => Build(agent, VmArchitecture.X86_64);

    /// <summary>The image for VMs of <paramref name="arch"/>; on an architecture other than the host's the agent must be the native one built for it.</summary>
    public InitramfsImage Build(AgentBuild agent, VmArchitecture arch)
    {
        if (!arch.IsHost && !agent.IsNative)
        {
            throw new ToolException($"the {arch.DebianArch} VMs run the agent compiled ahead of time for {arch.RuntimeIdentifier} ({agent.Directory} holds a JIT build): publish it with 'dotnet publish conformance/src/IoUring.Conformance.Agent -r {arch.RuntimeIdentifier} -p:NativeAgent=true' (AgentBuild.PublishNative)");
        }

        var runtime = DotnetRuntime.Current();
        var init = BuildStatic(cache, "init.c", arch);
        var key = Key(agent, runtime, init);
        Directory.CreateDirectory(cache.VmDir);
        var path = Path.Combine(cache.VmDir, $"initramfs-{key}.cpio");
        var manifest = path + ".files";
        if (File.Exists(path) && File.Exists(manifest))
        {
            var lines = File.ReadAllLines(manifest);
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow); // most recently used: kept by the pruning below
            return new InitramfsImage(path, key, new FileInfo(path).Length, lines.Length, lines.Sum(l => long.Parse(l.Split('\t')[1], System.Globalization.CultureInfo.InvariantCulture)));
        }

        var watch = Stopwatch.StartNew();
        log($"building the initramfs (agent {agent.Directory}, .NET {runtime.Version}); cached as {path}");
        var tree = ArchiveTree.WithInit(init, AgentDir);

        string[] command;
        if (agent.IsNative)
        {
            // One executable and the C library it links: no runtime to unpack and start in the guest.
            tree.File($"{AgentDir}/{AgentBuild.NativeExecutable}", agent.EntryPath, 0x1ED);
            if (arch.IsHost)
            {
                foreach (var library in Ldd(agent.EntryPath))
                {
                    tree.HostFile(library);
                }
            }
            else
            {
                foreach (var (guestPath, hostPath) in CrossLibraries([agent.EntryPath], arch.Target, arch.GccPackage))
                {
                    tree.File(guestPath.TrimStart('/'), hostPath, 0x1ED);
                }
            }

            command = [$"/{AgentDir}/{AgentBuild.NativeExecutable}"];
        }
        else
        {
            var (runtimeFiles, agentFiles) = RuntimeClosure(agent, runtime);
            foreach (var file in runtimeFiles)
            {
                tree.HostFile(file);
            }

            foreach (var file in agentFiles)
            {
                tree.File($"{AgentDir}/{Path.GetFileName(file)}", file, 0x1A4);
            }

            command = [runtime.Host, $"/{AgentDir}/{AgentBuild.EntryAssembly}"];
        }

        tree.Text("etc/vm/argv", string.Join("\n", [.. command, AgentProtocol.BatchPath, "--program-timeout", ProgramTimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)]) + "\n");
        tree.Text("etc/vm/env", string.Join("\n", AgentEnvironment) + "\n");

        var temp = $"{path}.{Environment.ProcessId}.tmp";
        try
        {
            // Not compressed: qemu copies the file into guest memory at host speed, while inflating
            // it in the guest is about 0.7 billion emulated instructions per boot (measured; the
            // kernel reaches init at 1.2 instead of 1.9 guest seconds). The cache holds ~45 MB more.
            using (var file = File.Create(temp))
            using (var cpio = new CpioWriter(file))
            {
                tree.WriteTo(cpio);
            }

            AtomicFile.WriteAllText(manifest, tree.Manifest());
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }

        Prune(path);
        var image = new InitramfsImage(path, key, new FileInfo(path).Length, tree.Count, tree.PayloadBytes);
        log($"initramfs: {image.Entries} entries, {image.PayloadBytes / 1048576.0:0.0} MB of files, built in {watch.Elapsed.TotalSeconds:0.0} s");
        return image;
    }

    /// <summary>
    /// Writes <paramref name="target"/>: the image followed by a second archive holding the batch at
    /// <see cref="AgentProtocol.BatchPath"/>. Each archive ends on a 4-byte boundary, as the kernel's
    /// unpacker expects of concatenated archives.
    /// </summary>
    public static void WithBatch(InitramfsImage image, ProgramBatch batch, string target)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(target))!);
        using var output = File.Create(target);
        using (var input = File.OpenRead(image.Path))
        {
            input.CopyTo(output);
        }

        output.Write(new byte[(4 - (output.Position % 4)) % 4]);
        using var cpio = new CpioWriter(output, leaveOpen: true);
        cpio.AddDirectory("etc");
        cpio.AddDirectory("etc/vm");
        cpio.AddFile(AgentProtocol.BatchPath.TrimStart('/'), JsonSerializer.SerializeToUtf8Bytes(batch, AgentJson.Default.ProgramBatch));
    }

    /// <summary>
    /// The agent's environment. Invariant globalization: the image has no ICU. No diagnostics server and
    /// no LTTng probe: each costs start-up work (a socket, a dlopen that fails) and nothing reads them.
    /// </summary>
    public static readonly string[] AgentEnvironment =
    [
        "DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1",
        "DOTNET_EnableDiagnostics=0",
        "DOTNET_LTTng=0",
        "DOTNET_CLI_TELEMETRY_OPTOUT=1",
        "HOME=/tmp",
        "TMPDIR=/tmp",
        "PATH=/usr/bin:/bin",
    ];

    private string Key(AgentBuild agent, DotnetRuntime runtime, string init)
    {
        var sb = new StringBuilder();
        // This assembly's build identity (deterministic: it changes exactly when the builder's code does).
        sb.Append("builder ").Append(typeof(InitramfsBuilder).Assembly.ManifestModule.ModuleVersionId).Append('\n');
        sb.Append(runtime.Root).Append(' ').Append(runtime.Version).Append('\n');
        sb.Append("init ").Append(FileHash.Sha256(init)).Append('\n');
        sb.Append("timeout ").Append(ProgramTimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append('\n');
        sb.Append(string.Join("\n", AgentEnvironment)).Append('\n');
        foreach (var file in Directory.GetFiles(agent.Directory).Order(StringComparer.Ordinal))
        {
            sb.Append(Path.GetFileName(file)).Append(' ').Append(FileHash.Sha256(file)).Append('\n');
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())))[..16];
    }

    /// <summary>
    /// Compiles an embedded C program of conformance/vm (init.c, run-each.c) with the architecture's gcc
    /// (-static) into the cache, keyed by source, compiler and flags; returns the binary's path.
    /// </summary>
    public static string BuildStatic(VmCache cache, string resource, VmArchitecture? arch = null)
    {
        arch ??= VmArchitecture.X86_64;
        string source;
        using (var stream = typeof(InitramfsBuilder).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"{resource} is not embedded in IoUring.Conformance.Vm; the project file lost its EmbeddedResource"))
        using (var reader = new StreamReader(stream))
        {
            source = reader.ReadToEnd();
        }

        if (Tools.OnPath(arch.Gcc) is null)
        {
            throw new ToolException($"{arch.Gcc} is not installed; it builds the {arch.DebianArch} VM's {resource}: apt-get install {arch.GccPackage}");
        }

        var (rc, version) = Tools.Run(arch.Gcc, ["-dumpfullversion"]);
        if (rc != 0)
        {
            throw new ToolException($"{arch.Gcc} -dumpfullversion failed (exit {rc}): {version.Trim()}; install it (apt-get install {arch.GccPackage})");
        }

        string[] flags = ["-static", "-O2", "-Wall", "-Wextra", "-Werror"];
        var key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{source}\n{arch.Gcc} {version.Trim()}\n{string.Join(' ', flags)}")))[..16];
        var stem = Path.GetFileNameWithoutExtension(resource) + (arch.IsHost ? string.Empty : "-" + arch.DebianArch);
        var binary = Path.Combine(cache.VmDir, $"{stem}-{key}");
        if (File.Exists(binary))
        {
            return binary;
        }

        Directory.CreateDirectory(cache.VmDir);
        var src = Path.Combine(cache.VmDir, $"{stem}-{key}.{Environment.ProcessId}.c");
        var temp = $"{binary}.{Environment.ProcessId}.tmp";
        try
        {
            File.WriteAllText(src, source);
            var (crc, output) = Tools.Run(arch.Gcc, [.. flags, "-o", temp, src]);
            if (crc != 0)
            {
                throw new ToolException($"{arch.Gcc} -static could not build the VM's {stem} (exit {crc}):\n{output.Trim()}\nstatic linking needs the C library's development files (apt-get install {arch.GccPackage})");
            }

            File.Move(temp, binary, overwrite: true);
            return binary;
        }
        finally
        {
            File.Delete(src);
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    /// <summary>
    /// Runs the agent on the host to learn the files it loads, then closes the set: framework assemblies
    /// referenced by included framework or agent assemblies, the libraries ldd lists for every native
    /// file, the runtime's own deps.json/runtimeconfig.json. Agent-folder assemblies the agent never
    /// loaded (FsCheck, FSharp.Core: only the program generator uses them) stay out.
    /// </summary>
    private (SortedSet<string> Runtime, SortedSet<string> Agent) RuntimeClosure(AgentBuild agent, DotnetRuntime runtime)
    {
        var loaded = ObserveAgent(agent, runtime);
        var frameworkDir = runtime.FrameworkDir;
        var agentDir = Path.GetFullPath(agent.Directory);
        var runtimeFiles = new SortedSet<string>(StringComparer.Ordinal);
        var agentFiles = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var file in loaded)
        {
            if (Path.GetDirectoryName(file) == agentDir.TrimEnd('/'))
            {
                agentFiles.Add(file);
            }
            else
            {
                runtimeFiles.Add(file);
            }
        }

        // Exception.ToString loads these for file and line numbers; a program that throws in the VM
        // should be reported as precisely as on the host.
        foreach (var name in new[] { "System.Diagnostics.StackTrace.dll", "System.Reflection.Metadata.dll", "System.Collections.Immutable.dll" })
        {
            runtimeFiles.Add(Path.Combine(frameworkDir, name));
        }

        var work = new Queue<string>(runtimeFiles.Concat(agentFiles).Where(f => f.EndsWith(".dll", StringComparison.Ordinal)));
        while (work.Count > 0)
        {
            foreach (var reference in AssemblyReferences(work.Dequeue()))
            {
                var candidate = Path.Combine(frameworkDir, reference + ".dll");
                if (File.Exists(candidate) && runtimeFiles.Add(candidate))
                {
                    work.Enqueue(candidate);
                }
            }
        }

        foreach (var name in new[] { "Microsoft.NETCore.App.deps.json", "Microsoft.NETCore.App.runtimeconfig.json" })
        {
            runtimeFiles.Add(Path.Combine(frameworkDir, name));
        }

        foreach (var name in Directory.GetFiles(agentDir))
        {
            // The host reads the agent's runtimeconfig (framework, invariant globalization) and deps;
            // the symbols of the agent's own assemblies give its stack traces line numbers.
            var keep = name.EndsWith(".runtimeconfig.json", StringComparison.Ordinal) || name.EndsWith(".deps.json", StringComparison.Ordinal)
                || (name.EndsWith(".pdb", StringComparison.Ordinal) && agentFiles.Contains(Path.ChangeExtension(name, ".dll")));
            if (keep)
            {
                agentFiles.Add(name);
            }
        }

        foreach (var elf in runtimeFiles.Where(IsElf).ToList())
        {
            foreach (var library in Ldd(elf))
            {
                runtimeFiles.Add(library);
            }
        }

        runtimeFiles.Add(runtime.Host);
        return (runtimeFiles, agentFiles);
    }

    private List<string> ObserveAgent(AgentBuild agent, DotnetRuntime runtime)
    {
        var scratch = Path.Combine(cache.RunsDir, $"observe-{Environment.ProcessId}");
        Directory.CreateDirectory(scratch);
        try
        {
            var batchPath = Path.Combine(scratch, "batch.json");
            var listPath = Path.Combine(scratch, "loaded.txt");
            var batch = new ProgramBatch { Programs = ProgramSampler.Sample(64, 1, 40) };
            File.WriteAllBytes(batchPath, JsonSerializer.SerializeToUtf8Bytes(batch, AgentJson.Default.ProgramBatch));
            var (rc, output) = Tools.Run(runtime.Host, [agent.EntryPath, batchPath, "--loaded-files", listPath], TimeSpan.FromSeconds(120));
            if (rc != 0 || !File.Exists(listPath))
            {
                var tail = string.Join("\n", output.Split('\n').TakeLast(15));
                throw new ToolException($"the agent failed on the host (exit {rc}), so the files it needs are unknown: {runtime.Host} {agent.EntryPath} {batchPath} --loaded-files {listPath}\n{tail}");
            }

            return File.ReadAllLines(listPath).Where(l => l.Length > 0).Select(Path.GetFullPath).ToList();
        }
        finally
        {
            Directory.Delete(scratch, true);
        }
    }

    private static IEnumerable<string> AssemblyReferences(string path)
    {
        using var stream = File.OpenRead(path);
        using var pe = new PEReader(stream);
        if (!pe.HasMetadata)
        {
            return [];
        }

        var md = pe.GetMetadataReader();
        return md.AssemblyReferences.Select(h => md.GetString(md.GetAssemblyReference(h).Name)).ToList();
    }

    private static bool IsElf(string path)
    {
        Span<byte> magic = stackalloc byte[4];
        using var f = File.OpenRead(path);
        return f.Read(magic) == 4 && magic.SequenceEqual((ReadOnlySpan<byte>)[0x7f, (byte)'E', (byte)'L', (byte)'F']);
    }

    /// <summary>The shared libraries (the loader included) that executables built on and for this machine need, each at its own path: what an image needs to run them.</summary>
    public static IReadOnlyList<string> HostLibraries(IEnumerable<string> executables) =>
        executables.SelectMany(Ldd).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();

    /// <summary>The absolute paths ldd lists for an ELF file (the loader included).</summary>
    private static IEnumerable<string> Ldd(string elf)
    {
        var (rc, output) = Tools.Run("ldd", [elf]);
        if (rc != 0)
        {
            // A static executable: "not a dynamic executable", nothing to add.
            return [];
        }

        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)", "/lib64/ld-linux-x86-64.so.2 (0x...)";
        // "liblttng-ust.so.0 => not found" only for optional providers the agent never loads.
        return output.Split('\n')
            .Select(l => l.Contains("=>", StringComparison.Ordinal) ? l[(l.IndexOf("=>", StringComparison.Ordinal) + 2)..] : l)
            .Select(l => l.Trim().Split(' ')[0])
            .Where(p => p.StartsWith('/') && File.Exists(p))
            .ToList();
    }

    /// <summary>
    /// The shared libraries cross-built executables need, read from their dynamic sections with the
    /// target's readelf (ldd cannot run a foreign binary), found among the host's cross C library
    /// (/usr/&lt;triple&gt;/lib), closed over their own needs. Each goes where the guest's loader looks: the
    /// interpreter at the path the executables name, the rest in the target's multiarch folder
    /// (/lib/&lt;multiarch&gt;), which Debian's loader searches by default. <paramref name="packages"/> is what
    /// to install when a piece is missing.
    /// </summary>
    public static List<(string GuestPath, string HostPath)> CrossLibraries(IEnumerable<string> executables, CTarget target, string packages)
    {
        var readelf = $"{target.Triple}-readelf";
        var libraryDir = $"/usr/{target.Triple}/lib";
        (string Interpreter, List<string> Needed) Read(string file)
        {
            var (rc, output) = Tools.Run(readelf, ["-d", "-l", "-W", file]);
            if (rc != 0)
            {
                throw new ToolException($"{readelf} -d -l {file} failed (exit {rc}): {output.Trim()}; it comes with binutils-{target.Triple} (apt-get install {packages})");
            }

            var interpreter = InterpreterLine().Match(output);
            return (interpreter.Success ? interpreter.Groups[1].Value : string.Empty, NeededLine().Matches(output).Select(m => m.Groups[1].Value).ToList());
        }

        string Host(string name)
        {
            var path = Path.Combine(libraryDir, name);
            return File.Exists(path)
                ? new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path
                : throw new ToolException($"{path} is missing: {target.ShortName} programs link it; install the cross C library (apt-get install {packages})");
        }

        var result = new List<(string, string)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var work = new Queue<string>();
        foreach (var executable in executables)
        {
            var (loader, needed) = Read(executable);
            if (loader.Length > 0 && seen.Add(Path.GetFileName(loader)))
            {
                result.Add((loader, Host(Path.GetFileName(loader))));
            }

            foreach (var name in needed)
            {
                work.Enqueue(name);
            }
        }

        while (work.TryDequeue(out var name))
        {
            if (!seen.Add(name))
            {
                continue;
            }

            var host = Host(name);
            result.Add(($"/lib/{target.MultiarchDir}/{name}", host));
            foreach (var more in Read(host).Needed)
            {
                work.Enqueue(more);
            }
        }

        return result;
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"\[Requesting program interpreter: ([^\]]+)\]")]
    private static partial System.Text.RegularExpressions.Regex InterpreterLine();

    [System.Text.RegularExpressions.GeneratedRegex(@"\(NEEDED\)\s+Shared library: \[([^\]]+)\]")]
    private static partial System.Text.RegularExpressions.Regex NeededLine();

    private void Prune(string keep)
    {
        var images = new DirectoryInfo(cache.VmDir).GetFiles("initramfs-*.cpio").OrderByDescending(f => f.LastWriteTimeUtc).ToList();
        foreach (var old in images.Skip(ImagesKept).Where(f => f.FullName != keep))
        {
            old.Delete();
            File.Delete(old.FullName + ".files");
        }
    }
}

/// <summary>The .NET installation this process runs on: its root (with the dotnet host), and its version.</summary>
internal sealed record DotnetRuntime(string Root, string Version, string FrameworkDir)
{
    public string Host => Path.Combine(Root, "dotnet");

    public static DotnetRuntime Current()
    {
        // .../shared/Microsoft.NETCore.App/<version>/
        var framework = Path.GetFullPath(RuntimeEnvironment.GetRuntimeDirectory()).TrimEnd('/');
        var version = Path.GetFileName(framework);
        var root = Path.GetFullPath(Path.Combine(framework, "..", "..", ".."));
        var runtime = new DotnetRuntime(root, version, framework);
        if (!File.Exists(runtime.Host) || !Directory.Exists(Path.Combine(root, "host", "fxr")))
        {
            throw new ToolException($"the .NET runtime at {framework} is not inside an installation with the dotnet host and host/fxr ({root}); the initramfs needs the SDK's dotnet, host/fxr and shared/Microsoft.NETCore.App: run with the installed SDK's dotnet");
        }

        return runtime;
    }
}

/// <summary>
/// The archive's entries by path, with the directories that hold them; host files are placed at their
/// real path and every symlink on the way to them (a merged /lib, a library's soname link) is recreated,
/// so the dynamic loader in the VM resolves exactly as on the host.
/// </summary>
internal sealed class ArchiveTree
{
    private readonly SortedDictionary<string, Entry> entries = new(StringComparer.Ordinal);

    /// <summary>
    /// What every VM image holds: /init, the folders it mounts on (dev, proc, sys, a world-writable
    /// tmp), /dev/console (without it the kernel starts init with no descriptors), /etc/vm for its
    /// argv and env files, and <paramref name="directories"/>.
    /// </summary>
    public static ArchiveTree WithInit(string init, params string[] directories)
    {
        var tree = new ArchiveTree();
        foreach (var dir in new[] { "dev", "proc", "sys", "etc", "etc/vm" }.Concat(directories))
        {
            tree.Directory(dir);
        }

        tree.Directory("tmp", 0x3FF /* 01777 */);
        tree.CharDevice("dev/console", 5, 1);
        tree.File("init", init, 0x1ED);
        return tree;
    }

    public int Count => entries.Count;

    public long PayloadBytes => entries.Values.Sum(e => e.Size);

    public void Directory(string path, uint permissions = 0x1ED)
    {
        Parents(path);
        entries.TryAdd(path, new Entry(EntryKind.Directory, null, null, permissions, 0));
    }

    public void File(string path, string source, uint permissions)
    {
        Parents(path);
        entries[path] = new Entry(EntryKind.File, source, null, permissions, new FileInfo(source).Length);
    }

    public void Text(string path, string content)
    {
        Parents(path);
        entries[path] = new Entry(EntryKind.Text, null, content, 0x1A4, Encoding.UTF8.GetByteCount(content));
    }

    public void CharDevice(string path, uint major, uint minor)
    {
        Parents(path);
        entries[path] = new Entry(EntryKind.CharDevice, null, null, 0x180, 0, major, minor);
    }

    /// <summary>Adds a host file at its real path, and a symlink at every other path it was reached by.</summary>
    public void HostFile(string path)
    {
        var real = RealPath(path, out var links);
        // The VM runs Linux binaries copied from a Linux host; the guard only satisfies the analyzer.
        var permissions = OperatingSystem.IsWindows() ? 0x1EDu : (uint)System.IO.File.GetUnixFileMode(real) & 0x1FF;
        File(real.TrimStart('/'), real, permissions);
        foreach (var (link, target) in links)
        {
            var name = link.TrimStart('/');
            if (!entries.TryGetValue(name, out var existing) || existing.Kind == EntryKind.Symlink)
            {
                Parents(name);
                entries[name] = new Entry(EntryKind.Symlink, null, target, 0x1FF, target.Length);
            }
        }
    }

    public void WriteTo(CpioWriter cpio)
    {
        // Ordinal order puts every directory before what it holds.
        foreach (var (path, e) in entries)
        {
            switch (e.Kind)
            {
                case EntryKind.Directory:
                    cpio.AddDirectory(path, e.Permissions);
                    break;
                case EntryKind.File:
                    cpio.AddFile(path, e.Source!, e.Permissions);
                    break;
                case EntryKind.Text:
                    cpio.AddFile(path, Encoding.UTF8.GetBytes(e.Content!), e.Permissions);
                    break;
                case EntryKind.Symlink:
                    cpio.AddSymlink(path, e.Content!);
                    break;
                case EntryKind.CharDevice:
                    cpio.AddCharDevice(path, e.Major, e.Minor, e.Permissions);
                    break;
            }
        }
    }

    public string Manifest() =>
        string.Concat(entries.Select(e => $"{e.Key}\t{e.Value.Size}\t{e.Value.Kind}{(e.Value.Kind == EntryKind.Symlink ? " -> " + e.Value.Content : string.Empty)}\n"));

    private void Parents(string path)
    {
        var parent = Path.GetDirectoryName(path);
        while (!string.IsNullOrEmpty(parent))
        {
            if (entries.TryGetValue(parent, out var existing) && existing.Kind != EntryKind.Directory)
            {
                throw new InvalidOperationException($"initramfs: '{parent}' is both a {existing.Kind} and the directory of '{path}'");
            }

            entries.TryAdd(parent, new Entry(EntryKind.Directory, null, null, 0x1ED, 0));
            parent = Path.GetDirectoryName(parent);
        }
    }

    /// <summary>realpath(3), also returning each symlink met on the way with its target as written.</summary>
    private static string RealPath(string path, out List<(string Link, string Target)> links)
    {
        links = new();
        var remaining = new List<string>(path.Split('/', StringSplitOptions.RemoveEmptyEntries));
        var resolved = "/";
        var hops = 0;
        while (remaining.Count > 0)
        {
            var part = remaining[0];
            remaining.RemoveAt(0);
            if (part == ".")
            {
                continue;
            }

            if (part == "..")
            {
                resolved = Path.GetDirectoryName(resolved) ?? "/";
                continue;
            }

            var next = Path.Combine(resolved, part);
            if (new FileInfo(next).LinkTarget is { } target)
            {
                if (++hops > 40)
                {
                    throw new ToolException($"{path}: too many levels of symbolic links");
                }

                links.Add((next, target));
                remaining.InsertRange(0, target.Split('/', StringSplitOptions.RemoveEmptyEntries));
                if (target.StartsWith('/'))
                {
                    resolved = "/";
                }

                continue;
            }

            resolved = next;
        }

        return resolved;
    }

    private enum EntryKind
    {
        Directory,
        File,
        Text,
        Symlink,
        CharDevice,
    }

    private sealed record Entry(EntryKind Kind, string? Source, string? Content, uint Permissions, long Size, uint Major = 0, uint Minor = 0);
}
