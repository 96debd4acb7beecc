using IoUring.Abi.Model;

namespace IoUring.Abi.Diff;

/// <summary>The diff's and lint's reading of names and values: reserved members, sentinels, flag families, per-target values.</summary>
internal static class Naming
{
    /// <summary>
    /// A declaration of the snapshot's own headers (io_uring's, or the UAPI header it was extracted
    /// from), not a type of another header that it only references.
    /// </summary>
    public static bool IsOwnFile(AbiSnapshot s, SourceLocation l) =>
        IncludeTree.IsIoUringHeader(l.File) || s.Headers.Any(h => h.Path == IncludeTree.IncludeName(l.File));

    public static bool LooksReserved(string name)
    {
        var n = name.TrimStart('_').ToLowerInvariant();
        return n.StartsWith("resv", StringComparison.Ordinal) || n.StartsWith("reserved", StringComparison.Ordinal) || n.StartsWith("pad", StringComparison.Ordinal)
            || n.StartsWith("rsvd", StringComparison.Ordinal) || n.StartsWith("spare", StringComparison.Ordinal) || n.StartsWith("unused", StringComparison.Ordinal);
    }

    public static bool IsSentinel(string name) => name.EndsWith("_LAST", StringComparison.Ordinal) || name.EndsWith("_MAX", StringComparison.Ordinal);

    /// <summary>
    /// The flag family a macro belongs to, named by its first pattern ("IORING_SETUP_*"), or null. The
    /// families are the bindings' curation (flags.txt), read from the ABI model.
    /// </summary>
    public static string? Family(string macro) => FlagFamilies.Curated.Of(macro)?.Key;

    public static bool IsSingleBit(System.Numerics.BigInteger v) => v > 0 && (v & (v - 1)) == 0;

    public static string PerTarget<T>(AbiSnapshot s, Func<int, T> value, IEnumerable<int>? targets = null)
    {
        var idx = (targets ?? Enumerable.Range(0, s.Targets.Count)).ToList();
        var values = idx.Select(i => value(i)).ToList();
        return values.Distinct().Count() == 1
            ? $"{values[0]}"
            : string.Join(", ", idx.Select((i, k) => $"{Short(s.Targets[i])} {values[k]}"));
    }

    public static string Short(string triple) => CTarget.All.FirstOrDefault(c => c.Triple == triple)?.ShortName ?? triple;
}
