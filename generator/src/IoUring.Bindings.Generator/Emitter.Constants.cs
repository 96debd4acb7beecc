using System.Collections.Generic;
using System.Linq;
using System.Numerics;
using IoUring.Abi.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using static Microsoft.CodeAnalysis.CSharp.SyntaxFactory;

namespace IoUring.Bindings.Generator;

// Enums, macro constants and curated flag families.
public sealed partial class Emitter
{
    /// <summary>Every named C enum as a C# enum with the compiler's underlying type.</summary>
    private string EmitEnums()
    {
        var members = new List<MemberDeclarationSyntax>();
        foreach (var e in snap.Enums.Where(e => e.Name is not null))
        {
            var underlying = CTypes.EnumUnderlying(e.Underlying[target]);
            members.Add(Syntax.Enum(
                0,
                e.Name!,
                underlying,
                null,
                e.Enumerators.Select(x => (CTypes.Identifier(x.Name), CTypes.Literal(x.Value, underlying), Syntax.Doc($"<c>{x.Name}</c> = {x.Value}.{Since("enumerator:" + x.Name)}"))),
                TypeDoc($"<c>enum {e.Name}</c> ({e.Location}), underlying <c>{e.Underlying[target]}</c>.{Since("enum:" + e.Id)}"),
                blankLineBefore: members.Count > 0,
                marker: Marker(0)));
        }

        return Render(members);
    }

    /// <summary>
    /// Every integer #define as a typed constant (the raw C names), and the enumerators of unnamed
    /// enums, which have no C# enum to live in.
    /// </summary>
    private string EmitConstants()
    {
        var members = new List<MemberDeclarationSyntax>();
        foreach (var m in snap.Macros)
        {
            var type = CTypes.Integer(m.Type[target]);
            if (type is null)
            {
                continue;
            }

            members.Add(Syntax.Constant(1, type, CTypes.Identifier(m.Name), CTypes.Literal(m.Value[target], type),
                Syntax.Doc($"<c>#define {m.Name} {Syntax.Xml(m.Expression)}</c> ({m.Location}): <c>{m.Type[target]}</c> {m.Value[target]}.{Since("macro:" + m.Name)}")));
        }

        foreach (var e in snap.Enums.Where(e => e.Name is null))
        {
            var type = CTypes.EnumUnderlying(e.Underlying[target]);
            foreach (var x in e.Enumerators)
            {
                members.Add(Syntax.Constant(1, type, CTypes.Identifier(x.Name), CTypes.Literal(x.Value, type),
                    Syntax.Doc($"<c>{x.Name}</c> = {x.Value}, of an unnamed enum ({e.Location}).{Since("enumerator:" + x.Name)}")));
            }
        }

        var cls = Syntax.StaticClass(0, "Constants", members, TypeDoc($"The integer macros of the io_uring headers of kernel {snap.Kernel}, with the type and value the compiler gives them."), Marker(0));
        return Render([cls]);
    }

    /// <summary>The flag families of the curation file as [Flags] enums, the C names kept as member names.</summary>
    private string EmitFlags()
    {
        var members = new List<MemberDeclarationSyntax>();
        foreach (var family in flags.Families.Where(f => f.EmitsEnum))
        {
            var values = new List<(string Name, BigInteger Value, string Type, string Doc)>();
            if (family.FromBitsEnum is { } bitsEnums)
            {
                var e = bitsEnums.Select(id => snap.Enums.FirstOrDefault(x => x.Id == id || x.Name == id)).FirstOrDefault(x => x is not null);
                if (e is null)
                {
                    // A kernel's own header without the enum means the curation names it wrongly. Any
                    // other header (a project's own, given to the generator package) simply lacks the
                    // family, which is skipped as a macro family that matches nothing is.
                    if (snap.Source.Kind == "debian")
                    {
                        problems.Add(new GeneratorProblem("IOU0006", $"flags.txt: {family.Name} takes its bits from enum {string.Join(" or ", bitsEnums)}, which kernel {snap.Kernel} does not have", true));
                    }

                    continue;
                }

                foreach (var x in e.Enumerators.Where(x => !x.Name.EndsWith("_LAST", System.StringComparison.Ordinal)))
                {
                    var name = x.Name.EndsWith("_BIT", System.StringComparison.Ordinal) ? x.Name.Substring(0, x.Name.Length - 4) : x.Name;
                    values.Add((name, BigInteger.One << (int)x.Value, "unsigned int", $"1 &lt;&lt; <c>{x.Name}</c> ({x.Value})."));
                }
            }
            else
            {
                foreach (var m in snap.Macros.Where(m => family.Matches(m.Name)))
                {
                    values.Add((m.Name, m.Value[target], m.Type[target], $"<c>{Syntax.Xml(m.Expression)}</c>."));
                }
            }

            if (values.Count == 0)
            {
                continue;
            }

            var underlying = values.Any(v => CTypes.Integer(v.Type) is "ulong" or "long") ? "ulong" : "uint";
            members.Add(Syntax.Enum(
                0,
                family.Name,
                underlying,
                Syntax.Attribute(0, "Flags"),
                values.Select(v => (CTypes.Identifier(v.Name), CTypes.Literal(v.Value, underlying), Syntax.Doc($"{v.Doc}{Since("macro:" + v.Name)}"))),
                TypeDoc($"Flag family {Syntax.Xml(family.Description)} (generated/IoUring.Bindings/flags.txt)."),
                blankLineBefore: members.Count > 0,
                marker: Marker(0)));
        }

        return Render(members, "System");
    }
}
