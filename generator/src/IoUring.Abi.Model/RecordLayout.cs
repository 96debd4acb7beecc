using System;
using System.Collections.Generic;
using System.Linq;

namespace IoUring.Abi.Model;

/// <summary>
/// A named record's members as a C user reaches them: anonymous structs and unions flattened, each
/// member with its C name (a.b for members of a named member of unnamed type) and absolute offset.
/// </summary>
public sealed record FlatMember(string Path, FieldDecl Field, long BitOffset, long Size, RecordDecl Parent, IReadOnlyList<RecordDecl> Ancestors)
{
    public long Start => BitOffset / 8;

    public long End => Start + Size;

    public string Type => Field.Type;

    public string Canonical(int t) => Field.Canonical[t];

    /// <summary>The nearest enclosing union (through anonymous members), if any.</summary>
    public RecordDecl? Union => Ancestors.LastOrDefault(a => a.Kind == RecordKind.Union);
}

public static class RecordLayout
{
    /// <summary>The members of a named record on one target, as C reaches them (see <see cref="FlatMember"/>).</summary>
    public static List<FlatMember> Flatten(Dictionary<string, RecordDecl> records, RecordDecl top, int target)
    {
        var list = new List<FlatMember>();
        Walk(records, top, target, 0, string.Empty, new List<RecordDecl> { top }, list);
        return list;
    }

    private static void Walk(Dictionary<string, RecordDecl> records, RecordDecl rec, int t, long baseBits, string prefix, List<RecordDecl> ancestors, List<FlatMember> into)
    {
        foreach (var f in rec.Fields)
        {
            var bits = baseBits + f.BitOffset[t];
            if (f.Name is null)
            {
                if (f.Record is not null && records.TryGetValue(f.Record, out var anon))
                {
                    Walk(records, anon, t, bits, prefix, new List<RecordDecl>(ancestors) { anon }, into);
                }

                continue;
            }

            into.Add(new FlatMember(prefix + f.Name, f, bits, f.Size[t], rec, ancestors));
            if (f.Record is not null && records.TryGetValue(f.Record, out var inner) && inner.Name is null && f.Dims.Count == 0 && !f.Flexible)
            {
                Walk(records, inner, t, bits, prefix + f.Name + ".", new List<RecordDecl>(ancestors) { inner }, into);
            }
        }
    }
}
