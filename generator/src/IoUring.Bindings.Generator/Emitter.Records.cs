using System.Collections.Generic;
using System.Linq;
using IoUring.Abi.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using static Microsoft.CodeAnalysis.CSharp.SyntaxFactory;

namespace IoUring.Bindings.Generator;

// Records: one explicit-layout struct per named C record. Anonymous structs and unions are flattened
// into it, each member at its absolute offset, so `sqe.addr3` reads as it does in C.
public sealed partial class Emitter
{
    private static readonly string[] RecordUsings =
    [
        "System", "System.Diagnostics.CodeAnalysis", "System.Runtime.CompilerServices", "System.Runtime.InteropServices",
    ];

    private string EmitRecord(RecordDecl r) => Render([RecordStruct(r, CTypes.RecordType(r), null, 0)], RecordUsings);

    private StructDeclarationSyntax RecordStruct(RecordDecl r, string typeName, string? memberOf, int depth)
    {
        var members = new List<MemberDeclarationSyntax>();
        var storage = new SortedDictionary<long, (string Type, long Size)>();
        Flatten(r, 0, string.Empty, typeName, members, storage, depth + 1);
        var storageFields = storage.Select(s => (MemberDeclarationSyntax)Syntax.Field(
            depth + 1,
            s.Value.Type,
            $"__bitfield_storage_{s.Key}",
            Syntax.Attribute(depth + 1, "FieldOffset", s.Key.ToString()),
            Syntax.Doc($"Storage unit of the bitfields at byte {s.Key}."),
            SyntaxKind.PrivateKeyword));

        var since = memberOf is null ? Since("record:" + r.Name) : string.Empty;
        var what = memberOf is null ? $"<c>{Syntax.Xml(r.CSpelling)}</c> ({r.Location})" : $"The unnamed {r.KindKeyword} type of <c>{memberOf}</c> ({r.Location})";
        return Syntax.Struct(
            depth,
            typeName,
            Syntax.Attribute(depth, "StructLayout", "LayoutKind.Explicit", $"Size = {r.Size[target]}"),
            storageFields.Concat(members),
            TypeDoc($"{what}: {Bytes(r.Size[target])}, aligned to {r.Align[target]}.{since}"),
            blankLineBefore: false,
            marker: Marker(depth));
    }

    private void Flatten(RecordDecl rec, long baseBits, string context, string owner, List<MemberDeclarationSyntax> into, SortedDictionary<long, (string, long)> storage, int depth)
    {
        foreach (var f in rec.Fields)
        {
            var bits = baseBits + f.BitOffset[target];
            if (f.Name is null)
            {
                if (f.Record is not null && records.TryGetValue(f.Record, out var anon))
                {
                    Flatten(anon, bits, context + $", in an anonymous {anon.KindKeyword}", owner, into, storage, depth);
                }

                continue;
            }

            var memberName = CTypes.Member(owner, f.Name);
            if (memberName != f.Name)
            {
                problems.Add(new GeneratorProblem("IOU0003", $"{rec.Location.File}:{f.Line}: member '{f.Name}' has the name of its C# type; it is emitted as '{memberName}'", false));
            }

            var id = CTypes.Identifier(memberName);
            var declared = $"{f.Type} {f.Name}";
            var since = Since($"member:{owner}.{f.Name}");
            if (f.BitWidth is int width)
            {
                into.Add(Bitfield(rec, f, id, bits, width, storage, context, since, depth));
                continue;
            }

            if (f.Flexible || (f.Dims.Count > 0 && f.Dims[0] == 0))
            {
                into.Add(FlexibleAccessor(f, id, bits / 8, owner, context, since, into, depth));
                continue;
            }

            if (f.Size[target] == 0)
            {
                // A zero-size member (an empty struct, as in __DECLARE_FLEX_ARRAY) holds no data.
                continue;
            }

            var type = FieldType(f, owner, into, depth);
            if (type is null)
            {
                continue;
            }

            into.Add(Syntax.Field(
                depth,
                type,
                id,
                Syntax.Attribute(depth, "FieldOffset", (bits / 8).ToString()),
                Syntax.Doc($"<c>{Syntax.Xml(declared)}</c> at offset {bits / 8}, {Bytes(f.Size[target])}{context}.{since}")));
        }
    }

    /// <summary>The C# type of a field: records and enums by name, integers by size, arrays as inline arrays.</summary>
    private string? FieldType(FieldDecl f, string owner, List<MemberDeclarationSyntax> nestedInto, int depth)
    {
        var element = ElementType(f, owner, nestedInto, depth);
        if (element is null)
        {
            return null;
        }

        for (var i = f.Dims.Count - 1; i >= 0; i--)
        {
            var name = CTypes.InlineArrayType(element, f.Dims[i]);
            inlineArrays[name] = (element, f.Dims[i]);
            element = name;
        }

        return element;
    }

