using System.CommandLine;
using IoUring.Abi.Clang;
using IoUring.Abi.Cli.Fuzzing;
using IoUring.Abi.Diff;
using IoUring.Abi.Headers;
using IoUring.Abi.Model;
using IoUring.Cli;

namespace IoUring.Abi.Cli;

internal static class Commands
{
    public static readonly Option<string?> RepoOption = new("--repo")
    {
        Description = "Repository root (holds headers/kernels.lock.json and generated/abi); default: found upward from the current folder",
        Recursive = true,
    };

    public static readonly Option<string?> CacheOption = new("--cache")
    {
        Description = "Header cache folder (default: $IO_URING_CODEGEN_CACHE or ~/.cache/io_uring-codegen)",
        Recursive = true,
    };

    private static Option<string[]> UapiOption(string description) => new("--uapi")
    {
        Description = description,
        AllowMultipleArgumentsPerToken = true,
    };

    public static Command Headers()
    {
        var locked = new Option<bool>("--locked") { Description = "Fetch exactly the versions in the lock (verify hashes); never change the lock" };
        var kernels = new Option<string[]>("--kernel") { Description = "Only these kernels (repeatable); default: every kernel of the lock", AllowMultipleArgumentsPerToken = true };
        var fetch = new Command("fetch", "Download linux-libc-dev for each kernel of the corpus through the machine's Debian mirror, keep each package's whole UAPI tree (every header under usr/include, the four targets' asm/ folders) in the cache, and update the lock (works offline from the cache).")
        {
            locked, kernels,
        };
        fetch.SetAction(r => Run(r, (stdout, stderr) =>
        {
            var repo = Repo.Find(r.GetValue(RepoOption));
            var kernelLock = KernelLock.Load(repo.LockPath);
            // An installed tool's lock is part of the tool: it fetches what its lock names and never moves it.
            var mode = r.GetValue(locked) || Checkout.IsBundled(repo.Root) ? FetchMode.Locked : FetchMode.Refresh;
            var reports = TerminalProgress.Run("headers fetch", stderr, log => new HeaderFetcher(new HeaderCache(r.GetValue(CacheOption)), log).Fetch(kernelLock, mode, r.GetValue(kernels)));
            foreach (var rep in reports)
            {
                stdout.WriteLine($"{rep.Kernel,-8} {rep.Status,-9} {rep.Detail}");
            }

            if (mode == FetchMode.Refresh && reports.Any(x => x.Changed))
            {
                AtomicFile.WriteAllText(repo.LockPath, kernelLock.ToJson());
                stdout.WriteLine($"lock updated: {Path.GetRelativePath(Environment.CurrentDirectory, repo.LockPath)} ({string.Join(", ", reports.Where(x => x.Changed).Select(x => x.Kernel))})");
            }
            else
            {
                stdout.WriteLine("lock unchanged");
            }

            return 0;
        }));
        return new Command("headers", "The header corpus: kernels of headers/kernels.lock.json and their cached headers.") { fetch };
    }

