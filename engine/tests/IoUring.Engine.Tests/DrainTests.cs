using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>
/// IOSQE_IO_DRAIN: a drained request starts only when every request submitted before it has completed,
/// and requests after it wait for it. Once a ring has seen IOSQE_CQE_SKIP_SUCCESS it cannot count
/// completions any more, and refuses a drain with -EOPNOTSUPP.
/// </summary>
public sealed class DrainTests
{
    [Fact]
    public void ADrainedRequestCompletesAfterEverythingBeforeItAndBeforeEverythingAfter()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Nop(1, IoUringSqeFlags.IOSQE_ASYNC);
        r.Nop(2, IoUringSqeFlags.IOSQE_IO_DRAIN);
        r.Nop(3);
        Assert.Equal(3, r.Submit(3));
        Assert.Equal([(1ul, 0), (2ul, 0), (3ul, 0)], r.Results());
    }

    [Fact]
    public void ADrainAfterASkippedSuccessIsRefused()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Nop(1, IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS);
        Assert.Equal(1, r.Submit());
        r.Nop(2, IoUringSqeFlags.IOSQE_IO_DRAIN);
        Assert.Equal(1, r.Submit(1));
        Assert.Equal([(2ul, -Errno.EOPNOTSUPP)], r.Results());
    }
}
