using System.Collections.Concurrent;
using System.Text;
using IoUring.Abi.Clang;
using IoUring.Abi.Diff;
using IoUring.Abi.Headers;
using IoUring.Abi.Model;

namespace IoUring.Abi.Cli;

/// <summary>How one header of the trees compares (diff --all).</summary>
internal sealed record HeaderDiff(
    string Header,
    HeaderState State,
    IReadOnlyList<Change> Changes,
    IReadOnlyList<string> ComparedTargets,
    IReadOnlyDictionary<string, string> OldFailures,
    IReadOnlyDictionary<string, string> NewFailures)
{
    public int ExitCode => new Report(string.Empty, string.Empty, ComparedTargets, Changes).ExitCode;
}

internal enum HeaderState
{
    /// <summary>In both trees, and compared on at least one target or changed whether it compiles alone.</summary>
    Compared,

    /// <summary>Only in the newer tree.</summary>
    Added,

    /// <summary>Only in the older tree.</summary>
    Removed,

    /// <summary>In both trees, but no target compiles it alone in both.</summary>
    Skipped,
}

/// <summary>The result of comparing every UAPI header of two kernels' trees.</summary>
internal sealed record TreeDiffResult(string Old, string New, IReadOnlyList<CTarget> Targets, IReadOnlyList<HeaderDiff> Headers, int OldCount, int NewCount)
{
    public int ExitCode => Headers.Aggregate(0, (code, h) => code | h.ExitCode);
}

/// <summary>
/// diff --all: every UAPI header of two kernels, each extracted on its own (a translation unit that
/// includes just it, as check-uapi.sh compiles each header) and compared with the same classes as
/// io_uring's diff. A header that does not compile alone on a target is not compared there, and is
/// listed with the compiler's first error; one whose declarations differ between targets (asm/
/// headers, or headers that include them) is extracted and compared target by target.
/// </summary>
internal static class TreeDiff
{
    public static TreeDiffResult Run(string oldKernel, IncludeTree oldTree, string newKernel, IncludeTree newTree, IReadOnlyList<CTarget> targets)
    {
        var oldHeaders = UapiHeaders.List(oldTree.Root);
        var newHeaders = UapiHeaders.List(newTree.Root);
        var all = oldHeaders.Union(newHeaders).Order(StringComparer.Ordinal).ToList();
        var oldSet = oldHeaders.ToHashSet(StringComparer.Ordinal);
        var newSet = newHeaders.ToHashSet(StringComparer.Ordinal);
        var results = new HeaderDiff[all.Count];

        // Headers are independent; the extractor parallelises each header's targets too, so the machine's
        // cores stay busy through headers that fail fast.
        var oldTexts = new IncludeTexts(oldTree.Root);
        var newTexts = new IncludeTexts(newTree.Root);
        Parallel.For(0, all.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
        {
            var h = all[i];
            var before = oldSet.Contains(h) ? ExtractAlone(oldTree, oldKernel, h, targets) : null;

            // The same bytes in every file the header can reach give the same facts: extracting the
            // newer copy would only prove that again. Its failures are the older copy's.
            var same = before is not null && newSet.Contains(h) && oldTexts.Closure(h).SequenceEqual(newTexts.Closure(h));
            var after = same ? before : newSet.Contains(h) ? ExtractAlone(newTree, newKernel, h, targets) : null;
            results[i] = same ? Unchanged(h, before!, targets) : Compare(h, before, after, targets);
        });

        return new TreeDiffResult(oldKernel, newKernel, targets, results, oldHeaders.Count, newHeaders.Count);
    }

    /// <summary>One kernel's extraction of a header: one snapshot per target that compiles it alone, the first error of each that does not.</summary>
    private sealed record Extracted(Dictionary<string, AbiSnapshot> ByTarget, AbiSnapshot? AllTargets, Dictionary<string, string> Failures);