    public static Command Extract()
    {
        var kernel = new Argument<string?>("kernel") { Description = "A kernel of the lock (e.g. 7.2)", Arity = ArgumentArity.ZeroOrOne };
        var header = new Option<string?>("--header") { Description = "Extract this io_uring.h instead (placed over the base kernel's include tree)" };
        var patch = new Option<string?>("--patch") { Description = "Extract a proposal: this unified diff of include/uapi/linux/io_uring.h applied to a copy of the base kernel's headers" };
        var baseKernel = new Option<string?>("--base") { Description = "With --header: the kernel whose include tree supplies the other headers (default: newest in the lock); with --patch: the kernel it applies to (default: its 'base-kernel:' line, else the newest)" };
        var name = new Option<string?>("--name") { Description = "With --header or --patch: the snapshot's kernel label (default: the header's file name; BASE+PATCHNAME for a patch)" };
        var targets = new Option<string[]>("--target") { Description = "Targets (x86_64, i686, aarch64, arm; comma-separated or repeated); default: all four", AllowMultipleArgumentsPerToken = true };
        var output = new Option<string?>("--output", "-o") { Description = "Write the snapshot here (atomically); default: standard output" };
        var uapi = UapiOption("With a kernel: extract these UAPI headers of its tree instead of io_uring's, named as #include names them (e.g. linux/perf_event.h; repeatable)");
        var cmd = new Command("extract", "Parse one kernel's (or one header's) io_uring UAPI, or any UAPI header of the kernel (--uapi), with libclang into an ABI snapshot.")
        {
            kernel, header, patch, baseKernel, name, targets, output, uapi,
        };
        cmd.SetAction(r => Run(r, (stdout, stderr) =>
        {
            var repo = Repo.Find(r.GetValue(RepoOption));
            var cache = new HeaderCache(r.GetValue(CacheOption));
            var targetList = CTarget.ParseList(r.GetValue(targets) ?? []);
            var k = r.GetValue(kernel);
            var h = r.GetValue(header);
            var p = r.GetValue(patch);
            if (new[] { k, h, p }.Count(x => x is not null) != 1)
            {
                throw new ToolException("give one of: a kernel of the lock (e.g. 'extract 7.2'), --header FILE, or --patch FILE");
            }

            var uapiHeaders = r.GetValue(uapi) ?? [];
            if (uapiHeaders.Length > 0 && k is null)
            {
                throw new ToolException("--uapi names headers of a kernel's tree: give the kernel too (e.g. 'extract 7.2 --uapi linux/perf_event.h')");
            }

            var snapshot = h is not null ? Pipeline.ExtractHeader(repo, cache, h, r.GetValue(baseKernel), r.GetValue(name), targetList)
                : p is not null ? Pipeline.ExtractPatched(repo, cache, r.GetValue(baseKernel), p, r.GetValue(name), targetList)
                : uapiHeaders.Length > 0 ? Pipeline.ExtractUapi(repo, cache, k!, uapiHeaders, targetList)
                : Pipeline.ExtractKernel(repo, cache, k!, targetList);
            var json = SnapshotJson.Write(snapshot);
            if (snapshot.Records.Count + snapshot.Enums.Count + snapshot.Typedefs.Count + snapshot.Macros.Count == 0)
            {
                // Not an error (a header may be emptied on purpose), but never a silent empty snapshot.
                stderr.WriteLine($"warning: {h ?? p ?? k}: the headers declare nothing (no record, enum, typedef or integer macro); the snapshot is empty. Is it the right file?");
            }

            var o = r.GetValue(output);
            if (o is null)
            {
                stdout.Write(json);
            }
            else
            {
                AtomicFile.WriteAllText(o, json);
                stderr.WriteLine($"wrote {o}: {Pipeline.Summary(snapshot)}");
            }

            return 0;
        }));
        return cmd;
    }

