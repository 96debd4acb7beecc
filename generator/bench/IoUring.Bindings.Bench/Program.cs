using System.Collections.Immutable;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using IoUring.Abi.Model;
using IoUring.Bindings.Generator;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

BenchmarkRunner.Run<GeneratorBenchmarks>(args: args);

/// <summary>
/// The bindings generator on the 7.2 snapshot, warm (BenchmarkDotNet's warm-up runs first):
/// the whole job (parse every snapshot, emit, format), and a full generator-driver run as the
/// compiler does it, with the incremental cache reset each time.
/// </summary>
[MemoryDiagnoser]
public class GeneratorBenchmarks
{
    private ImmutableArray<InputFile> snapshots;
    private ImmutableArray<InputFile> curation;
    private ImmutableArray<AdditionalText> texts;
    private CSharpCompilation compilation = null!;
    private BenchOptions options = null!;

    [GlobalSetup]
    public void Setup()
    {
        var root = Checkout.OfBuildOutput();

        snapshots = Directory.GetFiles(Checkout.SnapshotDirectory(root), "*.json").Order(StringComparer.Ordinal).Select(f => new InputFile(f, File.ReadAllText(f))).ToImmutableArray();
        var flags = Path.Combine(root, "generated", "IoUring.Bindings", "flags.txt");
        curation = [new InputFile(flags, File.ReadAllText(flags))];
        texts = snapshots.Concat(curation).Select(f => (AdditionalText)new BenchText(f.Path, f.Text)).ToImmutableArray();
        compilation = CSharpCompilation.Create("bench", [CSharpSyntaxTree.ParseText("class A {}")]);
        options = new BenchOptions();
    }

    [Benchmark(Description = "Generate 7.2 (parse corpus, emit, format)")]
    public int Generate() => BindingsGenerator.Generate(snapshots, curation, "7.2").Sources.Count;

    [Benchmark(Description = "Generator driver run, 7.2, cold cache")]
    public int DriverRun()
    {
        GeneratorDriver driver = CSharpGeneratorDriver.Create([new BindingsGenerator().AsSourceGenerator()], texts, optionsProvider: options);
        return driver.RunGenerators(compilation).GetRunResult().GeneratedTrees.Length;
    }

    private sealed class BenchText(string path, string text) : AdditionalText
    {
        public override string Path => path;

        public override SourceText GetText(CancellationToken cancellationToken = default) => SourceText.From(text);
    }

    private sealed class BenchOptions : AnalyzerConfigOptionsProvider
    {
        public override AnalyzerConfigOptions GlobalOptions { get; } = new Opt("build_property.IoUringKernel", "7.2");

        public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => new Opt(null, null);

        public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) =>
            textFile.Path.EndsWith(".json", StringComparison.Ordinal) ? new Opt("build_metadata.AdditionalFiles.IoUringSnapshot", "true") : new Opt(null, null);
    }

    private sealed class Opt(string? key, string? value) : AnalyzerConfigOptions
    {
        public override bool TryGetValue(string k, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? v)
        {
            v = k == key ? value : null;
            return v is not null;
        }
    }
}
