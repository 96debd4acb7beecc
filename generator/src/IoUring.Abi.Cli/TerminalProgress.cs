using System.Diagnostics;
using Spectre.Console;

namespace IoUring.Cli;

/// <summary>
/// Long work (package list refreshes, downloads, VM boots) as a person at a terminal sees it: a spinner
/// with the latest step and the time so far, every step also printed above it, so a silent apt-get or a
/// booting kernel still shows that something runs. When standard error is not a terminal (a pipe, a log
/// file, CI), the steps are plain lines and nothing else. Shared by both command lines.
/// </summary>
public static class TerminalProgress
{
    private static readonly IAnsiConsole Err = AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(Console.Error),
    });

    /// <summary>
    /// Whether the spinner is shown: the steps go to the process's standard error (not a writer of a
    /// caller's own, as when the commands run in process), and it is an interactive terminal that is not "dumb".
    /// </summary>
    public static bool Interactive(TextWriter steps) =>
        ReferenceEquals(steps, Console.Error) && !Console.IsErrorRedirected && Err.Profile.Capabilities.Interactive
        && Environment.GetEnvironmentVariable("TERM") is not (null or "" or "dumb");

    /// <summary>Runs <paramref name="work"/>, which reports its steps through the action it is given (plain lines to <paramref name="steps"/> off a terminal).</summary>
    public static T Run<T>(string title, TextWriter steps, Func<Action<string>, T> work)
    {
        if (!Interactive(steps))
        {
            return work(steps.WriteLine);
        }

        return Err.Status().Spinner(Spinner.Known.Dots).Start(Markup.Escape(title), ctx =>
        {
            var spinner = new SpinnerText(ctx, title);
            using var timer = new Timer(_ => spinner.Refresh(), null, 0, 1000);
            return work(spinner.Step);
        });
    }

    /// <summary>As <see cref="Run{T}"/>, for work that awaits.</summary>
    public static async Task<T> RunAsync<T>(string title, TextWriter steps, Func<Action<string>, Task<T>> work)
    {
        if (!Interactive(steps))
        {
            return await work(steps.WriteLine);
        }

        // The first frame already carries the time, so a line drawn before the timer's first tick (work
        // that ends within a frame or two) still says how long it took.
        return await Err.Status().Spinner(Spinner.Known.Dots).StartAsync($"{Markup.Escape(title)} [grey](0:00)[/]", async ctx =>
        {
            var spinner = new SpinnerText(ctx, title);
            using var timer = new Timer(_ => spinner.Refresh(), null, 0, 1000);
            return await work(spinner.Step);
        });
    }

    /// <summary>The spinner's line: the title, the latest step, the time since the start.</summary>
    private sealed class SpinnerText(StatusContext context, string title)
    {
        private readonly Stopwatch watch = Stopwatch.StartNew();
        private readonly object gate = new();
        private string latest = string.Empty;

        public void Step(string message)
        {
            lock (gate)
            {
                Err.WriteLine(message);
                latest = message.Split('\n')[0];
                Refresh();
            }
        }

        public void Refresh()
        {
            lock (gate)
            {
                var step = latest.Length > 90 ? latest[..87] + "..." : latest;
                context.Status($"{Markup.Escape(title)}{(step.Length > 0 ? ": " + Markup.Escape(step) : string.Empty)} [grey]({watch.Elapsed:m\\:ss})[/]");
            }
        }
    }
}
