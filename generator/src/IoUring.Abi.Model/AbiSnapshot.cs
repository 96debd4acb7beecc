using System.Collections.Generic;
using System.Numerics;

namespace IoUring.Abi.Model;

/// <summary>
/// The compiler's view of the io_uring UAPI of one kernel: every record, enum, typedef and integer
/// macro of linux/io_uring.h and linux/io_uring/*.h, plus the types they reference, laid out for
/// each target. docs/abi-snapshot-format.md describes the JSON form.
/// </summary>
public sealed class AbiSnapshot
{
    public const string SchemaId = "io_uring-abi/1";

    /// <summary>Kernel series as the corpus names it ("7.2", "7.3-rc"), or the header's name for an ad-hoc extract.</summary>
    public required string Kernel { get; init; }

    /// <summary>Where the headers came from (a Debian package, or a path for an ad-hoc extract).</summary>
    public required HeaderSource Source { get; init; }

    /// <summary>Clang target triples, in the order every <see cref="PerTarget{T}"/> uses.</summary>
    public required IReadOnlyList<string> Targets { get; init; }

    /// <summary>The io_uring headers that were parsed (the roots of the translation unit), with their hashes.</summary>
    public required IReadOnlyList<HeaderFile> Headers { get; init; }

    public required IReadOnlyList<RecordDecl> Records { get; init; }

    public required IReadOnlyList<EnumDecl> Enums { get; init; }

    public required IReadOnlyList<TypedefDecl> Typedefs { get; init; }

    public required IReadOnlyList<MacroConstant> Macros { get; init; }

    public required IReadOnlyList<SkippedMacro> SkippedMacros { get; init; }
}

public sealed class HeaderSource
{
    /// <summary>"debian" for a package of the corpus, "path" for a header given on the command line.</summary>
    public required string Kind { get; init; }

    public string? Package { get; init; }

    public string? Version { get; init; }

    public string? Suite { get; init; }
}

public sealed class HeaderFile
{
    /// <summary>Path relative to the include root, e.g. "linux/io_uring.h".</summary>
    public required string Path { get; init; }

    public required string Sha256 { get; init; }
}

/// <summary>A declaration's place in the headers: a path relative to the include root, and a 1-based line.</summary>
public readonly record struct SourceLocation(string File, int Line)
{
    public override string ToString() => $"{File}:{Line}";
}

public enum RecordKind
{
    Struct,
    Union,
}

public sealed class RecordDecl
{
    /// <summary>
    /// Unique within a snapshot. A named record's id is its tag; an anonymous one's is
    /// "parent::union@OFFSET" (byte offset in the parent on the first target), which stays stable
    /// across kernels as long as the member does not move.
    /// </summary>
    public required string Id { get; init; }

    /// <summary>The C tag, or null for an anonymous record.</summary>
    public string? Name { get; init; }

    public required RecordKind Kind { get; init; }

    /// <summary>Id of the record this one is declared inside, or null at file scope.</summary>
    public string? Parent { get; init; }

    public required SourceLocation Location { get; init; }

    public required PerTarget<long> Size { get; init; }

    public required PerTarget<long> Align { get; init; }

    public required IReadOnlyList<FieldDecl> Fields { get; init; }

    public bool IsAnonymous => Name is null;

    public string CSpelling => Name is null ? $"{KindKeyword} (anonymous)" : $"{KindKeyword} {Name}";

    public string KindKeyword => Kind == RecordKind.Struct ? "struct" : "union";
}

public sealed class FieldDecl
{
    /// <summary>The member name, or null for an anonymous struct/union member.</summary>
    public string? Name { get; init; }

    /// <summary>The type as written in the header, e.g. "__u64" or "struct io_uring_cqe[]".</summary>
    public required string Type { get; init; }

    /// <summary>The canonical type after resolving every typedef, e.g. "unsigned long long".</summary>
    public required PerTarget<string> Canonical { get; init; }

    /// <summary>Id of the record this field holds (directly or as array element), or null.</summary>
    public string? Record { get; init; }

    /// <summary>Id of the enum this field holds, when its type is an enum.</summary>
    public string? Enum { get; init; }

    /// <summary>Constant array dimensions, outermost first (not counting a flexible dimension).</summary>
    public required IReadOnlyList<long> Dims { get; init; }

    /// <summary>True for a flexible array member (declared with []).</summary>
    public bool Flexible { get; init; }

    /// <summary>The bitfield width, or null for an ordinary member.</summary>
    public int? BitWidth { get; init; }

    /// <summary>Offset from the start of the enclosing record, in bits.</summary>
    public required PerTarget<long> BitOffset { get; init; }

    /// <summary>Size in bytes (0 for a flexible array; the declared type's size for a bitfield).</summary>
    public required PerTarget<long> Size { get; init; }

    public required int Line { get; init; }

    public bool IsAnonymous => Name is null;
}

public sealed class EnumDecl
{
    /// <summary>The tag, or "enum@FIRST_ENUMERATOR" for an anonymous enum.</summary>
    public required string Id { get; init; }

    public string? Name { get; init; }

    /// <summary>The compiler's underlying integer type (canonical spelling).</summary>
    public required PerTarget<string> Underlying { get; init; }

    public required SourceLocation Location { get; init; }

    public required IReadOnlyList<Enumerator> Enumerators { get; init; }
}

public sealed class Enumerator
{
    public required string Name { get; init; }

    public required BigInteger Value { get; init; }

    public required int Line { get; init; }
}

public sealed class TypedefDecl
{
    public required string Name { get; init; }

    /// <summary>The underlying type as written, e.g. "int" for __kernel_rwf_t or "__u64" for a chain.</summary>
    public required string Underlying { get; init; }

    public required PerTarget<string> Canonical { get; init; }

    public required PerTarget<long> Size { get; init; }

    public required SourceLocation Location { get; init; }
}

public sealed class MacroConstant
{
    public required string Name { get; init; }

    /// <summary>The replacement list as written, tokens separated by single spaces.</summary>
    public required string Expression { get; init; }

    /// <summary>The C type the compiler gives the expression, e.g. "unsigned int".</summary>
    public required PerTarget<string> Type { get; init; }

    public required PerTarget<BigInteger> Value { get; init; }

    public required SourceLocation Location { get; init; }
}

public sealed class SkippedMacro
{
    public required string Name { get; init; }

    public required string Expression { get; init; }

    public required string Reason { get; init; }

    public required SourceLocation Location { get; init; }
}
