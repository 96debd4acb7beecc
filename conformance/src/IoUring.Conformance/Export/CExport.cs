using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using IoUring.Abi.Model;
using IoUring.Engine;

namespace IoUring.Conformance;

/// <summary>
/// A program of the suite and what a kernel should do with it, ready to become a standalone C file:
/// <see cref="Expected"/> is the trace to check (a kernel's recording, or the engine's run for a
/// correct kernel), <see cref="Ready"/> the CQ slots the engine had ready at each settle point (how
/// long a step waits for completions from io-wq), <see cref="PollMixedWaits"/> whether waits on a
/// CQE_MIXED ring are made by polling, as the runner did on a kernel whose wait can spin there.
/// </summary>
public sealed record CReproducer(
    string Title,
    IReadOnlyList<string> About,
    RingProgram Program,
    ProgramTrace Expected,
    IReadOnlyList<uint> Ready,
    bool PollMixedWaits)
{
    /// <summary>Whether io_uring_params are checked in full (sizes and offsets) or for the features only.</summary>
    public bool CheckParams { get; init; } = true;

    /// <summary>A recorded program: the kernel's own trace is what the C file checks.</summary>
    public static CReproducer FromRecording(CorpusEntry entry, CorpusHeader header)
    {
        var engine = Differential.Engine(entry.Program, header.Profile);
        return new CReproducer(
            $"io_uring program \"{entry.Name}\", as kernel {header.Kernel} ({header.Release}) ran it",
            [
                $"The program comes from the conformance suite's trace corpus ({header.Kernel}, recorded {(header.Where == "host" ? "on the host" : "under qemu")}).",
                "Every check below compares what the kernel does with what that kernel did when the program was recorded.",
            ],
            entry.Program,
            entry.Trace,
            engine.Ready,
            header.Profile.MixedOverflowWaitSpins);
    }

    /// <summary>A program checked against the reference engine given <paramref name="profile"/> (a kernel's, or a correct kernel's).</summary>
    public static CReproducer FromEngine(string title, IReadOnlyList<string> about, RingProgram program, KernelProfile profile, bool pollMixedWaits)
    {
        var run = Differential.Engine(program, profile);
        return new CReproducer(title, about, program, run.Trace, run.Ready, pollMixedWaits);
    }
}

/// <summary>
/// Turns a conformance program into one C file a kernel developer can build and run alone: the same
/// syscalls the runner makes, with raw syscall(2) and &lt;linux/io_uring.h&gt;, each result checked
/// against the expected trace, exit 0 (pass), 1 (fail, with the first difference printed) or 77 (skip:
/// the kernel lacks a feature the program needs). The helpers the program uses come from
/// reproducer-runtime.c (embedded), section by section, so a file carries no code it does not run.
/// The C follows <see cref="Runner"/> step for step; where the runner decides at run time (does this
/// step wait for io-wq?), the expected trace already says what it decided.
/// </summary>
public static partial class CExport
{
    /// <summary>The C file for <paramref name="r"/>. <paramref name="headers"/>: the corpus's snapshots, oldest first, which say from which kernel on linux/io_uring.h has every name the file uses.</summary>
    public static string Write(CReproducer r, IReadOnlyList<AbiSnapshot> headers)
    {
        if (r.Expected.Error is { } error)
        {
            throw new ToolException($"the expected trace ends in an error ({error}): there is nothing to check the kernel against; record the program again");
        }

        if (r.Expected.Setup >= 0 && r.Expected.Steps.Length != r.Program.Steps.Length)
        {
            throw new ToolException($"the expected trace has {r.Expected.Steps.Length} steps and the program {r.Program.Steps.Length}: they are not of the same program");
        }

        var names = new Names(headers[^1]);
        var body = new Body(r, names);
        var main = body.Main();
        var runtime = Runtime.Sections(body.Sections);
        var needs = HeaderNeeds(runtime + main, headers);

        var c = new StringBuilder();
        c.Append("/*\n");
        Comment(c, r.Title);
        c.Append(" *\n");
        foreach (var paragraph in r.About)
        {
            Comment(c, paragraph);
            c.Append(" *\n");
        }

        Comment(c, "Exit status: 0 when the kernel does what the checks expect, 1 at the first difference (printed), 77 when the kernel lacks a feature the program needs.");
        c.Append(" *\n");
        Comment(c, "Build: gcc -Wall -Werror -O2 -pthread -o reproducer reproducer.c");
        if (needs.Kernel is { } kernel)
        {
            Comment(c, $"It names io_uring constants or structs that linux/io_uring.h has from {kernel} on ({string.Join(", ", needs.Names.Take(4))}{(needs.Names.Count > 4 ? ", ..." : string.Empty)}); with an older system header, add -I <kernel tree>/usr/include (after make headers_install).");
        }

        c.Append(" *\n");
        Comment(c, "Generated by io_uring-conformance export-c from the conformance suite's program format.");
        c.Append(" */\n");
        if (needs.Guard is { } guard)
        {
            // Right after the header, so an old one stops the build with this message, not a cryptic one.
            const string include = "#include <linux/io_uring.h>\n";
            var at = runtime.IndexOf(include, StringComparison.Ordinal) + include.Length;
            runtime = runtime.Insert(at, $"#ifndef {guard}\n#error \"this program needs linux/io_uring.h from {needs.Kernel} on: add -I <kernel tree>/usr/include\"\n#endif\n");
        }

        c.Append(runtime).Append('\n');
        c.Append(r.PollMixedWaits
            ? "/* The recording kernel's wait can spin on a CQE_MIXED ring: there, waits are made by polling (1). */\n#define POLL_MIXED 1\n\n"
            : "/* Waits sleep in the kernel (0), as they may on a kernel that does not spin (see the watchdog). */\n#define POLL_MIXED 0\n\n");
        c.Append(main);
        return c.ToString();
    }

