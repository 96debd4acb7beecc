using System.Numerics;
using System.Text;
using IoUring.Abi.Model;

namespace IoUring.Abi.Tests;

/// <summary>
/// Turns a snapshot into a C file of _Static_asserts for one target: every sizeof, _Alignof,
/// offsetof, member type and constant value the snapshot claims. gcc then judges the claims with no
/// help from libclang. Member paths go through anonymous structs and unions by their C names
/// (offsetof(struct io_uring_sqe, addr3)), exactly as a C user would reach them.
/// </summary>
internal sealed class StaticAssertOracle
{
    private readonly AbiSnapshot snap;
    private readonly int target;
    private readonly Dictionary<string, RecordDecl> records;
    private readonly StringBuilder sb = new();

    private StaticAssertOracle(AbiSnapshot snap, int target)
    {
        this.snap = snap;
        this.target = target;
        records = snap.Records.ToDictionary(r => r.Id, StringComparer.Ordinal);
    }

    public int Assertions { get; private set; }

    /// <summary>Facts C cannot state in a constant expression (bitfield offsets, unnamed members' own size).</summary>
    public int Unexpressible { get; private set; }

    public static (string Source, int Assertions, int Unexpressible) Build(AbiSnapshot snap, int target)
    {
        var o = new StaticAssertOracle(snap, target);
        o.Emit();
        return (o.sb.ToString(), o.Assertions, o.Unexpressible);
    }

    private void Check(string condition)
    {
        Assertions++;
        sb.Append("_Static_assert(").Append(condition).Append(", \"").Append(condition.Replace("\\", "\\\\").Replace("\"", "\\\"")).Append("\");\n");
    }

    private void Emit()
    {
        foreach (var h in snap.Headers)
        {
            sb.Append($"#include <{h.Path}>\n");
        }

        foreach (var t in snap.Typedefs)
        {
            Check($"sizeof({t.Name}) == {t.Size[target]}");
            if (Expressible(t.Canonical[target]))
            {
                Check($"__builtin_types_compatible_p({t.Name}, {t.Canonical[target]})");
            }
        }

        foreach (var r in snap.Records.Where(r => r.Name is not null))
        {
            var c = r.CSpelling;
            Check($"sizeof({c}) == {r.Size[target]}");
            Check($"_Alignof({c}) == {r.Align[target]}");
            Members(c, r, prefix: string.Empty, baseBits: 0);
        }

        foreach (var e in snap.Enums)
        {
            if (e.Name is not null)
            {
                Check($"sizeof(enum {e.Name}) == sizeof({e.Underlying[target]})");
            }

            foreach (var x in e.Enumerators)
            {
                Check($"{x.Name} == {Literal(x.Value)}");
            }
        }

        foreach (var m in snap.Macros)
        {
            var type = m.Type[target];
            Check($"__builtin_types_compatible_p(__typeof__(({m.Name})), {type})");
            Check($"({m.Name}) == ({type})({Literal(m.Value[target])})");
        }
    }

    private void Members(string outer, RecordDecl record, string prefix, long baseBits)
    {
        foreach (var f in record.Fields)
        {
            var bits = baseBits + f.BitOffset[target];
            if (f.Name is null)
            {
                // An unnamed struct/union: its members are reached through the parent by name.
                Unexpressible++;
                if (f.Record is not null && records.TryGetValue(f.Record, out var anon))
                {
                    Members(outer, anon, prefix, bits);
                }

                continue;
            }

            var path = prefix + f.Name;
            var access = $"((({outer} *)0)->{path})";
            if (f.BitWidth is not null)
            {
                Unexpressible++;
                continue;
            }

            Check($"__builtin_offsetof({outer}, {path}) == {bits / 8}");
            if (!f.Flexible)
            {
                Check($"sizeof{access} == {f.Size[target]}");
            }

            if (Expressible(f.Canonical[target]))
            {
                Check($"__builtin_types_compatible_p(__typeof__{access}, {f.Canonical[target]})");
            }

            // A named member of an unnamed type (struct { ... } name;) is reached by a longer path.
            if (f.Record is not null && records.TryGetValue(f.Record, out var inner) && inner.Name is null && f.Dims.Count == 0 && !f.Flexible)
            {
                Members(outer, inner, path + ".", bits);
            }
        }
    }

    private static bool Expressible(string canonical) => !canonical.Contains("(anonymous)", StringComparison.Ordinal);

    private static string Literal(BigInteger v) =>
        v == long.MinValue ? "(-9223372036854775807LL - 1)"
        : v < 0 ? $"({v}LL)"
        : $"{v}ULL";
}
