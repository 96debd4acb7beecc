using System;
using System.Collections.Generic;
using System.Linq;
using IoUring.Abi.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace IoUring.Bindings.Generator;

/// <summary>One generated source file.</summary>
public sealed record GeneratedSource(string HintName, string Text);

/// <summary>A problem found while generating, reported as a compiler diagnostic.</summary>
public sealed record GeneratorProblem(string Id, string Message, bool IsError);

/// <summary>
/// A proposal flavour of the bindings (a snapshot of headers/proposals/NAME.patch over a base kernel):
/// its own namespace, and on every type a doc line and an [Experimental] attribute, so that code
/// built on it says so explicitly (NoWarn IOURING_PROPOSAL) and nobody takes it for a released kernel.
/// </summary>
public sealed record ProposalFlavour(string Name, string Patch, string BaseKernel)
{
    /// <summary>The diagnostic id of the [Experimental] attribute on every type of a proposal flavour.</summary>
    public const string DiagnosticId = "IOURING_PROPOSAL";

    /// <summary>
    /// "op-mmap-v1" -> "IoUring.Bindings.Proposals.OpMmapV1". The bindings project names the assembly
    /// with the same rule (invariant TextInfo.ToTitleCase over the '-'-separated words).
    /// </summary>
    public static string NamespaceFor(string name) =>
        Emitter.Namespace + ".Proposals." + System.Globalization.CultureInfo.InvariantCulture.TextInfo.ToTitleCase(name.Replace('-', ' ')).Replace(" ", string.Empty);

    public string Namespace => NamespaceFor(Name);

    public string Notice => $"PROPOSAL, not in any released kernel: {Name} ({Patch} over kernel {BaseKernel})";
}

/// <summary>
/// Turns ABI snapshots into C# bindings. One primary snapshot gives the declarations; the whole corpus
/// gives each declaration's first kernel for the documentation. Split by concern across partial files:
/// records, enums and constants, flag families.
/// </summary>
public sealed partial class Emitter
{
    public const string Namespace = "IoUring.Bindings";

    // The bindings are for 64-bit Linux; these two must agree on every layout.
    private static readonly string[] BindingTargets = ["x86_64-linux-gnu", "aarch64-linux-gnu"];

    private readonly AbiSnapshot snap;
    private readonly int target;
    private readonly Dictionary<string, RecordDecl> records;
    private readonly Dictionary<string, EnumDecl> enums;
    private readonly FirstKernels firstKernels;
    private readonly FlagFamilies flags;
    private readonly List<GeneratorProblem> problems = new();
    private readonly SortedDictionary<string, (string Element, long Length)> inlineArrays = new(StringComparer.Ordinal);
    private readonly ProposalFlavour? proposal;
    private readonly string ns;

    private Emitter(AbiSnapshot snap, IReadOnlyList<AbiSnapshot> corpus, FlagFamilies flags, ProposalFlavour? proposal)
    {
        this.snap = snap;
        this.flags = flags;
        this.proposal = proposal;
        ns = proposal?.Namespace ?? Namespace;
        target = snap.Targets.ToList().IndexOf(BindingTargets[0]);
        records = snap.Records.ToDictionary(r => r.Id, StringComparer.Ordinal);
        enums = snap.Enums.ToDictionary(e => e.Id, StringComparer.Ordinal);
        firstKernels = new FirstKernels(corpus.Count == 0 ? new[] { snap } : corpus);
    }

    public static (IReadOnlyList<GeneratedSource> Sources, IReadOnlyList<GeneratorProblem> Problems) Emit(AbiSnapshot primary, IReadOnlyList<AbiSnapshot> corpus, FlagFamilies flags, ProposalFlavour? proposal = null)
    {
        var e = new Emitter(primary, corpus, flags, proposal);
        return e.Run();
    }

    private (IReadOnlyList<GeneratedSource>, IReadOnlyList<GeneratorProblem>) Run()
    {
        var missing = BindingTargets.Where(t => !snap.Targets.Contains(t)).ToList();
        if (missing.Count > 0)
        {
            problems.Add(new GeneratorProblem("IOU0002", $"snapshot of kernel {snap.Kernel} lacks target(s) {string.Join(", ", missing)}; the bindings need x86_64 and aarch64 layouts (extract without --target)", true));
            return (Array.Empty<GeneratedSource>(), problems);
        }

        CheckTargetsAgree();
        if (problems.Any(p => p.IsError))
        {
            return (Array.Empty<GeneratedSource>(), problems);
        }

        var sources = new List<GeneratedSource>();
        foreach (var r in snap.Records.Where(r => r.Name is not null && r.Parent is null))
        {
            sources.Add(Source(CTypes.RecordType(r), EmitRecord(r)));
        }

        sources.Add(Source("Enums", EmitEnums()));
        sources.Add(Source("Constants", EmitConstants()));
        sources.Add(Source("Flags", EmitFlags()));

        // Last: the records above are what asked for these.
        sources.Add(Source("InlineArrays", EmitInlineArrays()));
        return (sources, problems);
    }

