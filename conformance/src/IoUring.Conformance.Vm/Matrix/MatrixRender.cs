using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace IoUring.Conformance.Vm;

/// <summary>Writes a <see cref="FeatureMatrix"/> out as a person reads it (markdown, SVG) and as a program does (JSON).</summary>
public static class MatrixRender
{
    public static string Json(FeatureMatrix m) => JsonSerializer.Serialize(m, ReportJson.Default.FeatureMatrix) + "\n";

    public static string Markdown(FeatureMatrix m)
    {
        var b = new StringBuilder();
        b.AppendLine("# io_uring conformance matrix");
        b.AppendLine();
        b.AppendLine($"The same {Plural(m.Programs, "generated program")} ({SourceText(m.Source)}) on each kernel and on the reference engine given that kernel's probed profile;");
        b.AppendLine($"{Plural(m.HostileCases, "hostile case")} (random SQE bytes) run on the live kernel and on the engine inside each VM. Wall time {m.WallSeconds:0} s.");
        b.AppendLine();
        b.AppendLine("| column | where | process ABI | release (uname -r) | Debian package | run |");
        b.AppendLine("|---|---|---|---|---|---|");
        foreach (var k in m.Kernels)
        {
            var run = k.Failed ? $"FAILED: {Escape(k.Problems.FirstOrDefault() ?? "?")}" : $"ok, {k.Seconds:0.0} s";
            b.AppendLine($"| {k.Name} | {k.Where} | {k.Target} | {k.Release ?? "?"} | {k.Package ?? "-"} | {run} |");
        }

        b.AppendLine();
        b.AppendLine("Cells: **pass** (the kernel has it; programs used it; the engine agreed on each, count in brackets), **FAIL**,");
        b.AppendLine("**unsupported** (the kernel refuses it; the engine refused it alike in the programs counted), **not exercised**, **n/a**.");
        b.AppendLine();
        b.Append("| group | feature |");
        foreach (var k in m.Kernels)
        {
            b.Append(CultureInfo.InvariantCulture, $" {k.Name} |");
        }

        b.AppendLine();
        b.Append("|---|---|");
        b.AppendLine(string.Concat(m.Kernels.Select(_ => "---|")));
        foreach (var row in m.Rows)
        {
            var reproducers = row.Reproducers is { Count: > 0 } r ? $" (reproducer{(r.Count > 1 ? "s" : string.Empty)}: {string.Join(", ", r)})" : string.Empty;
            b.Append(CultureInfo.InvariantCulture, $"| {row.Group} | {Escape(row.Name)}{Escape(reproducers)} |");
            foreach (var c in row.Cells)
            {
                b.Append(CultureInfo.InvariantCulture, $" {CellText(c)} |");
            }

            b.AppendLine();
        }

        var notes = m.Kernels.SelectMany(k => k.Problems.Select(p => $"{k.Name}: problem: {p}").Concat(k.Notes.Select(n => $"{k.Name}: note: {n}"))).ToList();
        var failing = m.Rows.SelectMany(r => r.Cells.Select((c, i) => (r, c, k: m.Kernels[i]))).Where(x => x.c.State == CellState.Fail).ToList();
        if (failing.Count > 0 || notes.Count > 0)
        {
            b.AppendLine();
            b.AppendLine("## Failures and notes");
            b.AppendLine();
            foreach (var (r, c, k) in failing)
            {
                b.AppendLine($"- {k.Name}, {Escape(r.Name)}: {Escape(c.Detail)}");
            }

            foreach (var n in notes)
            {
                b.AppendLine($"- {Escape(n)}");
            }

            foreach (var k in m.Kernels.Where(k => k.Differences.Count > 0))
            {
                var d = k.Differences[0];
                var v = d.Shrunk ?? d.Verdict;
                b.AppendLine();
                b.AppendLine($"First difference on {k.Name}: program {d.Index}{(d.Shrunk is null ? string.Empty : $", shrunk in {d.ShrinkCandidates} candidates")}, {Escape(v.Difference?.ToString() ?? "?")}");
                b.AppendLine();
                b.AppendLine("```text");
                b.AppendLine(v.Program.ToString());
                b.AppendLine($"kernel: {v.Difference?.Kernel ?? "(trace ended)"}");
                b.AppendLine($"engine: {v.Difference?.Engine ?? "(trace ended)"}");
                b.AppendLine("```");
            }

            foreach (var k in m.Kernels.Where(k => k.ReportedDifferences.Count > 0))
            {
                var d = k.ReportedDifferences[0];
                b.AppendLine();
                b.AppendLine($"First difference on {k.Name}: program {d.Index} (not shrunk; {k.ReportedDifferences.Count} program(s) differ), as it reported it: {Escape(d.Detail)}");
                b.AppendLine();
                b.AppendLine("```text");
                b.AppendLine(d.Program.ToString());
                b.AppendLine("```");
            }

            foreach (var (k, h) in m.Kernels.SelectMany(k => (k.Hostile ?? []).Where(h => h is { Verdict: HostileVerdict.Different or HostileVerdict.EngineCrash }).Take(1).Select(h => (k, h!))))
            {
                b.AppendLine();
                b.AppendLine($"Hostile case {h.Index} on {k.Name}: {h.Verdict} ({Escape(h.Why ?? string.Empty)})");
                b.AppendLine();
                b.AppendLine("```text");
                b.AppendLine($"kernel: {string.Join(" | ", h.KernelTrace ?? [])}");
                b.AppendLine($"engine: {string.Join(" | ", h.EngineTrace ?? [])}");
                b.AppendLine("```");
            }
        }

        b.AppendLine();
        b.AppendLine("## Hostile input");
        b.AppendLine();
        foreach (var (k, c) in m.Kernels.Zip(m.HostileRow.Cells))
        {
            b.AppendLine($"- {k.Name}: {Escape(c.Detail)}");
        }

        if (m.Source.Seed is { } seed)
        {
            b.AppendLine();
            b.AppendLine($"Replay: `io_uring-conformance matrix --seed {seed} --cases {m.Programs} --hostile {m.HostileCases}`");
        }

        return b.ToString();
    }

