using System.Text;

namespace IoUring.Abi.Cli.Fuzzing;

/// <summary>
/// Makes mutant headers from real ones: flipped, inserted and deleted bytes; C tokens replaced, swapped,
/// deleted or inserted; lines deleted, duplicated and swapped; and nested includes (a header that
/// includes another mutated header, include cycles, a header including itself, a missing include, a
/// folder included as a file). A mutant is a function of (seed, index) and the corpus alone.
/// </summary>
/// <remarks>
/// Text is handled as Latin-1, one char per byte, so every byte value survives the edits exactly: the
/// point is to hand the front end bytes it did not expect, invalid UTF-8 included.
/// </remarks>
internal sealed class HeaderMutator
{
    private static readonly Encoding Bytes = Encoding.Latin1;

    // Bytes that mean something to the preprocessor or the parser, tried more often than random ones.
    private const string InterestingBytes = "{}()[];,#\\\"'/*\n\r\t\0 0129azAZ_<>-+~!?&|^%=.:\x7f\x80\xbf\xc3\xff";

    // Tokens a mutant may bring in that the header may not have: keywords, the target macros that make
    // declarations differ per architecture, extreme numbers, directives and GNU extensions.
    private static readonly string[] Dictionary =
    [
        "struct", "union", "enum", "typedef", "int", "long", "char", "short", "unsigned", "signed", "void",
        "const", "volatile", "static", "sizeof", "_Bool", "float", "double", "__int128", "_Alignas(8)",
        "__attribute__((packed))", "__attribute__((aligned(64)))", "__attribute__((aligned(3)))",
        "__aligned_u64", "__u8", "__u16", "__u32", "__u64", "__s32", "__s64", "__kernel_rwf_t",
        "#define", "#include", "#if", "#ifdef", "#ifndef", "#elif", "#else", "#endif", "#undef", "#error",
        "#pragma pack(1)", "defined", "__x86_64__", "__i386__", "__aarch64__", "__arm__", "__BITS_PER_LONG",
        "__LP64__", "0", "1", "-1", "7", "255", "0x7fffffff", "0x80000000", "0xffffffffffffffffULL",
        "18446744073709551616", "(1U << 31)", "(1ULL << 63)", "(1 << 64)", "(1 / 0)", "-2147483648",
        "1e9", "'a'", "\"text\"", "[]", "[0]", "[-1]", "[1 << 30]", ":3", ":0", ":65", "{", "}", "(", ")",
        ";", ",", ":", "*", "...", "##", "#", "\\", "=", "io_uring_sqe", "io_uring_cqe", "IORING_OP_NOP",
        "__LINUX_IO_URING_H", "__u32 x;", "struct { __u8 y; };",
    ];

    private readonly FuzzCorpus corpus;
    private readonly ulong seed;

    public HeaderMutator(FuzzCorpus corpus, ulong seed)
    {
        this.corpus = corpus;
        this.seed = seed;
    }

    public Mutant Make(long index)
    {
        var rng = Prng.ForMutant(seed, index);
        var start = rng.Pick(corpus.Mains);
        var log = new List<string> { $"start from {start.Label}" };
        var text = Bytes.GetString(start.Bytes);
        var extras = new List<(string Path, string Text)>();
        var count = rng.Between(1, 3);
        for (var i = 0; i < count; i++)
        {
            var kind = rng.Below(100);
            text = kind < 22 ? MutateBytes(rng, text, log, "io_uring.h")
                : kind < 55 ? MutateTokens(rng, text, log, "io_uring.h")
                : kind < 82 ? MutateLines(rng, text, log, "io_uring.h")
                : AddInclude(rng, text, extras, log);
        }

        var patch = PatchWriter.Write(Bytes.GetString(corpus.BaseHeader), text, extras);

        // Most patches are well formed, so that they reach the extractor; some are damaged themselves,
        // for the patch reader.
        if (rng.Percent(20))
        {
            patch = rng.Percent(50) ? MutateLines(rng, patch, log, Mutant.PatchName) : MutatePatchNumbers(rng, patch, log);
        }

        return new Mutant
        {
            Index = index,
            Header = Bytes.GetBytes(text),
            Extras = extras.Select(e => (e.Path, Bytes.GetBytes(e.Text))).ToList(),
            Patch = Bytes.GetBytes(patch),
            Mutations = log,
        };
    }

    private static string MutateBytes(Prng rng, string text, List<string> log, string file)
    {
        if (text.Length == 0)
        {
            log.Add($"{file}: insert byte 0x7b into the empty file");
            return "{";
        }

        var at = rng.Below(text.Length);
        var where = $"{file}:{LineOf(text, at)}";
        switch (rng.Below(100))
        {
            case < 35:
                var bit = rng.Below(8);
                var flipped = (char)(text[at] ^ (1 << bit));
                log.Add($"{where}: flip bit {bit} of byte {at} (0x{(int)text[at]:x2} -> 0x{(int)flipped:x2})");
                return string.Concat(text.AsSpan(0, at), flipped.ToString(), text.AsSpan(at + 1));
            case < 65:
                var b = rng.Percent(60) ? rng.Pick(InterestingBytes.ToCharArray()) : (char)rng.Below(256);
                log.Add($"{where}: insert byte 0x{(int)b:x2} at {at}");
                return text.Insert(at, b.ToString());
            case < 90:
                var n = Math.Min(rng.Between(1, 8), text.Length - at);
                log.Add($"{where}: delete {n} byte(s) at {at}");
                return text.Remove(at, n);
            default:
                log.Add($"{where}: truncate the file at byte {at}");
                return text[..at];
        }
    }

