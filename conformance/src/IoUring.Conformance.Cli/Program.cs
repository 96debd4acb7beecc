using System.CommandLine;
using IoUring.Abi.Model;
using IoUring.Conformance.Cli;

// Every command turns a ToolException into "error: ..." and exit code 1 (the same contract as
// io_uring-codegen); anything else is a bug in this tool and surfaces as such.
var root = new RootCommand("io_uring conformance on live kernels: Debian's cloud kernels under qemu, each run's traces compared with the reference engine.");
root.Options.Add(Commands.RepoOption);
root.Options.Add(Commands.CacheOption);
root.Subcommands.Add(Commands.Kernels());
root.Subcommands.Add(Commands.Vm());
root.Subcommands.Add(Commands.Programs());
root.Subcommands.Add(Commands.Behaviours());
root.Subcommands.Add(Commands.Matrix());
root.Subcommands.Add(LiburingCommands.Liburing());
root.Subcommands.Add(CorpusCommands.Record());
root.Subcommands.Add(CorpusCommands.Replay());
root.Subcommands.Add(CorpusCommands.Soak());
root.Subcommands.Add(CorpusCommands.Stress());
root.Subcommands.Add(ExportCommands.ExportC());
root.Subcommands.Add(ExportCommands.Reproducers());
try
{
    return await root.Parse(args).InvokeAsync();
}
catch (ToolException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
