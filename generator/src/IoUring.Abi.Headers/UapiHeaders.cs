using System.Text.RegularExpressions;
using IoUring.Abi.Model;

namespace IoUring.Abi.Headers;

/// <summary>
/// The UAPI headers of a cached include tree, by the names a C program includes them with: every
/// header of the shared folders (linux/, asm-generic/, drm/, ...) and every asm/ header any target has.
/// </summary>
public static class UapiHeaders
{
    public static List<string> List(string includeRoot)
    {
        var targetDirs = CTarget.All.Select(t => t.MultiarchDir).ToHashSet(StringComparer.Ordinal);
        return Directory.EnumerateFiles(includeRoot, "*.h", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(includeRoot, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Select(rel => targetDirs.Contains(rel.Split('/')[0]) ? IncludeTree.IncludeName(rel) : rel)
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>
    /// Checks that a header name is one of the tree's (as #include names it: linux/perf_event.h);
    /// otherwise an error naming similar headers.
    /// </summary>
    public static void Require(string includeRoot, string name, string kernel)
    {
        if (name.StartsWith('/') || name.Split('/').Contains(".."))
        {
            throw new ToolException($"{name}: name a UAPI header as #include <...> does, relative to the include folder (e.g. linux/perf_event.h)");
        }

        if (File.Exists(Path.Combine(includeRoot, name)) || CTarget.All.Any(t => File.Exists(Path.Combine(includeRoot, t.MultiarchDir, name))))
        {
            return;
        }

        var file = Path.GetFileNameWithoutExtension(name);
        var near = List(includeRoot).Where(h => Path.GetFileNameWithoutExtension(h).Contains(file, StringComparison.OrdinalIgnoreCase) || file.Contains(Path.GetFileNameWithoutExtension(h), StringComparison.OrdinalIgnoreCase))
            .Take(6).ToList();
        throw new ToolException($"{name}: no such header in kernel {kernel}'s UAPI tree ({includeRoot})" + (near.Count > 0 ? $"; similar: {string.Join(", ", near)}" : "; name it as #include <...> does, e.g. linux/perf_event.h"));
    }

    /// <summary>
    /// The headers whose text declares a struct, union, enum, typedef or macro of that name, the
    /// shared folders' before the asm/ ones (an asm/ header is usually reached through them), each
    /// group sorted. A text search: it finds candidates for the compiler to confirm.
    /// </summary>
    public static List<string> Declaring(string includeRoot, string name)
    {
        var n = Regex.Escape(name);
        var pattern = new Regex(
            $@"\b(struct|union|enum)\s+{n}\s*\{{|^\s*#\s*define\s+{n}\b|\btypedef\b[^;{{}}]*\b{n}\s*;|\}}\s*{n}\s*;|^\s*{n}\s*(=[^,]*)?,",
            RegexOptions.Multiline | RegexOptions.CultureInvariant);
        return List(includeRoot)
            .Where(h => CTarget.All.Select(t => Resolve(includeRoot, h, t)).Where(File.Exists).Distinct().Any(f => pattern.IsMatch(File.ReadAllText(f))))
            .OrderBy(h => h.StartsWith("asm/", StringComparison.Ordinal) || h.StartsWith("asm-generic/", StringComparison.Ordinal))
            .ThenBy(h => h, StringComparer.Ordinal)
            .ToList();
    }

    private static string Resolve(string includeRoot, string name, CTarget target) => new IncludeTree(includeRoot).Resolve(name, target);
}
