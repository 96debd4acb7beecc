using System.Text;
using IoUring.Engine;

namespace IoUring.Conformance;

/// <summary>
/// The section of docs/engine.md that prints <see cref="KernelBehaviour.Table"/>: written between two
/// marker lines by 'io_uring-conformance behaviours --write', checked by the test suite.
/// </summary>
public static class BehaviourTableDoc
{
    public const string Begin = "<!-- kernel behaviour table: written by 'io_uring-conformance behaviours --write' -->";
    public const string End = "<!-- end of kernel behaviour table -->";

    public static string Render()
    {
        var b = new StringBuilder();
        b.AppendLine("| behaviour (`KernelProfile.`) | value: kernels | what it means | how the probe asks | learnt from | C reproducers (conformance/reproducers) |");
        b.AppendLine("|---|---|---|---|---|---|");
        foreach (var row in KernelBehaviour.Table)
        {
            var values = string.Join("; ", row.Values.Select((v, i) => i == row.Values.Count - 1 && row.Values.Count > 1 ? $"{v.Value}: every other kernel" : $"{v.Value}: {v.Kernels}"));
            var reproducers = string.Join(", ", KnownBugs.All.Where(k => k.Behaviour == row.Name).Select(k => $"`{k.Name}.c`"));
            b.AppendLine($"| `{row.Name}` | {Cell(values)} | {Cell(row.Meaning)} | {Cell(row.Probe)} | {Cell(row.Source)} | {reproducers} |");
        }

        return b.ToString();
    }

    /// <summary><paramref name="document"/> with the section between the markers replaced by <see cref="Render"/>.</summary>
    public static string Write(string document, string path)
    {
        var begin = document.IndexOf(Begin, StringComparison.Ordinal);
        var end = document.IndexOf(End, StringComparison.Ordinal);
        if (begin < 0 || end < begin)
        {
            throw new InvalidDataException($"{path}: no kernel behaviour section (a line '{Begin}' followed by a line '{End}'); add the two lines where the table belongs");
        }

        var from = begin + Begin.Length;
        return document[..from] + "\n" + Render() + document[end..];
    }

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal);
}
