using System.Text;
using IoUring.Abi.Headers;
using IoUring.Abi.Model;

namespace IoUring.Abi.Cli.Fuzzing;

/// <summary>A header of the corpus a mutant starts from, named by kernel and path.</summary>
internal sealed record SeedHeader(string Label, byte[] Bytes);

/// <summary>
/// What mutants are made from: every kernel's io_uring.h (the headers a mutant replaces) and the other
/// io_uring headers (material for nested includes), plus the base kernel's io_uring.h that patches are
/// written against.
/// </summary>
internal sealed record FuzzCorpus(string BaseKernel, byte[] BaseHeader, IReadOnlyList<SeedHeader> Mains, IReadOnlyList<SeedHeader> Others)
{
    public static FuzzCorpus Load(KernelLock kernelLock, HeaderCache cache, string baseKernel)
    {
        var mains = new List<SeedHeader>();
        var others = new List<SeedHeader>();
        byte[]? baseHeader = null;
        foreach (var k in kernelLock.Kernels.OrderBy(k => k.Kernel, KernelVersion.Order))
        {
            var tree = cache.TryGetVerified(k, out var problem)
                ?? throw new ToolException($"the fuzzer's corpus is every kernel of the lock, and {problem}; run 'headers fetch --locked' first");
            foreach (var root in tree.RootHeaders())
            {
                var header = new SeedHeader($"{k.Kernel}/{root}", File.ReadAllBytes(Path.Combine(tree.Root, root)));
                (root == "linux/io_uring.h" ? mains : others).Add(header);
                if (root == "linux/io_uring.h" && k.Kernel == baseKernel)
                {
                    baseHeader = header.Bytes;
                }
            }
        }

        return new FuzzCorpus(baseKernel, baseHeader ?? throw new ToolException($"kernel {baseKernel} is not in the lock"), mains, others);
    }
}

/// <summary>
/// One mutated input: the header that replaces io_uring.h, the headers it includes (paths relative to
/// the header's folder), the unified diff of the base's io_uring.h that makes the same change, and
/// what was done to get there, in order.
/// </summary>
internal sealed class Mutant
{
    public const string HeaderName = "io_uring.h";
    public const string PatchName = "p.diff";

    public required long Index { get; init; }

    public required byte[] Header { get; init; }

    public required IReadOnlyList<(string Path, byte[] Bytes)> Extras { get; init; }

    public required byte[] Patch { get; init; }

    public required IReadOnlyList<string> Mutations { get; init; }

    /// <summary>Writes the mutant's files into a fresh <paramref name="dir"/> (emptied first).</summary>
    public void WriteTo(string dir)
    {
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }

        Directory.CreateDirectory(dir);
        File.WriteAllBytes(Path.Combine(dir, HeaderName), Header);
        File.WriteAllBytes(Path.Combine(dir, PatchName), Patch);
        foreach (var (path, bytes) in Extras)
        {
            var full = Path.Combine(dir, path);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllBytes(full, bytes);
        }
    }

    /// <summary>Every byte of the mutant, for comparing two mutants.</summary>
    public byte[] Fingerprint()
    {
        var all = new List<byte>();
        all.AddRange(Header);
        all.AddRange(Patch);
        foreach (var (path, bytes) in Extras)
        {
            all.AddRange(Encoding.UTF8.GetBytes(path));
            all.AddRange(bytes);
        }

        all.AddRange(Encoding.UTF8.GetBytes(string.Join("\n", Mutations)));
        return all.ToArray();
    }
}
