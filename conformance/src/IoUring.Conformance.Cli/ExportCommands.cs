using System.CommandLine;
using System.Text.Json;
using IoUring.Abi.Headers;
using IoUring.Abi.Model;
using IoUring.Conformance.Vm;
using IoUring.Engine;

namespace IoUring.Conformance.Cli;

/// <summary>
/// From a program of the suite to a C file a kernel developer can run: 'export-c' writes one program
/// (a recorded one, checked against its kernel's trace, or one of a batch file, checked against the
/// engine), 'reproducers' the folder of the kernel bugs the suite found.
/// </summary>
internal static class ExportCommands
{
    public static Command ExportC()
    {
        var kernel = new Argument<string>("kernel") { Description = "The corpus file the program is in (e.g. 6.12, host-6.18.44-fc-v1045); with --programs, the kernel whose profile the engine is given (a snapshot of generated/abi)" };
        var program = new Option<string?>("--program") { Description = "The recorded program of this name (as 'replay' and 'soak' print it); the C file checks the kernel's recorded trace" };
        var batch = new Option<string?>("--programs") { Description = "A batch file (as 'programs' writes it): export its program --index N, checked against the engine given the kernel's profile" };
        var index = new Option<int>("--index") { Description = "With --programs: which program of the batch (from 0)", DefaultValueFactory = _ => 0 };
        var output = new Option<string?>("--output", "-o") { Description = "Write the C file here (atomically); default: standard output" };
        var cmd = new Command("export-c", "Write one program of the suite as a standalone C file (raw syscalls and linux/io_uring.h) that checks every result against the expected trace and exits 0 pass, 1 fail, 77 skip.")
        {
            kernel, program, batch, index, output, CorpusCommands.CorpusOption,
        };
        cmd.SetAction(r => Commands.Run(() =>
        {
            var repo = Repo.Find(r.GetValue(Commands.RepoOption));
            var name = r.GetValue(program);
            var batchFile = r.GetValue(batch);
            var k = r.GetValue(kernel)!;
            if ((name is null) == (batchFile is null))
            {
                throw new ToolException("give --program NAME (a recorded program) or --programs FILE --index N (a program of a batch), not both or neither");
            }

            CReproducer reproducer;
            if (name is not null)
            {
                var file = Path.Combine(CorpusCommands.CorpusDirectory(repo, r.GetValue(CorpusCommands.CorpusOption)), k + TraceCorpus.Extension);
                if (!File.Exists(file))
                {
                    throw new ToolException($"{file}: no recorded traces of kernel '{k}'; 'replay' lists the corpus files");
                }

                var corpus = CorpusCommands.LoadCorpus(file);
                var entry = corpus.Entries.FirstOrDefault(e => e.Name == name)
                    ?? throw new ToolException($"{file}: no program is named '{name}' (names look like 'seed 7 #12' or 'soak 6.1 seed 9 #40 shrunk')");
                reproducer = CReproducer.FromRecording(entry, corpus.Header);
            }
            else
            {
                var programs = Commands.ReadBatch(batchFile!).Programs;
                var i = r.GetValue(index);
                if (i < 0 || i >= programs.Length)
                {
                    throw new ToolException($"--index {i}: {batchFile} holds {programs.Length} programs (0 to {programs.Length - 1})");
                }

                if (!File.Exists(Checkout.SnapshotPath(repo.Root, k)))
                {
                    throw new ToolException($"{Checkout.SnapshotPath(repo.Root, k)}: no snapshot of kernel '{k}'; the kernels are those of generated/abi");
                }

                var profile = KernelBehaviour.FromSnapshot(Checkout.ReadSnapshot(repo.Root, k));
                reproducer = CReproducer.FromEngine(
                    $"io_uring program {i} of {Path.GetFileName(batchFile)}, as the reference engine runs it for kernel {k}",
                    ["Every check below compares what the kernel does with what the conformance suite's reference engine does given the profile of " + k + "."],
                    programs[i],
                    profile,
                    profile.MixedOverflowWaitSpins);
            }

            var text = CExport.Write(reproducer, SnapshotCorpus.All(repo.Root));
            if (r.GetValue(output) is { } path)
            {
                AtomicFile.WriteAllText(path, text);
                Console.Error.WriteLine($"wrote {path} ({text.Split('\n').Length} lines); build it with gcc -Wall -Werror -O2 -pthread");
            }
            else
            {
                Console.Write(text);
            }

            return 0;
        }));
        return cmd;
    }

    public static Command Reproducers()
    {
        var check = new Option<bool>("--check") { Description = "Write nothing; exit 2 when a committed file of conformance/reproducers is stale" };
        var cmd = new Command("reproducers", "Write conformance/reproducers: a C reproducer and a report per kernel bug the suite found, and an index.")
        {
            check,
        };
        cmd.SetAction(r => Commands.Run(() =>
        {
            var repo = Repo.Find(r.GetValue(Commands.RepoOption), r.GetValue(check) ? null : "conformance/reproducers");
            if (r.GetValue(check))
            {
                var stale = ReproducerFolder.Stale(repo.Root);
                Console.WriteLine(stale.Count == 0 ? "conformance/reproducers is fresh" : $"stale: {string.Join(", ", stale)}; run 'io_uring-conformance reproducers'");
                return stale.Count == 0 ? 0 : 2;
            }

            var changed = ReproducerFolder.Write(repo.Root);
            Console.WriteLine(changed.Count == 0 ? "conformance/reproducers unchanged" : $"written: {string.Join(", ", changed)}");
            return 0;
        }));
        return cmd;
    }
}
