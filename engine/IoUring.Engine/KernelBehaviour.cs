using System.Numerics;
using IoUring.Abi.Model;

namespace IoUring.Engine;

/// <summary>
/// Profiles of the corpus kernels from their ABI snapshots: what a kernel knows (opcodes, setup,
/// feature, SQE, NOP and enter flags, register opcodes, query) is read from its own header as the
/// compiler saw it, not typed in here. What a header cannot say is in the small table below.
/// </summary>
public static class KernelBehaviour
{
    /// <summary>
    /// Behaviour that differs between kernels and is invisible in the UAPI header, by first kernel
    /// version it applies to. Each row names its source; the VM runs of the conformance matrix hold them to the kernels.
    /// </summary>
    public static readonly IReadOnlyList<(string Behaviour, string Applies, string Source)> Table =
    [
        ("io_rings header: sq/cq head and tail each on their own cache line", "before 6.12 (6.1 in the corpus)", "6.1 io_uring_types.h: struct io_uring { u32 head ____cacheline_aligned_in_smp; u32 tail ____cacheline_aligned_in_smp; }"),
        ("any non-zero nop_flags refused with -EINVAL", "before 6.10", "NOP gained IORING_NOP_INJECT_RESULT in 6.10; earlier io_nop_prep rejected a non-zero nop_flags word"),
        ("failed NOP FILE/FIXED_BUFFER lookup posts 0, not the errno", "none of the corpus kernels (7.2 and 7.3-rc have the fix; 6.1 and 6.12 lack the flags)", "the 2026 fix of the lookup error path"),
        ("query opcodes: OPCODES only, 40-byte io_uring_query_opcode", "6.18", "measured on the host (6.18.44): __IO_URING_QUERY_MAX 1; 7.2's header has 4 and the 48-byte struct"),
        ("READ/WRITE/READV/WRITEV import their buffer at issue, after the file lookup", "before 6.10 (6.1 in the corpus)", "measured under qemu (6.1.176): a READV of 1025 vectors on fd -1 is -EBADF, not -EINVAL"),
        ("READ_FIXED/WRITE_FIXED check the buffer index at prep (-EFAULT), the range at issue", "before 6.10 (6.1 in the corpus)", "measured under qemu (6.1.176)"),
        ("drain by sequence: a drained request waits until the CQ tail (corrected by cq_extra) equals its sequence, checked at every commit; a tail that went past it, or CQEs suppressed with a failed skip chain, leave it waiting until the ring is closed (kernel bugs)", "before 6.16 (6.1 and 6.12 in the corpus)", "6.1.176 and 6.12.107 sources (io_drain_req, io_queue_deferred); the probe reproduces the skip-chain case under qemu; 6.16 counts requests in flight instead"),
        ("failures (init, async prep, errors returned at issue) and io-wq completions posted on their own, ahead of the batch", "before 6.10 (6.1 in the corpus)", "6.1.176 source (io_req_complete_failed, io_req_complete_post); measured under qemu by the order of a NOP and an unknown opcode"),
        ("a READ of a memfd is done inline (a regular file on a filesystem without a block device counts as non-blocking)", "before 6.10 (6.1 in the corpus)", "6.1.176 source (__io_file_supports_nowait, io_bdev_nowait of a NULL device); 6.12 goes by FMODE_NOWAIT, which shmem lacks"),
        ("a WRITE whose buffer faults before a byte is copied still grows a shmem file to the write offset", "6.18 and 7.x (not 6.1 or 6.12)", "measured under qemu and on the host by a WRITE from an unmapped address past the end of a memfd"),
        ("task work runs newest first within a run", "before 6.10 (6.1 in the corpus)", "6.1.176 source (tctx_task_work takes the lock-less list without reversing it); probed by the order of chain successors"),
        ("a request issued from task work is issued inline even when forced async", "before 6.10 (6.1 in the corpus)", "6.1.176 source (io_req_task_submit); 6.12 sends it to io-wq"),
        ("a restricted ring limits only the kinds its restrictions name (register opcodes, SQE opcodes and flags)", "after 6.18 (7.2 and 7.3-rc in the corpus)", "measured under qemu (7.2.13, 7.3-rc7); the host's 6.18.44 limits both kinds whatever was named"),
        ("READ_FIXED/WRITE_FIXED look up and range-check the registered buffer at prep (-EFAULT)", "6.10 to 6.14 (6.12 in the corpus)", "measured under qemu (6.12.107); 6.18 and 7.x do both at issue, after the file"),
    ];

