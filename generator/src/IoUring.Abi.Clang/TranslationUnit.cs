using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using IoUring.Abi.Model;

namespace IoUring.Abi.Clang;

/// <summary>One parsed translation unit: owns the libclang index and TU, and the helpers that read cursors.</summary>
internal sealed unsafe class TranslationUnit : IDisposable
{
    public const string ProbeFileName = "/__io_uring_abi__/probe.c";

    private const uint DetailedPreprocessingRecord = 0x01;
    private const uint KeepGoing = 0x200;

    private readonly IntPtr index;
    private readonly Dictionary<IntPtr, string> fileNames = new();

    private TranslationUnit(IntPtr index, IntPtr tu)
    {
        this.index = index;
        Handle = tu;
    }

    public IntPtr Handle { get; }

    public static TranslationUnit Parse(IncludeTree tree, CTarget target, string probeSource, bool macros)
    {
        var args = new List<string>
        {
            "-x", "c", "-std=gnu11", "-target", target.Triple, "-nostdinc",
            "-ferror-limit=0", "-Wno-everything",
        };
        foreach (var dir in tree.SearchPath(target))
        {
            args.AddRange(["-I", dir]);
        }

        foreach (var dir in tree.QuotedIncludeDirs)
        {
            args.AddRange(["-iquote", dir]);
        }

        var index = LibClang.clang_createIndex(0, 0);
        var argBytes = args.Select(a => Marshal.StringToCoTaskMemUTF8(a)).ToArray();
        var fileName = Marshal.StringToCoTaskMemUTF8(ProbeFileName);
        var contents = Encoding.UTF8.GetBytes(probeSource);
        try
        {
            fixed (IntPtr* argv = argBytes)
            fixed (byte* content = contents)
            {
                var unsaved = new CXUnsavedFile { Filename = (byte*)fileName, Contents = content, Length = (nuint)contents.Length };
                IntPtr tu;
                var rc = LibClang.clang_parseTranslationUnit2(index, (byte*)fileName, (byte**)argv, args.Count, &unsaved, 1, (macros ? DetailedPreprocessingRecord : 0) | KeepGoing, &tu);
                if (rc != 0 || tu == IntPtr.Zero)
                {
                    LibClang.clang_disposeIndex(index);
                    throw new FrontEndException($"libclang could not parse the headers under {tree.DisplayRoot ?? tree.Root} for {target.Triple} (CXErrorCode {rc}); check that the folder is a complete include tree");
                }

                return new TranslationUnit(index, tu);
            }
        }
        finally
        {
            foreach (var p in argBytes)
            {
                Marshal.FreeCoTaskMem(p);
            }

            Marshal.FreeCoTaskMem(fileName);
        }
    }

    public void Dispose()
    {
        LibClang.clang_disposeTranslationUnit(Handle);
        LibClang.clang_disposeIndex(index);
    }

    public CXCursor Cursor => LibClang.clang_getTranslationUnitCursor(Handle);

    /// <summary>Error diagnostics with their expansion location (file, line, column).</summary>
    public List<(string File, int Line, int Column, string Message)> Errors()
    {
        var list = new List<(string, int, int, string)>();
        var n = LibClang.clang_getNumDiagnostics(Handle);
        for (uint i = 0; i < n; i++)
        {
            var d = LibClang.clang_getDiagnostic(Handle, i);
            try
            {
                // 3 = CXDiagnostic_Error, 4 = CXDiagnostic_Fatal
                if (LibClang.clang_getDiagnosticSeverity(d) < 3)
                {
                    continue;
                }

                var loc = LibClang.clang_getDiagnosticLocation(d);
                IntPtr file;
                uint line, col, unused;
                LibClang.clang_getExpansionLocation(loc, &file, &line, &col, &unused);
                list.Add((FileName(file), (int)line, (int)col, LibClang.TakeString(LibClang.clang_getDiagnosticSpelling(d))));
            }
            finally
            {
                LibClang.clang_disposeDiagnostic(d);
            }
        }

        return list;
    }

