using System.Globalization;
using System.Text;

namespace IoUring.Abi.Cli.Fuzzing;

/// <summary>
/// Writes the unified diff that turns the base kernel's io_uring.h into a mutant (one hunk from the
/// first differing line to the last, with three lines of context) and creates the mutant's extra
/// headers under include/uapi/linux/io_uring/: the same change as a mailing-list patch, for
/// 'diff --patch' and 'lint --patch'.
/// </summary>
internal static class PatchWriter
{
    private const int Context = 3;

    public static string Write(string baseText, string mutantText, IEnumerable<(string Path, string Text)> extras)
    {
        var sb = new StringBuilder();
        sb.Append("--- a/include/uapi/linux/io_uring.h\n+++ b/include/uapi/linux/io_uring.h\n");
        AppendHunk(sb, HeaderMutator.SplitLines(baseText), HeaderMutator.SplitLines(mutantText));
        foreach (var (path, text) in extras)
        {
            sb.Append("--- /dev/null\n+++ b/include/uapi/linux/").Append(path).Append('\n');
            AppendHunk(sb, [], HeaderMutator.SplitLines(text));
        }

        return sb.ToString();
    }

    // Lines keep their '\n', so a change of the last line's newline is a change like any other.
    private static void AppendHunk(StringBuilder sb, List<string> before, List<string> after)
    {
        var prefix = 0;
        while (prefix < before.Count && prefix < after.Count && before[prefix] == after[prefix])
        {
            prefix++;
        }

        var suffix = 0;
        while (suffix < before.Count - prefix && suffix < after.Count - prefix && before[^(suffix + 1)] == after[^(suffix + 1)])
        {
            suffix++;
        }

        if (prefix == before.Count && prefix == after.Count)
        {
            return;
        }

        var start = Math.Max(0, prefix - Context);
        var keptSuffix = Math.Min(suffix, Context);
        var oldEnd = before.Count - suffix + keptSuffix;
        var newEnd = after.Count - suffix + keptSuffix;
        var oldCount = oldEnd - start;
        var newCount = newEnd - start;

        // An empty side is numbered after the line before it ("-0,0" for a new file), as diff(1) does.
        sb.Append(CultureInfo.InvariantCulture, $"@@ -{(oldCount == 0 ? start : start + 1)},{oldCount} +{(newCount == 0 ? start : start + 1)},{newCount} @@\n");
        for (var i = start; i < prefix; i++)
        {
            Line(sb, ' ', before[i]);
        }

        for (var i = prefix; i < before.Count - suffix; i++)
        {
            Line(sb, '-', before[i]);
        }

        for (var i = prefix; i < after.Count - suffix; i++)
        {
            Line(sb, '+', after[i]);
        }

        for (var i = before.Count - suffix; i < oldEnd; i++)
        {
            Line(sb, ' ', before[i]);
        }
    }

    private static void Line(StringBuilder sb, char kind, string line)
    {
        sb.Append(kind).Append(line);
        if (!line.EndsWith('\n'))
        {
            sb.Append("\n\\ No newline at end of file\n");
        }
    }
}