    public static Command Generate()
    {
        var check = new Option<bool>("--check") { Description = "Write nothing; exit 2 when a committed snapshot differs from what the headers give (CI freshness check)" };
        var cmd = new Command("generate", "The main job: every kernel of the lock to its snapshot under generated/abi/, and every proposal of headers/proposals/*.patch to generated/abi/proposals/, fetching locked headers that are not cached.") { check };
        cmd.SetAction(r => Run(r, (stdout, stderr) =>
        {
            var checkOnly = r.GetValue(check);
            var repo = Repo.Find(r.GetValue(RepoOption), checkOnly ? null : "the snapshots of generated/abi");
            var cache = new HeaderCache(r.GetValue(CacheOption));
            var kernelLock = KernelLock.Load(repo.LockPath);
            TerminalProgress.Run("fetching the locked headers", stderr, log => new HeaderFetcher(cache, log).Fetch(kernelLock, FetchMode.Locked));
            var changed = new List<string>();

            // Each proposal must name a base of the lock (checked before anything is extracted): a
            // proposal that silently followed the newest kernel would change meaning when the lock gains
            // one. Its name becomes a C# namespace and folder names in the bindings: plain words only.
            var proposals = repo.Proposals().Select(p =>
            {
                if (!System.Text.RegularExpressions.Regex.IsMatch(p.Name, "^[a-z][a-z0-9]*(-[a-z0-9]+)*$"))
                {
                    throw new ToolException($"{repo.Display(p.Patch)}: name a proposal with lower-case words joined by '-' (e.g. op-mmap-v1): the name becomes its bindings' namespace");
                }

                var declared = UnifiedPatch.DeclaredBase(File.ReadAllText(p.Patch))
                    ?? throw new ToolException($"{repo.Display(p.Patch)}: a proposal names the kernel it applies to: add a 'base-kernel: KERNEL' line before its diff (e.g. 'base-kernel: {KernelVersion.Newest(kernelLock.Kernels.Select(x => x.Kernel))}')");
                return (p.Name, p.Patch, Base: kernelLock.Find(declared).Kernel);
            }).ToList();

            void Emit(string label, AbiSnapshot snapshot, string path)
            {
                var json = SnapshotJson.Write(snapshot);
                var same = File.Exists(path) && File.ReadAllText(path) == json;
                if (!same)
                {
                    changed.Add(path);
                    if (!checkOnly)
                    {
                        AtomicFile.WriteAllText(path, json);
                    }
                }

                stdout.WriteLine($"{label,-8} {Pipeline.Summary(snapshot)}  {(same ? "unchanged" : checkOnly ? "STALE" : "written")}");
            }

            foreach (var k in kernelLock.Kernels)
            {
                Emit(k.Kernel, Pipeline.ExtractKernel(repo, cache, k.Kernel, CTarget.All), repo.SnapshotPath(k.Kernel));
            }

            // Proposals are regenerated with the kernels, so a lock update that moves their base, or an
            // edit of the patch, shows up here (and in --check) like any other stale snapshot.
            foreach (var (name, patch, baseKernel) in proposals)
            {
                Emit($"proposals/{name}", Pipeline.ExtractPatched(repo, cache, baseKernel, patch), repo.ProposalSnapshotPath(name));
            }

            // A snapshot whose patch is gone (renamed or dropped) would otherwise stay committed and be
            // built into bindings forever.
            var proposalDir = Path.GetDirectoryName(repo.ProposalSnapshotPath("x"))!;
            var orphans = Directory.Exists(proposalDir)
                ? Directory.GetFiles(proposalDir, "*.json").Order(StringComparer.Ordinal).Where(f => proposals.All(p => p.Name != Path.GetFileNameWithoutExtension(f))).ToList()
                : [];
            foreach (var orphan in orphans)
            {
                changed.Add(orphan);
                if (!checkOnly)
                {
                    File.Delete(orphan);
                }

                stdout.WriteLine($"proposals/{Path.GetFileNameWithoutExtension(orphan)}: no headers/proposals/{Path.GetFileNameWithoutExtension(orphan)}.patch  {(checkOnly ? "STALE" : "removed")}");
            }

            stdout.WriteLine(changed.Count == 0 ? "snapshots changed: none" : $"snapshots changed: {string.Join(", ", changed.Select(c => Path.GetRelativePath(Environment.CurrentDirectory, c)))}");
            if (checkOnly && changed.Count > 0)
            {
                stderr.WriteLine("error: committed snapshots are stale; run 'generate' and commit generated/abi/");
                return 2;
            }

            return 0;
        }));
        return cmd;
    }

