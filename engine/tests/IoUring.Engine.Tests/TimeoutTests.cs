using System.Diagnostics;
using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>
/// IORING_OP_TIMEOUT and IORING_OP_TIMEOUT_REMOVE: a timeout completes with 0 when its count of other
/// completions is met, with -ETIME when its timer fires (a failure that breaks its links, unless
/// IORING_TIMEOUT_ETIME_SUCCESS), with -ECANCELED when removed; a wait sleeps until a timer that comes
/// first; on kernels that count requests in flight a drain waits for an armed timeout.
/// </summary>
public sealed class TimeoutTests
{
    private static readonly TimeSpan Never = TimeSpan.FromDays(365);

    [Fact]
    public void ATimeoutCompletesWithZeroWhenItsCountOfCompletionsIsMet()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Timeout(1, Never, count: 2);
        r.Nop(2);
        Assert.Equal(2, r.Submit());
        Assert.Equal([(2ul, 0)], r.Results());
        r.Nop(3);
        Assert.Equal(1, r.Submit());
        Assert.Equal([(3ul, 0), (1ul, 0)], r.Results());
    }

    [Fact]
    public void AnExpiredTimerCompletesWithEtimeAndItsCqeCountsForNoOtherTimeout()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Timeout(1, Never, count: 1);
        r.Timeout(2, TimeSpan.Zero);
        Assert.Equal(2, r.Submit());
        Assert.Equal([(2ul, -Errno.ETIME)], r.Results());
        r.Nop(3);
        Assert.Equal(1, r.Submit());
        Assert.Equal([(3ul, 0), (1ul, 0)], r.Results());
    }

    [Fact]
    public void AFiredTimerBreaksItsLinksUnlessEtimeIsSuccess()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Timeout(1, TimeSpan.Zero, sqeFlags: IoUringSqeFlags.IOSQE_IO_LINK);
        r.Nop(2);
        r.Timeout(3, TimeSpan.Zero, flags: IoUringTimeoutFlags.IORING_TIMEOUT_ETIME_SUCCESS, sqeFlags: IoUringSqeFlags.IOSQE_IO_LINK);
        r.Nop(4);
        Assert.Equal(4, r.Submit());
        Assert.Equal([(1ul, -Errno.ETIME), (3ul, -Errno.ETIME), (2ul, -Errno.ECANCELED), (4ul, 0)], r.Results());
    }

    [Fact]
    public void ARemovedTimeoutIsCancelledAfterTheRemovalAndItsCqeCounts()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Timeout(1, Never, count: 3);
        r.Timeout(2, Never);
        Assert.Equal(2, r.Submit());
        r.TimeoutRemove(3, 2);
        r.TimeoutRemove(4, 77);
        Assert.Equal(2, r.Submit());

        // The removals' CQEs and the cancelled timeout's all count: three completions meet timeout 1.
        Assert.Equal([(3ul, 0), (4ul, -Errno.ENOENT), (2ul, -Errno.ECANCELED), (1ul, 0)], r.Results());
    }

    [Fact]
    public void AnUpdatedTimeoutFiresAtItsNewTime()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Timeout(1, Never, count: 5);
        Assert.Equal(1, r.Submit());
        r.TimeoutRemove(2, 1, update: TimeSpan.Zero);
        Assert.Equal(1, r.Submit());
        Assert.Equal([(2ul, 0), (1ul, -Errno.ETIME)], r.Results());
    }

    [Fact]
    public void AMultishotTimerPostsWithMoreUntilItsCountIsSpent()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Timeout(1, TimeSpan.Zero, count: 3, flags: IoUringTimeoutFlags.IORING_TIMEOUT_MULTISHOT);
        Assert.Equal(1, r.Submit());
        Assert.Equal(
            [new(1, -Errno.ETIME, Constants.IORING_CQE_F_MORE), new(1, -Errno.ETIME, Constants.IORING_CQE_F_MORE), new Completion(1, -Errno.ETIME, 0)],
            r.Reap());
    }

    [Fact]
    public void AMultishotTimerThatMeetsAFullCqCompletesInsteadOfOverflowing()
    {
        // A two-slot CQ: two firings post with F_MORE; the third cannot go straight into the CQ, so the
        // timeout completes, its -ETIME in the overflow list, and the fourth never comes (6.12, 7.2 and
        // 7.3-rc under qemu).
        using var r = TestRing.Create(Snapshots.Newest, 1, cqEntries: 2);
        r.Timeout(1, TimeSpan.Zero, count: 4, flags: IoUringTimeoutFlags.IORING_TIMEOUT_MULTISHOT);
        Assert.Equal(1, r.Submit());
        Assert.Equal([new(1, -Errno.ETIME, Constants.IORING_CQE_F_MORE), new(1, -Errno.ETIME, Constants.IORING_CQE_F_MORE)], r.Reap());
        Assert.Equal(0, r.Submit(waitFor: 1));
        Assert.Equal([new Completion(1, -Errno.ETIME, 0)], r.Reap());
        Assert.Empty(r.Reap());
    }

    [Fact]
    public void AWaitSleepsUntilATimerThatComesFirst()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Timeout(1, TimeSpan.FromMilliseconds(30));
        var clock = Stopwatch.StartNew();
        Assert.Equal(1, r.Submit(waitFor: 1));
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(25), $"the wait returned after {clock.Elapsed.TotalMilliseconds} ms");
        Assert.Equal([(1ul, -Errno.ETIME)], r.Results());
    }

    [Fact]
    public void TimeoutFlagsAreThoseOfTheKernel()
    {
        // MULTISHOT came in 6.4: 6.1 refuses it; a multishot timer cannot be absolute anywhere.
        using var old = TestRing.Create(Snapshots.Profile("6.1"), 8);
        old.Timeout(1, Never, flags: IoUringTimeoutFlags.IORING_TIMEOUT_MULTISHOT);
        old.Timeout(2, Never, flags: IoUringTimeoutFlags.IORING_TIMEOUT_BOOTTIME | IoUringTimeoutFlags.IORING_TIMEOUT_REALTIME);
        Assert.Equal(1, old.Submit());
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Timeout(3, Never, flags: IoUringTimeoutFlags.IORING_TIMEOUT_MULTISHOT | IoUringTimeoutFlags.IORING_TIMEOUT_ABS);
        Assert.Equal(1, r.Submit());
        Assert.Equal([(1ul, -Errno.EINVAL)], old.Results());
        Assert.Equal([(3ul, -Errno.EINVAL)], r.Results());
    }

    [Fact]
    public void OnKernelsThatCountRequestsInFlightADrainWaitsForAnArmedTimeoutAndSoDoesItsRemoval()
    {
        // A drained request leaves the drain active; what comes after waits in the defer list until no
        // request outside it is alive, and the armed timeout is: the removal that would end it waits too.
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Timeout(1, Never, sqeFlags: IoUringSqeFlags.IOSQE_IO_DRAIN);
        Assert.Equal(1, r.Submit());
        r.Nop(2);
        Assert.Equal(1, r.Submit());
        r.TimeoutRemove(3, 1);
        Assert.Equal(1, r.Submit());
        Assert.Empty(r.Results());
    }
}
