using System.Numerics;
using IoUring.Abi.Model;

namespace IoUring.Abi.Diff;

/// <summary>
/// The kernel's UAPI rules checked on a snapshot: no pointers, long, plain int, enums or bitfields in a
/// UAPI struct; one layout on every target; no implicit padding; sizes a multiple of 8; reserved space;
/// no two names of a flag family on one bit. Each finding names file:line, struct.field, the size and
/// offset per target, and the fix.
/// </summary>
public static class UapiLint
{
    private static readonly HashSet<string> PlainTypes = new(StringComparer.Ordinal)
    {
        "int", "unsigned int", "unsigned", "signed", "signed int", "short", "unsigned short", "char", "signed char", "unsigned char",
        "long", "unsigned long", "long long", "unsigned long long", "long int", "unsigned long int", "short int", "_Bool",
    };

    /// <summary>Lints the io_uring declarations of a snapshot; <paramref name="only"/> limits it to those record/macro names.</summary>
    public static Report Run(AbiSnapshot s, ISet<string>? only = null)
    {
        var findings = new List<Change>();
        var records = s.Records.ToDictionary(r => r.Id, StringComparer.Ordinal);
        var x86 = IndexOf(s, "x86_64-linux-gnu");
        var i686 = IndexOf(s, "i686-linux-gnu");
        var main = x86 >= 0 ? x86 : 0;
        var shown = new[] { main, i686 }.Where(i => i >= 0).Distinct().ToList();
        foreach (var r in s.Records.Where(r => r.Name is not null && r.Parent is null && Naming.IsOwnFile(s, r.Location)))
        {
            if (only is not null && !only.Contains(r.Name!))
            {
                continue;
            }

            var members = Enumerable.Range(0, s.Targets.Count).Select(t => RecordLayout.Flatten(records, r, t)).ToList();
            string Facts(int index) => string.Join("; ", shown.Select(t => $"{Naming.Short(s.Targets[t])}: offset {members[t][index].Start}, size {members[t][index].Size}"));

            for (var i = 0; i < members[main].Count; i++)
            {
                var m = members[main][i];
                var canonical = m.Canonical(main);
                var name = $"{r.Name}.{m.Path}";
                var loc = new SourceLocation(r.Location.File, m.Field.Line);
                if (canonical.Contains('*'))
                {
                    findings.Add(new Change(16, Severity.Risk, name, $"pointer member '{m.Type} {m.Path}' ({Facts(i)})", loc, "use __u64 in the UAPI and u64_to_user_ptr() in the kernel: a pointer is 4 bytes on 32-bit user space"));
                }
                else if (BaseType(canonical) is "long" or "unsigned long")
                {
                    findings.Add(new Change(16, Severity.Risk, name, $"'{m.Type} {m.Path}' is a C long ({Facts(i)})", loc, "use __s64 or __u64: long is 4 bytes on 32-bit user space and needs compat handling"));
                }
                else if (PlainTypes.Contains(BaseType(m.Type)) && m.Field.Enum is null)
                {
                    findings.Add(new Change(16, Severity.Risk, name, $"'{m.Type} {m.Path}' uses a plain C type ({Facts(i)})", loc, "use the fixed-width UAPI types (__u8, __u16, __s32, __u32, __u64)"));
                }

                if (m.Field.Enum is not null)
                {
                    findings.Add(new Change(16, Severity.Risk, name, $"'{m.Type} {m.Path}' has an enum type ({Facts(i)})", loc, "use __u32 and document the enum's values: an enum's size is the compiler's choice"));
                }

                if (m.Field.BitWidth is int w)
                {
                    findings.Add(new Change(16, Severity.Risk, name, $"'{m.Type} {m.Path} : {w}' is a bitfield ({Facts(i)})", loc, "use a __u32/__u64 flags member with explicit masks: bitfield layout is ABI-specific"));
                }

                var differs = members.Any(ms => ms[i].BitOffset != members[0][i].BitOffset || ms[i].Size != members[0][i].Size);
                if (differs)
                {
                    findings.Add(new Change(17, Severity.Risk, name, $"'{m.Type} {m.Path}' is laid out differently per target: {string.Join("; ", Enumerable.Range(0, s.Targets.Count).Select(t => $"{Naming.Short(s.Targets[t])} offset {members[t][i].Start} size {members[t][i].Size}"))}", loc, "use fixed-width types and align 64-bit members to 8 bytes explicitly (i386 aligns __u64 to 4)"));
                }
            }

            // Alignment alone (i386 aligns __u64 to 4) is harmless while sizes and offsets agree; a
            // struct that embeds this one is checked on its own members.
            if (!r.Size.IsUniform)
            {
                findings.Add(new Change(17, Severity.Risk, r.Name!, $"{r.CSpelling} size differs per target: {string.Join("; ", Enumerable.Range(0, s.Targets.Count).Select(t => $"{Naming.Short(s.Targets[t])} {r.Size[t]}"))}", r.Location, "make every member fixed-width and pad explicitly so the struct is the same on 32- and 64-bit user space"));
            }

            if (r.Kind == RecordKind.Struct)
            {
                foreach (var hole in Holes(members[main], r.Size[main]))
                {
                    findings.Add(new Change(16, Severity.Risk, hole.Before is null ? $"{r.Name}" : $"{r.Name}.{hole.Before}", $"{hole.Length} byte(s) of implicit padding at offset {hole.Offset}{(hole.Before is null ? " (tail)" : $" before '{hole.Before}'")} on {Naming.Short(s.Targets[main])}", r.Location, "add an explicit pad/resv member there and have the kernel check it is zero"));
                }

                if (r.Size[main] % 8 != 0)
                {
                    findings.Add(new Change(16, Severity.Risk, r.Name!, $"{r.CSpelling} is {Naming.PerTarget(s, t => r.Size[t], shown)} bytes, not a multiple of 8", r.Location, "pad the struct to a multiple of 8 bytes so arrays of it keep 64-bit members aligned"));
                }

                if (!members[main].Any(m => Naming.LooksReserved(m.Field.Name!)))
                {
                    findings.Add(new Change(16, Severity.Info, r.Name!, $"{r.CSpelling} has no reserved member for later extension", r.Location, "consider trailing __u64 resv[N] checked for zero, so the struct can grow without a new command"));
                }
            }
        }

        findings.AddRange(SharedFlagBits(s, only));
        return new Report(s.Kernel, s.Kernel, s.Targets, findings.OrderByDescending(f => f.Severity).ThenBy(f => f.Name, StringComparer.Ordinal).ToList());
    }

