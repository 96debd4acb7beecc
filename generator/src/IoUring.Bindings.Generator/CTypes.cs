using System;
using System.Collections.Generic;
using System.Linq;
using IoUring.Abi.Model;

namespace IoUring.Bindings.Generator;

/// <summary>How C types and names become C# ones. Public so that tests build their probes by the same rules.</summary>
public static class CTypes
{
    private static readonly Dictionary<string, string> Integers = new(StringComparer.Ordinal)
    {
        ["_Bool"] = "byte",
        ["char"] = "byte",
        ["signed char"] = "sbyte",
        ["unsigned char"] = "byte",
        ["short"] = "short",
        ["unsigned short"] = "ushort",
        ["int"] = "int",
        ["unsigned int"] = "uint",
        ["long"] = "long",
        ["unsigned long"] = "ulong",
        ["long long"] = "long",
        ["unsigned long long"] = "ulong",
    };

    private static readonly HashSet<string> Keywords = new(StringComparer.Ordinal)
    {
        "abstract", "as", "base", "bool", "break", "byte", "case", "catch", "char", "checked", "class", "const", "continue",
        "decimal", "default", "delegate", "do", "double", "else", "enum", "event", "explicit", "extern", "false", "finally",
        "fixed", "float", "for", "foreach", "goto", "if", "implicit", "in", "int", "interface", "internal", "is", "lock",
        "long", "namespace", "new", "null", "object", "operator", "out", "override", "params", "private", "protected",
        "public", "readonly", "ref", "return", "sbyte", "sealed", "short", "sizeof", "stackalloc", "static", "string",
        "struct", "switch", "this", "throw", "true", "try", "typeof", "uint", "ulong", "unchecked", "unsafe", "ushort",
        "using", "virtual", "void", "volatile", "while",
    };

    /// <summary>The C# integer type for a canonical C integer type, or null when it is not one.</summary>
    public static string? Integer(string canonical)
    {
        var c = canonical.StartsWith("const ", StringComparison.Ordinal) ? canonical.Substring(6) : canonical;
        return Integers.TryGetValue(c, out var cs) ? cs : null;
    }

    public static bool IsSigned(string csInteger) => csInteger is "sbyte" or "short" or "int" or "long";

    /// <summary>A C identifier as a C# identifier: keywords are escaped with @, so `x.@event` still reads as C's `x.event`.</summary>
    public static string Identifier(string name) => Keywords.Contains(name) ? "@" + name : name;

    /// <summary>
    /// The C# name of a member. Anonymous structs and unions are flattened into their named parent, so
    /// their members keep their C names (sqe.addr3). C forbids two members of one struct (anonymous
    /// ones included) to share a name, so the only clash left is with the enclosing type's own name,
    /// which C# forbids: such a member gets the suffix "_" (reported as IOU0003).
    /// </summary>
    public static string Member(string recordName, string memberName) =>
        memberName == recordName ? memberName + "_" : memberName;

    /// <summary>Name of the generated type for a C tag (kept as written: the C name is the documentation).</summary>
    public static string RecordType(RecordDecl r) => r.Name ?? throw new InvalidOperationException("anonymous records have no type of their own");

    /// <summary>Name of the nested type for a named member whose type is an unnamed struct/union.</summary>
    public static string AnonymousMemberType(string memberName) => memberName + "_t";

    public static string InlineArrayType(string element, long length) =>
        $"{element.Replace(".", "_")}_x{length}";

    public static string EnumUnderlying(string canonical) => Integer(canonical) ?? "int";

    public static string Literal(System.Numerics.BigInteger value, string csType) => csType switch
    {
        "ulong" => $"{value}UL",
        "uint" => $"{value}U",
        "long" => value == long.MinValue ? "long.MinValue" : $"{value}L",
        _ => value.ToString(),
    };
}
