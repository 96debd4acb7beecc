using System.Text;
using IoUring.Abi.Headers;
using IoUring.Abi.Model;
using IoUring.Engine;

namespace IoUring.Conformance.Vm;

/// <summary>
/// conformance/reproducers: one C reproducer and one report per kernel bug of <see cref="KnownBugs"/>,
/// and an index. Every file is derived (from the bug's program, the engine and the behaviour table), so
/// the folder is written by 'io_uring-conformance reproducers' and a test checks it is fresh.
/// </summary>
public static class ReproducerFolder
{
    public static string Path(string repoRoot) => System.IO.Path.Combine(repoRoot, "conformance", "reproducers");

    /// <summary>Every file of the folder (name → content), from the committed snapshots.</summary>
    public static SortedDictionary<string, string> Files(string repoRoot)
    {
        var snapshots = SnapshotCorpus.All(repoRoot);
        var correct = KnownBug.WithoutBugs(KernelBehaviour.FromSnapshot(snapshots[^1]));
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var bug in KnownBugs.All)
        {
            files[bug.Name + ".c"] = CExport.Write(bug.Reproducer(correct), snapshots);
            files[bug.Name + ".md"] = Report(bug);
        }

        files["README.md"] = Index();
        return files;
    }

    /// <summary>Writes the folder; returns the files that changed (a file of the folder no bug names any more is removed).</summary>
    public static IReadOnlyList<string> Write(string repoRoot)
    {
        var dir = Path(repoRoot);
        Directory.CreateDirectory(dir);
        var changed = new List<string>();
        var files = Files(repoRoot);
        foreach (var (name, text) in files)
        {
            var path = System.IO.Path.Combine(dir, name);
            if (!File.Exists(path) || File.ReadAllText(path) != text)
            {
                AtomicFile.WriteAllText(path, text);
                changed.Add(name);
            }
        }

        foreach (var stale in Directory.GetFiles(dir).Where(f => !files.ContainsKey(System.IO.Path.GetFileName(f))))
        {
            File.Delete(stale);
            changed.Add(System.IO.Path.GetFileName(stale));
        }

        return changed;
    }

    /// <summary>The files that differ from what <see cref="Files"/> would write (missing, changed or extra).</summary>
    public static IReadOnlyList<string> Stale(string repoRoot)
    {
        var dir = Path(repoRoot);
        var files = Files(repoRoot);
        var stale = files.Where(f => !File.Exists(System.IO.Path.Combine(dir, f.Key)) || File.ReadAllText(System.IO.Path.Combine(dir, f.Key)) != f.Value).Select(f => f.Key).ToList();
        if (Directory.Exists(dir))
        {
            stale.AddRange(Directory.GetFiles(dir).Select(System.IO.Path.GetFileName).OfType<string>().Where(n => !files.ContainsKey(n)));
        }

        return stale;
    }

    private static string Report(KnownBug bug)
    {
        var md = new StringBuilder();
        md.Append("# ").Append(bug.Title).Append("\n\n");
        md.Append("| | |\n|---|---|\n");
        md.Append("| Kernels affected | ").Append(bug.AffectedKernels).Append(" (the kernel-behaviour table's row `").Append(bug.Behaviour).Append("`, printed in docs/engine.md) |\n");
        md.Append("| Reproducer | [").Append(bug.Name).Append(".c](").Append(bug.Name).Append(".c): `gcc -Wall -Werror -O2 -pthread -o repro ").Append(bug.Name).Append(".c`; exit 0 pass, 1 fail, 77 skip |\n");
        md.Append("| Kernel code | ").Append(bug.KernelCode).Append(" |\n");
        md.Append("| Safe to run | ").Append(bug.CanHang
            ? "in a VM, or on a host where one core spinning for 5 s harms nothing: a thread spins in the kernel until the reproducer's watchdog frees it; the test suite runs it on the host only under its supervised runner"
            : "anywhere: a wait that finds nothing gives up after 2 s").Append(" |\n\n");
        md.Append("## What happens\n\n").Append(Paragraph(bug.WhatHappens.Replace("What happens: ", string.Empty, StringComparison.Ordinal))).Append("\n\n");
        md.Append("## What should happen\n\n").Append(Paragraph(char.ToUpperInvariant(bug.WhatShouldHappen[0]) + bug.WhatShouldHappen[1..])).Append("\n\n");
        md.Append("## The program\n\n```text\n").Append(bug.Program).Append("\n```\n\n");
        md.Append("The C file checks every result against what a correct kernel does: the conformance suite's reference engine given the newest kernel's profile with the known bugs switched off. ");
        md.Append("`ReproducerTests` builds it and runs it under qemu on every kernel of the corpus (and on the host): it must fail exactly on the kernels the behaviour table marks.\n");
        return md.ToString();
    }

    private static string Index()
    {
        var md = new StringBuilder();
        md.Append("# Kernel bugs the conformance suite found\n\n");
        md.Append("One standalone C program per bug, written by `io_uring-conformance reproducers` from the bug's program ");
        md.Append("(`KnownBugs` in the conformance library), with a report beside it. Each exits 0 when the kernel behaves, 1 when it shows the bug ");
        md.Append("(printing the first difference), 77 when it lacks a feature the program needs. Which kernels have each bug is one row of the ");
        md.Append("kernel-behaviour table (docs/engine.md); the reproducer test holds every reproducer to it on every kernel of the corpus.\n\n");
        md.Append("| Bug | Kernels | Behaviour row | Can hang |\n|---|---|---|---|\n");
        foreach (var bug in KnownBugs.All)
        {
            md.Append("| [").Append(bug.Title).Append("](").Append(bug.Name).Append(".md) | ").Append(bug.AffectedKernels).Append(" | `").Append(bug.Behaviour).Append("` | ").Append(bug.CanHang ? "yes (spins until freed)" : "no").Append(" |\n");
        }

        return md.ToString();
    }

    private static string Paragraph(string text) => string.Join("\n", CExport.Wrap(text, 100));
}
