using IoUring.Abi.Clang;
using IoUring.Abi.Diff;
using IoUring.Abi.Headers;
using IoUring.Abi.Model;

namespace IoUring.Abi.Cli;

/// <summary>Where the repository keeps its inputs and outputs.</summary>
internal sealed record Repo(string Root)
{
    public string LockPath => Path.Combine(Root, "headers", "kernels.lock.json");

    public string SnapshotPath(string kernel) => Checkout.SnapshotPath(Root, kernel);

    /// <summary>Proposed UAPI changes (unified diffs of io_uring.h), each naming its base kernel.</summary>
    public string ProposalsDir => Path.Combine(Root, "headers", "proposals");

    /// <summary>
    /// A proposal's snapshot lives beside the kernels' but in a folder of its own, so that everything
    /// that reads generated/abi/*.json as "the corpus of kernels" (bindings, timeline, engine profiles)
    /// never takes a proposal for a released kernel.
    /// </summary>
    public string ProposalSnapshotPath(string name) => Checkout.SnapshotPath(Root, "proposals/" + name);

    /// <summary>The proposals of headers/proposals, by name (the patch's file name without .patch).</summary>
    public IReadOnlyList<(string Name, string Patch)> Proposals() =>
        Directory.Exists(ProposalsDir)
            ? Directory.GetFiles(ProposalsDir, "*.patch").Order(StringComparer.Ordinal).Select(f => (Path.GetFileNameWithoutExtension(f), f)).ToList()
            : [];

    /// <summary>
    /// A path as snapshots name it: relative to the repository, with '/', when it is inside it, so the
    /// same input gives the same bytes on any checkout; otherwise as given.
    /// </summary>
    public string Display(string path)
    {
        var rel = Path.GetRelativePath(Root, Path.GetFullPath(path));
        return rel.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(rel) ? path : rel.Replace(Path.DirectorySeparatorChar, '/');
    }

    /// <summary>The checkout (or an installed tool's bundled corpus); <paramref name="writes"/> names what the command writes into it.</summary>
    public static Repo Find(string? given, string? writes = null) => new(Checkout.ForTool(given, Path.Combine("headers", "kernels.lock.json"), writes));
}

internal static class Pipeline
{
    public static AbiSnapshot ExtractKernel(Repo repo, HeaderCache cache, string kernel, IReadOnlyList<CTarget> targets)
    {
        var k = KernelLock.Load(repo.LockPath).Find(kernel);
        var tree = cache.TryGetVerified(k, out var problem)
            ?? throw new ToolException($"{problem}; run 'headers fetch --locked' first");
        return Extractor.Extract(tree, targets, k.Kernel, new HeaderSource { Kind = "debian", Package = KernelLock.PackageName, Version = k.Version, Suite = k.Suite });
    }

    /// <summary>
    /// Any UAPI header of a kernel of the corpus (linux/perf_event.h), by the name #include gives it:
    /// its own declarations and the types they reference, as for io_uring.h.
    /// </summary>
    public static AbiSnapshot ExtractUapi(Repo repo, HeaderCache cache, string kernel, IReadOnlyList<string> headers, IReadOnlyList<CTarget> targets)
    {
        var (k, tree) = UapiTree(repo, cache, kernel);
        foreach (var h in headers)
        {
            UapiHeaders.Require(tree.Root, h, k.Kernel);
        }

        return Extractor.Extract(new IncludeTree(tree.Root, roots: headers), targets, k.Kernel, new HeaderSource { Kind = "debian", Package = KernelLock.PackageName, Version = k.Version, Suite = k.Suite });
    }

    /// <summary>The verified whole UAPI tree of a kernel of the lock.</summary>
    public static (LockedKernel Kernel, IncludeTree Tree) UapiTree(Repo repo, HeaderCache cache, string kernel)
    {
        var k = KernelLock.Load(repo.LockPath).Find(kernel);
        var tree = cache.TryGetVerified(k, out var problem)
            ?? throw new ToolException($"{problem}; run 'headers fetch --locked' first");
        return (k, tree);
    }