    public static Command Show()
    {
        var name = new Argument<string>("name") { Description = "A struct or union (e.g. io_uring_sqe), an enum, a typedef or a macro" };
        var kernel = new Option<string?>("--kernel") { Description = "Kernel of the corpus (default: newest released)" };
        var snapshot = new Option<string?>("--snapshot") { Description = "Read this snapshot file instead" };
        var target = new Option<string?>("--target") { Description = "Show one target only" };
        var uapi = new Option<string?>("--uapi") { Description = "The UAPI header that declares NAME (e.g. linux/perf_event.h); default: io_uring's snapshot, else the header of the kernel's tree that declares it" };
        var cmd = new Command("show", "Print a declaration's layout per target, anonymous members at their offsets (like pahole). Any UAPI declaration: a name io_uring's snapshot lacks is looked up in the kernel's headers.") { name, kernel, snapshot, target, uapi };
        cmd.SetAction(r => Run(r, (stdout, stderr) =>
        {
            var repo = Repo.Find(r.GetValue(RepoOption));
            var file = r.GetValue(snapshot);
            var declName = r.GetValue(name)!;
            var onlyTarget = r.GetValue(target) is string t ? new[] { CTarget.Parse(t) } : CTarget.All;
            if (file is not null)
            {
                if (r.GetValue(uapi) is not null)
                {
                    throw new ToolException("give --snapshot or --uapi, not both: a snapshot already names its headers");
                }

                if (!File.Exists(file))
                {
                    throw new ToolException($"{file}: no such snapshot file");
                }

                stdout.Write(LayoutPrinter.Print(SnapshotJson.Read(File.ReadAllText(file), file), declName, r.GetValue(target)));
                return 0;
            }

            var kernelLock = KernelLock.Load(repo.LockPath);
            var k = r.GetValue(kernel) is string kn ? kernelLock.Find(kn) : kernelLock.NewestReleased();
            var cache = new HeaderCache(r.GetValue(CacheOption));
            if (r.GetValue(uapi) is string header)
            {
                stdout.Write(LayoutPrinter.Print(Pipeline.ExtractUapi(repo, cache, k.Kernel, [header], onlyTarget), declName, r.GetValue(target)));
                return 0;
            }

            file = repo.SnapshotPath(k.Kernel);
            if (!File.Exists(file))
            {
                throw new ToolException($"{file}: no snapshot for kernel {k.Kernel}; run 'generate'");
            }

            var snap = SnapshotJson.Read(File.ReadAllText(file), file);
            if (LayoutPrinter.Declares(snap, declName))
            {
                stdout.Write(LayoutPrinter.Print(snap, declName, r.GetValue(target)));
                return 0;
            }

            // Not io_uring's: the header of the kernel's tree that declares it, confirmed by extracting it.
            var (_, tree) = Pipeline.UapiTree(repo, cache, k.Kernel);
            var candidates = UapiHeaders.Declaring(tree.Root, declName);
            var failures = new List<string>();
            foreach (var candidate in candidates)
            {
                AbiSnapshot found;
                try
                {
                    found = Pipeline.ExtractUapi(repo, cache, k.Kernel, [candidate], onlyTarget);
                }
                catch (FrontEndException e)
                {
                    failures.Add($"{candidate}: {e.Message.Split('\n')[0]}");
                    continue;
                }

                if (LayoutPrinter.Declares(found, declName))
                {
                    stderr.WriteLine($"{declName}: declared in {candidate} (kernel {k.Kernel}); --uapi {candidate} names it directly");
                    stdout.Write(LayoutPrinter.Print(found, declName, r.GetValue(target)));
                    return 0;
                }
            }

            var looked = candidates.Count == 0 ? "no UAPI header of the kernel declares it either"
                : $"the UAPI headers whose text mentions it did not give it: {string.Join("; ", failures.Count > 0 ? failures : candidates)}" + (failures.Count > 0 ? " (try --target to show one target)" : string.Empty);
            // The io_uring snapshot's own message keeps its similar names.
            var notInSnapshot = $"'{declName}' is not declared in io_uring's snapshot of kernel {k.Kernel}";
            try
            {
                LayoutPrinter.Print(snap, declName, r.GetValue(target));
            }
            catch (ToolException e)
            {
                notInSnapshot = e.Message;
            }

            throw new ToolException($"{notInSnapshot}; {looked}");
        }));
        return cmd;
    }