    private static string MutateTokens(Prng rng, string text, List<string> log, string file)
    {
        var tokens = CTokens.Find(text);
        if (tokens.Count < 2)
        {
            return MutateBytes(rng, text, log, file);
        }

        var i = rng.Below(tokens.Count);
        var t = tokens[i];
        var where = $"{file}:{LineOf(text, t.Start)}";
        string Spelling((int Start, int Length) x) => text.Substring(x.Start, x.Length);
        string Replace((int Start, int Length) x, string with) => string.Concat(text.AsSpan(0, x.Start), with, text.AsSpan(x.Start + x.Length));
        switch (rng.Below(100))
        {
            case < 45:
                var with = rng.Percent(50) ? Spelling(rng.Pick(tokens)) : rng.Pick(Dictionary);
                log.Add($"{where}: replace token '{Spelling(t)}' with '{with}'");
                return Replace(t, with);
            case < 65:
                // A neighbour most of the time (a type and its name, an operand and its operator).
                var j = rng.Percent(70) ? Math.Clamp(i + rng.Between(-20, 20), 0, tokens.Count - 1) : rng.Below(tokens.Count);
                var (first, second) = i < j ? (t, tokens[j]) : (tokens[j], t);
                if (first.Start == second.Start)
                {
                    log.Add($"{where}: swap token '{Spelling(t)}' with itself (no change)");
                    return text;
                }

                log.Add($"{where}: swap tokens '{Spelling(first)}' (line {LineOf(text, first.Start)}) and '{Spelling(second)}' (line {LineOf(text, second.Start)})");
                return text[..first.Start] + Spelling(second)
                    + text[(first.Start + first.Length)..second.Start]
                    + Spelling(first) + text[(second.Start + second.Length)..];
            case < 85:
                log.Add($"{where}: delete token '{Spelling(t)}'");
                return Replace(t, string.Empty);
            default:
                var inserted = rng.Pick(Dictionary);
                log.Add($"{where}: insert token '{inserted}' before '{Spelling(t)}'");
                return text.Insert(t.Start, inserted + " ");
        }
    }

    private static string MutateLines(Prng rng, string text, List<string> log, string file)
    {
        var lines = SplitLines(text);
        if (lines.Count == 0)
        {
            return MutateBytes(rng, text, log, file);
        }

        var at = rng.Below(lines.Count);
        switch (rng.Below(100))
        {
            case < 45:
                var n = Math.Min(rng.Percent(80) ? rng.Between(1, 4) : rng.Between(5, 40), lines.Count - at);
                log.Add($"{file}:{at + 1}: delete {n} line(s)");
                lines.RemoveRange(at, n);
                break;
            case < 85:
                var m = Math.Min(rng.Percent(80) ? rng.Between(1, 3) : rng.Between(4, 30), lines.Count - at);
                var copy = lines.GetRange(at, m);
                var to = rng.Percent(50) ? at + m : rng.Below(lines.Count + 1);
                log.Add($"{file}:{at + 1}: duplicate {m} line(s), the copy before line {to + 1}");
                lines.InsertRange(to, copy.Select(EnsureNewline));
                break;
            default:
                var other = rng.Below(lines.Count);
                log.Add($"{file}:{at + 1}: swap with line {other + 1}");
                (lines[at], lines[other]) = (EnsureNewline(lines[other]), EnsureNewline(lines[at]));
                break;
        }

        return string.Concat(lines);
    }

    /// <summary>Changes a number of a hunk header ("@@ -30,7 +30,7 @@"), the patch reader's own input.</summary>
    private static string MutatePatchNumbers(Prng rng, string patch, List<string> log)
    {
        var lines = SplitLines(patch);
        var hunks = Enumerable.Range(0, lines.Count).Where(i => lines[i].StartsWith("@@", StringComparison.Ordinal)).ToList();
        if (hunks.Count == 0)
        {
            return MutateBytes(rng, patch, log, Mutant.PatchName);
        }

        var h = rng.Pick(hunks);
        var digits = Enumerable.Range(0, lines[h].Length).Where(i => char.IsAsciiDigit(lines[h][i])).ToList();
        if (digits.Count == 0)
        {
            return MutateBytes(rng, patch, log, Mutant.PatchName);
        }

        var d = rng.Pick(digits);
        var end = d;
        while (end < lines[h].Length && char.IsAsciiDigit(lines[h][end]))
        {
            end++;
        }

        var number = rng.Pick(new[] { "0", "1", "2", "99999", "2147483647", "2147483648", "99999999999999999999", rng.Between(0, 1200).ToString(System.Globalization.CultureInfo.InvariantCulture) });
        log.Add($"{Mutant.PatchName}:{h + 1}: hunk header number '{lines[h][d..end]}' -> '{number}'");
        lines[h] = string.Concat(lines[h].AsSpan(0, d), number, lines[h].AsSpan(end));
        return string.Concat(lines);
    }