    /// <summary>
    /// A lone header (a patched io_uring.h, a synthetic test header) is placed over a copy of a base
    /// kernel's include tree, so that its own includes (linux/types.h, ...) resolve as in the kernel.
    /// </summary>
    public static AbiSnapshot ExtractHeader(Repo repo, HeaderCache cache, string header, string? baseKernel, string? name, IReadOnlyList<CTarget> targets)
    {
        var full = Path.GetFullPath(header);
        if (!File.Exists(full))
        {
            throw new ToolException($"{header}: no such header file");
        }

        var kernelLock = KernelLock.Load(repo.LockPath);
        var k = baseKernel is null ? kernelLock.Find(KernelVersion.Newest(kernelLock.Kernels.Select(x => x.Kernel))!) : kernelLock.Find(baseKernel);
        return OnCopyOfBase(cache, k, (temp, baseRoot) =>
        {
            File.Copy(full, Path.Combine(temp, "linux", "io_uring.h"), overwrite: true);

            // The snapshot describes this header (and what it includes), not the base's sibling headers.
            var tree = new IncludeTree(temp, displayRoot: $"(base {k.Kernel})", roots: ["linux/io_uring.h"], baseRoot: baseRoot);
            tree.DisplayOverrides["linux/io_uring.h"] = header;
            tree.QuotedIncludeDirs.Add(Path.GetDirectoryName(full)!);
            return Extractor.Extract(tree, targets, name ?? Path.GetFileName(header), new HeaderSource { Kind = "path", Version = $"base {k.Kernel}" });
        });
    }

    /// <summary>
    /// An input of diff/lint: a snapshot file (.json), a header file, or a kernel of the corpus (its
    /// committed snapshot, or the cached headers when none is committed).
    /// </summary>
    public static AbiSnapshot Load(Repo repo, HeaderCache cache, string spec, string? baseKernel, IReadOnlyList<CTarget>? targets = null)
    {
        if (File.Exists(spec) && spec.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            return SnapshotJson.Read(File.ReadAllText(spec), spec);
        }

        // A proposal as a diff input (diff v1.patch v2.patch): each over its own declared base.
        if (File.Exists(spec) && (spec.EndsWith(".patch", StringComparison.OrdinalIgnoreCase) || spec.EndsWith(".diff", StringComparison.OrdinalIgnoreCase)))
        {
            return ExtractPatched(repo, cache, baseKernel, spec, null, targets);
        }

        if (File.Exists(spec))
        {
            return ExtractHeader(repo, cache, spec, baseKernel, null, targets ?? CTarget.All);
        }

        var kernel = KernelLock.Load(repo.LockPath).Find(spec).Kernel;
        var committed = repo.SnapshotPath(kernel);
        return File.Exists(committed)
            ? SnapshotJson.Read(File.ReadAllText(committed), committed)
            : ExtractKernel(repo, cache, kernel, CTarget.All);
    }

    /// <summary>
    /// The kernel a patch applies to: the one given (--base), else the one the patch declares
    /// ("base-kernel: K" before the diff), else, when <paramref name="newestByDefault"/>, the newest of
    /// the lock.
    /// </summary>
    public static LockedKernel PatchBase(Repo repo, string patch, string? given, bool newestByDefault)
    {
        if (!File.Exists(patch))
        {
            throw new ToolException($"{patch}: no such patch file");
        }

        var kernelLock = KernelLock.Load(repo.LockPath);
        var k = given ?? UnifiedPatch.DeclaredBase(File.ReadAllText(patch));
        if (k is not null)
        {
            return kernelLock.Find(k);
        }

        return newestByDefault
            ? kernelLock.Find(KernelVersion.Newest(kernelLock.Kernels.Select(x => x.Kernel))!)
            : throw new ToolException($"{patch}: give the kernel the patch applies to with --base KERNEL, or put a 'base-kernel: KERNEL' line before its diff");
    }

