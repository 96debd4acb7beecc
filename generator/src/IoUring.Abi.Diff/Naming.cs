using IoUring.Abi.Model;

namespace IoUring.Abi.Diff;

/// <summary>The diff's and lint's reading of names and values: reserved members, sentinels, flag families.</summary>
internal static class Naming
{
    public static List<FlatMember> Flatten(AbiSnapshot s, Dictionary<string, RecordDecl> records, RecordDecl top, int target) =>
        RecordLayout.Flatten(records, top, target);

    public static bool IsIoUringFile(SourceLocation l) => IncludeTree.IsIoUringHeader(l.File);

    public static bool LooksReserved(string name)
    {
        var n = name.TrimStart('_').ToLowerInvariant();
        return n.StartsWith("resv", StringComparison.Ordinal) || n.StartsWith("reserved", StringComparison.Ordinal) || n.StartsWith("pad", StringComparison.Ordinal)
            || n.StartsWith("rsvd", StringComparison.Ordinal) || n.StartsWith("spare", StringComparison.Ordinal) || n.StartsWith("unused", StringComparison.Ordinal);
    }

    public static bool IsSentinel(string name) => name.EndsWith("_LAST", StringComparison.Ordinal) || name.EndsWith("_MAX", StringComparison.Ordinal);

    /// <summary>Flag families of the io_uring UAPI, by prefix; the longest matching prefix wins.</summary>
    private static readonly string[] FamilyPrefixes =
    [
        "IORING_SETUP_", "IORING_FEAT_", "IORING_ENTER_", "IOSQE_", "IORING_CQE_F_", "IORING_SQ_", "IORING_CQ_", "IORING_NOP_",
        "IORING_FSYNC_", "IORING_TIMEOUT_", "IORING_POLL_", "IORING_ASYNC_CANCEL_", "IORING_RECVSEND_", "IORING_ACCEPT_",
        "IORING_MSG_RING_", "IORING_URING_CMD_", "IORING_RSRC_REGISTER_", "IORING_REGISTER_PBUF_", "IORING_MEM_REGION_",
        "IORING_ZCRX_", "IORING_RECV_MULTISHOT_", "IORING_SEND_ZC_", "IORING_FILE_INDEX_", "IORING_REG_WAIT_",
    ];

    public static string? Family(string macro)
    {
        string? best = null;
        foreach (var p in FamilyPrefixes)
        {
            if (macro.StartsWith(p, StringComparison.Ordinal) && (best is null || p.Length > best.Length))
            {
                best = p;
            }
        }

        return best;
    }

    public static bool IsSingleBit(System.Numerics.BigInteger v) => v > 0 && (v & (v - 1)) == 0;

    public static string PerTarget<T>(AbiSnapshot s, Func<int, T> value, IEnumerable<int>? targets = null)
    {
        var idx = (targets ?? Enumerable.Range(0, s.Targets.Count)).ToList();
        var values = idx.Select(i => value(i)).ToList();
        return values.Distinct().Count() == 1
            ? $"{values[0]}"
            : string.Join(", ", idx.Select((i, k) => $"{Short(s.Targets[i])} {values[k]}"));
    }

    public static string Short(string triple) => CTarget.All.FirstOrDefault(c => c.Triple == triple)?.ShortName ?? triple;
}
