using System.Text;
using IoUring.Abi.Model;
using IoUring.Bindings.Generator;

namespace IoUring.Bindings.Tests;

/// <summary>
/// Two programs that print the same lines from two sides: a C program compiled by gcc against the
/// kernel's header, and C# code compiled against the generated bindings. Each line is one fact:
/// a struct size, a member offset or size, a constant's value. Equal output means equal ABI.
/// </summary>
internal sealed class ProbeBuilder
{
    private readonly AbiSnapshot snap;
    private readonly int target;
    private readonly Dictionary<string, RecordDecl> records;
    private readonly StringBuilder c = new();
    private readonly StringBuilder cs = new();

    private ProbeBuilder(AbiSnapshot snap)
    {
        this.snap = snap;
        target = snap.Targets.ToList().IndexOf("x86_64-linux-gnu");
        records = snap.Records.ToDictionary(r => r.Id);
    }

    public int Structs { get; private set; }

    public int Fields { get; private set; }

    public int Constants { get; private set; }

    public string C => c.ToString();

    public string CSharp => cs.ToString();

    public static ProbeBuilder Build(AbiSnapshot snap)
    {
        var p = new ProbeBuilder(snap);
        p.Emit();
        return p;
    }

    private void Emit()
    {
        c.Append("#include <stdio.h>\n#include <stddef.h>\n");
        foreach (var h in snap.Headers)
        {
            c.Append($"#include <{h.Path}>\n");
        }

        c.Append("int main(void) {\n");
        cs.Append("""
            using System.Runtime.CompilerServices;
            using System.Runtime.InteropServices;
            using IoUring.Bindings;
            public static unsafe class Probe
            {
                private static long Off<TS, TF>(ref TS s, ref TF f) => (long)Unsafe.ByteOffset(ref Unsafe.As<TS, byte>(ref s), ref Unsafe.As<TF, byte>(ref f));
                private static long Size<TF>(ref TF f) => Unsafe.SizeOf<TF>();
                public static System.Collections.Generic.List<string> Lines()
                {
                    var l = new System.Collections.Generic.List<string>();

            """);

        foreach (var r in snap.Records.Where(r => r.Name is not null && r.Parent is null && r.Size[target] > 0))
        {
            Structs++;
            c.Append($"printf(\"size {r.Name} %zu\\n\", sizeof(struct {r.Name}));\n");
            cs.Append($"l.Add($\"size {r.Name} {{sizeof({r.Name})}}\");\n");
            cs.Append($"{{ var s = default({r.Name});\n");
            Members(r, r.Name!, r.Name!, string.Empty, string.Empty);
            cs.Append("}\n");
        }

        foreach (var e in snap.Enums.Where(e => e.Name is not null))
        {
            var unsigned = CTypes.Integer(e.Underlying[target]) is { } t && !CTypes.IsSigned(t);
            foreach (var x in e.Enumerators)
            {
                Constants++;
                Line($"enum {x.Name}", unsigned, $"{x.Name}", $"{e.Name}.{CTypes.Identifier(x.Name)}");
            }
        }

        foreach (var m in snap.Macros)
        {
            if (CTypes.Integer(m.Type[target]) is not { } t)
            {
                continue;
            }

            Constants++;
            Line($"const {m.Name}", !CTypes.IsSigned(t), $"({m.Name})", $"Constants.{CTypes.Identifier(m.Name)}");
        }

        c.Append("return 0;\n}\n");
        cs.Append("return l;\n}\n}\n");
    }

    private void Line(string label, bool unsigned, string cExpr, string csExpr)
    {
        c.Append(unsigned
            ? $"printf(\"{label} %llu\\n\", (unsigned long long){cExpr});\n"
            : $"printf(\"{label} %lld\\n\", (long long){cExpr});\n");
        cs.Append($"l.Add($\"{label} {{({(unsigned ? "ulong" : "long")}){csExpr}}}\");\n");
    }

    private void Members(RecordDecl rec, string top, string csType, string cPath, string csPath)
    {
        foreach (var f in rec.Fields)
        {
            if (f.Name is null)
            {
                if (f.Record is not null)
                {
                    Members(records[f.Record], top, csType, cPath, csPath);
                }

                continue;
            }

            if (f.BitWidth is not null || f.Size[target] == 0 && !f.Flexible && !(f.Dims.Count > 0 && f.Dims[0] == 0))
            {
                continue;
            }

            var cName = cPath + f.Name;
            var csName = csPath + CTypes.Identifier(CTypes.Member(csType, f.Name));
            Fields++;
            c.Append($"printf(\"offset {top}.{cName} %zu\\n\", offsetof(struct {top}, {cName}));\n");
            if (f.Flexible || (f.Dims.Count > 0 && f.Dims[0] == 0))
            {
                cs.Append($"l.Add($\"offset {top}.{cName} {{Off(ref s, ref MemoryMarshal.GetReference(s.{csName}(0)))}}\");\n");
                continue;
            }

            cs.Append($"l.Add($\"offset {top}.{cName} {{Off(ref s, ref s.{csName})}}\");\n");
            c.Append($"printf(\"sizeof {top}.{cName} %zu\\n\", sizeof(((struct {top} *)0)->{cName}));\n");
            cs.Append($"l.Add($\"sizeof {top}.{cName} {{Size(ref s.{csName})}}\");\n");

            if (f.Record is not null && records[f.Record].Name is null && f.Dims.Count == 0)
            {
                Members(records[f.Record], top, CTypes.AnonymousMemberType(f.Name), cName + ".", csName + ".");
            }
        }
    }
}
