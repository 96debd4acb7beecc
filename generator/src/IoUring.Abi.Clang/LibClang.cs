using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using IoUring.Abi.Model;

// Every signature below is blittable, so no marshalling stub has to be generated at run time and
// ReadyToRun can compile the calls ahead of time: start-up is most of a one-header extract.
[assembly: DisableRuntimeMarshalling]

namespace IoUring.Abi.Clang;

// The subset of libclang's stable C API (clang-c/Index.h) that the extractor uses. The structs mirror
// the C layouts exactly; they are passed by value, as the C API does.
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXCursor
{
    public CursorKind Kind;
    public int Xdata;
    public void* Data0;
    public void* Data1;
    public void* Data2;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXType
{
    public TypeKind Kind;
    public void* Data0;
    public void* Data1;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXString
{
    public void* Data;
    public uint Flags;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXSourceLocation
{
    public void* Ptr0;
    public void* Ptr1;
    public uint IntData;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXSourceRange
{
    public void* Ptr0;
    public void* Ptr1;
    public uint BeginIntData;
    public uint EndIntData;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXToken
{
    public uint Int0;
    public uint Int1;
    public uint Int2;
    public uint Int3;
    public void* PtrData;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXUnsavedFile
{
    public byte* Filename;
    public byte* Contents;
    public nuint Length;
}

internal enum CursorKind
{
    StructDecl = 2,
    UnionDecl = 3,
    EnumDecl = 5,
    FieldDecl = 6,
    EnumConstantDecl = 7,
    VarDecl = 9,
    TypedefDecl = 20,
    MacroDefinition = 501,
    InclusionDirective = 503,
}

internal enum TypeKind
{
    Invalid = 0,
    Bool = 3,
    CharU = 4,
    UChar = 5,
    Char16 = 6,
    Char32 = 7,
    UShort = 8,
    UInt = 9,
    ULong = 10,
    ULongLong = 11,
    UInt128 = 12,
    CharS = 13,
    SChar = 14,
    WChar = 15,
    Short = 16,
    Int = 17,
    Long = 18,
    LongLong = 19,
    Int128 = 20,
    Pointer = 101,
    Record = 105,
    Enum = 106,
    Typedef = 107,
    ConstantArray = 112,
    IncompleteArray = 114,
    Elaborated = 119,
}

internal enum EvalResultKind
{
    Int = 1,
}

internal static unsafe partial class LibClang
{
    private const string Lib = "libclang";

    // Newest first: a newer clang knows newer targets and attributes. libclang1-19 is what the setup
    // installs; libclang-14 is what a stock Debian 12 machine of this kind already has.
    internal static readonly string[] Candidates =
    [
        "libclang-19.so.1", "libclang-19.so", "libclang-18.so.1", "libclang-17.so.1", "libclang-16.so.1",
        "libclang-15.so.1", "libclang-14.so.1", "libclang.so.1", "libclang.so",
    ];

    internal const string InstallHint = "apt-get install libclang1-19";

    private static string? loadedFrom;

    static LibClang()
    {
        NativeLibrary.SetDllImportResolver(typeof(LibClang).Assembly, Resolve);
    }

    /// <summary>Loads libclang now, so a missing library is reported before any work starts.</summary>
    internal static string EnsureLoaded()
    {
        var v = clang_getClangVersion();
        var version = TakeString(v);
        return $"{version} ({loadedFrom})";
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (name != Lib)
        {
            return IntPtr.Zero;
        }

        var overridePath = Environment.GetEnvironmentVariable("LIBCLANG_PATH");
        if (!string.IsNullOrEmpty(overridePath))
        {
            if (NativeLibrary.TryLoad(overridePath, out var h))
            {
                loadedFrom = overridePath;
                return h;
            }

            throw new FrontEndException($"LIBCLANG_PATH={overridePath} could not be loaded; unset it or point it at libclang.so (Debian: {InstallHint})");
        }

        foreach (var candidate in Candidates)
        {
            if (NativeLibrary.TryLoad(candidate, out var handle))
            {
                loadedFrom = candidate;
                return handle;
            }
        }

        throw new FrontEndException($"libclang was not found (tried {string.Join(", ", Candidates)}). Install it with: {InstallHint} (or set LIBCLANG_PATH to a libclang.so)");
    }

    internal static string TakeString(CXString s)
    {
        try
        {
            var p = clang_getCString(s);
            return p == null ? string.Empty : Marshal.PtrToStringUTF8((IntPtr)p) ?? string.Empty;
        }
        finally
        {
            clang_disposeString(s);
        }
    }

    [DllImport(Lib)] internal static extern CXString clang_getClangVersion();
    [DllImport(Lib)] internal static extern byte* clang_getCString(CXString s);
    [DllImport(Lib)] internal static extern void clang_disposeString(CXString s);
    [DllImport(Lib)] internal static extern IntPtr clang_createIndex(int excludeDeclarationsFromPch, int displayDiagnostics);
    [DllImport(Lib)] internal static extern void clang_disposeIndex(IntPtr index);

    [DllImport(Lib)]
    internal static extern int clang_parseTranslationUnit2(IntPtr index, byte* sourceFilename, byte** args, int numArgs, CXUnsavedFile* unsaved, uint numUnsaved, uint options, IntPtr* tu);

    [DllImport(Lib)] internal static extern void clang_disposeTranslationUnit(IntPtr tu);
    [DllImport(Lib)] internal static extern uint clang_getNumDiagnostics(IntPtr tu);
    [DllImport(Lib)] internal static extern IntPtr clang_getDiagnostic(IntPtr tu, uint index);
    [DllImport(Lib)] internal static extern void clang_disposeDiagnostic(IntPtr diag);
    [DllImport(Lib)] internal static extern int clang_getDiagnosticSeverity(IntPtr diag);
    [DllImport(Lib)] internal static extern CXString clang_getDiagnosticSpelling(IntPtr diag);
    [DllImport(Lib)] internal static extern CXSourceLocation clang_getDiagnosticLocation(IntPtr diag);
    [DllImport(Lib)] internal static extern CXCursor clang_getTranslationUnitCursor(IntPtr tu);

    [DllImport(Lib)]
    internal static extern uint clang_visitChildren(CXCursor parent, delegate* unmanaged<CXCursor, CXCursor, IntPtr, int> visitor, IntPtr clientData);

    [DllImport(Lib)]
    internal static extern uint clang_Type_visitFields(CXType type, delegate* unmanaged<CXCursor, IntPtr, int> visitor, IntPtr clientData);

    [DllImport(Lib)] internal static extern CXString clang_getCursorSpelling(CXCursor c);
    [DllImport(Lib)] internal static extern CXType clang_getCursorType(CXCursor c);
    [DllImport(Lib)] internal static extern CXType clang_getCanonicalType(CXType t);
    [DllImport(Lib)] internal static extern CXString clang_getTypeSpelling(CXType t);
    [DllImport(Lib)] internal static extern CXCursor clang_getTypeDeclaration(CXType t);
    [DllImport(Lib)] internal static extern CXType clang_Type_getNamedType(CXType t);
    [DllImport(Lib)] internal static extern long clang_Type_getSizeOf(CXType t);
    [DllImport(Lib)] internal static extern long clang_Type_getAlignOf(CXType t);
    [DllImport(Lib)] internal static extern long clang_Cursor_getOffsetOfField(CXCursor c);
    [DllImport(Lib)] internal static extern int clang_getFieldDeclBitWidth(CXCursor c);
    [DllImport(Lib)] internal static extern uint clang_Cursor_isBitField(CXCursor c);
    [DllImport(Lib)] internal static extern uint clang_Cursor_isAnonymous(CXCursor c);
    [DllImport(Lib)] internal static extern uint clang_Cursor_isAnonymousRecordDecl(CXCursor c);
    [DllImport(Lib)] internal static extern uint clang_isCursorDefinition(CXCursor c);
    [DllImport(Lib)] internal static extern CXSourceLocation clang_getCursorLocation(CXCursor c);
    [DllImport(Lib)] internal static extern void clang_getExpansionLocation(CXSourceLocation loc, IntPtr* file, uint* line, uint* column, uint* offset);
    [DllImport(Lib)] internal static extern void clang_getSpellingLocation(CXSourceLocation loc, IntPtr* file, uint* line, uint* column, uint* offset);
    [DllImport(Lib)] internal static extern CXString clang_getFileName(IntPtr file);
    [DllImport(Lib)] internal static extern CXType clang_getTypedefDeclUnderlyingType(CXCursor c);
    [DllImport(Lib)] internal static extern CXType clang_getEnumDeclIntegerType(CXCursor c);
    [DllImport(Lib)] internal static extern long clang_getEnumConstantDeclValue(CXCursor c);
    [DllImport(Lib)] internal static extern ulong clang_getEnumConstantDeclUnsignedValue(CXCursor c);
    [DllImport(Lib)] internal static extern long clang_getArraySize(CXType t);
    [DllImport(Lib)] internal static extern CXType clang_getArrayElementType(CXType t);
    [DllImport(Lib)] internal static extern uint clang_Cursor_isMacroFunctionLike(CXCursor c);
    [DllImport(Lib)] internal static extern uint clang_Cursor_isMacroBuiltin(CXCursor c);
    [DllImport(Lib)] internal static extern CXSourceRange clang_getCursorExtent(CXCursor c);
    [DllImport(Lib)] internal static extern void clang_tokenize(IntPtr tu, CXSourceRange range, CXToken** tokens, uint* numTokens);
    [DllImport(Lib)] internal static extern CXString clang_getTokenSpelling(IntPtr tu, CXToken token);
    [DllImport(Lib)] internal static extern void clang_disposeTokens(IntPtr tu, CXToken* tokens, uint numTokens);
    [DllImport(Lib)] internal static extern IntPtr clang_Cursor_Evaluate(CXCursor c);
    [DllImport(Lib)] internal static extern EvalResultKind clang_EvalResult_getKind(IntPtr e);
    [DllImport(Lib)] internal static extern uint clang_EvalResult_isUnsignedInt(IntPtr e);
    [DllImport(Lib)] internal static extern ulong clang_EvalResult_getAsUnsigned(IntPtr e);
    [DllImport(Lib)] internal static extern long clang_EvalResult_getAsLongLong(IntPtr e);
    [DllImport(Lib)] internal static extern void clang_EvalResult_dispose(IntPtr e);
    [DllImport(Lib)] internal static extern uint clang_equalCursors(CXCursor a, CXCursor b);
    [DllImport(Lib)] internal static extern uint clang_hashCursor(CXCursor c);
    [DllImport(Lib)] internal static extern CXCursor clang_getCursorDefinition(CXCursor c);
    [DllImport(Lib)] internal static extern CXType clang_getPointeeType(CXType t);
}

/// <summary>A front-end failure a user can act on: the message says what, where and how to fix.</summary>
public sealed class FrontEndException : ToolException
{
    public FrontEndException(string message)
        : base(message)
    {
    }
}