    private static Extracted ExtractAlone(IncludeTree tree, string kernel, string header, IReadOnlyList<CTarget> targets)
    {
        var alone = new IncludeTree(tree.Root, roots: [header]);
        var source = new HeaderSource { Kind = "debian", Package = KernelLock.PackageName };
        try
        {
            var snap = Extractor.Extract(alone, targets, kernel, source);
            return new Extracted(new(), snap, new());
        }
        catch (FrontEndException)
        {
            // One target fails, or the targets declare different things: each target on its own.
        }

        var byTarget = new Dictionary<string, AbiSnapshot>(StringComparer.Ordinal);
        var failures = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var t in targets)
        {
            if (!File.Exists(tree.Resolve(header, t)))
            {
                failures[t.Triple] = $"{header} is not in this target's asm/ folder";
                continue;
            }

            try
            {
                byTarget[t.Triple] = Extractor.Extract(alone, [t], kernel, source);
            }
            catch (FrontEndException e)
            {
                failures[t.Triple] = FirstError(e.Message, tree.Root);
            }
        }

        return new Extracted(byTarget, null, failures);
    }

    // The extractor's message lists the errors after a summary line; the first one says why.
    private static string FirstError(string message, string root)
    {
        var lines = message.Split('\n');
        var first = lines.Skip(1).FirstOrDefault(l => l.Contains("error:", StringComparison.Ordinal))?.Trim() ?? lines[0];
        return first.Replace(root + "/", string.Empty, StringComparison.Ordinal);
    }

    private static HeaderDiff Unchanged(string header, Extracted both, IReadOnlyList<CTarget> targets)
    {
        var compiles = both.AllTargets is not null ? targets.Select(t => t.Triple).ToList() : targets.Select(t => t.Triple).Where(both.ByTarget.ContainsKey).ToList();
        return new HeaderDiff(header, compiles.Count == 0 ? HeaderState.Skipped : HeaderState.Compared, [], compiles, both.Failures, both.Failures);
    }

    private static HeaderDiff Compare(string header, Extracted? before, Extracted? after, IReadOnlyList<CTarget> targets)
    {
        var none = new Dictionary<string, string>();
        var where = new SourceLocation(header, 1);
        if (before is null)
        {
            return new HeaderDiff(header, HeaderState.Added, [new Change(0, Severity.Compat, header, "header added", where)], [], none, after!.Failures);
        }

        if (after is null)
        {
            return new HeaderDiff(header, HeaderState.Removed, [new Change(1, Severity.Break, header, "header removed", where)], [], before.Failures, none);
        }

        if (before.AllTargets is not null && after.AllTargets is not null)
        {
            var report = AbiComparer.Compare(before.AllTargets, after.AllTargets);
            return new HeaderDiff(header, HeaderState.Compared, report.Changes, targets.Select(t => t.Triple).ToList(), none, none);
        }

        AbiSnapshot? On(Extracted e, string triple) =>
            e.AllTargets is not null ? e.AllTargets : e.ByTarget.GetValueOrDefault(triple);

        var compared = new List<string>();
        var changes = new List<Change>();
        foreach (var t in targets.Select(t => t.Triple))
        {
            var a = On(before, t);
            var b = On(after, t);
            if (a is not null && b is not null)
            {
                compared.Add(t);
                changes.AddRange(AbiComparer.Compare(a, b, [t]).Changes.Select(c => c with { Targets = [t] }));
            }
            else if (a is not null)
            {
                changes.Add(new Change(1, Severity.Risk, header, $"no longer compiles alone: {after.Failures[t]}", where, Fix: "a UAPI header should include what it uses", Targets: [t]));
            }
            else if (b is not null)
            {
                changes.Add(new Change(0, Severity.Info, header, "now compiles alone", where, Targets: [t]));
            }
        }

        // A header that stopped (or started) compiling alone has a change to show even where nothing
        // could be compared; skipped means there is nothing to say about it.
        var state = compared.Count == 0 && changes.Count == 0 ? HeaderState.Skipped : HeaderState.Compared;
        return new HeaderDiff(header, state, MergeTargets(changes, targets), compared, before.Failures, after.Failures);
    }

    /// <summary>Changes found target by target, each said once with the targets that say it (none when every target does).</summary>
    private static List<Change> MergeTargets(List<Change> perTarget, IReadOnlyList<CTarget> targets)
    {
        return perTarget
            .GroupBy(c => (c.Class, c.Severity, c.Name, c.Message))
            .Select(g =>
            {
                var on = targets.Select(t => t.Triple).Where(t => g.Any(c => c.Targets!.Contains(t))).ToList();
                return g.First() with { Targets = on.Count == targets.Count ? null : on };
            })
            .OrderByDescending(c => c.Severity)
            .ThenBy(c => c.Class)
            .ThenBy(c => c.Name, StringComparer.Ordinal)
            .ThenBy(c => c.Message, StringComparer.Ordinal)
            .ToList();
    }

    public static string Text(TreeDiffResult r, bool color)
    {
        var sb = new StringBuilder();
        sb.Append($"ABI diff of every UAPI header: {r.Old} -> {r.New} ({string.Join(", ", r.Targets.Select(t => t.ShortName))})\n");
        foreach (var h in r.Headers.Where(h => h.Changes.Count > 0))
        {
            var on = h.State == HeaderState.Compared && h.ComparedTargets.Count > 0 && h.ComparedTargets.Count < r.Targets.Count
                ? $", compared on {string.Join(", ", h.ComparedTargets.Select(Short))}" : string.Empty;
            sb.Append($"\n== {h.Header} ({Count(h.Changes.Count, "change")}{on})\n");
            foreach (var c in h.Changes)
            {
                sb.Append(ReportWriter.Line(c, color));
            }
        }

        Failures(sb, r);
        sb.Append('\n').Append(Totals(r)).Append('\n');
        sb.Append(ReportWriter.Summary(new Report(r.Old, r.New, r.Targets.Select(t => t.Triple).ToList(), r.Headers.SelectMany(h => h.Changes).ToList()))).Append('\n');
        return sb.ToString();
    }

    private static void Failures(StringBuilder sb, TreeDiffResult r)
    {
        var failing = r.Headers.Where(h => h.OldFailures.Count + h.NewFailures.Count > 0).ToList();
        if (failing.Count == 0)
        {
            return;
        }

        sb.Append($"\nnot compared where they do not compile alone ({Count(failing.Count, "header")}; {r.Headers.Count(h => h.State == HeaderState.Skipped)} on no target):\n");
        foreach (var h in failing)
        {
            // One line per distinct reason, naming the kernels and targets it holds for.
            var reasons = h.OldFailures.Select(f => (Kernel: r.Old, Target: f.Key, Why: f.Value))
                .Concat(h.NewFailures.Select(f => (Kernel: r.New, Target: f.Key, Why: f.Value)))
                .GroupBy(x => x.Why)
                .Select(g => $"{string.Join(", ", g.Select(x => x.Kernel).Distinct())} on {string.Join(", ", g.Select(x => x.Target).Distinct().Select(Short))}: {g.Key}");
            sb.Append($"  {h.Header}{(h.State == HeaderState.Skipped ? " (skipped)" : string.Empty)}\n");
            foreach (var reason in reasons)
            {
                sb.Append($"      {reason}\n");
            }
        }
    }

    public static string Totals(TreeDiffResult r)
    {
        string Kernel(string k, int count, Func<HeaderDiff, IReadOnlyDictionary<string, string>?> failures)
        {
            var present = r.Headers.Select(failures).Where(f => f is not null).ToList();
            var everywhere = present.Count(f => f!.Count == 0);
            var nowhere = present.Count(f => f!.Count == r.Targets.Count);
            return $"{k}: {count} headers, {everywhere} compile alone on every target, {count - everywhere - nowhere} on some, {nowhere} on none";
        }

        var changed = r.Headers.Count(h => h.State == HeaderState.Compared && h.Changes.Count > 0);
        var unchanged = r.Headers.Count(h => h.State == HeaderState.Compared && h.Changes.Count == 0);
        return string.Join("\n", new[]
        {
            Kernel(r.Old, r.OldCount, h => h.State == HeaderState.Added ? null : h.OldFailures),
            Kernel(r.New, r.NewCount, h => h.State == HeaderState.Removed ? null : h.NewFailures),
            $"headers: {changed} changed, {unchanged} unchanged, {r.Headers.Count(h => h.State == HeaderState.Added)} added, {r.Headers.Count(h => h.State == HeaderState.Removed)} removed, {r.Headers.Count(h => h.State == HeaderState.Skipped)} skipped (compile alone on no target in both)",
        });
    }

    public static string Markdown(TreeDiffResult r)
    {
        var sb = new StringBuilder();
        sb.Append($"## ABI diff of every UAPI header: {r.Old} → {r.New}\n\n");
        sb.Append(string.Join("  \n", Totals(r).Split('\n'))).Append("\n\n");
        foreach (var h in r.Headers.Where(h => h.Changes.Count > 0))
        {
            sb.Append($"### {h.Header}\n\n");
            sb.Append(ReportWriter.Markdown(new Report(r.Old, r.New, h.ComparedTargets, h.Changes), h.Header).Split('\n', 3)[2]).Append('\n');
        }

        var failing = new StringBuilder();
        Failures(failing, r);
        if (failing.Length > 0)
        {
            sb.Append("```text").Append(failing).Append("```\n");
        }

        return sb.ToString();
    }

    public static string Json(TreeDiffResult r)
    {
        JsonNode Failures(IReadOnlyDictionary<string, string> f) =>
            new JsonArray(f.OrderBy(x => x.Key, StringComparer.Ordinal).Select(x => (JsonNode)new JsonObject().Add("target", new JsonString(x.Key)).Add("error", new JsonString(x.Value))));

        var root = new JsonObject()
            .Add("kind", new JsonString("diff-all"))
            .Add("old", new JsonString(r.Old))
            .Add("new", new JsonString(r.New))
            .Add("targets", new JsonArray(r.Targets.Select(t => (JsonNode)new JsonString(t.Triple))))
            .Add("exitCode", new JsonNumber(r.ExitCode))
            .Add("headers", new JsonArray(r.Headers.Select(h => (JsonNode)new JsonObject()
                .Add("header", new JsonString(h.Header))
                .Add("state", new JsonString(h.State.ToString().ToLowerInvariant()))
                .Add("comparedTargets", new JsonArray(h.ComparedTargets.Select(t => (JsonNode)new JsonString(t))))
                .Add("oldFailures", Failures(h.OldFailures))
                .Add("newFailures", Failures(h.NewFailures))
                .Add("changes", ReportWriter.ChangesJson(h.Changes)))));
        return JsonText.Write(root);
    }

    private static string Short(string triple) => CTarget.All.FirstOrDefault(c => c.Triple == triple)?.ShortName ?? triple;

    private static string Count(int n, string what) => $"{n} {what}{(n == 1 ? string.Empty : "s")}";
}

