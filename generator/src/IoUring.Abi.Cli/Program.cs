using System.CommandLine;
using IoUring.Abi.Cli;
using IoUring.Abi.Model;

// Every command turns a ToolException into "error: ..." and exit code 1; anything else is a bug in
// this tool, reported as such with exit code 70 instead of an unhandled-exception crash.
var root = new RootCommand("io_uring UAPI code generator: kernel headers -> ABI snapshots (and, from them, bindings, diffs, lint).");
root.Options.Add(Commands.RepoOption);
root.Options.Add(Commands.CacheOption);
root.Subcommands.Add(Commands.Headers());
root.Subcommands.Add(Commands.Extract());
root.Subcommands.Add(Commands.Generate());
root.Subcommands.Add(Commands.Show());
root.Subcommands.Add(Commands.Diff());
root.Subcommands.Add(Commands.Lint());
root.Subcommands.Add(Commands.Timeline());
try
{
    return root.Parse(args).Invoke();
}
catch (ToolException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
