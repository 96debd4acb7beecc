using IoUring.Bindings;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>
/// IORING_SETUP_CQE_MIXED: 16- and 32-byte CQEs in one ring. A 32-byte CQE carries IORING_CQE_F_32 and
/// takes two slots; it never starts in the last slot: a filler CQE (IORING_CQE_F_SKIP) takes that slot
/// and the big one starts at slot 0.
/// </summary>
public sealed unsafe class CqeMixedTests
{
    [Fact]
    public void ABigCqeCarriesF32AndTakesTwoSlots()
    {
        using var r = TestRing.Create(Snapshots.Newest, 4, IoUringSetupFlags.IORING_SETUP_CQE_MIXED, cqEntries: 4);
        r.Nop(1, nopFlags: IoUringNopFlags.IORING_NOP_CQE32);
        r.Nop(2);
        Assert.Equal(2, r.Submit(2));
        Assert.Equal(3u, r.Ring.CqReady);
        Assert.True(r.Ring.TryNextCqe(out var big, out var slots));
        Assert.Equal((1ul, 2u), (big->user_data, slots));
        Assert.NotEqual(0u, big->flags & Constants.IORING_CQE_F_32);
        r.Ring.CqAdvance(slots);
        Assert.Equal([(2ul, 0)], r.Results());
    }

    [Fact]
    public void ABigCqeNeverStartsInTheLastSlot()
    {
        using var r = BigCqeWithTheHeadAtTheLastSlot(EngineFaults.None);

        // A filler takes the last slot, the 32-byte CQE takes slots 0 and 1.
        Assert.Equal(3u, r.Ring.CqReady);
        Assert.NotEqual(0u, r.Ring.CqeAt(0)->flags & Constants.IORING_CQE_F_SKIP);
        Assert.Equal(4ul, r.Ring.CqeAt(1)->user_data);
        Assert.NotEqual(0u, r.Ring.CqeAt(1)->flags & Constants.IORING_CQE_F_32);
    }

    [Fact]
    public void AnEngineWithoutTheFillerIsToldApart()
    {
        using var r = BigCqeWithTheHeadAtTheLastSlot(EngineFaults.NoSkipFiller);
        Assert.Equal(0u, r.Ring.CqeAt(0)->flags & Constants.IORING_CQE_F_SKIP);
    }

    /// <summary>A 4-slot CQE_MIXED ring whose head three NOPs moved to slot 3, the last, then one 32-byte CQE posted.</summary>
    private static TestRing BigCqeWithTheHeadAtTheLastSlot(EngineFaults faults)
    {
        var r = TestRing.Create(Snapshots.Newest, 4, IoUringSetupFlags.IORING_SETUP_CQE_MIXED, cqEntries: 4, faults: faults);
        for (var i = 1ul; i <= 3; i++)
        {
            r.Nop(i);
        }

        Assert.Equal(3, r.Submit(3));
        Assert.Equal(3, r.Results().Count);
        r.Nop(4, nopFlags: IoUringNopFlags.IORING_NOP_CQE32);
        Assert.Equal(1, r.Submit(1));
        return r;
    }
}
