using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>
/// Kernel profiles from ABI snapshots: what each corpus kernel's header says it has (setup flags,
/// opcodes, nop flags) and the ring-header layout the behaviour table gives it, seen through the client.
/// </summary>
public sealed unsafe class KernelProfileTests
{
    [Fact]
    public void SnapshotProfilesDescribeTheCorpusKernels()
    {
        var p61 = Snapshots.Profile("6.1");
        var p72 = Snapshots.Profile("7.2");
        Assert.Equal(RingHeaderLayout.CacheLineAligned, p61.RingHeader);
        Assert.Equal(0u, p61.NopFlags);
        Assert.Equal(RingHeaderLayout.Packed, p72.RingHeader);
        Assert.True(p72.Has(IoUringSetupFlags.IORING_SETUP_SQE_MIXED) && p72.Has(IoUringSetupFlags.IORING_SETUP_SQ_REWIND) && p72.Has(IoUringSetupFlags.IORING_SETUP_CQE_MIXED));
        Assert.False(p61.Has(IoUringSetupFlags.IORING_SETUP_NO_SQARRAY));
        Assert.Equal(65u, p72.OpLast);

        // 6.1's ring header, through the client: offsets come from the params, not assumptions.
        var engine = new ReferenceEngine(p61);
        Assert.Equal(0, Ring.Ring.Create(engine, 4, default, out var ring));
        using (ring)
        {
            Assert.Equal((64u, 128u, 320u), (ring!.Params.sq_off.tail, ring.Params.cq_off.head, ring.Params.cq_off.cqes));
            Prep.Nop(ring.GetSqe(), 7);
            Assert.Equal(1, ring.Submit(1));
            Assert.True(ring.TryNextCqe(out var cqe, out _));
            Assert.Equal(7ul, cqe->user_data);
        }
    }
}
