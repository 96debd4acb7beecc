using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>
/// IOSQE_IO_LINK and IOSQE_IO_HARDLINK: a chain runs in order; a failure in a plain link cancels the rest
/// of the chain (-ECANCELED), a hard link runs on regardless.
/// </summary>
public sealed class LinkTests
{
    [Fact]
    public void AFailedLinkCancelsTheRestOfItsChain()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Nop(1, IoUringSqeFlags.IOSQE_IO_LINK, inject: -Errno.EOVERFLOW);
        r.Nop(2, IoUringSqeFlags.IOSQE_IO_LINK);
        r.Nop(3);
        Assert.Equal(3, r.Submit(3));
        Assert.Equal([(1ul, -Errno.EOVERFLOW), (2ul, -Errno.ECANCELED), (3ul, -Errno.ECANCELED)], r.Results());
    }

    [Fact]
    public void AHardLinkRunsOnAfterAFailure()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Nop(1, IoUringSqeFlags.IOSQE_IO_HARDLINK, inject: -Errno.EOVERFLOW);
        r.Nop(2);
        Assert.Equal(2, r.Submit(2));
        Assert.Equal([(1ul, -Errno.EOVERFLOW), (2ul, 0)], r.Results());
    }

    [Fact]
    public void AChainCompletesInOrderWhenEveryLinkSucceeds()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Nop(1, IoUringSqeFlags.IOSQE_IO_LINK | IoUringSqeFlags.IOSQE_ASYNC);
        r.Nop(2, IoUringSqeFlags.IOSQE_IO_LINK);
        r.Nop(3);
        Assert.Equal(3, r.Submit(3));
        Assert.Equal([(1ul, 0), (2ul, 0), (3ul, 0)], r.Results());
    }
}