    private static readonly Option<string> FormatOption = new("--format")
    {
        Description = "text (coloured on a terminal), md or json",
        DefaultValueFactory = _ => "text",
    };

    public static Command Diff()
    {
        var older = new Argument<string?>("old") { Description = "Kernel of the corpus (6.12), snapshot file (.json), patch (.patch/.diff, over its base) or header file", Arity = ArgumentArity.ZeroOrOne };
        var newer = new Argument<string?>("new") { Description = "Same kinds as OLD", Arity = ArgumentArity.ZeroOrOne };
        var baseKernel = new Option<string?>("--base") { Description = "With --patch: the kernel the patch applies to (default: its 'base-kernel:' line); with header or patch inputs: their base include tree" };
        var patch = new Option<string?>("--patch") { Description = "A unified diff of include/uapi/linux/io_uring.h: compare the base kernel with the base plus this patch" };
        var targets = new Option<string[]>("--target") { Description = "Compare only these targets (default: every common one)", AllowMultipleArgumentsPerToken = true };
        var uapi = UapiOption("With two kernels: compare these UAPI headers of their trees instead of io_uring's (e.g. linux/perf_event.h; repeatable)");
        var all = new Option<bool>("--all") { Description = "With two kernels: compare every UAPI header of their trees, one section per header; headers that do not compile alone are listed and skipped" };
        var cmd = new Command("diff", "Classify every UAPI change between two kernels, snapshots, headers, or a kernel and a proposed patch; --uapi or --all for any header of the kernels' trees. Exit code: 0 no change, bit 1 compatible additions, bit 2 needs review, bit 4 break; 64 error.")
        {
            older, newer, baseKernel, patch, targets, uapi, all, FormatOption,
        };
        cmd.SetAction(r => Run(
            r,
            (stdout, stderr) =>
            {
                var repo = Repo.Find(r.GetValue(RepoOption));
                var cache = new HeaderCache(r.GetValue(CacheOption));
                var uapiHeaders = r.GetValue(uapi) ?? [];
                if (r.GetValue(all) || uapiHeaders.Length > 0)
                {
                    var o = r.GetValue(older);
                    var n = r.GetValue(newer);
                    if (o is null || n is null || r.GetValue(patch) is not null)
                    {
                        throw new ToolException($"{(r.GetValue(all) ? "--all" : "--uapi")} compares two kernels of the corpus: e.g. 'diff 6.12 7.2 {(r.GetValue(all) ? "--all" : "--uapi linux/perf_event.h")}'");
                    }

                    if (r.GetValue(all) && uapiHeaders.Length > 0)
                    {
                        throw new ToolException("give --all or --uapi HEADER, not both");
                    }

                    var compared = CTarget.ParseList(r.GetValue(targets) ?? []);
                    if (uapiHeaders.Length > 0)
                    {
                        var ra = AbiComparer.Compare(Pipeline.ExtractUapi(repo, cache, o, uapiHeaders, compared), Pipeline.ExtractUapi(repo, cache, n, uapiHeaders, compared));
                        stdout.Write(Render(ra, "ABI diff", "diff", r.GetValue(FormatOption)!, stdout));
                        return ra.ExitCode;
                    }

                    var (ka, treeA) = Pipeline.UapiTree(repo, cache, o);
                    var (kb, treeB) = Pipeline.UapiTree(repo, cache, n);
                    var tree = TreeDiff.Run(ka.Kernel, treeA, kb.Kernel, treeB, compared);
                    stdout.Write(RenderTree(tree, r.GetValue(FormatOption)!, stdout));
                    return tree.ExitCode;
                }

                AbiSnapshot a, b;
                if (r.GetValue(patch) is string p)
                {
                    var k = Pipeline.PatchBase(repo, p, r.GetValue(baseKernel) ?? r.GetValue(older), newestByDefault: false).Kernel;
                    a = Pipeline.Load(repo, cache, k, null);
                    b = Pipeline.ExtractPatched(repo, cache, k, p);
                }
                else
                {
                    var o = r.GetValue(older) ?? throw new ToolException("give two inputs (e.g. 'diff 6.12 7.2') or --base KERNEL --patch FILE");
                    var n = r.GetValue(newer) ?? throw new ToolException($"give the second input to compare with {o}");

                    // Header inputs are extracted for the compared targets only.
                    var only = (r.GetValue(targets) ?? []).Length == 0 ? null : CTarget.ParseList(r.GetValue(targets)!);
                    a = Pipeline.Load(repo, cache, o, r.GetValue(baseKernel), only);
                    b = Pipeline.Load(repo, cache, n, r.GetValue(baseKernel), only);
                }

                var targetList = (r.GetValue(targets) ?? []).Length == 0 ? null : CTarget.ParseList(r.GetValue(targets)!).Select(t => t.Triple).ToList();
                var report = AbiComparer.Compare(a, b, targetList);
                stdout.Write(Render(report, "ABI diff", "diff", r.GetValue(FormatOption)!, stdout));
                return report.ExitCode;
            },
            Report.ExitError));
        return cmd;
    }

