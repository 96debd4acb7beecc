using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>
/// IORING_OP_LINK_TIMEOUT times the request before it in its chain: when that request completes first,
/// the timeout completes with -ECANCELED and the chain goes on after it; when the timer fires first, the
/// request is cancelled and the timeout completes with -ETIME. It must follow a request in a chain.
/// </summary>
public sealed class LinkTimeoutTests
{
    private static readonly TimeSpan Never = TimeSpan.FromDays(365);

    [Fact]
    public void ARequestThatCompletesFirstCancelsItsLinkedTimeoutAndTheChainGoesOn()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Nop(1, IoUringSqeFlags.IOSQE_IO_LINK);
        r.Timeout(2, TimeSpan.Zero, sqeFlags: IoUringSqeFlags.IOSQE_IO_LINK, linked: true);
        r.Nop(3);
        Assert.Equal(3, r.Submit());
        Assert.Equal([(1ul, 0), (2ul, -Errno.ECANCELED), (3ul, 0)], r.Results());
    }

    [Fact]
    public void ALinkedTimeoutThatFiresFirstCancelsTheRequestAndBreaksTheChain()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Timeout(1, Never, sqeFlags: IoUringSqeFlags.IOSQE_IO_LINK);
        r.Timeout(2, TimeSpan.Zero, sqeFlags: IoUringSqeFlags.IOSQE_IO_LINK, linked: true);
        r.Nop(3);
        Assert.Equal(3, r.Submit());
        Assert.Equal([(2ul, -Errno.ETIME), (1ul, -Errno.ECANCELED), (3ul, -Errno.ECANCELED)], r.Results());
    }

    [Fact]
    public void AnArmedLinkedTimeoutTakesANewTime()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Timeout(1, Never, sqeFlags: IoUringSqeFlags.IOSQE_IO_LINK);
        r.Timeout(2, Never, linked: true);
        Assert.Equal(2, r.Submit());
        Assert.Empty(r.Results());
        r.TimeoutRemove(3, 2, update: TimeSpan.Zero, linked: true);
        r.TimeoutRemove(4, 1, update: TimeSpan.Zero, linked: true);
        Assert.Equal(2, r.Submit());
        Assert.Equal([(3ul, 0), (4ul, -Errno.ENOENT), (2ul, -Errno.ETIME), (1ul, -Errno.ECANCELED)], r.Results());
    }

    [Fact]
    public void ALinkedTimeoutOutsideAChainIsRefused()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Timeout(1, Never, linked: true);
        Assert.Equal(1, r.Submit());
        Assert.Equal([(1ul, -Errno.EINVAL)], r.Results());
    }
}
