using System.Globalization;
using System.Numerics;
using System.Text;
using IoUring.Abi.Model;

namespace IoUring.Abi.Clang;

/// <summary>
/// Turns an include tree into an <see cref="AbiSnapshot"/>: parses the io_uring headers once per
/// target with libclang and merges the per-target facts. Every number in the snapshot is the
/// compiler's: offsets, sizes and alignments from the record layout, macro values and types from
/// evaluating each macro as an initializer.
/// </summary>
public static class Extractor
{
    private const string ProbePrefix = "__io_uring_abi_probe_";

    public static AbiSnapshot Extract(IncludeTree tree, IReadOnlyList<CTarget> targets, string kernel, HeaderSource source)
    {
        if (targets.Count == 0)
        {
            throw new FrontEndException("no target given; pick one or more of: " + string.Join(", ", CTarget.All.Select(t => t.ShortName)));
        }

        var roots = tree.RootHeaders();
        var includes = string.Concat(roots.Select(r => $"#include <{r}>\n"));

        // The macro list comes from the preprocessing record of one parse; every target then
        // evaluates the same list, so a macro that is only an integer on some targets shows up.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var macros = ListMacros(tree, targets[0], includes);
        Timing($"list macros {clock.ElapsedMilliseconds} ms");
        var probeSource = BuildProbe(includes, macros);

        var perTarget = new TargetFacts[targets.Count];

        // A header can fail on one target only (an #ifdef __arm__, a size that differs per target). That
        // is bad input like any other: the error of the first failing target in the order given is
        // reported as such, not wrapped in the AggregateException of the parallel loop (which the
        // command line would take for a bug) and not whichever target happened to finish first.
        var failures = new FrontEndException?[targets.Count];
        Parallel.For(0, targets.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
        {
            try
            {
                perTarget[i] = ReadTarget(tree, targets[i], probeSource, macros, includes.Count(c => c == '\n'));
            }
            catch (FrontEndException e)
            {
                failures[i] = e;
            }
        });
        if (failures.FirstOrDefault(f => f is not null) is FrontEndException failure)
        {
            throw failure;
        }

        Timing($"targets {clock.ElapsedMilliseconds} ms");
        return Merge(tree, roots, targets, kernel, source, macros, perTarget);
    }

    private static void Timing(string what)
    {
        if (Environment.GetEnvironmentVariable("IO_URING_CODEGEN_TIMING") == "1")
        {
            Console.Error.WriteLine($"timing: {what}");
        }
    }

    private sealed record MacroDef(string Name, string Expression, SourceLocation Location, string? SkipReason);

    private static List<MacroDef> ListMacros(IncludeTree tree, CTarget target, string includes)
    {
        using var tu = TranslationUnit.Parse(tree, target, includes, macros: true);
        ThrowOnErrors(tree, tu, probeLines: 0, target);
        var byName = new Dictionary<string, MacroDef>(StringComparer.Ordinal);
        var order = new List<string>();
        // libclang's offsets count bytes: the text is sliced as bytes and only then decoded, or a
        // non-ASCII character anywhere before a macro (a name in a comment) shifts its expression.
        var texts = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var c in TranslationUnit.Children(tu.Cursor))
        {
            if (c.Kind != CursorKind.MacroDefinition || LibClang.clang_Cursor_isMacroBuiltin(c) != 0)
            {
                continue;
            }

            var (file, line, _) = tu.Location(c);
            var rel = tree.Relative(file);
            if (!tree.IsOwnHeader(rel))
            {
                continue;
            }

            var name = TranslationUnit.Spelling(c);
            var (extentFile, start, end) = tu.Extent(c);
            if (!texts.TryGetValue(extentFile, out var text))
            {
                text = File.ReadAllBytes(extentFile);
                texts[extentFile] = text;
            }

            var definition = start >= 0 && end <= text.Length && end > start ? Encoding.UTF8.GetString(text, start, end - start) : name;
            var body = NormalizeSpace(definition.Length > name.Length ? definition[name.Length..] : string.Empty);
            string? skip = null;
            if (LibClang.clang_Cursor_isMacroFunctionLike(c) != 0)
            {
                // The body of a function-like macro starts with its parameter list.
                skip = "function-like macro: it takes arguments, so it has no value of its own";
            }
            else if (body.Length == 0)
            {
                skip = "expands to nothing (an include guard or a feature-test flag)";
            }

            if (!byName.ContainsKey(name))
            {
                order.Add(name);
            }

            byName[name] = new MacroDef(name, body, new SourceLocation(rel, line), skip);
        }

