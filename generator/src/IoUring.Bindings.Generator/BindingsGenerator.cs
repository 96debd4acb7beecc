using System;
using System.Collections;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using IoUring.Abi.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace IoUring.Bindings.Generator;

/// <summary>
/// Reads ABI snapshots (AdditionalFiles with IoUringSnapshot="true") and the flag curation file
/// (flags.txt), and adds the bindings of the kernel named by the IoUringKernel property (default: the
/// snapshot marked IoUringSnapshot="primary", a consumer's own, else the newest released kernel among
/// the snapshots). Every stage's output has value equality, so an
/// unchanged input is served from Roslyn's cache without parsing or emitting again.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class BindingsGenerator : IIncrementalGenerator
{
    public const string SnapshotsStep = "Snapshots";
    public const string GenerateStep = "Generate";

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var snapshots = context.AdditionalTextsProvider
            .Where(t => t.Path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            .Combine(context.AnalyzerConfigOptionsProvider)
            .Select((p, _) => (File: p.Left, Role: p.Right.GetOptions(p.Left).TryGetValue("build_metadata.AdditionalFiles.IoUringSnapshot", out var v) ? v.Trim() : string.Empty))
            .Where(p => string.Equals(p.Role, "true", StringComparison.OrdinalIgnoreCase) || string.Equals(p.Role, "primary", StringComparison.OrdinalIgnoreCase))
            .Select((p, ct) => new InputFile(p.File.Path, p.File.GetText(ct)?.ToString() ?? string.Empty, string.Equals(p.Role, "primary", StringComparison.OrdinalIgnoreCase)))
            .WithTrackingName(SnapshotsStep)
            .Collect();

        var curation = context.AdditionalTextsProvider
            .Where(t => Path.GetFileName(t.Path) == FlagFamilies.FileName)
            .Select((t, ct) => new InputFile(t.Path, t.GetText(ct)?.ToString() ?? string.Empty))
            .Collect();

        var flavour = context.AnalyzerConfigOptionsProvider
            .Select((o, _) => (
                Kernel: o.GlobalOptions.TryGetValue("build_property.IoUringKernel", out var k) ? k.Trim() : string.Empty,
                Proposal: o.GlobalOptions.TryGetValue("build_property.IoUringProposal", out var p) ? p.Trim() : string.Empty));

        var result = snapshots.Combine(curation).Combine(flavour)
            .Select((x, _) => Generate(x.Left.Left, x.Left.Right, x.Right.Kernel, x.Right.Proposal))
            .WithTrackingName(GenerateStep);

        context.RegisterSourceOutput(result, (spc, r) =>
        {
            foreach (var p in r.Problems)
            {
                spc.ReportDiagnostic(Diagnostic.Create(Descriptor(p), Location.None, p.Message));
            }

            foreach (var s in r.Sources)
            {
                spc.AddSource(s.HintName, SourceText.From(s.Text, System.Text.Encoding.UTF8));
            }
        });
    }

    /// <summary>The whole job without Roslyn's plumbing: snapshots and curation in, sources and problems out.</summary>
    public static GenerationResult Generate(ImmutableArray<InputFile> snapshotFiles, ImmutableArray<InputFile> curationFiles, string kernel) =>
        Generate(snapshotFiles, curationFiles, kernel, string.Empty);

    /// <summary>
    /// As above; a non-empty <paramref name="proposal"/> (IoUringProposal, e.g. "op-mmap-v1") picks the
    /// snapshot of that proposal instead of a kernel and emits the proposal flavour (ProposalFlavour).
    /// </summary>
    public static GenerationResult Generate(ImmutableArray<InputFile> snapshotFiles, ImmutableArray<InputFile> curationFiles, string kernel, string proposal)
    {
        var problems = new List<GeneratorProblem>();
        var corpus = new List<AbiSnapshot>();
        AbiSnapshot? given = null;
        foreach (var f in snapshotFiles.OrderBy(f => f.Path, StringComparer.Ordinal))
        {
            try
            {
                var snapshot = SnapshotJson.Read(f.Text, f.Path);
                corpus.Add(snapshot);
                if (f.Primary)
                {
                    given = given is null ? snapshot : throw new ToolException($"{f.Path}: a second snapshot marked IoUringSnapshot=\"primary\" (the first names kernel '{given.Kernel}'); mark one");
                }
            }
            catch (ToolException e)
            {
                problems.Add(new GeneratorProblem("IOU0004", $"{e.Message}", true));
            }
        }

        if (corpus.Count == 0)
        {
            problems.Add(new GeneratorProblem("IOU0004", "no ABI snapshot is given: add <AdditionalFiles Include=\"generated/abi/*.json\" IoUringSnapshot=\"true\" />", problems.Count == 0));
            return new GenerationResult(EquatableArray<GeneratedSource>.Empty, new EquatableArray<GeneratorProblem>(problems));
        }

        // A consumer's own snapshot replaces a corpus snapshot of the same name, so that a kernel
        // appears once in the "since" notes.
        if (given is not null)
        {
            corpus.RemoveAll(s => s != given && s.Kernel == given.Kernel);
            if (kernel.Length == 0 && proposal.Length == 0)
            {
                kernel = given.Kernel;
            }
        }

        // A proposal's snapshot (source kind "patch") is never a kernel: never the default, never the
        // "since" kernel of anything a kernel has.
        var kernels = corpus.Where(s => !IsProposal(s)).ToList();
        AbiSnapshot? primary;
        ProposalFlavour? flavour = null;
        if (proposal.Length > 0)
        {
            var candidates = corpus.Where(s => IsProposal(s) && s.Kernel.EndsWith("+" + proposal, StringComparison.Ordinal)).ToList();
            if (!ValidProposalName(proposal) || candidates.Count != 1)
            {
                var known = corpus.Where(IsProposal).Select(s => s.Kernel).OrderBy(k => k, StringComparer.Ordinal).ToList();
                problems.Add(new GeneratorProblem("IOU0004", $"IoUringProposal is '{proposal}', but {(candidates.Count > 1 ? "several snapshots are" : "no snapshot is")} that proposal (given: {(known.Count == 0 ? "none" : string.Join(", ", known))}); a proposal is headers/proposals/NAME.patch (NAME of a-z, 0-9 and '-'), its snapshot generated/abi/proposals/NAME.json ('io_uring-codegen generate')", true));
                return new GenerationResult(EquatableArray<GeneratedSource>.Empty, new EquatableArray<GeneratorProblem>(problems));
            }

            primary = candidates[0];
            flavour = new ProposalFlavour(proposal, primary.Source.Package ?? proposal + ".patch", primary.Kernel.Substring(0, primary.Kernel.Length - proposal.Length - 1));
            kernels.Add(primary);
        }
        else
        {
            var wanted = kernel.Length == 0 ? KernelVersion.NewestReleased(kernels.Select(s => s.Kernel)) : kernel;
            primary = kernels.FirstOrDefault(s => s.Kernel == wanted);
            if (primary is null)
            {
                problems.Add(new GeneratorProblem("IOU0004", $"IoUringKernel is '{kernel}', but the snapshots are for {string.Join(", ", kernels.Select(s => s.Kernel).OrderBy(k => k, KernelVersion.Order))}", true));
                return new GenerationResult(EquatableArray<GeneratedSource>.Empty, new EquatableArray<GeneratorProblem>(problems));
            }
        }

        var curation = FlagFamilies.Empty;
        if (curationFiles.Length > 0)
        {
            var errors = new List<string>();
            curation = FlagFamilies.Parse(curationFiles[0].Text, curationFiles[0].Path, errors);
            problems.AddRange(errors.Select(e => new GeneratorProblem("IOU0006", e, true)));
        }

        // The corpus for "since" notes is the kernels (plus, for a proposal flavour, the proposal, after
        // its base): what only the proposal has is marked as such, not as a kernel's.
        var (sources, emitProblems) = Emitter.Emit(primary, kernels, curation, flavour);
        problems.AddRange(emitProblems);
        return new GenerationResult(new EquatableArray<GeneratedSource>(sources), new EquatableArray<GeneratorProblem>(problems));
    }

    private static bool IsProposal(AbiSnapshot s) => s.Source.Kind == "patch";

    // The name becomes a namespace, an assembly name and folder names: keep it to plain words.
    private static bool ValidProposalName(string name) =>
        name.Length > 0 && char.IsLetter(name[0]) && name.All(c => (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') && !name.EndsWith("-", StringComparison.Ordinal);

    private static DiagnosticDescriptor Descriptor(GeneratorProblem p) => new(
        p.Id,
        p.Id switch
        {
            "IOU0001" => "Layout differs between x86_64 and aarch64",
            "IOU0002" => "Snapshot lacks a 64-bit target",
            "IOU0003" => "Member renamed for C#",
            "IOU0004" => "No usable ABI snapshot",
            "IOU0005" => "Unsupported C type",
            _ => "Flag curation",
        },
        "{0}",
        "IoUring.Bindings",
        p.IsError ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning,
        isEnabledByDefault: true);
}

public sealed record InputFile(string Path, string Text, bool Primary = false);

public sealed record GenerationResult(EquatableArray<GeneratedSource> Sources, EquatableArray<GeneratorProblem> Problems);

/// <summary>An immutable list with value equality, so that incremental steps compare by content.</summary>
public readonly struct EquatableArray<T> : IEquatable<EquatableArray<T>>, IEnumerable<T>
{
    public static readonly EquatableArray<T> Empty = new(Array.Empty<T>());

    private readonly T[]? items;

    public EquatableArray(IEnumerable<T> items) => this.items = items.ToArray();

    public int Count => items?.Length ?? 0;

    public bool Equals(EquatableArray<T> other) => (items ?? Array.Empty<T>()).SequenceEqual(other.items ?? Array.Empty<T>());

    public override bool Equals(object? obj) => obj is EquatableArray<T> o && Equals(o);

    public override int GetHashCode()
    {
        var h = 19;
        foreach (var i in items ?? Array.Empty<T>())
        {
            h = (h * 31) + (i?.GetHashCode() ?? 0);
        }

        return h;
    }

    public IEnumerator<T> GetEnumerator() => ((IEnumerable<T>)(items ?? Array.Empty<T>())).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
