using IoUring.Bindings;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>
/// A full CQ: completions that do not fit wait on the overflow list (IORING_FEAT_NODROP), the SQ ring
/// says so (IORING_SQ_CQ_OVERFLOW), and a later io_uring_enter with GETEVENTS moves them into the CQ in
/// the order they completed. Nothing is lost and the overflow counter stays 0.
/// </summary>
public sealed class CqOverflowTests
{
    [Fact]
    public void CompletionsBeyondAFullCqWaitInOrderAndNoneIsLost()
    {
        using var r = TestRing.Create(Snapshots.Newest, 2, cqEntries: 2);
        r.Nop(1);
        r.Nop(2);
        Assert.Equal(2, r.Submit());
        r.Nop(3);
        r.Nop(4);
        Assert.Equal(2, r.Submit());
        Assert.Equal(2u, r.Ring.CqReady);
        Assert.NotEqual(0u, r.Ring.SqFlags & Constants.IORING_SQ_CQ_OVERFLOW);

        var first = r.Results();
        Assert.Equal(0, r.Submit(2));
        var rest = r.Results();
        Assert.Equal([(1ul, 0), (2ul, 0), (3ul, 0), (4ul, 0)], first.Concat(rest));
        Assert.Equal(0u, r.Ring.SqFlags & Constants.IORING_SQ_CQ_OVERFLOW);
        Assert.Equal(0u, r.Ring.CqOverflow);
    }
}
