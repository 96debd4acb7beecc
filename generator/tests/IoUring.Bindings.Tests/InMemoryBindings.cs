using System.Reflection;
using System.Runtime.Loader;
using IoUring.Bindings.Generator;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace IoUring.Bindings.Tests;

/// <summary>Compiles generated sources (plus extra code) with Roslyn and loads the result, for any kernel in one test process.</summary>
internal static class InMemoryBindings
{
    private static readonly Lazy<MetadataReference[]> References = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToArray());

    public static Assembly Compile(string name, IEnumerable<GeneratedSource> sources, params string[] extra)
    {
        var trees = sources.Select(s => CSharpSyntaxTree.ParseText(s.Text, path: s.HintName))
            .Concat(extra.Select((e, i) => CSharpSyntaxTree.ParseText(e, path: $"extra{i}.cs")));
        var compilation = CSharpCompilation.Create(
            name,
            trees,
            References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, allowUnsafe: true, nullableContextOptions: NullableContextOptions.Enable));
        using var pe = new MemoryStream();
        var result = compilation.Emit(pe);
        var errors = result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Take(10).ToList();
        if (!result.Success)
        {
            throw new InvalidOperationException("the generated bindings do not compile:\n" + string.Join("\n", errors));
        }

        pe.Position = 0;
        return new AssemblyLoadContext(name, isCollectible: true).LoadFromStream(pe);
    }
}
