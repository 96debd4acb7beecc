using System.CommandLine;
using IoUring.Abi.Model;

namespace IoUring.Abi.Cli;

/// <summary>
/// The command tree and how it is invoked: by Program with the console, and by the fuzzer in process
/// with buffers, so that both go through the same parsing, the same actions and the same exit codes.
/// </summary>
internal static class CommandLine
{
    /// <summary>The exit code of a bug in this tool (sysexits' EX_SOFTWARE), never of bad input.</summary>
    public const int ExitInternalError = 70;

    // Built once: the fuzzer invokes the tree tens of thousands of times, and the shared options
    // (--repo, --cache, --format) must have one parent each.
    private static readonly Lazy<RootCommand> Root = new(Build);

    private static RootCommand Build()
    {
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
        root.Subcommands.Add(Commands.Fuzz());
        return root;
    }

    /// <summary>
    /// Every command turns a ToolException into "error: ..." and its error exit code; anything else is
    /// a bug in this tool, reported as such with exit code 70. System.CommandLine's own handler is off:
    /// it would print the exception and exit 1, the code of bad input, so a crash would pass for a
    /// clean refusal.
    /// </summary>
    public static int Invoke(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        try
        {
            return Root.Value.Parse(args).Invoke(config);
        }
        catch (ToolException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (Exception e)
        {
            stderr.WriteLine($"internal error (a bug in io_uring-codegen, not in the input): {e}");
            return ExitInternalError;
        }
    }
}