    /// <summary>
    /// A proposal: the patch applied to a copy of the base kernel's headers, then extracted like the
    /// kernel. The snapshot's source names the patch, its SHA-256 and the base (docs/op-mmap-proposal.md):
    /// a proposal snapshot must say exactly which text it describes, since no Debian package does.
    /// </summary>
    public static AbiSnapshot ExtractPatched(Repo repo, HeaderCache cache, string? baseKernel, string patch, string? name = null, IReadOnlyList<CTarget>? targets = null)
    {
        var k = PatchBase(repo, patch, baseKernel, newestByDefault: true);
        var files = UnifiedPatch.Parse(File.ReadAllText(patch), patch);
        var source = new HeaderSource
        {
            Kind = "patch",
            Package = repo.Display(patch),
            Version = "sha256:" + FileHash.Sha256(patch),
            Suite = $"base {k.Kernel} ({KernelLock.PackageName} {k.Version})",
        };
        return OnCopyOfBase(cache, k, (temp, baseRoot) =>
        {
            UnifiedPatch.ApplyToTree(temp, files, patch, $"kernel {k.Kernel}");
            var tree = new IncludeTree(temp, displayRoot: $"({k.Kernel} + {Path.GetFileName(patch)})", baseRoot: baseRoot);
            return Extractor.Extract(tree, targets ?? CTarget.All, name ?? $"{k.Kernel}+{Path.GetFileNameWithoutExtension(patch)}", source);
        });
    }

    /// <summary>
    /// Runs <paramref name="use"/> on a temporary overlay of a kernel's cached include tree (removed
    /// afterwards): a folder holding copies of the base's io_uring headers, the only files a header or a
    /// patch replaces (UnifiedPatch keeps patches to linux/io_uring.h and linux/io_uring/), searched
    /// before the cached tree itself. Copying all of linux-libc-dev, over a thousand files, was most of
    /// the time of an 'extract --header' on a disk with slow metadata operations. Only a quoted include
    /// from a base header next to io_uring.h ("io_uring.h" from linux/x.h) would still see the base's
    /// copy; no header of linux-libc-dev includes an io_uring header at all.
    /// </summary>
    private static AbiSnapshot OnCopyOfBase(HeaderCache cache, LockedKernel k, Func<string, string, AbiSnapshot> use)
    {
        var baseTree = cache.TryGetVerified(k, out var problem)
            ?? throw new ToolException($"the base include tree is not available: {problem}; run 'headers fetch --locked'");
        var temp = Path.Combine(Path.GetTempPath(), $"io_uring-codegen-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(Path.Combine(temp, "linux"));
            File.Copy(Path.Combine(baseTree.Root, "linux", "io_uring.h"), Path.Combine(temp, "linux", "io_uring.h"));
            var subHeaders = Path.Combine(baseTree.Root, "linux", "io_uring");
            if (Directory.Exists(subHeaders))
            {
                CopyTree(subHeaders, Path.Combine(temp, "linux", "io_uring"));
            }

            return use(temp, baseTree.Root);
        }
        finally
        {
            if (Directory.Exists(temp))
            {
                Directory.Delete(temp, true);
            }
        }
    }

    /// <summary>The corpus's committed snapshots, oldest kernel first.</summary>
    public static List<AbiSnapshot> Corpus(Repo repo) =>
        KernelLock.Load(repo.LockPath).Kernels.OrderBy(k => k.Kernel, KernelVersion.Order)
            .Select(k => repo.SnapshotPath(k.Kernel))
            .Where(File.Exists)
            .Select(p => SnapshotJson.Read(File.ReadAllText(p), p))
            .ToList();

    public static string Summary(AbiSnapshot s) =>
        $"{s.Source.Package ?? s.Source.Kind} {s.Source.Version}: {s.Records.Count} records ({s.Records.Count(r => r.IsAnonymous)} anonymous), {s.Enums.Count} enums, {s.Typedefs.Count} typedefs, {s.Macros.Count} macros ({s.SkippedMacros.Count} skipped), {s.Targets.Count} targets";

    private static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var dest = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
            File.Copy(file, dest);
        }
    }
}
