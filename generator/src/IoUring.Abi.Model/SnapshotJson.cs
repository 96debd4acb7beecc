using System;
using System.Collections.Generic;
using System.Linq;
using System.Numerics;

namespace IoUring.Abi.Model;

/// <summary>
/// The snapshot's JSON form (docs/abi-snapshot-format.md). Member order is fixed and every list keeps
/// the order of the translation unit, so the same headers always give the same bytes.
/// </summary>
public static class SnapshotJson
{
    public static string Write(AbiSnapshot s)
    {
        var root = new JsonObject()
            .Add("schema", new JsonString(AbiSnapshot.SchemaId))
            .Add("kernel", new JsonString(s.Kernel))
            .Add("source", WriteSource(s.Source))
            .Add("targets", new JsonArray(s.Targets.Select(t => (JsonNode)new JsonString(t))))
            .Add("headers", new JsonArray(s.Headers.Select(h => (JsonNode)new JsonObject()
                .Add("path", new JsonString(h.Path))
                .Add("sha256", new JsonString(h.Sha256)))))
            .Add("records", new JsonArray(s.Records.Select(WriteRecord)))
            .Add("enums", new JsonArray(s.Enums.Select(WriteEnum)))
            .Add("typedefs", new JsonArray(s.Typedefs.Select(WriteTypedef)))
            .Add("macros", new JsonArray(s.Macros.Select(WriteMacro)))
            .Add("skippedMacros", new JsonArray(s.SkippedMacros.Select(m => (JsonNode)new JsonObject()
                .Add("name", new JsonString(m.Name))
                .Add("expr", new JsonString(m.Expression))
                .Add("reason", new JsonString(m.Reason))
                .Add("file", new JsonString(m.Location.File))
                .Add("line", Num(m.Location.Line)))));
        return JsonText.Write(root);
    }

    private static JsonNode WriteSource(HeaderSource src) => new JsonObject()
        .Add("kind", new JsonString(src.Kind))
        .Add("package", Str(src.Package))
        .Add("version", Str(src.Version))
        .Add("suite", Str(src.Suite));

    private static JsonNode WriteRecord(RecordDecl r)
    {
        var obj = new JsonObject()
            .Add("id", new JsonString(r.Id))
            .Add("name", Str(r.Name) ?? new JsonNull())
            .Add("kind", new JsonString(r.KindKeyword))
            .Add("parent", Str(r.Parent))
            .Add("file", new JsonString(r.Location.File))
            .Add("line", Num(r.Location.Line))
            .Add("size", PerTargetNode(r.Size, Num))
            .Add("align", PerTargetNode(r.Align, Num));
        obj.Add("fields", new JsonArray(r.Fields.Select(WriteField)));
        return obj;
    }

    private static JsonNode WriteField(FieldDecl f) => new JsonObject()
        .Add("name", Str(f.Name) ?? new JsonNull())
        .Add("type", new JsonString(f.Type))
        .Add("canonical", PerTargetNode(f.Canonical, v => new JsonString(v)))
        .Add("record", Str(f.Record))
        .Add("enum", Str(f.Enum))
        .Add("dims", f.Dims.Count == 0 ? null : new JsonArray(f.Dims.Select(Num)))
        .Add("flexible", f.Flexible ? new JsonBool(true) : null)
        .Add("bitWidth", f.BitWidth is int w ? Num(w) : null)
        .Add("bitOffset", PerTargetNode(f.BitOffset, Num))
        .Add("size", PerTargetNode(f.Size, Num))
        .Add("line", Num(f.Line));

    private static JsonNode WriteEnum(EnumDecl e)
    {
        var obj = new JsonObject()
            .Add("id", new JsonString(e.Id))
            .Add("name", Str(e.Name) ?? new JsonNull())
            .Add("underlying", PerTargetNode(e.Underlying, v => new JsonString(v)))
            .Add("file", new JsonString(e.Location.File))
            .Add("line", Num(e.Location.Line));
        obj.Add("enumerators", new JsonArray(e.Enumerators.Select(x => (JsonNode)new JsonObject()
            .Add("name", new JsonString(x.Name))
            .Add("value", new JsonNumber(x.Value))
            .Add("line", Num(x.Line)))));
        return obj;
    }

