using System.Text;
using IoUring.Abi.Model;

namespace IoUring.Abi.Diff;

/// <summary>Renders a report as text (ANSI colours when asked), markdown or JSON.</summary>
public static class ReportWriter
{
    public static string Text(Report r, string title, bool color)
    {
        var sb = new StringBuilder();
        sb.Append($"{title}: {r.Old}{(r.Old == r.New ? string.Empty : $" -> {r.New}")} ({string.Join(", ", r.Targets.Select(Naming.Short))})\n");
        foreach (var c in r.Changes)
        {
            sb.Append(Line(c, color));
        }

        sb.Append(Summary(r)).Append('\n');
        return sb.ToString();
    }

    /// <summary>One change as the text report prints it (and its fix on a second line).</summary>
    public static string Line(Change c, bool color)
    {
        var sev = Label(c.Severity);
        var colored = color ? $"{Ansi(c.Severity)}{sev,-6}\u001b[0m" : $"{sev,-6}";
        var where = c.Location is { } l ? $" [{l}]" : string.Empty;
        var targets = c.Targets is null ? string.Empty : $" (on {string.Join(", ", c.Targets.Select(Naming.Short))})";
        return $"{colored} #{c.Class,-2} {c.Name}: {c.Message}{targets}{where}\n" + (c.Fix is null ? string.Empty : $"             fix: {c.Fix}\n");
    }

    public static string Markdown(Report r, string title)
    {
        var sb = new StringBuilder();
        sb.Append($"## {title}: {r.Old}{(r.Old == r.New ? string.Empty : $" → {r.New}")}\n\n");
        sb.Append($"Targets: {string.Join(", ", r.Targets)}. {Summary(r)}\n\n");
        sb.Append("| severity | class | declaration | change | where |\n|---|---|---|---|---|\n");
        foreach (var c in r.Changes)
        {
            var targets = c.Targets is null ? string.Empty : $" (on {string.Join(", ", c.Targets.Select(Naming.Short))})";
            var fix = c.Fix is null ? string.Empty : $"<br>fix: {Cell(c.Fix)}";
            sb.Append($"| {Label(c.Severity)} | {c.Class} {Cell(c.ClassTitle)} | `{Cell(c.Name)}` | {Cell(c.Message)}{targets}{fix} | {c.Location?.ToString() ?? string.Empty} |\n");
        }

        return sb.ToString();
    }

    public static string Json(Report r, string kind)
    {
        var root = new JsonObject()
            .Add("kind", new JsonString(kind))
            .Add("old", new JsonString(r.Old))
            .Add("new", new JsonString(r.New))
            .Add("targets", new JsonArray(r.Targets.Select(t => (JsonNode)new JsonString(t))))
            .Add("exitCode", new JsonNumber(r.ExitCode))
            .Add("changes", ChangesJson(r.Changes));
        return JsonText.Write(root);
    }

    public static JsonArray ChangesJson(IEnumerable<Change> changes) =>
        new(changes.Select(c => (JsonNode)new JsonObject()
                .Add("severity", new JsonString(Label(c.Severity)))
                .Add("class", new JsonNumber(c.Class))
                .Add("classTitle", new JsonString(c.ClassTitle))
                .Add("name", new JsonString(c.Name))
                .Add("message", new JsonString(c.Message))
                .Add("file", c.Location is { } l ? new JsonString(l.File) : null)
                .Add("line", c.Location is { } l2 ? new JsonNumber(l2.Line) : null)
                .Add("fix", c.Fix is null ? null : new JsonString(c.Fix))
                .Add("targets", c.Targets is null ? null : new JsonArray(c.Targets.Select(t => (JsonNode)new JsonString(t))))));

    public static string Summary(Report r)
    {
        var counts = Enum.GetValues<Severity>().Reverse().Select(s => (s, r.Changes.Count(c => c.Severity == s))).Where(x => x.Item2 > 0).Select(x => $"{x.Item2} {Label(x.s)}");
        var verdict = r.ExitCode switch
        {
            0 => "no change",
            _ when (r.ExitCode & Report.ExitBreak) != 0 => "BREAK",
            _ when (r.ExitCode & Report.ExitNeedsReview) != 0 => "needs review",
            _ => "compatible",
        };
        return $"verdict: {verdict} (exit {r.ExitCode}); {(r.Changes.Count == 0 ? "no changes" : string.Join(", ", counts))}";
    }

    public static string Label(Severity s) => s switch
    {
        Severity.Break => "BREAK",
        Severity.Risk => "RISK",
        Severity.Compat => "COMPAT",
        _ => "INFO",
    };

    private static string Ansi(Severity s) => s switch
    {
        Severity.Break => "\u001b[1;31m",
        Severity.Risk => "\u001b[33m",
        Severity.Compat => "\u001b[32m",
        _ => "\u001b[36m",
    };

    private static string Cell(string s) => s.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}