    private static GeneratedSource Source(string name, string text) => new($"{name}.g.cs", text);

    private static string Bytes(long n) => n == 1 ? "1 byte" : $"{n} bytes";

    /// <summary>x86_64 and aarch64 must lay out every record alike, or one set of bindings cannot serve both.</summary>
    private void CheckTargetsAgree()
    {
        var a = snap.Targets.ToList().IndexOf(BindingTargets[0]);
        var b = snap.Targets.ToList().IndexOf(BindingTargets[1]);
        foreach (var r in snap.Records)
        {
            var name = r.Name ?? r.Id;
            if (r.Size[a] != r.Size[b] || r.Align[a] != r.Align[b])
            {
                problems.Add(new GeneratorProblem("IOU0001", $"{r.Location}: {r.CSpelling} ({name}) is {r.Size[a]} bytes aligned {r.Align[a]} on x86_64 but {r.Size[b]} aligned {r.Align[b]} on aarch64; 64-bit bindings need one layout", true));
            }

            foreach (var f in r.Fields)
            {
                if (f.BitOffset[a] != f.BitOffset[b] || f.Size[a] != f.Size[b])
                {
                    problems.Add(new GeneratorProblem("IOU0001", $"{r.Location.File}:{f.Line}: {name}.{f.Name ?? "(anonymous)"} is at bit {f.BitOffset[a]}, {f.Size[a]} bytes on x86_64 but bit {f.BitOffset[b]}, {f.Size[b]} bytes on aarch64; 64-bit bindings need one layout", true));
                }
            }
        }
    }

    private string Since(string key)
    {
        var k = firstKernels.First(key);
        if (proposal is not null && k == snap.Kernel)
        {
            return $" PROPOSAL {proposal.Name} only: in no kernel of the corpus.";
        }

        return k is null ? string.Empty : $" Since kernel {k} (first in the corpus).";
    }

    /// <summary>A file of this flavour: a proposal's carries its notice in the header and the attribute's using.</summary>
    private string Render(IReadOnlyList<MemberDeclarationSyntax> members, params string[] usings) =>
        proposal is null
            ? Syntax.Render(ns, members, usings)
            : Syntax.Render(ns, proposal.Notice, members, usings.Append("System.Diagnostics.CodeAnalysis").Distinct().OrderBy(u => u, StringComparer.Ordinal).ToArray());

    /// <summary>[Experimental] on every type of a proposal flavour (null for a kernel): using one is a deliberate act.</summary>
    private AttributeListSyntax? Marker(int depth) =>
        proposal is null ? null : Syntax.Attribute(depth, "Experimental", $"\"{ProposalFlavour.DiagnosticId}\"", $"Message = \"{proposal.Notice}\"");

    /// <summary>A type's doc comment, led by the proposal notice in a proposal flavour.</summary>
    private string[] TypeDoc(params string[] lines) =>
        proposal is null ? lines : new[] { $"<b>{Syntax.Xml(proposal.Notice)}.</b>" }.Concat(lines).ToArray();
}

/// <summary>For each declaration key, the first kernel of the corpus whose snapshot has it.</summary>
internal sealed class FirstKernels
{
    private readonly Dictionary<string, string> first = new(StringComparer.Ordinal);

    public FirstKernels(IEnumerable<AbiSnapshot> corpus)
    {
        foreach (var s in corpus.OrderBy(s => s.Kernel, KernelVersion.Order))
        {
            foreach (var key in Keys(s))
            {
                if (!first.ContainsKey(key))
                {
                    first[key] = s.Kernel;
                }
            }
        }
    }

    public string? First(string key) => first.TryGetValue(key, out var k) ? k : null;

    public static IEnumerable<string> Keys(AbiSnapshot s)
    {
        var records = s.Records.ToDictionary(r => r.Id, StringComparer.Ordinal);
        foreach (var r in s.Records.Where(r => r.Name is not null && r.Parent is null))
        {
            yield return "record:" + r.Name;
            foreach (var m in RecordLayout.Flatten(records, r, 0))
            {
                yield return $"member:{r.Name}.{m.Path}";
            }
        }

        foreach (var e in s.Enums)
        {
            yield return "enum:" + e.Id;
            foreach (var x in e.Enumerators)
            {
                yield return "enumerator:" + x.Name;
            }
        }

        foreach (var m in s.Macros)
        {
            yield return "macro:" + m.Name;
        }
    }
}