    private static JsonNode WriteTypedef(TypedefDecl t) => new JsonObject()
        .Add("name", new JsonString(t.Name))
        .Add("underlying", new JsonString(t.Underlying))
        .Add("canonical", PerTargetNode(t.Canonical, v => new JsonString(v)))
        .Add("size", PerTargetNode(t.Size, Num))
        .Add("file", new JsonString(t.Location.File))
        .Add("line", Num(t.Location.Line));

    private static JsonNode WriteMacro(MacroConstant m) => new JsonObject()
        .Add("name", new JsonString(m.Name))
        .Add("expr", new JsonString(m.Expression))
        .Add("type", PerTargetNode(m.Type, v => new JsonString(v)))
        .Add("value", PerTargetNode(m.Value, v => new JsonNumber(v)))
        .Add("file", new JsonString(m.Location.File))
        .Add("line", Num(m.Location.Line));

    private static JsonNode PerTargetNode<T>(PerTarget<T> value, Func<T, JsonNode> one) =>
        value.IsUniform ? one(value.First) : new JsonArray(value.Values.Select(one));

    private static JsonNode Num(long v) => new JsonNumber(v);

    private static JsonNode? Str(string? s) => s is null ? null : new JsonString(s);

    /// <summary>Reads a snapshot; a malformed one gives a <see cref="JsonFormatException"/> naming file:line:col and the member.</summary>
    public static AbiSnapshot Read(string text, string sourceName)
    {
        var root = AsObject(JsonText.Parse(text, sourceName), "the document");
        var schema = GetString(root, "schema");
        if (schema != AbiSnapshot.SchemaId)
        {
            throw new JsonFormatException($"{root["schema"]?.Position ?? sourceName}: schema is '{schema}', this tool reads '{AbiSnapshot.SchemaId}'; regenerate the snapshot with this version of the tool");
        }

        var targets = GetArray(root, "targets").Select(n => AsString(n, "target")).ToList();
        if (targets.Count == 0)
        {
            throw new JsonFormatException($"{root.Position}: 'targets' is empty; a snapshot covers at least one target");
        }

        var ctx = new Ctx(targets.Count);
        var src = AsObject(Get(root, "source"), "source");
        return new AbiSnapshot
        {
            Kernel = GetString(root, "kernel"),
            Source = new HeaderSource
            {
                Kind = GetString(src, "kind"),
                Package = OptString(src, "package"),
                Version = OptString(src, "version"),
                Suite = OptString(src, "suite"),
            },
            Targets = targets,
            Headers = GetArray(root, "headers").Select(n =>
            {
                var o = AsObject(n, "header");
                return new HeaderFile { Path = GetString(o, "path"), Sha256 = GetString(o, "sha256") };
            }).ToList(),
            Records = GetArray(root, "records").Select(n => ReadRecord(AsObject(n, "record"), ctx)).ToList(),
            Enums = GetArray(root, "enums").Select(n => ReadEnum(AsObject(n, "enum"), ctx)).ToList(),
            Typedefs = GetArray(root, "typedefs").Select(n =>
            {
                var o = AsObject(n, "typedef");
                return new TypedefDecl
                {
                    Name = GetString(o, "name"),
                    Underlying = GetString(o, "underlying"),
                    Canonical = ctx.Strings(o, "canonical"),
                    Size = ctx.Longs(o, "size"),
                    Location = Loc(o),
                };
            }).ToList(),
            Macros = GetArray(root, "macros").Select(n =>
            {
                var o = AsObject(n, "macro");
                return new MacroConstant
                {
                    Name = GetString(o, "name"),
                    Expression = GetString(o, "expr"),
                    Type = ctx.Strings(o, "type"),
                    Value = ctx.Per(o, "value", v => AsNumber(v, "value")),
                    Location = Loc(o),
                };
            }).ToList(),
            SkippedMacros = GetArray(root, "skippedMacros").Select(n =>
            {
                var o = AsObject(n, "skipped macro");
                return new SkippedMacro
                {
                    Name = GetString(o, "name"),
                    Expression = GetString(o, "expr"),
                    Reason = GetString(o, "reason"),
                    Location = Loc(o),
                };
            }).ToList(),
        };
    }

