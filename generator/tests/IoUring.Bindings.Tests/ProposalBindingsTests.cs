using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using IoUring.Abi.Headers;
using IoUring.Abi.Model;
using IoUring.Bindings.Generator;
using Xunit;
using Xunit.Abstractions;

namespace IoUring.Bindings.Tests;

/// <summary>
/// The proposal flavours of the bindings (IoUringProposal=op-mmap-v1/v2): a namespace and assembly of
/// their own, every type marked, layouts equal to what gcc prints over the patched headers, and no
/// trace of a proposal in the kernels' bindings.
/// </summary>
public sealed class ProposalBindingsTests
{
    private readonly ITestOutputHelper output;

    public ProposalBindingsTests(ITestOutputHelper output) => this.output = output;

    public static IEnumerable<object[]> Proposals => new[] { "op-mmap-v1", "op-mmap-v2" }.Select(p => new object[] { p });

    private static string SnapshotPath(string name) => Path.Combine(Repo.AbiDir, "proposals", name + ".json");

    /// <summary>The kernels' snapshots plus one proposal's, as the bindings project gives them in a proposal build.</summary>
    private static ImmutableArray<InputFile> SnapshotsWith(string name) =>
        Repo.Snapshots().Add(new InputFile(SnapshotPath(name), File.ReadAllText(SnapshotPath(name))));

    [Theory]
    [MemberData(nameof(Proposals))]
    public void EveryTypeIsMarkedAndLivesInTheProposalNamespace(string name)
    {
        var result = BindingsGenerator.Generate(SnapshotsWith(name), Repo.Curation(), string.Empty, name);
        Assert.DoesNotContain(result.Problems, p => p.IsError);
        var ns = ProposalFlavour.NamespaceFor(name);
        Assert.StartsWith("IoUring.Bindings.Proposals.OpMmapV", ns, StringComparison.Ordinal);
        Assert.All(result.Sources, s =>
        {
            Assert.Contains($"\nnamespace {ns};\n", s.Text);
            Assert.Contains($"// PROPOSAL, not in any released kernel: {name} (headers/proposals/{name}.patch over kernel 7.3-rc)\n", s.Text);
        });

        var assembly = InMemoryBindings.Compile("proposal_" + name.Replace('-', '_'), result.Sources);
        var types = assembly.GetTypes();
        Assert.Contains(types, t => t.FullName == ns + ".io_uring_mmap_desc");
        Assert.All(types, t => Assert.True(
            t.GetCustomAttributes(typeof(ExperimentalAttribute), false).OfType<ExperimentalAttribute>().Any(a => a.DiagnosticId == ProposalFlavour.DiagnosticId),
            $"{t.FullName} lacks [Experimental(\"{ProposalFlavour.DiagnosticId}\")]"));
    }

    [Theory]
    [MemberData(nameof(Proposals))]
    public void UsingAProposalTypeNeedsAnExplicitOptIn(string name)
    {
        var result = BindingsGenerator.Generate(SnapshotsWith(name), Repo.Curation(), string.Empty, name);
        var user = $"public static class User {{ public static int Size() => System.Runtime.CompilerServices.Unsafe.SizeOf<{ProposalFlavour.NamespaceFor(name)}.io_uring_mmap_desc>(); }}";
        var e = Assert.Throws<InvalidOperationException>(() => InMemoryBindings.Compile("proposal_user_" + name.Replace('-', '_'), result.Sources, user));
        Assert.Contains(ProposalFlavour.DiagnosticId, e.Message);
        Assert.Contains("PROPOSAL, not in any released kernel", e.Message);
        InMemoryBindings.Compile("proposal_optin_" + name.Replace('-', '_'), result.Sources, $"#pragma warning disable {ProposalFlavour.DiagnosticId}\n" + user);
    }

