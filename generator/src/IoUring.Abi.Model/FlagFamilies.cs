using System;
using System.Collections.Generic;
using System.Linq;

namespace IoUring.Bindings.Generator;

/// <summary>
/// The curation file that groups macros into [Flags] enums. One family a line:
///   EnumName = PREFIX_* [PREFIX_* ...] [!EXCLUDED_NAME ...]
///   EnumName = bits:ENUM_ID [bits:OTHER_ID]   (flags 1 &lt;&lt; n from an enum of bit numbers, e.g. the
///   IOSQE_*_BIT enum; the first id the snapshot has is used, as the enum gained its name over time)
/// '#' starts a comment.
/// </summary>
public sealed class FlagCuration
{
    public static readonly FlagCuration Empty = new(Array.Empty<FlagFamily>());

    public FlagCuration(IReadOnlyList<FlagFamily> families) => Families = families;

    public IReadOnlyList<FlagFamily> Families { get; }

    public static FlagCuration Parse(string text, string path, List<GeneratorProblem> problems)
    {
        var families = new List<FlagFamily>();
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            var hash = line.IndexOf('#');
            if (hash >= 0)
            {
                line = line.Substring(0, hash);
            }

            line = line.Trim();
            if (line.Length == 0)
            {
                continue;
            }

            var eq = line.IndexOf('=');
            var name = eq > 0 ? line.Substring(0, eq).Trim() : string.Empty;
            var words = eq > 0 ? line.Substring(eq + 1).Split(new[] { ' ', '\t' }, StringSplitOptions.RemoveEmptyEntries) : Array.Empty<string>();
            if (name.Length == 0 || words.Length == 0 || !name.All(c => char.IsLetterOrDigit(c) || c == '_'))
            {
                problems.Add(new GeneratorProblem("IOU0006", $"{path}:{i + 1}: expected 'EnumName = PREFIX_* ...' or 'EnumName = bits:ENUM'", true));
                continue;
            }

            var bits = words.Where(w => w.StartsWith("bits:", StringComparison.Ordinal)).Select(w => w.Substring(5)).ToList();
            families.Add(new FlagFamily(
                name,
                words.Where(w => !w.StartsWith("!", StringComparison.Ordinal) && !w.StartsWith("bits:", StringComparison.Ordinal)).ToList(),
                words.Where(w => w.StartsWith("!", StringComparison.Ordinal)).Select(w => w.Substring(1)).ToList(),
                bits.Count == 0 ? null : bits,
                string.Join(" ", words)));
        }

        return new FlagCuration(families);
    }
}

public sealed record FlagFamily(string Name, IReadOnlyList<string> Patterns, IReadOnlyList<string> Excluded, IReadOnlyList<string>? FromBitsEnum, string Description)
{
    public bool Matches(string macro) =>
        !Excluded.Contains(macro) && Patterns.Any(p => p.EndsWith("*", StringComparison.Ordinal)
            ? macro.StartsWith(p.Substring(0, p.Length - 1), StringComparison.Ordinal)
            : macro == p);
}