    /// <summary>The profile of the kernel whose snapshot this is.</summary>
    public static KernelProfile FromSnapshot(AbiSnapshot snapshot)
    {
        var macros = snapshot.Macros.ToDictionary(m => m.Name, m => m.Value.First);
        var enumerators = snapshot.Enums.SelectMany(e => e.Enumerators).GroupBy(e => e.Name).ToDictionary(g => g.Key, g => g.First().Value);
        uint Or(string prefix) => (uint)macros.Where(m => m.Key.StartsWith(prefix, StringComparison.Ordinal)).Aggregate(BigInteger.Zero, (a, m) => a | m.Value);
        uint Value(string name) => enumerators.TryGetValue(name, out var v) ? (uint)v : macros.TryGetValue(name, out var m) ? (uint)m : 0;

        var opLast = Value("IORING_OP_LAST");
        var sqeFlags = enumerators.Where(e => e.Key.StartsWith("IOSQE_", StringComparison.Ordinal) && e.Key.EndsWith("_BIT", StringComparison.Ordinal))
            .Aggregate(0u, (a, e) => a | (1u << (int)e.Value));
        var version = Version(snapshot.Kernel);
        var nopFlags = Before(version, 6, 10) ? 0 : Or("IORING_NOP_");
        var hasQuery = enumerators.ContainsKey("IORING_REGISTER_QUERY");
        var queryOps = hasQuery ? (uint)snapshot.Enums.Where(e => e.Enumerators.Any(x => x.Name == "IO_URING_QUERY_OPCODES")).SelectMany(e => e.Enumerators).Count(x => !x.Name.StartsWith("__", StringComparison.Ordinal)) : 0;
        var queryRecord = snapshot.Records.FirstOrDefault(r => r.Name == "io_uring_query_opcode");
        var supported = opLast >= 128 ? UInt128.MaxValue : (UInt128.One << (int)opLast) - 1;
        var setup = Or("IORING_SETUP_");
        return new KernelProfile(
            $"{snapshot.Kernel} (snapshot)",
            setup,
            setup,
            Or("IORING_FEAT_"),
            opLast,
            sqeFlags,
            nopFlags,
            Or("IORING_ENTER_"),
            Value("IORING_REGISTER_LAST"),
            hasQuery,
            Before(version, 6, 12) ? RingHeaderLayout.CacheLineAligned : RingHeaderLayout.Packed,
            supported,
            queryOps,
            queryRecord is null ? 0 : (uint)queryRecord.Size.First,
            false,
            false,
            MmapLayout.FromSnapshot(snapshot))
        {
            RwImport = Before(version, 6, 10) ? RwImportStage.Issue : RwImportStage.Prep,
            FixedBuffers = Before(version, 6, 10) ? FixedBufferStage.LookupAtPrep : Before(version, 6, 15) ? FixedBufferStage.Prep : FixedBufferStage.Issue,
            HasMemRegion = enumerators.ContainsKey("IORING_REGISTER_MEM_REGION"),
            RegisterRestrictedOnlyWhenListed = !Before(version, 6, 19),
            DrainBySequence = Before(version, 6, 16),
            FailuresPostAtOnce = Before(version, 6, 10),
            TaskWorkNewestFirst = Before(version, 6, 10),
            TaskSubmitIssuesInline = Before(version, 6, 10),
            FaultingWriteExtendsFile = !Before(version, 6, 13),
            ShmemReadsInline = Before(version, 6, 10),
            SqeRestrictedOnlyWhenListed = !Before(version, 6, 19),
        };
    }

    /// <summary>Reads generated/abi/KERNEL.json under <paramref name="repositoryRoot"/> (a proposal: "proposals/op-mmap-v1").</summary>
    public static KernelProfile FromCorpus(string repositoryRoot, string kernel)
    {
        var path = Path.Combine(repositoryRoot, "generated", "abi", kernel + ".json");
        if (!File.Exists(path))
        {
            var known = Directory.Exists(Path.GetDirectoryName(path)) ? string.Join(", ", Directory.GetFiles(Path.GetDirectoryName(path)!, "*.json").Select(Path.GetFileNameWithoutExtension).Order()) : "none";
            throw new ArgumentException($"no ABI snapshot for kernel '{kernel}' at {path}; the corpus has: {known} (run ./make.sh generate)");
        }

        return FromSnapshot(SnapshotJson.Read(File.ReadAllText(path), path));
    }

    private static bool Before((int Major, int Minor) v, int major, int minor) => v.Major < major || (v.Major == major && v.Minor < minor);

    private static (int Major, int Minor) Version(string kernel)
    {
        var parts = kernel.Split('.', '-');
        return parts.Length >= 2 && int.TryParse(parts[0], out var major) && int.TryParse(parts[1], out var minor) ? (major, minor) : (int.MaxValue, 0);
    }
}
