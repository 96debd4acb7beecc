using IoUring.Bindings.Generator;
using Xunit;

namespace IoUring.Bindings.Tests;

/// <summary>The README's C# example compiles against the generated bindings and computes what it says.</summary>
public sealed class ReadmeTests
{
    [Fact]
    public void TheReadmeExampleCompilesAndRunsAgainstTheBindings()
    {
        var readme = File.ReadAllText(Path.Combine(Repo.Root, "README.md"));
        // The bindings' own example, in their section (other sections show the client ring's packages,
        // which the packaging tests build as a consumer would).
        var section = readme.IndexOf("## The C# bindings", StringComparison.Ordinal);
        Assert.True(section >= 0, "README.md has no '## The C# bindings' section");
        var start = readme.IndexOf("```csharp\n", section, StringComparison.Ordinal);
        Assert.True(start >= 0, "README.md has no ```csharp example in '## The C# bindings'");
        var code = readme[(start + 10)..readme.IndexOf("```", start + 10, StringComparison.Ordinal)];
        var usings = string.Concat(code.Split('\n').Where(l => l.StartsWith("using ", StringComparison.Ordinal)).Select(l => l + "\n"));
        var body = string.Concat(code.Split('\n').Where(l => !l.StartsWith("using ", StringComparison.Ordinal)).Select(l => "        " + l + "\n"));
        var program = usings + "public static class ReadmeExample\n{\n    public static object[] Run()\n    {\n" + body + "        return [sqe, size, rewind];\n    }\n}\n";

        var generated = BindingsGenerator.Generate(Repo.Snapshots(), Repo.Curation(), string.Empty);
        var assembly = InMemoryBindings.Compile("readme", generated.Sources, program);
        var result = (object[])assembly.GetType("ReadmeExample")!.GetMethod("Run")!.Invoke(null, null)!;
        Assert.Equal(64, (int)result[1]);
        Assert.Equal(1u << 20, (uint)result[2]);
    }
}