    /// <summary>
    /// The kernel of <paramref name="headers"/> (oldest first) from which linux/io_uring.h defines every
    /// io_uring name <paramref name="cFile"/> uses, or null when the oldest does: whether a kernel's own
    /// header can build a file <see cref="Write"/> wrote.
    /// </summary>
    public static string? HeaderNeededFrom(string cFile, IReadOnlyList<AbiSnapshot> headers) => HeaderNeeds(cFile, headers).Kernel;

    private static void Comment(StringBuilder c, string text)
    {
        foreach (var line in Wrap(text, 96))
        {
            c.Append(" * ").Append(line).Append('\n');
        }
    }

    /// <summary>Words of <paramref name="text"/> in lines of at most <paramref name="width"/> characters.</summary>
    public static IEnumerable<string> Wrap(string text, int width)
    {
        var line = new StringBuilder();
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.Length > 0 && line.Length + 1 + word.Length > width)
            {
                yield return line.ToString();
                line.Clear();
            }

            line.Append(line.Length > 0 ? " " : string.Empty).Append(word);
        }

        if (line.Length > 0)
        {
            yield return line.ToString();
        }
    }

    /// <summary>
    /// The first kernel of the corpus whose header defines every io_uring name the C text uses outside
    /// comments and outside #ifdef blocks (null when the oldest does), those names, and a macro among
    /// them to guard with (null when they are all enumerators or structs).
    /// </summary>
    private static (string? Kernel, IReadOnlyList<string> Names, string? Guard) HeaderNeeds(string text, IReadOnlyList<AbiSnapshot> headers)
    {
        var code = IfdefBlock().Replace(CComment().Replace(text, " "), " ");
        var identifiers = Identifier().Matches(code).Select(m => m.Value).ToHashSet(StringComparer.Ordinal);
        // Members count too (sqe->nop_flags is as new as IORING_NOP_*), but only where the C names a
        // member: a local variable may share a member's name.
        var members = MemberAccess().Matches(code).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
        static HashSet<string> Defined(AbiSnapshot s) =>
            s.Macros.Select(m => m.Name).Concat(s.Enums.SelectMany(e => e.Enumerators).Select(e => e.Name)).Concat(s.Records.Where(x => x.Name is not null).Select(x => x.Name!)).ToHashSet(StringComparer.Ordinal);
        static HashSet<string> Members(AbiSnapshot s) =>
            s.Records.SelectMany(r => r.Fields).Where(f => f.Name is not null).Select(f => f.Name!).ToHashSet(StringComparer.Ordinal);
        var newest = Defined(headers[^1]);
        var newestMembers = Members(headers[^1]);
        var used = identifiers.Where(newest.Contains).Concat(members.Where(m => newestMembers.Contains(m) && !newest.Contains(m))).ToList();
        var firstIndex = 0;
        var late = new List<(string Name, int Index)>();
        var defined = headers.Select(h => Defined(h).Concat(Members(h)).ToHashSet(StringComparer.Ordinal)).ToList();
        foreach (var name in used)
        {
            var first = defined.FindIndex(d => d.Contains(name));
            firstIndex = Math.Max(firstIndex, first);
            if (first > 0)
            {
                late.Add((name, first));
            }
        }

        if (firstIndex == 0)
        {
            return (null, [], null);
        }

        var needed = late.Where(l => l.Index == firstIndex).Select(l => l.Name).Order(StringComparer.Ordinal).ToList();
        var macros = headers[firstIndex].Macros.Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
        return (headers[firstIndex].Kernel, needed, needed.FirstOrDefault(macros.Contains));
    }

    [GeneratedRegex(@"/\*.*?\*/", RegexOptions.Singleline)]
    private static partial Regex CComment();

    [GeneratedRegex(@"#ifdef \w+\n.*?#(else|endif)", RegexOptions.Singleline)]
    private static partial Regex IfdefBlock();

    [GeneratedRegex(@"\b[A-Za-z_]\w*\b")]
    private static partial Regex Identifier();

    [GeneratedRegex(@"(?:->|\.)\s*([A-Za-z_]\w*)")]
    private static partial Regex MemberAccess();
}