    [Theory]
    [MemberData(nameof(Proposals))]
    public void CSharpLayoutAndConstantsEqualWhatGccPrintsOverThePatchedHeaders(string name)
    {
        var result = BindingsGenerator.Generate(SnapshotsWith(name), Repo.Curation(), string.Empty, name);
        Assert.DoesNotContain(result.Problems, p => p.IsError);
        var snap = SnapshotJson.Read(File.ReadAllText(SnapshotPath(name)), name);
        var probe = ProbeBuilder.Build(snap);

        // The probe is ordinary user code: it opts in to the proposal and uses its namespace.
        var csProbe = $"#pragma warning disable {ProposalFlavour.DiagnosticId}\n" + probe.CSharp.Replace("using IoUring.Bindings;", $"using {ProposalFlavour.NamespaceFor(name)};");
        var assembly = InMemoryBindings.Compile("proposal_probe_" + name.Replace('-', '_'), result.Sources, csProbe);
        var csLines = (List<string>)assembly.GetType("Probe")!.GetMethod("Lines")!.Invoke(null, null)!;

        var patch = Path.Combine(Repo.Root, "headers", "proposals", name + ".patch");
        var text = File.ReadAllText(patch);
        var baseKernel = UnifiedPatch.DeclaredBase(text)!;
        var tree = Directory.CreateTempSubdirectory($"proposal-bindings-{name}-").FullName;
        try
        {
            var from = Repo.CacheTree(baseKernel);
            foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            {
                var dest = Path.Combine(tree, Path.GetRelativePath(from, file));
                Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
                File.Copy(file, dest);
            }

            UnifiedPatch.ApplyToTree(tree, UnifiedPatch.Parse(text, patch), patch, $"kernel {baseKernel}");
            var cLines = Repo.RunC(probe.C, tree, "probe_" + name.Replace('-', '_')).Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
            Assert.Equal(cLines.Count, csLines.Count);
            var mismatch = cLines.Zip(csLines).Where(p => p.First != p.Second).Take(10).Select(p => $"gcc: {p.First}   C#: {p.Second}").ToList();
            Assert.True(mismatch.Count == 0, $"proposal {name}: C# bindings disagree with gcc:\n{string.Join("\n", mismatch)}");
            Assert.Contains(cLines, l => l.Contains("io_uring_mmap_desc", StringComparison.Ordinal));

            var line = $"bindings vs gcc: {"proposals/" + name,-7} {probe.Structs,3} structs, {probe.Fields,4} members, {probe.Constants,4} constants: {cLines.Count} facts equal";
            output.WriteLine(line);
            Report.Append(line);
        }
        finally
        {
            Directory.Delete(tree, true);
        }
    }

    [Fact]
    public void TheKernelsBindingsIgnoreAProposalSnapshot()
    {
        // Even when a proposal's snapshot is among the inputs, the default flavour is the newest
        // released kernel, with nothing of the proposal in it: the default build does not change.
        var plain = BindingsGenerator.Generate(Repo.Snapshots(), Repo.Curation(), string.Empty);
        var withProposals = BindingsGenerator.Generate(SnapshotsWith("op-mmap-v1").Add(new InputFile(SnapshotPath("op-mmap-v2"), File.ReadAllText(SnapshotPath("op-mmap-v2")))), Repo.Curation(), string.Empty);
        Assert.Equal(plain.Sources.Select(s => (s.HintName, s.Text)), withProposals.Sources.Select(s => (s.HintName, s.Text)));
        Assert.DoesNotContain(withProposals.Sources, s => s.Text.Contains("PROPOSAL", StringComparison.Ordinal) || s.Text.Contains("mmap_desc", StringComparison.Ordinal));

        // A kernel label never selects a proposal.
        var error = Assert.Single(BindingsGenerator.Generate(SnapshotsWith("op-mmap-v1"), Repo.Curation(), "7.3-rc+op-mmap-v1").Problems);
        Assert.Equal("IOU0004", error.Id);
    }

    [Fact]
    public void AnUnknownProposalListsTheGivenOnes()
    {
        var error = Assert.Single(BindingsGenerator.Generate(SnapshotsWith("op-mmap-v1"), Repo.Curation(), string.Empty, "op-mmap-v9").Problems);
        Assert.Equal("IOU0004", error.Id);
        Assert.Contains("7.3-rc+op-mmap-v1", error.Message);
    }

    [Theory]
    [MemberData(nameof(Proposals))]
    public void TheBuiltProposalAssemblyIsNamedLikeItsNamespace(string name)
    {
        // The project's MSBuild rule for the assembly name must agree with ProposalFlavour.NamespaceFor;
        // the test project's reference to the bindings builds every flavour (BuildAllKernels).
        var config = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
        var dll = Path.Combine(Repo.Root, "generated", "IoUring.Bindings", "bin", config, "proposals", name, "net10.0", ProposalFlavour.NamespaceFor(name) + ".dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: build generated/IoUring.Bindings (it builds every proposal flavour)");
        Assert.True(File.Exists(Path.Combine(Repo.Root, "generated", "cs", "proposals", name, "IoUring.Bindings.Generator", "IoUring.Bindings.Generator.BindingsGenerator", "io_uring_mmap_desc.g.cs")), "the emitted sources of the proposal are not under generated/cs/proposals");
    }
}
