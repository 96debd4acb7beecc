using System.Globalization;
using System.Text.RegularExpressions;
using IoUring.Abi.Model;

namespace IoUring.Abi.Headers;

/// <summary>
/// Applies a unified diff of include/uapi/linux/io_uring.h (and io_uring/*.h), the form patches take on
/// the mailing list, to a copy of an include tree. A hunk whose lines are not found is an error naming
/// the hunk and the first line that differs; nothing is written then.
/// </summary>
public static class UnifiedPatch
{
    /// <summary>Far above any real header (io_uring.h has about a thousand lines), far below int overflow.</summary>
    private const int MaxLineNumber = 10_000_000;

    private static readonly Regex HunkHeader = new(@"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", RegexOptions.CultureInvariant);

    public sealed record Hunk(int OldStart, IReadOnlyList<string> Lines, int PatchLine, string Header);

    public sealed record FilePatch(string Target, bool Created, IReadOnlyList<Hunk> Hunks, int PatchLine = 0);

    private static readonly Regex BaseTrailer = new(@"^base-kernel:[ \t]*(\S+)[ \t]*$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase);

    /// <summary>
    /// The kernel of the corpus a patch says it applies to: a "base-kernel: 7.3-rc" line in the mail
    /// text before the diff (in the manner of git format-patch's "base-commit:"), or null. A proposal
    /// names its base itself, so regenerating it never silently moves it onto a newer kernel.
    /// </summary>
    public static string? DeclaredBase(string text)
    {
        foreach (var line in text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n'))
        {
            if (line.StartsWith("--- ", StringComparison.Ordinal))
            {
                break;
            }

            var m = BaseTrailer.Match(line);
            if (m.Success)
            {
                return m.Groups[1].Value;
            }
        }

        return null;
    }

    public static List<FilePatch> Parse(string text, string patchName)
    {
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var files = new List<FilePatch>();
        for (var i = 0; i < lines.Length; i++)
        {
            if (!lines[i].StartsWith("--- ", StringComparison.Ordinal) || i + 1 >= lines.Length || !lines[i + 1].StartsWith("+++ ", StringComparison.Ordinal))
            {
                continue;
            }

            var oldPath = PathOf(lines[i]);
            var newPath = PathOf(lines[i + 1]);
            var created = oldPath == "/dev/null";
            var target = IncludePath(created ? newPath : oldPath, patchName, i + 1);
            var hunks = new List<Hunk>();
            var fileLine = i + 1;
            i += 2;
            while (i < lines.Length && lines[i].StartsWith("@@", StringComparison.Ordinal))
            {
                var m = HunkHeader.Match(lines[i]);
                if (!m.Success)
                {
                    throw new ToolException($"{patchName}:{i + 1}: malformed hunk header '{lines[i]}' (expected '@@ -l,s +l,s @@')");
                }

                var header = lines[i];
                var patchLine = i + 1;

                // The regex admits any run of digits; a number no header file could need is refused
                // here rather than overflowing.
                int Number(int group, int absent) =>
                    !m.Groups[group].Success ? absent
                    : int.TryParse(m.Groups[group].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n <= MaxLineNumber ? n
                    : throw new ToolException($"{patchName}:{patchLine}: hunk header '{header}' has the line number or count {m.Groups[group].Value}; a header has at most {MaxLineNumber} lines");
                var oldStart = Number(1, 0);
                var oldCount = Number(2, 1);
                var newCount = Number(4, 1);
                _ = Number(3, 0); // unused (hunks are placed by their old lines), but held to the same rule
                var body = new List<string>();
                i++;
                int seenOld = 0, seenNew = 0;
                while (i < lines.Length && (seenOld < oldCount || seenNew < newCount))
                {
                    var l = lines[i];
                    if (l.StartsWith('\\'))
                    {
                        i++;
                        continue;
                    }

                    var kind = l.Length == 0 ? ' ' : l[0];
                    if (kind is not (' ' or '-' or '+'))
                    {
                        throw new ToolException($"{patchName}:{i + 1}: hunk {header} ends early: expected {oldCount} old and {newCount} new lines, found a line starting with '{kind}'");
                    }

                    seenOld += kind is ' ' or '-' ? 1 : 0;
                    seenNew += kind is ' ' or '+' ? 1 : 0;
                    body.Add(l.Length == 0 ? " " : l);
                    i++;
                }

                if (seenOld < oldCount || seenNew < newCount)
                {
                    throw new ToolException($"{patchName}:{patchLine}: hunk {header} is truncated");
                }

                hunks.Add(new Hunk(oldStart, body, patchLine, header));
                while (i < lines.Length && lines[i].StartsWith('\\'))
                {
                    i++;
                }
            }

            i--;
            files.Add(new FilePatch(target, created, hunks, fileLine));
        }

        if (files.Count == 0)
        {
            // Say where: at a '--- ' line without its '+++ ' line, else from the first line on.
            var dangling = Array.FindIndex(lines, l => l.StartsWith("--- ", StringComparison.Ordinal));
            throw new ToolException(dangling >= 0
                ? $"{patchName}:{dangling + 1}: '{lines[dangling]}' is not followed by a '+++ b/...' line; no unified diff found (expected '--- a/include/uapi/linux/io_uring.h' / '+++ b/...' lines)"
                : $"{patchName}:1: no unified diff found in the file's {lines.Length} line(s) (expected '--- a/include/uapi/linux/io_uring.h' / '+++ b/...' lines)");
        }

        return files;
    }

    /// <summary>Applies every file of the patch inside <paramref name="includeRoot"/>.</summary>
    public static void ApplyToTree(string includeRoot, IEnumerable<FilePatch> files, string patchName, string baseName)
    {
        // Compute every result first, so a failing hunk leaves the tree untouched.
        var results = new List<(string Path, string Text)>();
        foreach (var f in files)
        {
            var path = Path.Combine(includeRoot, f.Target);
            var original = f.Created ? string.Empty : File.Exists(path) ? File.ReadAllText(path)
                : throw new ToolException($"{patchName}:{f.PatchLine}: the patch changes {f.Target}, which {baseName} does not have (a new header is written '--- /dev/null')");
            results.Add((path, Apply(original, f, patchName, $"{f.Target} of {baseName}")));
        }

        foreach (var (path, text) in results)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, text);
        }
    }

    public static string Apply(string original, FilePatch f, string patchName, string targetName)
    {
        // An empty file has no lines (Split would give one empty line, which a new file kept at its end).
        var lines = original.Length == 0 ? new List<string>() : original.Split('\n').ToList();
        var endsWithNewline = original.EndsWith('\n');
        if (endsWithNewline)
        {
            lines.RemoveAt(lines.Count - 1);
        }

        var delta = 0;
        for (var h = 0; h < f.Hunks.Count; h++)
        {
            var hunk = f.Hunks[h];
            var old = hunk.Lines.Where(l => l[0] is ' ' or '-').Select(l => l[1..]).ToList();
            var replacement = hunk.Lines.Where(l => l[0] is ' ' or '+').Select(l => l[1..]).ToList();
            var expected = Math.Max(0, hunk.OldStart - 1 + delta);
            var at = Find(lines, old, expected);
            if (at < 0)
            {
                var near = Math.Min(expected, Math.Max(0, lines.Count - 1));
                var firstDiff = old.Select((l, k) => (l, k)).FirstOrDefault(x => near + x.k >= lines.Count || lines[near + x.k] != x.l);
                var found = near + firstDiff.k < lines.Count ? lines[near + firstDiff.k] : "(end of file)";
                throw new ToolException($"{patchName}:{hunk.PatchLine}: hunk #{h + 1} ({hunk.Header}) does not apply to {targetName}: at line {near + firstDiff.k + 1} it expects '{firstDiff.l}' but the file has '{found}'. Rebase the patch on this kernel's header, or pick the kernel it was written against with --base.");
            }

            lines.RemoveRange(at, old.Count);
            lines.InsertRange(at, replacement);
            delta += replacement.Count - old.Count + (at - expected);
        }

        return string.Join("\n", lines) + (endsWithNewline || f.Created ? "\n" : string.Empty);
    }

    private static int Find(List<string> lines, List<string> old, int expected)
    {
        bool Matches(int at) => at >= 0 && at + old.Count <= lines.Count && !old.Where((l, k) => lines[at + k] != l).Any();

        // Like patch(1): the stated line first, then nearby lines (the header may have moved a little).
        for (var off = 0; off <= 200; off++)
        {
            if (Matches(expected - off))
            {
                return expected - off;
            }

            if (off > 0 && Matches(expected + off))
            {
                return expected + off;
            }
        }

        return -1;
    }

    private static string PathOf(string line)
    {
        var p = line[4..].Split('\t')[0].Trim();
        return p.StartsWith("a/", StringComparison.Ordinal) || p.StartsWith("b/", StringComparison.Ordinal) ? p[2..] : p;
    }

    private static string IncludePath(string path, string patchName, int line)
    {
        foreach (var prefix in new[] { "include/uapi/", "usr/include/", string.Empty })
        {
            if (path.StartsWith(prefix + "linux/io_uring", StringComparison.Ordinal))
            {
                var rel = path[prefix.Length..];

                // Plain names only: "linux/io_uring/../../x" passes the prefix test but would write
                // outside the io_uring headers, and outside the temporary tree the patch is applied in.
                if (IncludeTree.IsIoUringHeader(rel) && rel.Split('/').All(part => part is not ("" or "." or "..")))
                {
                    return rel;
                }
            }
        }

        throw new ToolException($"{patchName}:{line}: the patch changes '{path}', which is not an io_uring UAPI header (include/uapi/linux/io_uring.h or include/uapi/linux/io_uring/*.h)");
    }
}