        return order.Select(n => byName[n]).ToList();
    }

    private static string NormalizeSpace(string s)
    {
        var sb = new StringBuilder(s.Length);
        var space = false;
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (c == '\\' && i + 1 < s.Length && (s[i + 1] == '\n' || s[i + 1] == '\r'))
            {
                space = true;
                continue;
            }

            if (char.IsWhiteSpace(c))
            {
                space = true;
                continue;
            }

            if (space && sb.Length > 0)
            {
                sb.Append(' ');
            }

            space = false;
            sb.Append(c);
        }

        return sb.ToString();
    }

    private static string BuildProbe(string includes, List<MacroDef> macros)
    {
        var sb = new StringBuilder(includes);
        for (var i = 0; i < macros.Count; i++)
        {
            // One declaration per line, so a diagnostic's line names the macro it belongs to.
            // __typeof__ gives the type the compiler assigns to the expression, and a file-scope
            // initializer must be a constant expression, so anything that is not is refused here.
            sb.Append(macros[i].SkipReason is null
                ? $"static __typeof__(({macros[i].Name})) {ProbePrefix}{i} = ({macros[i].Name});\n"
                : "\n");
        }

        return sb.ToString();
    }

    private static void ThrowOnErrors(IncludeTree tree, TranslationUnit tu, int probeLines, CTarget target)
    {
        var errors = tu.Errors().Where(e => e.File != TranslationUnit.ProbeFileName || e.Line <= probeLines).ToList();
        if (errors.Count == 0)
        {
            return;
        }

        var shown = errors.Take(20).Select(e =>
            e.File == TranslationUnit.ProbeFileName
                ? $"  (translation unit):{e.Line}: error: {e.Message}"
                : $"  {tree.Display(tree.Relative(e.File))}:{e.Line}:{e.Column}: error: {e.Message}");
        var more = errors.Count > 20 ? $"\n  ... and {errors.Count - 20} more" : string.Empty;
        throw new FrontEndException($"the headers do not compile for {target.Triple} ({errors.Count} error{(errors.Count == 1 ? string.Empty : "s")}):\n{string.Join("\n", shown)}{more}\nfix the header at the first location above; a missing include means the include tree is incomplete (run 'headers fetch').");
    }

    // Facts of one target, keyed so that targets can be matched.
    private sealed class TargetFacts
    {
        public List<RawRecord> Records { get; } = new();

        public List<RawEnum> Enums { get; } = new();

        public List<RawTypedef> Typedefs { get; } = new();

        public Dictionary<int, (string Type, BigInteger Value)> MacroValues { get; } = new();

        public Dictionary<int, string> MacroFailures { get; } = new();
    }

    // Path is the record's place (tag, then member indexes) and is the same on every target; Id of an
    // anonymous record is built from this target's offsets, so only the first target's Id is kept.
    private sealed record RawRecord(string Id, string Path, string? Name, RecordKind Kind, string? Parent, SourceLocation Location, long Size, long Align, List<RawField> Fields);

    private sealed record RawField(string? Name, string Type, string Canonical, string? Record, string? Enum, List<long> Dims, bool Flexible, int? BitWidth, long BitOffset, long Size, int Line);

    private sealed record RawEnum(string Id, string? Name, string Underlying, SourceLocation Location, List<Enumerator> Enumerators);

    private sealed record RawTypedef(string Name, string Underlying, string Canonical, long Size, SourceLocation Location);

    private static TargetFacts ReadTarget(IncludeTree tree, CTarget target, string probeSource, List<MacroDef> macros, int includeLines)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var tu = TranslationUnit.Parse(tree, target, probeSource, macros: false);
        Timing($"{target.ShortName}: parse {clock.ElapsedMilliseconds} ms");
        ThrowOnErrors(tree, tu, includeLines, target);
        var facts = new TargetFacts();
        foreach (var e in tu.Errors().Where(e => e.File == TranslationUnit.ProbeFileName && e.Line > includeLines))
        {
            var index = e.Line - includeLines - 1;
            if (index >= 0 && index < macros.Count && !facts.MacroFailures.ContainsKey(index))
            {
                facts.MacroFailures[index] = e.Message;
            }
        }

        new DeclarationWalker(tree, tu, facts).Walk();
        Timing($"{target.ShortName}: walk {clock.ElapsedMilliseconds} ms");
        ReadMacroValues(tu, facts);
        Timing($"{target.ShortName}: macros {clock.ElapsedMilliseconds} ms");
        return facts;
    }

    private static void ReadMacroValues(TranslationUnit tu, TargetFacts facts)
    {
        foreach (var c in TranslationUnit.Children(tu.Cursor))
        {
            if (c.Kind != CursorKind.VarDecl)
            {
                continue;
            }

            var name = TranslationUnit.Spelling(c);
            if (!name.StartsWith(ProbePrefix, StringComparison.Ordinal) ||
                !int.TryParse(name.AsSpan(ProbePrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var index) ||
                facts.MacroFailures.ContainsKey(index))
            {
                continue;
            }

            var type = LibClang.clang_getCanonicalType(LibClang.clang_getCursorType(c));
            var typeName = TranslationUnit.TypeSpelling(type);
            if (!TranslationUnit.IsInteger(type.Kind))
            {
                facts.MacroFailures[index] = $"not an integer constant: its type is '{typeName}'";
                continue;
            }

            var eval = LibClang.clang_Cursor_Evaluate(c);
            if (eval == IntPtr.Zero)
            {
                facts.MacroFailures[index] = "the compiler could not evaluate it as a constant";
                continue;
            }

            try
            {
                if (LibClang.clang_EvalResult_getKind(eval) != EvalResultKind.Int)
                {
                    facts.MacroFailures[index] = "the compiler did not evaluate it to an integer";
                    continue;
                }

                BigInteger value = TranslationUnit.IsUnsigned(type.Kind)
                    ? new BigInteger(LibClang.clang_EvalResult_getAsUnsigned(eval))
                    : new BigInteger(LibClang.clang_EvalResult_getAsLongLong(eval));
                facts.MacroValues[index] = (typeName, value);
            }
            finally
            {
                LibClang.clang_EvalResult_dispose(eval);
            }
        }
    }

    /// <summary>
    /// Walks the translation unit for one target: collects every definition, then keeps those of the
    /// io_uring headers and, transitively, every type they reference.
    /// </summary>
    private sealed class DeclarationWalker
    {
        private readonly IncludeTree tree;
        private readonly TranslationUnit tu;
        private readonly TargetFacts facts;

        // Every definition of the TU, in TU order, keyed by kind and name.
        private readonly List<(string Key, CXCursor Cursor)> definitions = new();
        private readonly Dictionary<string, CXCursor> byKey = new(StringComparer.Ordinal);
        private readonly HashSet<string> wanted = new(StringComparer.Ordinal);
        private readonly Queue<string> work = new();
        private readonly Dictionary<string, List<RawRecord>> builtRecords = new(StringComparer.Ordinal);
        private readonly Dictionary<string, RawEnum> builtEnums = new(StringComparer.Ordinal);
        private readonly Dictionary<string, RawTypedef> builtTypedefs = new(StringComparer.Ordinal);

        public DeclarationWalker(IncludeTree tree, TranslationUnit tu, TargetFacts facts)
        {
            this.tree = tree;
            this.tu = tu;
            this.facts = facts;
        }

        public void Walk()
        {
            foreach (var c in TranslationUnit.Children(tu.Cursor))
            {
                Collect(c);
            }

            foreach (var (key, cursor) in definitions)
            {
                if (tree.IsOwnHeader(tree.Relative(tu.Location(cursor).File)))
                {
                    Want(key);
                }
            }

            while (work.Count > 0)
            {
                Build(work.Dequeue());
            }

            foreach (var (key, _) in definitions)
            {
                if (builtRecords.TryGetValue(key, out var records))
                {
                    facts.Records.AddRange(records);
                }
                else if (builtEnums.TryGetValue(key, out var e))
                {
                    facts.Enums.Add(e);
                }
                else if (builtTypedefs.TryGetValue(key, out var t))
                {
                    facts.Typedefs.Add(t);
                }
            }
        }

        private void Collect(CXCursor c)
        {
            switch (c.Kind)
            {
                case CursorKind.StructDecl or CursorKind.UnionDecl when LibClang.clang_isCursorDefinition(c) != 0:
                    if (LibClang.clang_Cursor_isAnonymous(c) == 0)
                    {
                        Add("record:" + TranslationUnit.Spelling(c), c);
                    }
                    else if (LibClang.clang_Cursor_isAnonymousRecordDecl(c) == 0)
                    {
                        // An unnamed record at file scope (not a member): named after its first field.
                        Add("record:" + AnonymousTopLevelId(c), c);
                    }

                    // C hoists named records declared inside a record to file scope.
                    foreach (var child in TranslationUnit.Children(c))
                    {
                        if (child.Kind is CursorKind.StructDecl or CursorKind.UnionDecl && LibClang.clang_Cursor_isAnonymous(child) == 0)
                        {
                            Collect(child);
                        }
                    }

                    break;
                case CursorKind.EnumDecl when LibClang.clang_isCursorDefinition(c) != 0:
                    Add("enum:" + EnumId(c), c);
                    break;
                case CursorKind.TypedefDecl:
                    Add("typedef:" + TranslationUnit.Spelling(c), c);
                    break;
            }
        }

        private void Add(string key, CXCursor c)
        {
            if (byKey.ContainsKey(key))
            {
                return;
            }

            byKey[key] = c;
            definitions.Add((key, c));
        }

        private void Want(string key)
        {
            if (byKey.ContainsKey(key) && wanted.Add(key))
            {
                work.Enqueue(key);
            }
        }

        private static string EnumId(CXCursor c)
        {
            if (LibClang.clang_Cursor_isAnonymous(c) == 0)
            {
                return TranslationUnit.Spelling(c);
            }

            var first = TranslationUnit.Children(c).FirstOrDefault(x => x.Kind == CursorKind.EnumConstantDecl);
            return "enum@" + (first.Kind == CursorKind.EnumConstantDecl ? TranslationUnit.Spelling(first) : "empty");
        }

        private static string AnonymousTopLevelId(CXCursor c)
        {
            var keyword = c.Kind == CursorKind.StructDecl ? "struct" : "union";
            var first = TranslationUnit.Fields(LibClang.clang_getCursorType(c)).Select(TranslationUnit.Spelling).FirstOrDefault(n => n.Length > 0);
            return $"{keyword}@{first ?? "empty"}";
        }

        private SourceLocation Loc(CXCursor c)
        {
            var (file, line, _) = tu.Location(c);
            return new SourceLocation(tree.Relative(file), line);
        }

        private void Build(string key)
        {
            var cursor = byKey[key];
            var colon = key.IndexOf(':');
            var name = key[(colon + 1)..];
            switch (key[..colon])
            {
                case "record":
                    var list = new List<RawRecord>();
                    var named = LibClang.clang_Cursor_isAnonymous(cursor) == 0;
                    BuildRecord(cursor, name, name, named ? name : null, null, list);
                    builtRecords[key] = list;
                    break;
                case "enum":
                    builtEnums[key] = BuildEnum(cursor, name);
                    break;
                default:
                    var underlying = LibClang.clang_getTypedefDeclUnderlyingType(cursor);
                    var type = LibClang.clang_getCursorType(cursor);
                    Reference(underlying);
                    builtTypedefs[key] = new RawTypedef(
                        name,
                        TranslationUnit.TypeSpelling(underlying),
                        TranslationUnit.TypeSpelling(LibClang.clang_getCanonicalType(type)),
                        Math.Max(0, LibClang.clang_Type_getSizeOf(type)),
                        Loc(cursor));
                    break;
            }
        }

        private RawEnum BuildEnum(CXCursor c, string id)
        {
            var underlying = LibClang.clang_getCanonicalType(LibClang.clang_getEnumDeclIntegerType(c));
            var unsigned = TranslationUnit.IsUnsigned(underlying.Kind);
            var enumerators = TranslationUnit.Children(c)
                .Where(x => x.Kind == CursorKind.EnumConstantDecl)
                .Select(x => new Enumerator
                {
                    Name = TranslationUnit.Spelling(x),
                    Value = unsigned ? new BigInteger(LibClang.clang_getEnumConstantDeclUnsignedValue(x)) : new BigInteger(LibClang.clang_getEnumConstantDeclValue(x)),
                    Line = Loc(x).Line,
                })
                .ToList();
            var isNamed = LibClang.clang_Cursor_isAnonymous(c) == 0;
            return new RawEnum(id, isNamed ? id : null, TranslationUnit.TypeSpelling(underlying), Loc(c), enumerators);
        }

        private void BuildRecord(CXCursor decl, string id, string path, string? name, string? parent, List<RawRecord> output)
        {
            var type = LibClang.clang_getCursorType(decl);
            var fields = new List<RawField>();
            var record = new RawRecord(
                id,
                path,
                name,
                decl.Kind == CursorKind.StructDecl ? RecordKind.Struct : RecordKind.Union,
                parent,
                Loc(decl),
                Math.Max(0, LibClang.clang_Type_getSizeOf(type)),
                Math.Max(0, LibClang.clang_Type_getAlignOf(type)),
                fields);
            output.Add(record);
            var usedIds = new HashSet<string>(StringComparer.Ordinal);

            var fieldIndex = -1;
            foreach (var f in TranslationUnit.Fields(type))
            {
                fieldIndex++;
                var fieldType = LibClang.clang_getCursorType(f);

                // libclang 19 spells the implicit member of an anonymous struct/union after its type;
                // older versions give an empty name. Both are "no name" in the model.
                var typeDecl = LibClang.clang_getTypeDeclaration(LibClang.clang_getCanonicalType(fieldType));
                var anonymousMember = typeDecl.Kind is CursorKind.StructDecl or CursorKind.UnionDecl && LibClang.clang_Cursor_isAnonymousRecordDecl(typeDecl) != 0;
                var fieldName = anonymousMember ? string.Empty : TranslationUnit.Spelling(f);
                var bitOffset = LibClang.clang_Cursor_getOffsetOfField(f);
                var isBitField = LibClang.clang_Cursor_isBitField(f) != 0;

                // Peel arrays to find the element type and the dimensions.
                var dims = new List<long>();
                var flexible = false;
                var element = fieldType;
                while (true)
                {
                    var canonical = LibClang.clang_getCanonicalType(element);
                    if (canonical.Kind == TypeKind.ConstantArray)
                    {
                        dims.Add(LibClang.clang_getArraySize(canonical));
                        element = LibClang.clang_getArrayElementType(Unwrap(element).Kind is TypeKind.ConstantArray ? Unwrap(element) : canonical);
                    }
                    else if (canonical.Kind == TypeKind.IncompleteArray && dims.Count == 0 && !flexible)
                    {
                        flexible = true;
                        element = LibClang.clang_getArrayElementType(Unwrap(element).Kind is TypeKind.IncompleteArray ? Unwrap(element) : canonical);
                    }
                    else
                    {
                        break;
                    }
                }

                Reference(element);
                string? recordId = null;
                string? enumId = null;
                var elementCanonical = LibClang.clang_getCanonicalType(element);
                if (elementCanonical.Kind == TypeKind.Record)
                {
                    var rdecl = LibClang.clang_getTypeDeclaration(elementCanonical);
                    if (LibClang.clang_Cursor_isAnonymous(rdecl) != 0)
                    {
                        var keyword = rdecl.Kind == CursorKind.StructDecl ? "struct" : "union";
                        var nestedId = $"{id}::{keyword}@{bitOffset / 8}";
                        for (var n = 2; !usedIds.Add(nestedId); n++)
                        {
                            nestedId = $"{id}::{keyword}@{bitOffset / 8}#{n}";
                        }

                        recordId = nestedId;
                        BuildRecord(rdecl, nestedId, $"{path}/{fieldIndex}", null, id, output);
                    }
                    else
                    {
                        recordId = TranslationUnit.Spelling(rdecl);
                    }
                }
                else if (elementCanonical.Kind == TypeKind.Enum)
                {
                    enumId = EnumId(LibClang.clang_getTypeDeclaration(elementCanonical));
                }

                fields.Add(new RawField(
                    fieldName.Length == 0 ? null : fieldName,
                    TranslationUnit.TypeSpelling(fieldType),
                    TranslationUnit.TypeSpelling(LibClang.clang_getCanonicalType(fieldType)),
                    recordId,
                    enumId,
                    dims,
                    flexible,
                    isBitField ? LibClang.clang_getFieldDeclBitWidth(f) : null,
                    bitOffset,
                    flexible ? 0 : Math.Max(0, LibClang.clang_Type_getSizeOf(fieldType)),
                    Loc(f).Line));
            }
        }

        private static CXType Unwrap(CXType t)
        {
            while (t.Kind == TypeKind.Elaborated)
            {
                t = LibClang.clang_Type_getNamedType(t);
            }

            return t;
        }

        /// <summary>Marks every named type a type spelling leans on: typedefs down their chain, records, enums.</summary>
        private void Reference(CXType t)
        {
            for (var guard = 0; guard < 64; guard++)
            {
                t = Unwrap(t);
                switch (t.Kind)
                {
                    case TypeKind.Typedef:
                        var td = LibClang.clang_getTypeDeclaration(t);
                        Want("typedef:" + TranslationUnit.Spelling(td));
                        t = LibClang.clang_getTypedefDeclUnderlyingType(td);
                        continue;
                    case TypeKind.Pointer:
                        t = LibClang.clang_getPointeeType(t);
                        continue;
                    case TypeKind.ConstantArray or TypeKind.IncompleteArray:
                        t = LibClang.clang_getArrayElementType(t);
                        continue;
                    case TypeKind.Record:
                        var rd = LibClang.clang_getTypeDeclaration(t);
                        if (LibClang.clang_Cursor_isAnonymous(rd) == 0)
                        {
                            Want("record:" + TranslationUnit.Spelling(rd));
                        }

                        return;
                    case TypeKind.Enum:
                        Want("enum:" + EnumId(LibClang.clang_getTypeDeclaration(t)));
                        return;
                    default:
                        return;
                }
            }
        }
    }

    private static AbiSnapshot Merge(IncludeTree tree, IReadOnlyList<string> roots, IReadOnlyList<CTarget> targets, string kernel, HeaderSource source, List<MacroDef> macros, TargetFacts[] facts)
    {
        var first = facts[0];

        // A declaration some targets lack is named with its place on a target that has it, so the
        // error says where to look like every other error of the front end.
        void RequireSameKeys(Func<TargetFacts, IEnumerable<(string Key, SourceLocation Location)>> keysOf, string kind)
        {
            var keys = facts.Select(f => keysOf(f).ToList()).ToArray();
            for (var i = 1; i < keys.Length; i++)
            {
                var a = keys[0].Select(k => k.Key).ToList();
                var b = keys[i].Select(k => k.Key).ToList();
                if (!a.SequenceEqual(b))
                {
                    var missing = a.Except(b).Concat(b.Except(a)).FirstOrDefault();
                    var firstDifference = Enumerable.Range(0, Math.Min(a.Count, b.Count)).FirstOrDefault(j => a[j] != b[j], Math.Min(a.Count, b.Count));
                    var at = missing is not null ? keys[0].Concat(keys[i]).First(k => k.Key == missing).Location
                        : (firstDifference < a.Count ? keys[0][firstDifference] : keys[i][firstDifference]).Location;
                    throw new FrontEndException($"{tree.Display(at.File)}:{at.Line}: {kind} '{missing ?? "(order)"}' is declared differently for {targets[0].Triple} and {targets[i].Triple}; the model needs every target to declare the same {kind}s (conditional declarations per architecture are not supported)");
                }
            }
        }

        RequireSameKeys(f => f.Records.Select(r => (r.Path, r.Location)), "record");
        RequireSameKeys(f => f.Enums.Select(r => (r.Id, r.Location)), "enum");
        RequireSameKeys(f => f.Typedefs.Select(r => (r.Name, r.Location)), "typedef");

        PerTarget<T> Per<T>(Func<TargetFacts, T> pick) => new(facts.Select(pick));

        var records = first.Records.Select((r, ri) =>
        {
            for (var t = 1; t < facts.Length; t++)
            {
                var other = facts[t].Records[ri];
                if (other.Fields.Count != r.Fields.Count || !other.Fields.Select(f => f.Name).SequenceEqual(r.Fields.Select(f => f.Name)))
                {
                    throw new FrontEndException($"{r.Location}: {r.Id} has different members on {targets[0].Triple} and {targets[t].Triple}; the model needs the same members on every target");
                }
            }

            return new RecordDecl
            {
                Id = r.Id,
                Name = r.Name,
                Kind = r.Kind,
                Parent = r.Parent,
                Location = r.Location,
                Size = Per(f => f.Records[ri].Size),
                Align = Per(f => f.Records[ri].Align),
                Fields = r.Fields.Select((fd, fi) => new FieldDecl
                {
                    Name = fd.Name,
                    Type = fd.Type,
                    Canonical = Per(f => f.Records[ri].Fields[fi].Canonical),
                    Record = fd.Record,
                    Enum = fd.Enum,
                    Dims = fd.Dims,
                    Flexible = fd.Flexible,
                    BitWidth = fd.BitWidth,
                    BitOffset = Per(f => f.Records[ri].Fields[fi].BitOffset),
                    Size = Per(f => f.Records[ri].Fields[fi].Size),
                    Line = fd.Line,
                }).ToList(),
            };
        }).ToList();

        var enums = first.Enums.Select((e, ei) =>
        {
            for (var t = 1; t < facts.Length; t++)
            {
                var other = facts[t].Enums[ei];
                if (!other.Enumerators.Select(x => (x.Name, x.Value)).SequenceEqual(e.Enumerators.Select(x => (x.Name, x.Value))))
                {
                    throw new FrontEndException($"{e.Location}: enum {e.Id} has different enumerators on {targets[0].Triple} and {targets[t].Triple}");
                }
            }

            return new EnumDecl
            {
                Id = e.Id,
                Name = e.Name,
                Underlying = Per(f => f.Enums[ei].Underlying),
                Location = e.Location,
                Enumerators = e.Enumerators,
            };
        }).ToList();

        var typedefs = first.Typedefs.Select((t, ti) => new TypedefDecl
        {
            Name = t.Name,
            Underlying = t.Underlying,
            Canonical = Per(f => f.Typedefs[ti].Canonical),
            Size = Per(f => f.Typedefs[ti].Size),
            Location = t.Location,
        }).ToList();

        var constants = new List<MacroConstant>();
        var skipped = new List<SkippedMacro>();
        for (var i = 0; i < macros.Count; i++)
        {
            var m = macros[i];
            var reason = m.SkipReason;
            if (reason is null)
            {
                var failed = Enumerable.Range(0, facts.Length).FirstOrDefault(t => !facts[t].MacroValues.ContainsKey(i), -1);
                if (failed >= 0)
                {
                    var why = facts[failed].MacroFailures.TryGetValue(i, out var w) ? w : "not evaluated";
                    reason = facts.Length > 1 && facts.Any(f => f.MacroValues.ContainsKey(i))
                        ? $"an integer constant on some targets only; on {targets[failed].Triple}: {why}"
                        : $"not an integer constant expression: {why}";
                }
            }

            if (reason is not null)
            {
                skipped.Add(new SkippedMacro { Name = m.Name, Expression = m.Expression, Reason = reason, Location = m.Location });
                continue;
            }

            constants.Add(new MacroConstant
            {
                Name = m.Name,
                Expression = m.Expression,
                Type = Per(f => f.MacroValues[i].Type),
                Value = Per(f => f.MacroValues[i].Value),
                Location = m.Location,
            });
        }

        return new AbiSnapshot
        {
            Kernel = kernel,
            Source = source,
            Targets = targets.Select(t => t.Triple).ToList(),
            Headers = roots.Select(r => new HeaderFile { Path = r, Sha256 = FileHash.Sha256(tree.Resolve(r, targets[0])) }).ToList(),
            Records = records,
            Enums = enums,
            Typedefs = typedefs,
            Macros = constants,
            SkippedMacros = skipped,
        };
    }
}