    private string? ElementType(FieldDecl f, string owner, List<MemberDeclarationSyntax> nestedInto, int depth)
    {
        if (f.Record is not null && records.TryGetValue(f.Record, out var rec))
        {
            if (rec.Name is not null)
            {
                return CTypes.RecordType(rec);
            }

            // struct { ... } name; — a nested type of its own, named after the member.
            var nested = CTypes.AnonymousMemberType(f.Name!);
            nestedInto.Add(RecordStruct(rec, nested, $"{owner}.{f.Name}", depth));
            return $"{owner}.{nested}";
        }

        if (f.Enum is not null && enums.TryGetValue(f.Enum, out var e))
        {
            return e.Name ?? CTypes.EnumUnderlying(e.Underlying[target]);
        }

        var canonical = f.Canonical[target];
        var bracket = canonical.IndexOf('[');
        var scalar = (bracket >= 0 ? canonical.Substring(0, bracket) : canonical).Trim();
        if (scalar.Contains('*'))
        {
            return "nint";
        }

        var cs = CTypes.Integer(scalar);
        if (cs is null)
        {
            problems.Add(new GeneratorProblem("IOU0005", $"{owner}.{f.Name}: C type '{canonical}' has no blittable C# equivalent here; the member is left out", true));
        }

        return cs;
    }

    private MemberDeclarationSyntax FlexibleAccessor(FieldDecl f, string id, long offset, string owner, string context, string since, List<MemberDeclarationSyntax> nestedInto, int depth)
    {
        var scalar = new FieldDecl
        {
            Name = f.Name,
            Type = f.Type,
            Canonical = f.Canonical,
            Record = f.Record,
            Enum = f.Enum,
            BitOffset = f.BitOffset,
            Size = f.Size,
            Line = f.Line,
            Dims = f.Dims.Skip(f.Flexible ? 0 : 1).ToList(),
        };
        var element = FieldType(scalar, owner, nestedInto, depth) ?? "byte";
        var code = $$"""
            [UnscopedRef]
            public Span<{{element}}> {{id}}(int count) =>
                MemoryMarshal.CreateSpan(ref Unsafe.As<byte, {{element}}>(ref Unsafe.AddByteOffset(ref Unsafe.As<{{owner}}, byte>(ref this), (nint){{offset}})), count);
            """;
        return Syntax.Snippet(depth, code, Syntax.Doc(
            $"<c>{Syntax.Xml($"{f.Type} {f.Name}")}</c>: a flexible array at offset {offset}{context}. The elements live in the memory",
            $"that follows this struct; the caller knows how many there are.{since}"));
    }

    private MemberDeclarationSyntax Bitfield(RecordDecl rec, FieldDecl f, string id, long bits, int width, SortedDictionary<long, (string, long)> storage, string context, string since, int depth)
    {
        var unitSize = f.Size[target];
        var type = CTypes.Integer(f.Canonical[target]) ?? "uint";
        var unitBits = unitSize * 8;
        var unit = bits / unitBits * unitSize;
        var shift = bits - (unit * 8);
        if (shift + width > unitBits)
        {
            problems.Add(new GeneratorProblem("IOU0005", $"{rec.Location.File}:{f.Line}: bitfield {f.Name} straddles its storage unit; not supported", true));
        }

        var unsignedStorage = unitSize switch { 1 => "byte", 2 => "ushort", 4 => "uint", _ => "ulong" };
        storage[unit] = (unsignedStorage, unitSize);
        var field = $"__bitfield_storage_{unit}";
        var mask = width >= 64 ? ulong.MaxValue : (1UL << width) - 1;
        var getter = CTypes.IsSigned(type)
            ? $"unchecked(({type})((long)((((ulong){field}) >> {shift}) << {64 - width}) >> {64 - width}))"
            : $"unchecked(({type})((((ulong){field}) >> {shift}) & 0x{mask:x}UL))";
        var code = $$"""
            public {{type}} {{id}}
            {
                get => {{getter}};
                set => {{field}} = unchecked(({{unsignedStorage}})((((ulong){{field}}) & ~(0x{{mask:x}}UL << {{shift}})) | ((((ulong)value) & 0x{{mask:x}}UL) << {{shift}})));
            }
            """;
        return Syntax.Snippet(depth, code, Syntax.Doc(
            $"<c>{Syntax.Xml($"{f.Type} {f.Name} : {width}")}</c>: bits {shift}..{shift + width - 1} of the {unitSize}-byte unit at offset {unit}{context}.{since}"));
    }

    private string EmitInlineArrays()
    {
        var marker = proposal is null ? string.Empty : $"[Experimental(\"{ProposalFlavour.DiagnosticId}\", Message = \"{proposal.Notice}\")]\n";
        var members = inlineArrays.Select((a, i) => Syntax.Snippet(
            0,
            $$"""
            {{marker}}[InlineArray({{a.Value.Length}})]
            public struct {{a.Key}}
            {
                private {{a.Value.Element}} element0;
            }
            """,
            TypeDoc($"A fixed C array of {a.Value.Length} <c>{Syntax.Xml(a.Value.Element)}</c>: index it, or take a Span."),
            blankLineBefore: i > 0)).ToList();
        return Render(members, "System.Runtime.CompilerServices");
    }
}