/// <summary>
/// The files an #include can reach from a header, with their SHA-256s: followed through every
/// target's asm/ folder and the including file's own folder, under every #if branch, so two trees
/// whose closures are equal give a header the same text on every target.
/// </summary>
internal sealed class IncludeTexts
{
    private static readonly System.Text.RegularExpressions.Regex Include = new(@"^\s*#\s*include\s*([<""])([^>""]+)[>""]", System.Text.RegularExpressions.RegexOptions.Multiline | System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    private readonly string root;
    private readonly ConcurrentDictionary<string, (string Sha256, List<(bool Quoted, string Name)> Includes)?> files = new(StringComparer.Ordinal);

    public IncludeTexts(string root) => this.root = root;

    public List<string> Closure(string header)
    {
        var found = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var work = new Queue<string>(Candidates(header, null));
        while (work.Count > 0)
        {
            var rel = work.Dequeue();
            if (found.ContainsKey(rel) || Read(rel) is not { } file)
            {
                continue;
            }

            found[rel] = file.Sha256;
            foreach (var (quoted, name) in file.Includes)
            {
                foreach (var c in Candidates(name, quoted ? Path.GetDirectoryName(rel) : null))
                {
                    work.Enqueue(c);
                }
            }
        }

        return found.Select(f => $"{f.Value}  {f.Key}").ToList();
    }

    private IEnumerable<string> Candidates(string name, string? quotedFrom)
    {
        if (quotedFrom is not null)
        {
            yield return Path.Combine(quotedFrom, name).Replace(Path.DirectorySeparatorChar, '/');
        }

        yield return name;
        foreach (var t in CTarget.All)
        {
            yield return $"{t.MultiarchDir}/{name}";
        }
    }

    private (string Sha256, List<(bool Quoted, string Name)> Includes)? Read(string rel) => files.GetOrAdd(rel, r =>
    {
        var path = Path.GetFullPath(Path.Combine(root, r));
        if (!path.StartsWith(root + "/", StringComparison.Ordinal) || !File.Exists(path))
        {
            return null;
        }

        var text = File.ReadAllText(path);
        var includes = Include.Matches(text).Select(m => (m.Groups[1].Value == "\"", m.Groups[2].Value)).ToList();
        return (FileHash.Sha256(path), includes);
    });
}