    public string FileName(IntPtr file)
    {
        if (file == IntPtr.Zero)
        {
            return string.Empty;
        }

        if (!fileNames.TryGetValue(file, out var name))
        {
            name = LibClang.TakeString(LibClang.clang_getFileName(file));
            fileNames[file] = name;
        }

        return name;
    }

    public (string File, int Line, int Offset) Location(CXCursor c)
    {
        IntPtr file;
        uint line, column, offset;
        LibClang.clang_getExpansionLocation(LibClang.clang_getCursorLocation(c), &file, &line, &column, &offset);
        return (FileName(file), (int)line, (int)offset);
    }

    public (string File, int Start, int End) Extent(CXCursor c)
    {
        var r = LibClang.clang_getCursorExtent(c);
        var begin = new CXSourceLocation { Ptr0 = r.Ptr0, Ptr1 = r.Ptr1, IntData = r.BeginIntData };
        var end = new CXSourceLocation { Ptr0 = r.Ptr0, Ptr1 = r.Ptr1, IntData = r.EndIntData };
        IntPtr file, endFile;
        uint line, column, start, stop;
        LibClang.clang_getSpellingLocation(begin, &file, &line, &column, &start);
        LibClang.clang_getSpellingLocation(end, &endFile, &line, &column, &stop);
        return (FileName(file), (int)start, (int)stop);
    }

    public static List<CXCursor> Children(CXCursor parent)
    {
        var list = new List<CXCursor>();
        var handle = GCHandle.Alloc(list);
        try
        {
            LibClang.clang_visitChildren(parent, &CollectChild, GCHandle.ToIntPtr(handle));
        }
        finally
        {
            handle.Free();
        }

        return list;
    }

    /// <summary>
    /// Fields of a record type, including the implicit members that stand for anonymous structs and
    /// unions (visitChildren shows only their declarations, not the members that place them).
    /// </summary>
    public static List<CXCursor> Fields(CXType recordType)
    {
        var list = new List<CXCursor>();
        var handle = GCHandle.Alloc(list);
        try
        {
            LibClang.clang_Type_visitFields(recordType, &CollectField, GCHandle.ToIntPtr(handle));
        }
        finally
        {
            handle.Free();
        }

        return list;
    }

    [UnmanagedCallersOnly]
    private static int CollectChild(CXCursor cursor, CXCursor parent, IntPtr data)
    {
        ((List<CXCursor>)GCHandle.FromIntPtr(data).Target!).Add(cursor);
        return 1; // CXChildVisit_Continue
    }

    [UnmanagedCallersOnly]
    private static int CollectField(CXCursor cursor, IntPtr data)
    {
        ((List<CXCursor>)GCHandle.FromIntPtr(data).Target!).Add(cursor);
        return 1; // CXVisit_Continue
    }

    public static string Spelling(CXCursor c) => LibClang.TakeString(LibClang.clang_getCursorSpelling(c));

    public static string TypeSpelling(CXType t) => SanitizeTypeName(LibClang.TakeString(LibClang.clang_getTypeSpelling(t)));

    /// <summary>
    /// libclang spells anonymous records with the absolute path of their declaration
    /// ("union (unnamed union at /tmp/x/linux/io_uring.h:38:2)"), which would make snapshots depend on
    /// where the cache lives and on the libclang version. Both spellings become "union (anonymous)".
    /// </summary>
    public static string SanitizeTypeName(string spelling) =>
        spelling.Contains('(') ? AnonymousSpelling.Replace(spelling, "(anonymous)") : spelling;

    private static readonly Regex AnonymousSpelling = new(@"(?:\w+::)*\((?:unnamed|anonymous)\b[^)]*\)", RegexOptions.CultureInvariant);

    public static bool IsInteger(TypeKind k) => k is >= TypeKind.Bool and <= TypeKind.Int128 and not TypeKind.WChar;

    public static bool IsUnsigned(TypeKind k) => k is >= TypeKind.Bool and <= TypeKind.UInt128;
}
