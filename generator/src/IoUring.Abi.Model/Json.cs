using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Numerics;
using System.Text;

namespace IoUring.Abi.Model;

/// <summary>
/// A minimal JSON tree. The snapshot format needs byte-identical output for identical input and exact
/// 64-bit (and wider) integers, which is easier to guarantee with a small tree we control than with a
/// general serializer.
/// </summary>
public abstract class JsonNode
{
    private SourceMap? map;
    private int offset;

    /// <summary>Where the node was read from ("file:line:col"), for error messages; null when built in memory.</summary>
    public string? Position => map?.Describe(offset);

    // Positions are only needed when something is wrong, so a node keeps an offset and the text's
    // line index, and the "file:line:col" string is made on demand.
    internal void SetPosition(SourceMap sourceMap, int at)
    {
        map = sourceMap;
        offset = at;
    }
}

internal sealed class SourceMap
{
    private readonly string source;
    private readonly List<int> lineStarts = new() { 0 };

    public SourceMap(string source, string text)
    {
        this.source = source;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\n')
            {
                lineStarts.Add(i + 1);
            }
        }
    }

    public string Describe(int pos)
    {
        var index = lineStarts.BinarySearch(pos);
        var line = index >= 0 ? index : ~index - 1;
        return $"{source}:{line + 1}:{pos - lineStarts[line] + 1}";
    }
}

public sealed class JsonObject : JsonNode
{
    private readonly List<KeyValuePair<string, JsonNode>> members = new();

    public IReadOnlyList<KeyValuePair<string, JsonNode>> Members => members;

    public JsonObject Add(string key, JsonNode? value)
    {
        if (value is not null)
        {
            members.Add(new KeyValuePair<string, JsonNode>(key, value));
        }

        return this;
    }

    public JsonNode? this[string key]
    {
        get
        {
            foreach (var m in members)
            {
                if (m.Key == key)
                {
                    return m.Value;
                }
            }

            return null;
        }
    }
}

public sealed class JsonArray : JsonNode
{
    public JsonArray()
    {
    }

    public JsonArray(IEnumerable<JsonNode> items) => Items.AddRange(items);

    public List<JsonNode> Items { get; } = new();
}

public sealed class JsonString : JsonNode
{
    public JsonString(string value) => Value = value;

    public string Value { get; }
}

public sealed class JsonNumber : JsonNode
{
    public JsonNumber(BigInteger value) => Value = value;

    public BigInteger Value { get; }
}

public sealed class JsonBool : JsonNode
{
    public JsonBool(bool value) => Value = value;

    public bool Value { get; }
}

public sealed class JsonNull : JsonNode
{
}

/// <summary>A JSON document that is not what the reader expected: carries the position and a fix.</summary>
public sealed class JsonFormatException : ToolException
{
    public JsonFormatException(string message)
        : base(message)
    {
    }
}

public static class JsonText
{
    /// <summary>
    /// Writes with two-space indentation. A container holding only scalars (or arrays of scalars) is
    /// written on one line, so a struct field or a per-target array is one line of a diff.
    /// </summary>
    public static string Write(JsonNode node)
    {
        var sb = new StringBuilder();
        WriteNode(sb, node, 0);
        sb.Append('\n');
        return sb.ToString();
    }

    private static bool IsFlat(JsonNode node) => node switch
    {
        JsonObject o => o.Members.All(m => IsScalar(m.Value) || (m.Value is JsonArray a && a.Items.TrueForAll(IsScalar))),
        JsonArray a => a.Items.TrueForAll(IsScalar),
        _ => true,
    };

    private static bool IsScalar(JsonNode n) => n is not JsonObject and not JsonArray;

    private static void WriteNode(StringBuilder sb, JsonNode node, int indent)
    {
        switch (node)
        {
            case JsonObject o when o.Members.Count == 0:
                sb.Append("{}");
                break;
            case JsonObject o when IsFlat(o):
                sb.Append('{');
                for (var i = 0; i < o.Members.Count; i++)
                {
                    sb.Append(i == 0 ? string.Empty : ", ");
                    WriteString(sb, o.Members[i].Key);
                    sb.Append(": ");
                    WriteNode(sb, o.Members[i].Value, indent);
                }

                sb.Append('}');
                break;
            case JsonObject o:
                sb.Append("{\n");
                for (var i = 0; i < o.Members.Count; i++)
                {
                    sb.Append(' ', (indent + 1) * 2);
                    WriteString(sb, o.Members[i].Key);
                    sb.Append(": ");
                    WriteNode(sb, o.Members[i].Value, indent + 1);
                    sb.Append(i + 1 < o.Members.Count ? ",\n" : "\n");
                }

                sb.Append(' ', indent * 2).Append('}');
                break;
            case JsonArray a when a.Items.Count == 0:
                sb.Append("[]");
                break;
            case JsonArray a when IsFlat(a):
                sb.Append('[');
                for (var i = 0; i < a.Items.Count; i++)
                {
                    sb.Append(i == 0 ? string.Empty : ", ");
                    WriteNode(sb, a.Items[i], indent);
                }

                sb.Append(']');
                break;
            case JsonArray a:
                sb.Append("[\n");
                for (var i = 0; i < a.Items.Count; i++)
                {
                    sb.Append(' ', (indent + 1) * 2);
                    WriteNode(sb, a.Items[i], indent + 1);
                    sb.Append(i + 1 < a.Items.Count ? ",\n" : "\n");
                }

                sb.Append(' ', indent * 2).Append(']');
                break;
            case JsonString s:
                WriteString(sb, s.Value);
                break;
            case JsonNumber n:
                sb.Append(n.Value.ToString(CultureInfo.InvariantCulture));
                break;
            case JsonBool b:
                sb.Append(b.Value ? "true" : "false");
                break;
            default:
                sb.Append("null");
                break;
        }
    }

