using System.Numerics;
using IoUring.Abi.Model;

namespace IoUring.Conformance.Vm;

/// <summary>What the programs take from the corpus's ABI snapshots (generated/abi).</summary>
public static class SnapshotCorpus
{
    /// <summary>
    /// The opcode count the generator uses for its "unknown opcode" SQEs: the largest IORING_OP_LAST among
    /// the corpus's ABI snapshots (generated/abi), so that opcode is unknown on every kernel of the
    /// matrix and every kernel gets the same programs.
    /// </summary>
    public static uint OpLast(string repoRoot)
    {
        BigInteger max = 0;
        foreach (var snapshot in All(repoRoot, "; or pass --op-last N"))
        {
            var value = snapshot.Enums.SelectMany(e => e.Enumerators).FirstOrDefault(x => x.Name == "IORING_OP_LAST")?.Value
                ?? throw new ToolException($"{Checkout.SnapshotPath(repoRoot, snapshot.Kernel)}: the snapshot has no IORING_OP_LAST enumerator; regenerate it, or pass --op-last N");
            max = BigInteger.Max(max, value);
        }

        return (uint)max;
    }

    /// <summary>The corpus's ABI snapshots (generated/abi/*.json), oldest kernel first.</summary>
    public static IReadOnlyList<AbiSnapshot> All(string repoRoot) => All(repoRoot, string.Empty);

    private static IReadOnlyList<AbiSnapshot> All(string repoRoot, string orElse)
    {
        var dir = Checkout.SnapshotDirectory(repoRoot);
        var files = Directory.Exists(dir) ? Directory.GetFiles(dir, "*.json") : [];
        if (files.Length == 0)
        {
            throw new ToolException($"{dir}: no ABI snapshots; run 'io_uring-codegen generate'{orElse}");
        }

        return files.Select(f => SnapshotJson.Read(File.ReadAllText(f), f)).OrderBy(s => KernelVersion.Parse(s.Kernel)).ToList();
    }
}