    private static RecordDecl ReadRecord(JsonObject o, Ctx ctx)
    {
        var kind = GetString(o, "kind");
        return new RecordDecl
        {
            Id = GetString(o, "id"),
            Name = OptString(o, "name"),
            Kind = kind switch
            {
                "struct" => RecordKind.Struct,
                "union" => RecordKind.Union,
                _ => throw new JsonFormatException($"{o["kind"]!.Position}: kind '{kind}' is neither 'struct' nor 'union'"),
            },
            Parent = OptString(o, "parent"),
            Location = Loc(o),
            Size = ctx.Longs(o, "size"),
            Align = ctx.Longs(o, "align"),
            Fields = GetArray(o, "fields").Select(n =>
            {
                var f = AsObject(n, "field");
                return new FieldDecl
                {
                    Name = OptString(f, "name"),
                    Type = GetString(f, "type"),
                    Canonical = ctx.Strings(f, "canonical"),
                    Record = OptString(f, "record"),
                    Enum = OptString(f, "enum"),
                    Dims = f["dims"] is JsonNode d ? AsArray(d, "dims").Select(x => (long)AsNumber(x, "dimension")).ToList() : new List<long>(),
                    Flexible = f["flexible"] is JsonBool { Value: true },
                    BitWidth = f["bitWidth"] is JsonNode w ? (int)AsNumber(w, "bitWidth") : null,
                    BitOffset = ctx.Longs(f, "bitOffset"),
                    Size = ctx.Longs(f, "size"),
                    Line = (int)AsNumber(Get(f, "line"), "line"),
                };
            }).ToList(),
        };
    }

    private static EnumDecl ReadEnum(JsonObject o, Ctx ctx) => new()
    {
        Id = GetString(o, "id"),
        Name = OptString(o, "name"),
        Underlying = ctx.Strings(o, "underlying"),
        Location = Loc(o),
        Enumerators = GetArray(o, "enumerators").Select(n =>
        {
            var e = AsObject(n, "enumerator");
            return new Enumerator
            {
                Name = GetString(e, "name"),
                Value = AsNumber(Get(e, "value"), "value"),
                Line = (int)AsNumber(Get(e, "line"), "line"),
            };
        }).ToList(),
    };

    private static SourceLocation Loc(JsonObject o) => new(GetString(o, "file"), (int)AsNumber(Get(o, "line"), "line"));

    private sealed class Ctx
    {
        private readonly int targets;

        public Ctx(int targets) => this.targets = targets;

        public PerTarget<string> Strings(JsonObject o, string key) => Per(o, key, n => AsString(n, key));

        public PerTarget<long> Longs(JsonObject o, string key) => Per(o, key, n => (long)AsNumber(n, key));

        public PerTarget<T> Per<T>(JsonObject o, string key, Func<JsonNode, T> one)
        {
            var node = Get(o, key);
            if (node is not JsonArray a)
            {
                return PerTarget<T>.Uniform(one(node), targets);
            }

            if (a.Items.Count != targets)
            {
                throw new JsonFormatException($"{a.Position}: '{key}' has {a.Items.Count} per-target values but the snapshot has {targets} targets");
            }

            return new PerTarget<T>(a.Items.Select(one));
        }
    }

    private static JsonNode Get(JsonObject o, string key) =>
        o[key] ?? throw new JsonFormatException($"{o.Position}: missing member '{key}'");

    private static string GetString(JsonObject o, string key) => AsString(Get(o, key), key);

    private static string? OptString(JsonObject o, string key) => o[key] switch
    {
        null or JsonNull => null,
        var n => AsString(n, key),
    };

    private static List<JsonNode> GetArray(JsonObject o, string key) => AsArray(Get(o, key), key);

    private static JsonObject AsObject(JsonNode n, string what) =>
        n as JsonObject ?? throw new JsonFormatException($"{n.Position}: {what} should be an object");

    private static List<JsonNode> AsArray(JsonNode n, string what) =>
        (n as JsonArray)?.Items ?? throw new JsonFormatException($"{n.Position}: '{what}' should be an array");

    private static string AsString(JsonNode n, string what) =>
        (n as JsonString)?.Value ?? throw new JsonFormatException($"{n.Position}: '{what}' should be a string");

    private static BigInteger AsNumber(JsonNode n, string what) =>
        (n as JsonNumber)?.Value ?? throw new JsonFormatException($"{n.Position}: '{what}' should be an integer");
}
