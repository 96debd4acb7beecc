using System.Text;
using IoUring.Abi.Model;

namespace IoUring.Abi.Diff;

/// <summary>For every declaration of the corpus, the first and last kernel whose snapshot has it.</summary>
public static class Timeline
{
    public sealed record Entry(string Kind, string Name, string First, string Last, bool InNewest);

    public static List<Entry> Build(IReadOnlyList<AbiSnapshot> corpusInOrder)
    {
        var first = new Dictionary<(string, string), string>();
        var last = new Dictionary<(string, string), string>();
        var order = new List<(string, string)>();
        foreach (var s in corpusInOrder)
        {
            foreach (var key in Keys(s).Distinct())
            {
                if (!first.ContainsKey(key))
                {
                    first[key] = s.Kernel;
                    order.Add(key);
                }

                last[key] = s.Kernel;
            }
        }

        var newest = corpusInOrder.Count == 0 ? string.Empty : corpusInOrder[^1].Kernel;
        return order.Select(k => new Entry(k.Item1, k.Item2, first[k], last[k], last[k] == newest)).ToList();
    }

    private static IEnumerable<(string Kind, string Name)> Keys(AbiSnapshot s)
    {
        var records = s.Records.ToDictionary(r => r.Id, StringComparer.Ordinal);
        var t = 0;
        foreach (var r in s.Records.Where(r => r.Name is not null && r.Parent is null))
        {
            yield return ("struct", r.Name!);
            foreach (var m in RecordLayout.Flatten(records, r, t))
            {
                yield return ("field", $"{r.Name}.{m.Path}");
            }
        }

        foreach (var e in s.Enums)
        {
            if (e.Name is not null)
            {
                yield return ("enum", e.Name);
            }

            foreach (var x in e.Enumerators)
            {
                yield return ("enumerator", x.Name);
            }
        }

        foreach (var m in s.Macros)
        {
            yield return ("macro", m.Name);
        }

        foreach (var d in s.Typedefs)
        {
            yield return ("typedef", d.Name);
        }
    }

    public static string Markdown(IEnumerable<Entry> entries)
    {
        var sb = new StringBuilder("| kind | name | first | last |\n|---|---|---|---|\n");
        foreach (var e in entries)
        {
            sb.Append($"| {e.Kind} | `{e.Name}` | {e.First} | {(e.InNewest ? $"{e.Last} (newest)" : e.Last)} |\n");
        }

        return sb.ToString();
    }

    public static string Json(IEnumerable<Entry> entries) =>
        JsonText.Write(new JsonArray(entries.Select(e => (JsonNode)new JsonObject()
            .Add("kind", new JsonString(e.Kind))
            .Add("name", new JsonString(e.Name))
            .Add("first", new JsonString(e.First))
            .Add("last", new JsonString(e.Last)))));
}
