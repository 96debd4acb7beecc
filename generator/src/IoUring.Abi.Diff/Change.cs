using IoUring.Abi.Model;

namespace IoUring.Abi.Diff;

/// <summary>Severity of a UAPI change (the classes are listed in docs/abi-diff.md), in increasing order of concern.</summary>
public enum Severity
{
    Info = 0,
    Compat = 1,
    Risk = 2,
    Break = 3,
}

/// <summary>
/// One classified change or lint finding. <see cref="Class"/> is the number of the change class in
/// docs/abi-diff.md (0 = a declaration added, which the class table leaves implicit).
/// <see cref="Targets"/> is null when the change is the same on every compared target.
/// </summary>
public sealed record Change(int Class, Severity Severity, string Name, string Message, SourceLocation? Location, string? Fix = null, IReadOnlyList<string>? Targets = null)
{
    public string ClassTitle => ChangeClasses.Title(Class);
}

public static class ChangeClasses
{
    private static readonly string[] Titles =
    [
        "declaration added",
        "type, member, enumerator or header removed",
        "member offset, order, bit position or width changed",
        "struct shrinks",
        "struct grows at the tail",
        "reserved/pad member consumed",
        "implicit padding hole becomes a member",
        "union member added",
        "union member reinterpreted",
        "union grows",
        "signedness or same-size typedef change",
        "member renamed",
        "enum change",
        "macro change",
        "flag bit reuse",
        "ioctl number changed",
        "32/64-bit hazard",
        "layout differs between targets",
        "trailing [1]/[0] array became []",
    ];

    public static string Title(int c) => c >= 0 && c < Titles.Length ? Titles[c] : "unknown";

    public static int Count => Titles.Length;
}

/// <summary>A diff or lint result; its exit code is the documented bitmask.</summary>
public sealed record Report(string Old, string New, IReadOnlyList<string> Targets, IReadOnlyList<Change> Changes)
{
    public const int ExitNoChange = 0;
    public const int ExitCompatible = 1;
    public const int ExitNeedsReview = 2;
    public const int ExitBreak = 4;
    public const int ExitError = 64;

    public int ExitCode =>
        (Changes.Any(c => c.Severity is Severity.Compat or Severity.Info) ? ExitCompatible : 0)
        | (Changes.Any(c => c.Severity == Severity.Risk) ? ExitNeedsReview : 0)
        | (Changes.Any(c => c.Severity == Severity.Break) ? ExitBreak : 0);
}
