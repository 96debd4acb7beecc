namespace IoUring.Engine;

/// <summary>Where each field of struct io_rings lives, for one <see cref="RingHeaderLayout"/> (the supervisor frees a stuck ring through these offsets too).</summary>
public readonly record struct RingHeader(
    uint SqHead, uint SqTail, uint CqHead, uint CqTail, uint SqMask, uint CqMask, uint SqEntries, uint CqEntries,
    uint SqDropped, uint SqFlags, uint CqFlags, uint CqOverflow, uint Cqes)
{
    // Current kernels: struct io_uring { u32 head, tail; } twice, then the scalars; the CQE array
    // starts on the next cache line.
    public static readonly RingHeader Packed = new(0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 64);

    // 6.1: struct io_uring { u32 head ____cacheline_aligned_in_smp; u32 tail ____cacheline_aligned_in_smp; }
    // makes sq and cq 128 bytes each; the scalars follow at 256 and the CQEs at the next line after them.
    public static readonly RingHeader CacheLineAligned = new(0, 64, 128, 192, 256, 260, 264, 268, 272, 276, 280, 284, 320);

    public static RingHeader For(RingHeaderLayout layout) => layout == RingHeaderLayout.Packed ? Packed : CacheLineAligned;
}