    public static Command Lint()
    {
        var input = new Argument<string?>("input") { Description = "Kernel of the corpus, snapshot file (.json), patch (.patch/.diff, the whole patched header) or header file", Arity = ArgumentArity.ZeroOrOne };
        var baseKernel = new Option<string?>("--base") { Description = "With --patch: the kernel the patch applies to (default: its 'base-kernel:' line, else the newest in the lock)" };
        var patch = new Option<string?>("--patch") { Description = "Lint what this unified diff of io_uring.h adds or changes" };
        var uapi = UapiOption("With a kernel: lint these UAPI headers of its tree instead of io_uring's (e.g. linux/perf_event.h; repeatable)");
        var cmd = new Command("lint", "Check the kernel's UAPI rules: pointers, long, plain int, enums, bitfields, per-target layouts, padding holes, sizes, reserved space, shared flag bits. Exit code as for diff.")
        {
            input, baseKernel, patch, uapi, FormatOption,
        };
        cmd.SetAction(r => Run(
            r,
            (stdout, stderr) =>
            {
                var repo = Repo.Find(r.GetValue(RepoOption));
                var cache = new HeaderCache(r.GetValue(CacheOption));
                Report report;
                var uapiHeaders = r.GetValue(uapi) ?? [];
                if (uapiHeaders.Length > 0)
                {
                    var kernel = r.GetValue(input);
                    if (kernel is null || r.GetValue(patch) is not null)
                    {
                        throw new ToolException("--uapi lints headers of a kernel's tree: give the kernel (e.g. 'lint 7.2 --uapi linux/perf_event.h')");
                    }

                    report = UapiLint.Run(Pipeline.ExtractUapi(repo, cache, kernel, uapiHeaders, CTarget.All));
                }
                else if (r.GetValue(patch) is string p)
                {
                    var k = Pipeline.PatchBase(repo, p, r.GetValue(baseKernel), newestByDefault: true).Kernel;
                    var before = Pipeline.Load(repo, cache, k, null);
                    var after = Pipeline.ExtractPatched(repo, cache, k, p);

                    // Only what the patch touches: the declarations its diff names.
                    var touched = AbiComparer.Compare(before, after).Changes.Select(c => c.Name.Split('.')[0]).ToHashSet(StringComparer.Ordinal);
                    report = UapiLint.Run(after, touched);
                }
                else
                {
                    var spec = r.GetValue(input) ?? throw new ToolException("give a kernel, snapshot or header to lint, or --patch FILE");
                    report = UapiLint.Run(Pipeline.Load(repo, cache, spec, r.GetValue(baseKernel)));
                }

                stdout.Write(Render(report, "UAPI lint", "lint", r.GetValue(FormatOption)!, stdout));
                return report.ExitCode;
            },
            Report.ExitError));
        return cmd;
    }

