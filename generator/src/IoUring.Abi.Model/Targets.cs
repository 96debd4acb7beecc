using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace IoUring.Abi.Model;

/// <summary>
/// A C target: the clang triple it is parsed for, and the Debian multiarch folder that holds its
/// asm/ headers (Debian names i386's folder after the architecture, not the i686 triple).
/// </summary>
public sealed record CTarget(string Triple, string MultiarchDir, string GccCommand, string ShortName)
{
    public static readonly CTarget X86_64 = new("x86_64-linux-gnu", "x86_64-linux-gnu", "gcc", "x86_64");
    public static readonly CTarget I686 = new("i686-linux-gnu", "i386-linux-gnu", "i686-linux-gnu-gcc", "i686") { Ilp32 = true };
    public static readonly CTarget Aarch64 = new("aarch64-linux-gnu", "aarch64-linux-gnu", "aarch64-linux-gnu-gcc", "aarch64");
    public static readonly CTarget Arm = new("arm-linux-gnueabihf", "arm-linux-gnueabihf", "arm-linux-gnueabihf-gcc", "arm") { Ilp32 = true };

    /// <summary>
    /// int, long, size_t and pointers are 32 bits. On a 64-bit kernel such a process makes compat system
    /// calls, and the kernel reads the structures it passes at their 32-bit layout (an iovec's length too).
    /// </summary>
    public bool Ilp32 { get; init; }

    public static IReadOnlyList<CTarget> All { get; } = new[] { X86_64, I686, Aarch64, Arm };

    /// <summary>Finds a target by triple or short name; an unknown name lists the known ones.</summary>
    public static CTarget Parse(string name) =>
        All.FirstOrDefault(t => t.Triple == name || t.ShortName == name)
        ?? throw new ToolException($"unknown target '{name}'; known targets: {string.Join(", ", All.Select(t => $"{t.ShortName} ({t.Triple})"))}");

    public static IReadOnlyList<CTarget> ParseList(IEnumerable<string> names)
    {
        var list = names.SelectMany(n => n.Split(new[] { ',' }, StringSplitOptions.RemoveEmptyEntries).Select(x => x.Trim())).Select(Parse).Distinct().ToList();
        return list.Count == 0 ? All : list;
    }
}

/// <summary>
/// A folder laid out like /usr/include of Debian's linux-libc-dev: linux/, asm-generic/ and one
/// multiarch folder per target. The io_uring headers in it are the roots of the translation unit.
/// </summary>
public sealed class IncludeTree
{
    public IncludeTree(string root, string? displayRoot = null, IReadOnlyList<string>? roots = null, string? baseRoot = null)
    {
        Root = Path.GetFullPath(root);
        DisplayRoot = displayRoot;
        explicitRoots = roots;
        BaseRoot = baseRoot is null ? null : Path.GetFullPath(baseRoot);
    }

    private readonly IReadOnlyList<string>? explicitRoots;

    private IReadOnlyList<string>? foundRoots;

    public string Root { get; }

    /// <summary>
    /// When set, <see cref="Root"/> is an overlay holding only some files (a header or a patch's io_uring
    /// headers) and this complete tree is searched after it for everything else, as one tree.
    /// </summary>
    public string? BaseRoot { get; }

    /// <summary>The include folders, searched in this order: the tree, its target's multiarch folder, then the same in the base.</summary>
    public IEnumerable<string> SearchPath(CTarget target)
    {
        foreach (var root in BaseRoot is null ? new[] { Root } : new[] { Root, BaseRoot })
        {
            yield return root;
            yield return Path.Combine(root, target.MultiarchDir);
        }
    }

    /// <summary>When set, file names in messages are shown under this name instead of <see cref="Root"/>.</summary>
    public string? DisplayRoot { get; }

    /// <summary>
    /// Folders searched for #include "..." after the including file's own (clang's -iquote): a lone
    /// header placed over a base tree keeps finding the files beside it where the user keeps it.
    /// </summary>
    public List<string> QuotedIncludeDirs { get; } = new();

    /// <summary>A message path for a file inside the tree: the user's own file where one was overlaid.</summary>
    public Dictionary<string, string> DisplayOverrides { get; } = new(StringComparer.Ordinal);

    /// <summary>linux/io_uring.h and every linux/io_uring/*.h, sorted, relative to <see cref="Root"/>.</summary>
    public IReadOnlyList<string> RootHeaders()
    {
        if (explicitRoots is not null)
        {
            return explicitRoots;
        }

        // Asked once per declaration by the extractor: list the folder once.
        return foundRoots ??= FindIoUringRoots();
    }

    private IReadOnlyList<string> FindIoUringRoots()
    {
        var main = Path.Combine(Root, "linux", "io_uring.h");
        if (!File.Exists(main))
        {
            throw new ToolException($"{main}: no such header; the include tree must hold linux/io_uring.h (run 'headers fetch' for a kernel of the corpus, or pass a header path)");
        }

        var list = new List<string> { "linux/io_uring.h" };
        var dir = Path.Combine(Root, "linux", "io_uring");
        if (Directory.Exists(dir))
        {
            list.AddRange(Directory.GetFiles(dir, "*.h").Select(f => "linux/io_uring/" + Path.GetFileName(f)).OrderBy(f => f, StringComparer.Ordinal));
        }

        return list;
    }

    public string Relative(string fullPath)
    {
        if (fullPath.Length == 0)
        {
            return string.Empty;
        }

        var full = Path.GetFullPath(fullPath);
        return full.StartsWith(Root + "/", StringComparison.Ordinal) ? full.Substring(Root.Length + 1)
            : BaseRoot is not null && full.StartsWith(BaseRoot + "/", StringComparison.Ordinal) ? full.Substring(BaseRoot.Length + 1)
            : full;
    }

    public string Display(string relative) =>
        DisplayOverrides.TryGetValue(relative, out var shown) ? shown
        : Path.Combine(DisplayRoot ?? Root, relative);

    /// <summary>
    /// Whether a file's declarations belong to the snapshot itself rather than being types it merely
    /// references: the root headers (one named UAPI header, or io_uring's) and io_uring's own headers.
    /// </summary>
    public bool IsOwnHeader(string relative) => IsIoUringHeader(relative) || RootHeaders().Contains(IncludeName(relative));

    /// <summary>
    /// A file of the tree by the name an #include gives it: "x86_64-linux-gnu/asm/types.h" is
    /// "asm/types.h", since each target finds its own asm/ folder through its -I.
    /// </summary>
    public static string IncludeName(string relative)
    {
        foreach (var t in CTarget.All)
        {
            if (relative.StartsWith(t.MultiarchDir + "/", StringComparison.Ordinal))
            {
                return relative.Substring(t.MultiarchDir.Length + 1);
            }
        }

        return relative;
    }

    /// <summary>Where a target finds an included name: the tree's own folders first, then its multiarch folder.</summary>
    public string Resolve(string includeName, CTarget target)
    {
        var generic = Path.Combine(Root, includeName);
        return File.Exists(generic) ? generic : Path.Combine(Root, target.MultiarchDir, includeName);
    }

    public static bool IsIoUringHeader(string relative) =>
        relative == "linux/io_uring.h" || relative.StartsWith("linux/io_uring/", StringComparison.Ordinal);
}
