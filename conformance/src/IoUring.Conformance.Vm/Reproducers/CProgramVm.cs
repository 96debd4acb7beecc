using System.Globalization;
using IoUring.Abi.Model;

namespace IoUring.Conformance.Vm;

/// <summary>One C program run in a VM: its exit ("0", "1", "77", 128 + a signal, "stuck"), its time and what it printed.</summary>
public sealed record CProgramResult(string Name, string Exit, double Seconds, IReadOnlyList<string> Output)
{
    public override string ToString() => $"{Name}: exit {Exit} in {Seconds:0.00} s{(Output.Count > 0 ? ": " + string.Join(" | ", Output.Take(3)) : string.Empty)}";
}

/// <summary>A boot that ran C programs: each program's result by name, and what went wrong with the boot itself.</summary>
public sealed record CProgramRun(string Kernel, string? Release, IReadOnlyDictionary<string, CProgramResult> Results, IReadOnlyList<string> Problems, string Console)
{
    public bool Failed => Problems.Count > 0;

    /// <summary>The boot's wall time, from starting qemu to its exit.</summary>
    public double Seconds { get; init; }

    /// <summary>The size of the initramfs the kernel booted with, in bytes.</summary>
    public long ImageBytes { get; init; }
}

/// <summary>
/// Boots a kernel of the lock under qemu with static C programs (exported programs, reproducers) and
/// runs them one at a time with conformance/vm/run-each.c, each with a deadline: no .NET in the image,
/// so it is a few megabytes and the VM reaches its programs within seconds of the kernel starting.
/// </summary>
public static class CProgramVm
{
    private const string Marker = "@@IOURING-VM-PROGRAM ";

    public static Task<CProgramRun> RunAsync(VmCache cache, LockedImage kernel, IReadOnlyList<string> binaries, QemuOptions options, Action<string> log, CancellationToken cancel = default) =>
        RunAsync(cache, kernel, binaries.Select(b => (Path.GetFileName(b), b)).ToList(), [], options, log, cancel);

    /// <summary>
    /// Boots <paramref name="kernel"/> with <paramref name="programs"/> (each run as /programs/NAME, in
    /// this order) and <paramref name="files"/> (host files placed at a path of the image: the dynamic
    /// loader and C library of programs that are not static).
    /// </summary>
    public static async Task<CProgramRun> RunAsync(
        VmCache cache, LockedImage kernel, IReadOnlyList<(string Name, string Binary)> programs, IReadOnlyList<(string ImagePath, string HostFile)> files, QemuOptions options, Action<string> log, CancellationToken cancel = default)
    {
        var vmlinuz = cache.TryGetVerified(kernel, out var problem)
            ?? throw new ToolException($"{problem}; run 'io_uring-conformance kernels fetch --locked' (or './make.sh test', which does)");
        var names = programs.Select(p => p.Name).ToList();
        if (names.Distinct(StringComparer.Ordinal).Count() != names.Count)
        {
            throw new ToolException($"two programs share a file name: {string.Join(", ", names.GroupBy(n => n).Where(g => g.Count() > 1).Select(g => g.Key))}");
        }

        var tree = ArchiveTree.WithInit(InitramfsBuilder.BuildStatic(cache, "init.c"), "programs");
        tree.File("programs/run-each", InitramfsBuilder.BuildStatic(cache, "run-each.c"), 0x1ED);
        foreach (var (name, binary) in programs)
        {
            tree.File($"programs/{name}", binary, 0x1ED);
        }

        foreach (var (imagePath, hostFile) in files)
        {
            tree.File(imagePath.TrimStart('/'), hostFile, 0x1ED);
        }

        tree.Text("etc/vm/argv", string.Join("\n", ["/programs/run-each", .. names.Select(n => "/programs/" + n)]) + "\n");
        tree.Text("etc/vm/env", "PATH=/programs\nHOME=/tmp\n");
        Directory.CreateDirectory(cache.RunsDir);
        var initrd = Path.Combine(cache.RunsDir, $"{Environment.ProcessId}-{Guid.NewGuid():N}.initrd");
        try
        {
            using (var file = File.Create(initrd))
            using (var cpio = new CpioWriter(file))
            {
                tree.WriteTo(cpio);
            }

            var bytes = new FileInfo(initrd).Length;
            log($"{kernel.Kernel}: booting {kernel.Release} with {programs.Count} C programs ({bytes / 1048576.0:0.0} MB initramfs)");
            var qemu = await QemuRunner.BootAsync(vmlinuz, initrd, options, cancel);
            var run = Read(kernel, names, qemu) with { Seconds = qemu.Elapsed.TotalSeconds, ImageBytes = bytes };
            log($"{kernel.Kernel}: {(run.Failed ? "FAILED: " + run.Problems[0] : "done")} in {qemu.Elapsed.TotalSeconds:0.0} s");
            return run;
        }
        finally
        {
            File.Delete(initrd);
        }
    }

    /// <summary>Reads the console of a boot: each program's output lines and exit, and the boot's problems.</summary>
    public static CProgramRun Read(LockedImage kernel, IReadOnlyList<string> names, QemuResult qemu)
    {
        var output = names.ToDictionary(n => n, _ => new List<string>(), StringComparer.Ordinal);
        var results = new Dictionary<string, CProgramResult>(StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var line in qemu.Console.Split('\n'))
        {
            if (!line.StartsWith(Marker, StringComparison.Ordinal))
            {
                continue;
            }

            var rest = line[Marker.Length..];
            var space = rest.IndexOf(' ', StringComparison.Ordinal);
            if (space < 0 || !output.TryGetValue(rest[..space], out var lines))
            {
                continue;
            }

            var name = rest[..space];
            var what = rest[(space + 1)..];
            if (what.StartsWith("output ", StringComparison.Ordinal))
            {
                lines.Add(what["output ".Length..]);
            }
            else if (what.StartsWith("exit=", StringComparison.Ordinal))
            {
                var parts = what.Split(' ');
                var seconds = parts.Length > 1 && parts[1].StartsWith("seconds=", StringComparison.Ordinal)
                    ? double.Parse(parts[1]["seconds=".Length..], CultureInfo.InvariantCulture) : 0;
                results[name] = new CProgramResult(name, parts[0]["exit=".Length..], seconds, lines);
            }
        }

        if (qemu.Killed is { } killed)
        {
            problems.Add(killed);
        }

        if (!qemu.Console.Contains("@@IOURING-VM-EXIT", StringComparison.Ordinal))
        {
            problems.Add("the VM never reported its workload's end (no @@IOURING-VM-EXIT)");
        }

        var missing = names.Where(n => !results.ContainsKey(n)).ToList();
        if (missing.Count > 0)
        {
            problems.Add($"{missing.Count} programs never reported (first: {missing[0]})");
        }

        if (VmRun.IsKernelTrouble(qemu.Console))
        {
            problems.Add("the kernel reported trouble (oops, BUG, panic, or a lockup): see the console");
        }

        return new CProgramRun(kernel.Kernel, kernel.Release, results, problems, qemu.Console);
    }
}