    /// <summary>A standalone SVG: one row per feature, one column per kernel, a coloured cell each.</summary>
    public static string Svg(FeatureMatrix m)
    {
        const int labelWidth = 470, cellWidth = 150, rowHeight = 22, top = 92, groupWidth = 110;
        var width = labelWidth + (cellWidth * m.Kernels.Count) + 20;
        var height = top + (rowHeight * m.Rows.Count) + 60;
        var b = new StringBuilder();
        b.AppendLine(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"DejaVu Sans, Verdana, sans-serif\" font-size=\"12\">");
        b.AppendLine(CultureInfo.InvariantCulture, $"<rect width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>");
        b.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">io_uring conformance: kernel vs reference engine</text>");
        b.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"10\" y=\"40\" fill=\"#444\">{X($"{m.Programs} programs ({SourceText(m.Source)}), {m.HostileCases} hostile cases per VM, {m.WallSeconds:0} s")}</text>");
        for (var i = 0; i < m.Kernels.Count; i++)
        {
            var k = m.Kernels[i];
            var x = labelWidth + (i * cellWidth) + (cellWidth / 2);
            b.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{x}\" y=\"66\" text-anchor=\"middle\" font-weight=\"bold\">{X(k.Name)}{(k.Where == "host" ? " (host)" : string.Empty)}</text>");
            b.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{x}\" y=\"82\" text-anchor=\"middle\" font-size=\"9\" fill=\"#444\">{X(Shorten(k.Release ?? "?", 26))}</text>");
        }

        string? lastGroup = null;
        for (var r = 0; r < m.Rows.Count; r++)
        {
            var row = m.Rows[r];
            var y = top + (r * rowHeight);
            if (row.Group != lastGroup)
            {
                b.AppendLine(CultureInfo.InvariantCulture, $"<line x1=\"10\" x2=\"{width - 10}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#bbb\"/>");
                b.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"10\" y=\"{y + 15}\" fill=\"#666\" font-style=\"italic\">{X(row.Group)}</text>");
                lastGroup = row.Group;
            }

            b.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{groupWidth}\" y=\"{y + 15}\">{X(Shorten(row.Name, 48))}</text>");
            for (var i = 0; i < row.Cells.Count; i++)
            {
                var c = row.Cells[i];
                var (fill, ink) = Colours(c.State);
                var x = labelWidth + (i * cellWidth);
                b.AppendLine(CultureInfo.InvariantCulture, $"<g><title>{X($"{m.Kernels[i].Name}, {row.Name}: {c.Detail}")}</title><rect x=\"{x + 2}\" y=\"{y + 2}\" width=\"{cellWidth - 4}\" height=\"{rowHeight - 4}\" rx=\"3\" fill=\"{fill}\"/>");
                b.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{x + (cellWidth / 2)}\" y=\"{y + 15}\" text-anchor=\"middle\" fill=\"{ink}\">{X(ShortCell(c))}</text></g>");
            }
        }

        var legendY = top + (rowHeight * m.Rows.Count) + 24;
        var lx = 10;
        foreach (var state in Enum.GetValues<CellState>())
        {
            var (fill, _) = Colours(state);
            b.AppendLine(CultureInfo.InvariantCulture, $"<rect x=\"{lx}\" y=\"{legendY - 11}\" width=\"14\" height=\"14\" rx=\"2\" fill=\"{fill}\"/><text x=\"{lx + 20}\" y=\"{legendY}\">{X(StateName(state))}</text>");
            lx += 200;
        }

        b.AppendLine("</svg>");
        return b.ToString();
    }

    public static string StateName(CellState s) => s switch
    {
        CellState.Pass => "pass",
        CellState.Fail => "FAIL",
        CellState.Unsupported => "unsupported by kernel",
        CellState.NotExercised => "not exercised",
        _ => "n/a",
    };

    private static string CellText(MatrixCell c) => c.State switch
    {
        CellState.Pass when c.Shows is { } shows => $"pass: {Escape(shows)}",
        CellState.Pass => $"pass ({c.Programs})",
        CellState.Fail => $"**FAIL** ({Escape(c.Detail)})",
        CellState.Unsupported => c.Programs > 0 ? $"unsupported ({c.Equal}/{c.Programs} agree)" : "unsupported",
        CellState.NotExercised => "not exercised",
        _ => "n/a",
    };

    private static string ShortCell(MatrixCell c) => c.State switch
    {
        CellState.Pass when c.Shows is { } shows => shows,
        CellState.Pass => $"pass {c.Equal}/{c.Programs}",
        CellState.Fail => $"FAIL {c.Equal}/{c.Programs}",
        CellState.Unsupported => c.Programs > 0 ? $"unsupported {c.Equal}/{c.Programs}" : "unsupported",
        CellState.NotExercised => "not exercised",
        _ => "n/a",
    };

    private static (string Fill, string Ink) Colours(CellState s) => s switch
    {
        CellState.Pass => ("#2e7d32", "#ffffff"),
        CellState.Fail => ("#c62828", "#ffffff"),
        CellState.Unsupported => ("#9e9e9e", "#ffffff"),
        CellState.NotExercised => ("#fff3c4", "#5d4037"),
        _ => ("#eeeeee", "#757575"),
    };

    private static string SourceText(ProgramSource s) => s.Seed is { } seed ? $"seed {seed}" : $"from {Path.GetFileName(s.File)}";

    private static string Plural(int n, string what) => n == 1 ? $"1 {what}" : $"{n} {what}s";

    private static string Shorten(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";

    private static string Escape(string s) => s.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

    private static string X(string s) => WebUtility.HtmlEncode(s);
}
