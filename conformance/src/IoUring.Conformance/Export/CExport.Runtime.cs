using System.Text;
using System.Text.RegularExpressions;

namespace IoUring.Conformance;

public static partial class CExport
{
    /// <summary>
    /// The C helpers of every exported program, from the embedded reproducer-runtime.c: sections
    /// marked "section NAME", of which a file takes "core" and the ones its steps call, in file order.
    /// </summary>
    internal static partial class Runtime
    {
        private static readonly Lazy<IReadOnlyList<(string Name, string Text)>> All = new(Load);

        public static string Sections(IReadOnlySet<string> wanted)
        {
            var unknown = wanted.Where(w => All.Value.All(s => s.Name != w)).ToList();
            if (unknown.Count > 0)
            {
                throw new InvalidOperationException($"reproducer-runtime.c has no section {string.Join(", ", unknown)}");
            }

            var text = new StringBuilder();
            foreach (var (name, body) in All.Value)
            {
                if (name == "core" || wanted.Contains(name))
                {
                    text.Append(body.Trim('\n')).Append("\n\n");
                }
            }

            return text.ToString().TrimEnd('\n') + "\n";
        }

        private static IReadOnlyList<(string Name, string Text)> Load()
        {
            using var stream = typeof(CExport).Assembly.GetManifestResourceStream("reproducer-runtime.c")
                ?? throw new InvalidOperationException("reproducer-runtime.c is not embedded in IoUring.Conformance; the project file lost its EmbeddedResource");
            using var reader = new StreamReader(stream);
            var source = reader.ReadToEnd();
            var marks = Marker().Matches(source);
            return marks.Select((m, i) => (m.Groups[1].Value, source[(m.Index + m.Length)..(i + 1 < marks.Count ? marks[i + 1].Index : source.Length)])).ToList();
        }

        [GeneratedRegex(@"^/\*@ section ([\w-]+) @\*/\n", RegexOptions.Multiline)]
        private static partial Regex Marker();
    }
}
