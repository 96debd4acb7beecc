using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace IoUring.Abi.Model;

/// <summary>
/// The flag families of the io_uring UAPI: which macros are bits of one field. One file says it
/// (generated/IoUring.Bindings/flags.txt); the bindings generator makes a [Flags] enum of each family,
/// and the ABI diff and lint read the same families to tell a reused bit from a new one. One family a line:
///   EnumName = PREFIX_* [EXACT_NAME ...] [!EXCLUDED_NAME ...]
///   EnumName = bits:ENUM_ID [bits:OTHER_ID] PREFIX_*   (flags 1 &lt;&lt; n from an enum of bit numbers, e.g.
///   the IOSQE_*_BIT enum; the first id the snapshot has is used, as the enum gained its name over time;
///   the prefix names the macros for the diff)
///   _ = PREFIX_* ...   (a family the diff and lint know that gets no enum: its values share a field but
///   are not all flags, or it is too young to curate)
/// '#' starts a comment.
/// </summary>
public sealed class FlagFamilies
{
    /// <summary>The name of a family that gets no [Flags] enum.</summary>
    public const string NoEnum = "_";

    /// <summary>The curation file's name, as the bindings project passes it and the diff embeds it.</summary>
    public const string FileName = "flags.txt";

    public static readonly FlagFamilies Empty = new(Array.Empty<FlagFamily>());

    private static readonly Lazy<FlagFamilies> Embedded = new(ReadEmbedded);

    public FlagFamilies(IReadOnlyList<FlagFamily> families) => Families = families;

    public IReadOnlyList<FlagFamily> Families { get; }

    /// <summary>The families the bindings are curated with, as built into this assembly (the diff and lint read these).</summary>
    public static FlagFamilies Curated => Embedded.Value;

    /// <summary>Parses the curation file; each line it cannot read adds "path:line: why" to <paramref name="errors"/>.</summary>
    public static FlagFamilies Parse(string text, string path, List<string> errors)
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
                errors.Add($"{path}:{i + 1}: expected 'EnumName = PREFIX_* ...', 'EnumName = bits:ENUM PREFIX_*' or '_ = PREFIX_*'");
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

        return new FlagFamilies(families);
    }

    /// <summary>
    /// The family a macro belongs to, by its most specific pattern (an exact name before the longest
    /// prefix), or null. Its key is the family's first pattern, e.g. "IORING_SETUP_*".
    /// </summary>
    public FlagFamily? Of(string macro)
    {
        FlagFamily? best = null;
        var bestLength = -1;
        foreach (var family in Families)
        {
            var length = family.MatchLength(macro);
            if (length > bestLength)
            {
                (best, bestLength) = (family, length);
            }
        }

        return best;
    }

    private static FlagFamilies ReadEmbedded()
    {
        using var stream = typeof(FlagFamilies).Assembly.GetManifestResourceStream(FileName)
            ?? throw new InvalidOperationException($"{FileName} is not embedded in {typeof(FlagFamilies).Assembly.GetName().Name}: rebuild it");
        using var reader = new StreamReader(stream);
        var errors = new List<string>();
        var families = Parse(reader.ReadToEnd(), "generated/IoUring.Bindings/" + FileName, errors);
        return errors.Count == 0 ? families : throw new InvalidOperationException(string.Join("\n", errors));
    }
}

/// <summary>One family: its enum's name (or <see cref="FlagFamilies.NoEnum"/>), the macro patterns, and for bit-number enums the enum's ids.</summary>
public sealed record FlagFamily(string Name, IReadOnlyList<string> Patterns, IReadOnlyList<string> Excluded, IReadOnlyList<string>? FromBitsEnum, string Description)
{
    public bool EmitsEnum => Name != FlagFamilies.NoEnum;

    /// <summary>How the diff names the family: its first pattern.</summary>
    public string Key => Patterns.Count > 0 ? Patterns[0] : Name;

    // The patterns split once: a diff asks for the family of every macro of two snapshots.
    private readonly string[] prefixes = Patterns.Where(p => p.EndsWith("*", StringComparison.Ordinal)).Select(p => p.Substring(0, p.Length - 1)).ToArray();
    private readonly HashSet<string> names = new(Patterns.Where(p => !p.EndsWith("*", StringComparison.Ordinal)), StringComparer.Ordinal);
    private readonly HashSet<string> excluded = new(Excluded, StringComparer.Ordinal);

    public bool Matches(string macro) => MatchLength(macro) >= 0;

    /// <summary>How specific the best pattern matching <paramref name="macro"/> is (an exact name beats any prefix), or -1.</summary>
    public int MatchLength(string macro)
    {
        if (excluded.Contains(macro))
        {
            return -1;
        }

        if (names.Contains(macro))
        {
            return int.MaxValue;
        }

        var best = -1;
        foreach (var prefix in prefixes)
        {
            if (prefix.Length > best && macro.StartsWith(prefix, StringComparison.Ordinal))
            {
                best = prefix.Length;
            }
        }

        return best;
    }
}