    /// <summary>
    /// Nested includes: the mutant includes a new header (itself mutated, and maybe including the
    /// mutant back, itself, or a file that does not exist), or includes itself, a missing file or a folder.
    /// </summary>
    private string AddInclude(Prng rng, string text, List<(string Path, string Text)> extras, List<string> log)
    {
        string include;
        var kind = rng.Below(100);
        if (kind < 55 && extras.Count < 2)
        {
            var k = extras.Count;
            var name = $"fuzz_extra{k}.h";
            var source = rng.Percent(70) && corpus.Others.Count > 0 ? rng.Pick(corpus.Others) : rng.Pick(corpus.Mains);
            var extra = Bytes.GetString(source.Bytes);
            var path = $"io_uring/{name}";
            log.Add($"new {path} from {source.Label}");
            if (rng.Percent(60))
            {
                extra = rng.Below(3) switch
                {
                    0 => MutateBytes(rng, extra, log, path),
                    1 => MutateTokens(rng, extra, log, path),
                    _ => MutateLines(rng, extra, log, path),
                };
            }

            // Quoted includes are found relative to the including file first: "../io_uring.h" from the
            // new header is the mutant itself, in both the --header and the --patch layout.
            var back = rng.Below(100) switch
            {
                < 30 => "../io_uring.h",
                < 50 => name,
                < 65 => "fuzz_missing.h",
                < 80 when k > 0 => "fuzz_extra0.h",
                _ => null,
            };
            if (back is not null)
            {
                extra = InsertLine(rng, extra, $"#include \"{back}\"", log, path);
            }

            extras.Add((path, extra));
            include = $"#include \"{path}\"";
        }
        else
        {
            include = rng.Below(4) switch
            {
                0 => "#include \"io_uring.h\"",
                1 => "#include <linux/io_uring.h>",
                2 => "#include \"io_uring/fuzz_missing.h\"",
                _ => "#include <linux>",
            };
        }

        return InsertLine(rng, text, include, log, "io_uring.h");
    }

    private static string InsertLine(Prng rng, string text, string line, List<string> log, string file)
    {
        var lines = SplitLines(text);
        var at = rng.Below(lines.Count + 1);
        log.Add($"{file}:{at + 1}: insert '{line}'");
        if (at > 0)
        {
            lines[at - 1] = EnsureNewline(lines[at - 1]);
        }

        lines.Insert(at, line + "\n");
        return string.Concat(lines);
    }

    /// <summary>Lines with their '\n' (the last one may have none).</summary>
    internal static List<string> SplitLines(string text)
    {
        var lines = new List<string>();
        var start = 0;
        while (start < text.Length)
        {
            var nl = text.IndexOf('\n', start);
            var end = nl < 0 ? text.Length : nl + 1;
            lines.Add(text[start..end]);
            start = end;
        }

        return lines;
    }

    private static string EnsureNewline(string line) => line.EndsWith('\n') ? line : line + "\n";

    private static int LineOf(string text, int offset)
    {
        var line = 1;
        for (var i = 0; i < offset && i < text.Length; i++)
        {
            if (text[i] == '\n')
            {
                line++;
            }
        }

        return line;
    }
}

/// <summary>Where the C tokens of a text are (comments and white space are not tokens).</summary>
internal static class CTokens
{
    private static readonly string[] Punctuators = ["...", "<<=", ">>=", "->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "##", "+=", "-=", "*=", "/=", "|=", "&="];

    public static List<(int Start, int Length)> Find(string text)
    {
        var tokens = new List<(int, int)>();
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (char.IsWhiteSpace(c) || c == '\\')
            {
                i++;
            }
            else if (c == '/' && i + 1 < text.Length && text[i + 1] == '*')
            {
                var end = text.IndexOf("*/", i + 2, StringComparison.Ordinal);
                i = end < 0 ? text.Length : end + 2;
            }
            else if (c == '/' && i + 1 < text.Length && text[i + 1] == '/')
            {
                var end = text.IndexOf('\n', i);
                i = end < 0 ? text.Length : end;
            }
            else if (char.IsAsciiLetter(c) || c == '_' || char.IsAsciiDigit(c))
            {
                var start = i;
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] == '_' || (char.IsAsciiDigit(text[start]) && text[i] == '.')))
                {
                    i++;
                }

                tokens.Add((start, i - start));
            }
            else if (c is '"' or '\'')
            {
                var start = i++;
                while (i < text.Length && text[i] != c && text[i] != '\n')
                {
                    i += text[i] == '\\' ? 2 : 1;
                }

                i = Math.Min(i + 1, text.Length);
                tokens.Add((start, i - start));
            }
            else
            {
                var p = Punctuators.FirstOrDefault(p => string.CompareOrdinal(text, i, p, 0, p.Length) == 0);
                var length = p?.Length ?? 1;
                tokens.Add((i, length));
                i += length;
            }
        }

        return tokens;
    }
}