    /// <summary>Two live names of one flag family on the same bit.</summary>
    internal static IEnumerable<Change> SharedFlagBits(AbiSnapshot s, ISet<string>? only)
    {
        var t = Math.Max(0, IndexOf(s, "x86_64-linux-gnu"));
        foreach (var g in s.Macros
            .Where(m => Naming.Family(m.Name) is not null && !m.Name.EndsWith("_MASK", StringComparison.Ordinal) && Naming.IsSingleBit(m.Value[t]))
            .GroupBy(m => (Family: Naming.Family(m.Name)!, Value: m.Value[t]))
            .Where(g => g.Count() > 1))
        {
            var names = g.Select(m => m.Name).OrderBy(n => n, StringComparer.Ordinal).ToList();
            if (only is not null && !names.Any(only.Contains))
            {
                continue;
            }

            yield return new Change(14, Severity.Risk, names[0], $"{string.Join(" and ", names)} share bit {BigInteger.Log(g.Key.Value, 2):0} ({g.Key.Value:x}) in the {g.Key.Family} family", g.First().Location, "give each flag its own bit, or make one an explicit alias documented as such");
        }
    }

    private static IEnumerable<(long Offset, long Length, string? Before)> Holes(List<FlatMember> members, long size)
    {
        // Every member covers its bytes (union members overlap; a bit-field the bytes its bits touch);
        // the gaps are padding.
        var covered = new CoveredBytes(
            members.Select(m => (m.Start, m.Field.BitWidth is int width ? (m.BitOffset + width + 7) / 8 : m.End)),
            size);
        foreach (var (start, end) in covered.Gaps())
        {
            var next = members.Where(m => m.Start >= end).OrderBy(m => m.Start).FirstOrDefault();
            yield return (start, end - start, next?.Path);
        }
    }

    private static string BaseType(string type)
    {
        var t = type;
        var bracket = t.IndexOf('[');
        if (bracket >= 0)
        {
            t = t[..bracket];
        }

        return t.Replace("const ", string.Empty, StringComparison.Ordinal).Replace("volatile ", string.Empty, StringComparison.Ordinal).Trim();
    }

    internal static int IndexOf(AbiSnapshot s, string triple) => s.Targets.ToList().IndexOf(triple);
}
