using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using IoUring.Abi.Model;
using IoUring.Bindings.Generator;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;
using Xunit;

namespace IoUring.Bindings.Tests;

/// <summary>The generator as the compiler runs it: incremental caching and diagnostics.</summary>
public sealed class GeneratorDriverTests
{
    [Fact]
    public void UnchangedInputIsServedFromTheCache()
    {
        var texts = Repo.Snapshots().Select(f => (AdditionalText)new Text(f.Path, f.Text)).Append(new Text(Repo.Curation()[0].Path, Repo.Curation()[0].Text)).ToImmutableArray();
        var options = new Options(texts, kernel: "7.2");
        var compilation = CSharpCompilation.Create("incremental", [CSharpSyntaxTree.ParseText("class A {}")]);
        GeneratorDriver driver = CSharpGeneratorDriver.Create(
            [new BindingsGenerator().AsSourceGenerator()],
            texts,
            optionsProvider: options,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

        driver = driver.RunGenerators(compilation);
        var first = driver.GetRunResult().Results.Single();
        Assert.Null(first.Exception);
        Assert.Contains(first.GeneratedSources, s => s.HintName == "io_uring_sqe.g.cs");
        Assert.All(first.TrackedSteps[BindingsGenerator.GenerateStep].SelectMany(s => s.Outputs), o => Assert.Equal(IncrementalStepRunReason.New, o.Reason));

        // An edit of the user's code, nothing the generator reads: served from the cache.
        driver = driver.RunGenerators(compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("class B {}")));
        var second = driver.GetRunResult().Results.Single();
        Assert.All(second.TrackedSteps[BindingsGenerator.GenerateStep].SelectMany(s => s.Outputs), o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
        Assert.All(second.TrackedSteps[BindingsGenerator.SnapshotsStep].SelectMany(s => s.Outputs), o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, o.Reason.ToString()));

        // Another kernel: the work is done again.
        driver = driver.WithUpdatedAnalyzerConfigOptions(new Options(texts, kernel: "6.1")).RunGenerators(compilation);
        var third = driver.GetRunResult().Results.Single();
        Assert.All(third.TrackedSteps[BindingsGenerator.GenerateStep].SelectMany(s => s.Outputs), o => Assert.Equal(IncrementalStepRunReason.Modified, o.Reason));
    }

    [Fact]
    public void ALayoutThatDiffersBetweenX8664AndAarch64FailsNamingStructAndField()
    {
        var path = Path.Combine(Repo.AbiDir, "7.2.json");
        var snap = SnapshotJson.Read(File.ReadAllText(path), path);
        var arm64 = snap.Targets.ToList().IndexOf("aarch64-linux-gnu");
        var records = snap.Records.Select(r => r.Name != "io_uring_cqe" ? r : new RecordDecl
        {
            Id = r.Id,
            Name = r.Name,
            Kind = r.Kind,
            Parent = r.Parent,
            Location = r.Location,
            Size = r.Size,
            Align = r.Align,
            Fields = r.Fields.Select(f => f.Name != "flags" ? f : new FieldDecl
            {
                Name = f.Name,
                Type = f.Type,
                Canonical = f.Canonical,
                Dims = f.Dims,
                Line = f.Line,
                Size = f.Size,
                BitOffset = new PerTarget<long>(f.BitOffset.Values.Select((b, i) => i == arm64 ? b + 32 : b)),
            }).ToList(),
        }).ToList();
        var bad = new AbiSnapshot
        {
            Kernel = snap.Kernel,
            Source = snap.Source,
            Targets = snap.Targets,
            Headers = snap.Headers,
            Records = records,
            Enums = snap.Enums,
            Typedefs = snap.Typedefs,
            Macros = snap.Macros,
            SkippedMacros = snap.SkippedMacros,
        };
        var result = BindingsGenerator.Generate([new InputFile("bad.json", SnapshotJson.Write(bad))], Repo.Curation(), "7.2");
        Assert.Equal(0, result.Sources.Count);
        var error = Assert.Single(result.Problems, p => p.Id == "IOU0001");
        Assert.True(error.IsError);
        Assert.Contains("io_uring_cqe.flags", error.Message);
        Assert.Contains("aarch64", error.Message);
    }

    [Fact]
    public void AnUnknownKernelPropertyListsTheSnapshots()
    {
        var result = BindingsGenerator.Generate(Repo.Snapshots(), Repo.Curation(), "5.4");
        var error = Assert.Single(result.Problems);
        Assert.Equal("IOU0004", error.Id);
        Assert.Contains("7.2", error.Message);
    }

    private sealed class Text(string path, string text) : AdditionalText
    {
        public override string Path => path;

        public override SourceText GetText(CancellationToken cancellationToken = default) => SourceText.From(text);
    }

    private sealed class Options(ImmutableArray<AdditionalText> texts, string kernel) : AnalyzerConfigOptionsProvider
    {
        private readonly ImmutableArray<AdditionalText> texts = texts;

        public override AnalyzerConfigOptions GlobalOptions { get; } = new Dict(new() { ["build_property.IoUringKernel"] = kernel });

        public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => new Dict([]);

        public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) =>
            new Dict(textFile.Path.EndsWith(".json", StringComparison.Ordinal) ? new() { ["build_metadata.AdditionalFiles.IoUringSnapshot"] = "true" } : []);
    }

    private sealed class Dict(Dictionary<string, string> values) : AnalyzerConfigOptions
    {
        public override bool TryGetValue(string key, [NotNullWhen(true)] out string? value) => values.TryGetValue(key, out value);
    }
}
