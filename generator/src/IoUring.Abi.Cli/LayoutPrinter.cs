using System.Text;
using IoUring.Abi.Model;

namespace IoUring.Abi.Cli;

/// <summary>
/// pahole-style text for one declaration. Offsets are absolute (from the start of the named record),
/// so a member of an anonymous union reads at the byte it occupies. Where targets disagree the value
/// is printed per target, in the snapshot's target order.
/// </summary>
internal static class LayoutPrinter
{
    /// <summary>Whether <see cref="Print"/> has something to print for the name.</summary>
    public static bool Declares(AbiSnapshot snap, string name) =>
        snap.Records.Any(r => r.Id == name || r.Name == name)
        || snap.Enums.Any(x => x.Id == name || x.Name == name || x.Enumerators.Any(v => v.Name == name))
        || snap.Macros.Any(x => x.Name == name) || snap.Typedefs.Any(x => x.Name == name) || snap.SkippedMacros.Any(x => x.Name == name);

    public static string Print(AbiSnapshot snap, string name, string? targetName)
    {
        var only = targetName is null ? -1 : IndexOfTarget(snap, targetName);
        var records = snap.Records.ToDictionary(r => r.Id, StringComparer.Ordinal);
        var sb = new StringBuilder();
        var shortNames = snap.Targets.Select(t => CTarget.All.FirstOrDefault(c => c.Triple == t)?.ShortName ?? t).ToList();
        var targetsLine = only >= 0 ? shortNames[only] : string.Join("/", shortNames);

        if (records.TryGetValue(name, out var record) || (record = snap.Records.FirstOrDefault(r => r.Name == name)) is not null)
        {
            sb.Append($"/* {record.CSpelling}: {record.Location}, kernel {snap.Kernel}; offset and size in bytes; x/y/z: per target ({targetsLine}) */\n");
            sb.Append($"{record.CSpelling} {{\n");
            PrintMembers(sb, record, records, new PerTarget<long>(Enumerable.Repeat(0L, snap.Targets.Count)), 1, only);
            sb.Append($"\t/* size: {Val(record.Size, only)}, align: {Val(record.Align, only)}, members: {record.Fields.Count} */\n");
            sb.Append("};\n");
            return sb.ToString();
        }

        var e = snap.Enums.FirstOrDefault(x => x.Id == name || x.Name == name || x.Enumerators.Any(v => v.Name == name));
        if (e is not null)
        {
            sb.Append($"/* enum {e.Name ?? "(anonymous)"}: {e.Location}, kernel {snap.Kernel}, underlying {Val(e.Underlying, only)} */\n");
            sb.Append($"enum {e.Name ?? string.Empty}{(e.Name is null ? string.Empty : " ")}{{\n");
            var width = e.Enumerators.Max(x => x.Name.Length);
            foreach (var x in e.Enumerators)
            {
                sb.Append($"\t{x.Name.PadRight(width)} = {x.Value},{(x.Name == name ? "   /* <- */" : string.Empty)}\n");
            }

            sb.Append("};\n");
            return sb.ToString();
        }

        var m = snap.Macros.FirstOrDefault(x => x.Name == name);
        if (m is not null)
        {
            return $"#define {m.Name} {m.Expression}\n/* {m.Location}: type {Val(m.Type, only)}, value {Val(m.Value, only)} (0x{m.Value.First:x}) */\n";
        }

        var t = snap.Typedefs.FirstOrDefault(x => x.Name == name);
        if (t is not null)
        {
            return $"typedef {t.Underlying} {t.Name};\n/* {t.Location}: canonical {Val(t.Canonical, only)}, size {Val(t.Size, only)} */\n";
        }

        var skipped = snap.SkippedMacros.FirstOrDefault(x => x.Name == name);
        if (skipped is not null)
        {
            return $"#define {skipped.Name} {skipped.Expression}\n/* {skipped.Location}: skipped: {skipped.Reason} */\n";
        }

        var near = snap.Records.Where(r => r.Name is not null).Select(r => r.Name!)
            .Concat(snap.Macros.Select(x => x.Name)).Concat(snap.Enums.Where(x => x.Name is not null).Select(x => x.Name!))
            .Where(n => n.Contains(name, StringComparison.OrdinalIgnoreCase) || name.Contains(n, StringComparison.OrdinalIgnoreCase))
            .Take(8).ToList();
        throw new ToolException($"'{name}' is not declared in the snapshot of kernel {snap.Kernel}" + (near.Count > 0 ? $"; similar names: {string.Join(", ", near)}" : string.Empty));
    }

    private static void PrintMembers(StringBuilder sb, RecordDecl record, Dictionary<string, RecordDecl> records, PerTarget<long> baseBytes, int depth, int only)
    {
        var indent = new string('\t', depth);
        foreach (var f in record.Fields)
        {
            var offset = new PerTarget<long>(f.BitOffset.Values.Select((bits, i) => baseBytes[i] + (bits / 8)));
            if (f.IsAnonymous && f.Record is not null && records.TryGetValue(f.Record, out var nested))
            {
                sb.Append($"{indent}{nested.KindKeyword} {{{Comment(offset, f.Size, only, depth, $"{nested.KindKeyword} {{")}\n");
                PrintMembers(sb, nested, records, offset, depth + 1, only);
                sb.Append($"{indent}}};\n");
                continue;
            }

            var decl = Declaration(f);
            var bits = f.BitWidth is int w ? $" /* bit {Val(new PerTarget<long>(f.BitOffset.Values.Select(b => b % 8)), only)}, width {w} */" : string.Empty;
            sb.Append($"{indent}{decl}{Comment(offset, f.Size, only, depth, decl)}{bits}\n");
        }
    }

    private static string Declaration(FieldDecl f)
    {
        var type = f.Type;
        var suffix = string.Empty;
        var bracket = type.IndexOf('[');
        if (bracket >= 0)
        {
            suffix = type[bracket..];
            type = type[..bracket].TrimEnd();
        }

        var bitfield = f.BitWidth is int w ? $":{w}" : string.Empty;
        return $"{type,-16} {f.Name}{suffix}{bitfield};";
    }

    private static string Comment(PerTarget<long> offset, PerTarget<long> size, int only, int depth, string text)
    {
        var used = (depth * 8) + text.Length;
        var pad = Math.Max(1, 72 - used);
        return $"{new string(' ', pad)}/* {Val(offset, only),8} {Val(size, only),6} */";
    }

    private static string Val<T>(PerTarget<T> v, int only) =>
        only >= 0 ? $"{v[only]}" : v.IsUniform ? $"{v.First}" : string.Join("/", v.Values);

    private static int IndexOfTarget(AbiSnapshot snap, string name)
    {
        var t = CTarget.Parse(name);
        var i = snap.Targets.ToList().IndexOf(t.Triple);
        return i >= 0 ? i : throw new ToolException($"target {t.Triple} is not in this snapshot (it has {string.Join(", ", snap.Targets)})");
    }
}
