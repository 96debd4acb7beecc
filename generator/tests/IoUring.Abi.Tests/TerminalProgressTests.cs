using System.Diagnostics;
using Xunit;

namespace IoUring.Abi.Tests;

/// <summary>
/// Long work shows a spinner with its step and the time so far on a terminal, and plain lines
/// otherwise: the same command, once on a pseudo-terminal (script(1)) and once with standard error piped.
/// </summary>
public sealed class TerminalProgressTests
{
    [Fact]
    public async Task HeadersFetchShowsASpinnerOnATerminalAndPlainLinesOtherwise()
    {
        var script = Corpus.RequireTool("script", "bsdutils");

        var piped = Corpus.RunCli(["headers", "fetch", "--locked"]);
        Assert.Equal(0, piped.Exit);
        Assert.DoesNotContain('\u001b', piped.Stdout + piped.Stderr);
        Assert.Contains("lock unchanged", piped.Stdout, StringComparison.Ordinal);

        // script(1) gives the command a terminal and copies what it drew to its own output.
        var psi = new ProcessStartInfo(script, ["-qfec", $"dotnet {Corpus.CliDll} headers fetch --locked", "/dev/null"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Corpus.Root,
        };
        psi.Environment["TERM"] = "xterm-256color";
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var drawn = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(120_000), "headers fetch on a terminal did not end");
        Assert.True(p.ExitCode == 0, drawn + await err);
        Assert.Contains("\u001b[", drawn, StringComparison.Ordinal);
        Assert.Contains("headers fetch", drawn, StringComparison.Ordinal);
        Assert.Matches(@"\(0:\d\d\)", drawn);
        Assert.Contains("lock unchanged", drawn, StringComparison.Ordinal);
    }
}