    private static void WriteString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20)
                    {
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        sb.Append('"');
    }

    /// <summary>Parses JSON text; errors name the source, line and column.</summary>
    public static JsonNode Parse(string text, string sourceName) => new Parser(text, sourceName).ParseDocument();

    private sealed class Parser
    {
        private const int MaxDepth = 64;
        private readonly string text;
        private readonly string source;
        private readonly SourceMap map;
        private int pos;
        private int depth;

        public Parser(string text, string source)
        {
            this.text = text;
            this.source = source;
            map = new SourceMap(source, text);
        }

        public JsonNode ParseDocument()
        {
            SkipWhitespace();
            var node = ParseValue();
            SkipWhitespace();
            if (pos != text.Length)
            {
                throw Error("unexpected text after the JSON value");
            }

            return node;
        }

        private JsonNode ParseValue()
        {
            SkipWhitespace();
            if (pos >= text.Length)
            {
                throw Error("unexpected end of input (the file is truncated)");
            }

            var at = pos;
            JsonNode node = text[pos] switch
            {
                '{' => ParseObject(),
                '[' => ParseArray(),
                '"' => new JsonString(ParseString()),
                't' => Literal("true", new JsonBool(true)),
                'f' => Literal("false", new JsonBool(false)),
                'n' => Literal("null", new JsonNull()),
                _ => ParseNumber(),
            };
            node.SetPosition(map, at);
            return node;
        }

        private JsonNode Literal(string word, JsonNode value)
        {
            if (string.CompareOrdinal(text, pos, word, 0, word.Length) != 0)
            {
                throw Error($"expected '{word}'");
            }

            pos += word.Length;
            return value;
        }

        private JsonObject ParseObject()
        {
            Enter();
            var obj = new JsonObject();
            pos++;
            SkipWhitespace();
            if (Peek() == '}')
            {
                pos++;
                depth--;
                return obj;
            }

            while (true)
            {
                SkipWhitespace();
                if (Peek() != '"')
                {
                    throw Error("expected a quoted member name");
                }

                var key = ParseString();
                SkipWhitespace();
                Expect(':');
                obj.Add(key, ParseValue());
                SkipWhitespace();
                if (Peek() == ',')
                {
                    pos++;
                    continue;
                }

                Expect('}');
                depth--;
                return obj;
            }
        }

        private JsonArray ParseArray()
        {
            Enter();
            var arr = new JsonArray();
            pos++;
            SkipWhitespace();
            if (Peek() == ']')
            {
                pos++;
                depth--;
                return arr;
            }

            while (true)
            {
                arr.Items.Add(ParseValue());
                SkipWhitespace();
                if (Peek() == ',')
                {
                    pos++;
                    continue;
                }

                Expect(']');
                depth--;
                return arr;
            }
        }

        private void Enter()
        {
            if (++depth > MaxDepth)
            {
                throw Error($"nesting deeper than {MaxDepth} levels");
            }
        }

        private string ParseString()
        {
            pos++;
            var sb = new StringBuilder();
            while (true)
            {
                if (pos >= text.Length)
                {
                    throw Error("unterminated string");
                }

                var c = text[pos++];
                if (c == '"')
                {
                    return sb.ToString();
                }

                if (c < 0x20)
                {
                    throw Error("control character inside a string");
                }

                if (c != '\\')
                {
                    sb.Append(c);
                    continue;
                }

                if (pos >= text.Length)
                {
                    throw Error("unterminated escape");
                }

                var e = text[pos++];
                switch (e)
                {
                    case '"': sb.Append('"'); break;
                    case '\\': sb.Append('\\'); break;
                    case '/': sb.Append('/'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'u':
                        if (pos + 4 > text.Length || !int.TryParse(text.Substring(pos, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var code))
                        {
                            throw Error("bad \\u escape");
                        }

                        sb.Append((char)code);
                        pos += 4;
                        break;
                    default:
                        throw Error($"unknown escape '\\{e}'");
                }
            }
        }

        private JsonNumber ParseNumber()
        {
            var start = pos;
            if (Peek() == '-')
            {
                pos++;
            }

            while (pos < text.Length && char.IsDigit(text[pos]))
            {
                pos++;
            }

            if (pos < text.Length && (text[pos] == '.' || text[pos] == 'e' || text[pos] == 'E'))
            {
                throw Error("only integers appear in this format");
            }

            var digits = text.Substring(start, pos - start);
            if (digits.Length == 0 || digits == "-" || !BigInteger.TryParse(digits, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            {
                pos = start;
                throw Error("expected a value");
            }

            return new JsonNumber(value);
        }

        private void Expect(char c)
        {
            if (Peek() != c)
            {
                throw Error($"expected '{c}'");
            }

            pos++;
        }

        private char Peek() => pos < text.Length ? text[pos] : '\0';

        private void SkipWhitespace()
        {
            while (pos < text.Length && (text[pos] == ' ' || text[pos] == '\n' || text[pos] == '\r' || text[pos] == '\t'))
            {
                pos++;
            }
        }

        private string Here() => map.Describe(pos);

        private JsonFormatException Error(string what) => new($"{Here()}: {what}");
    }
}