    public static Command Timeline()
    {
        var name = new Argument<string?>("name") { Description = "A struct, field (struct.field), enum, enumerator, macro or typedef; default: the whole table", Arity = ArgumentArity.ZeroOrOne };
        var cmd = new Command("timeline", "The first and last kernel of the corpus that has each declaration.") { name, FormatOption };
        cmd.SetAction(r => Run(r, (stdout, stderr) =>
        {
            var repo = Repo.Find(r.GetValue(RepoOption));
            var corpus = Pipeline.Corpus(repo);
            var entries = IoUring.Abi.Diff.Timeline.Build(corpus);
            var format = r.GetValue(FormatOption)!;
            if (r.GetValue(name) is string n)
            {
                var hits = entries.Where(e => e.Name == n).ToList();
                if (hits.Count == 0)
                {
                    var near = entries.Where(e => e.Name.Contains(n, StringComparison.OrdinalIgnoreCase)).Take(8).Select(e => e.Name).ToList();
                    throw new ToolException($"'{n}' is in no kernel of the corpus ({string.Join(", ", corpus.Select(s => s.Kernel))})" + (near.Count > 0 ? $"; similar names: {string.Join(", ", near)}" : string.Empty));
                }

                entries = hits;
                if (format == "text")
                {
                    foreach (var e in hits)
                    {
                        stdout.WriteLine($"{e.Name} ({e.Kind}): first in {e.First}, last in {e.Last}{(e.InNewest ? " (the newest kernel of the corpus)" : string.Empty)}");
                    }

                    return 0;
                }
            }

            stdout.Write(format == "json" ? IoUring.Abi.Diff.Timeline.Json(entries) : IoUring.Abi.Diff.Timeline.Markdown(entries));
            return 0;
        }));
        return cmd;
    }

    public static Command Fuzz()
    {
        var seed = new Option<ulong>("--seed") { Description = "Seed of the mutants: the same seed gives the same mutants and the same report", DefaultValueFactory = _ => 1 };
        var mutants = new Option<long>("--mutants") { Description = "How many mutants to run", DefaultValueFactory = _ => 10000 };
        var from = new Option<long>("--from") { Description = "Index of the first mutant (a reproducer runs one: --from N --mutants 1)", DefaultValueFactory = _ => 0 };
        var baseKernel = new Option<string?>("--base") { Description = "Kernel whose include tree the mutants are placed over and whose io_uring.h the patches change (default: the newest in the lock, as for extract --header)" };
        var outDir = new Option<string>("--out") { Description = "Folder for the reproducers of failing mutants (its mutant-* folders are replaced)", DefaultValueFactory = _ => "fuzz-findings" };
        var timeout = new Option<string>("--timeout") { Description = "Deadline of one command on one mutant (e.g. 10s, 500ms, 2m); past it the mutant counts as a hang", DefaultValueFactory = _ => "10s" };
        var processEvery = new Option<int>("--process-check-every") { Description = "Also run every Nth mutant's commands as real processes (0: only failing mutants)", DefaultValueFactory = _ => 100 };
        var recheckEvery = new Option<int>("--recheck-every") { Description = "Run every Nth mutant's successful extract and diff twice and compare the bytes (0: never)", DefaultValueFactory = _ => 20 };
        var worker = new Option<bool>("--worker") { Description = "Run the mutants in this process and report each on stdout (used by the fuzz command itself)", Hidden = true };
        var cmd = new Command("fuzz", "Mutate the corpus's io_uring headers (bytes, tokens, deleted and duplicated lines, nested includes) and run extract, diff and lint on each mutant: no crash, no hang, no output on error, every error naming file:line. Exit code 2 when anything is found; each failing mutant is saved with its reproducer.")
        {
            seed, mutants, from, baseKernel, outDir, timeout, processEvery, recheckEvery, worker,
        };
        cmd.SetAction(r => Run(r, (stdout, stderr) =>
        {
            var repo = Repo.Find(r.GetValue(RepoOption));
            var cache = new HeaderCache(r.GetValue(CacheOption));
            var kernelLock = KernelLock.Load(repo.LockPath);
            var k = r.GetValue(baseKernel) is string given ? kernelLock.Find(given) : kernelLock.Find(KernelVersion.Newest(kernelLock.Kernels.Select(x => x.Kernel))!);
            var count = r.GetValue(mutants);
            var first = r.GetValue(from);
            if (count < 1 || first < 0)
            {
                throw new ToolException($"--mutants must be at least 1 and --from at least 0 (got {count} and {first})");
            }

            var options = new FuzzOptions(
                r.GetValue(seed), first, count, k.Kernel, Path.GetFullPath(r.GetValue(outDir)!), ParseDuration(r.GetValue(timeout)!, "--timeout"),
                Math.Max(0, r.GetValue(processEvery)), Math.Max(0, r.GetValue(recheckEvery)), repo.Root, cache.Root);
            var session = new FuzzSession(options, FuzzCorpus.Load(kernelLock, cache, k.Kernel), stdout, stderr);
            return r.GetValue(worker) ? session.Work() : session.Supervise();
        }));
        return cmd;
    }

    /// <summary>"10s", "500ms", "2m", or a number of seconds.</summary>
    internal static TimeSpan ParseDuration(string text, string option)
    {
        var m = System.Text.RegularExpressions.Regex.Match(text.Trim(), @"^(\d+(?:\.\d+)?)(ms|s|m)?$", System.Text.RegularExpressions.RegexOptions.CultureInvariant);
        if (!m.Success)
        {
            throw new ToolException($"{option} '{text}': give a duration such as 10s, 500ms or 2m");
        }

        var value = double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var span = m.Groups[2].Value switch
        {
            "ms" => TimeSpan.FromMilliseconds(value),
            "m" => TimeSpan.FromMinutes(value),
            _ => TimeSpan.FromSeconds(value),
        };
        return span > TimeSpan.Zero ? span : throw new ToolException($"{option} '{text}': the deadline must be longer than zero");
    }

    private static string Render(Report report, string title, string kind, string format, TextWriter stdout) => format switch
    {
        "md" or "markdown" => ReportWriter.Markdown(report, title),
        "json" => ReportWriter.Json(report, kind),

        // Colour only on a real terminal: a report captured in a file or by the fuzzer stays plain.
        "text" => ReportWriter.Text(report, title, color: stdout == Console.Out && !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("NO_COLOR") is null),
        _ => throw new ToolException($"unknown --format '{format}'; use text, md or json"),
    };

    private static string RenderTree(TreeDiffResult result, string format, TextWriter stdout) => format switch
    {
        "md" or "markdown" => TreeDiff.Markdown(result),
        "json" => TreeDiff.Json(result),
        "text" => TreeDiff.Text(result, color: stdout == Console.Out && !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("NO_COLOR") is null),
        _ => throw new ToolException($"unknown --format '{format}'; use text, md or json"),
    };

    /// <summary>
    /// Runs a command's body with the invocation's writers (the console, or the fuzzer's buffers when
    /// it runs the commands in process), turning the errors a user can act on into "error: ...".
    /// </summary>
    private static int Run(ParseResult r, Func<TextWriter, TextWriter, int> body, int errorCode = 1)
    {
        var stdout = r.InvocationConfiguration.Output;
        var stderr = r.InvocationConfiguration.Error;
        try
        {
            return body(stdout, stderr);
        }
        catch (Exception e) when (e is ToolException or IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"error: {e.Message}");
            return errorCode;
        }
    }
}
