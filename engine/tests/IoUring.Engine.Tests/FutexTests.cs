using System.Runtime.InteropServices;
using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>FUTEX_WAIT, FUTEX_WAKE and FUTEX_WAITV. Each expectation is what the host's 6.18 kernel gave for the same submissions.</summary>
public sealed unsafe class FutexTests : IDisposable
{
    private const int Private = 0x82;
    private const int Shared = 0x02;
    private const ulong AnyMask = uint.MaxValue;

    // Two futex words, 7 and 8, then room for futex_waitv arrays.
    private readonly uint* words = (uint*)NativeMemory.AlignedAlloc(256, 64);

    public FutexTests()
    {
        new Span<byte>(words, 256).Clear();
        words[0] = 7;
        words[1] = 8;
    }

    [Fact]
    public void PrepChecksFlagsAndValuesAndIssueChecksMaskAddressAndValue()
    {
        using var r = TestRing.Create(Snapshots.Newest, 64, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAIT, 1, Private, (ulong)words, 6, AnyMask)->flags = (byte)IoUringSqeFlags.IOSQE_IO_LINK;
        r.Nop(2);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAKE, 3, Private, (ulong)words, 1, AnyMask);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAKE, 4, Private, (ulong)words, 0, AnyMask);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAKE, 5, Private, (ulong)words, 1, 0);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAKE, 6, Private, (ulong)words + 2, 1, 1);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAKE, 7, Private, 0xffff_8000_0000_0000, 1, 1);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAKE, 8, Private, 0x10, 1, 1);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAKE, 9, Shared, 0x10, 1, 1);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAKE, 10, Private, (ulong)words, 1, 1)->len = 1;
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAKE, 11, 0, (ulong)words, 1, 1);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAKE, 12, 0x83, (ulong)words, 1, 1);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAKE, 13, Private, (ulong)words, 1ul << 32, 1);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAIT, 14, Private, (ulong)words, 7, 0);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAIT, 15, Private, 0x10, 7, 1);
        r.Submit();
        Assert.Equal(
            [(1, -Errno.EAGAIN), (3, 0), (4, 0), (5, -Errno.EINVAL), (6, -Errno.EINVAL), (7, -Errno.EFAULT), (8, 0), (9, -Errno.EFAULT), (10, -Errno.EINVAL), (11, -Errno.EINVAL), (12, -Errno.EINVAL), (13, -Errno.EINVAL), (14, -Errno.EINVAL), (15, -Errno.EFAULT), (2, -Errno.ECANCELED)],
            r.Results());
    }

    [Fact]
    public void AWakeCompletesTheWaitsWhoseMaskItMeetsAndTheChainGoesOn()
    {
        using var r = TestRing.Create(Snapshots.Newest, 64, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAIT, 20, Private, (ulong)words, 7, AnyMask)->flags = (byte)IoUringSqeFlags.IOSQE_IO_LINK;
        r.Nop(21);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAIT, 22, Private, (ulong)words, 7, 2);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAKE, 23, Private, (ulong)words, 5, 1);
        r.Submit();
        Assert.Equal([(23, 1), (20, 0), (21, 0)], r.Results());

        // A count above INT_MAX is negative as the kernel's int: one is woken, the oldest (22, whose mask
        // meets all). A shared wake misses a private wait.
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAIT, 50, Private, (ulong)words, 7, AnyMask);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAIT, 51, Private, (ulong)words, 7, AnyMask);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAKE, 52, Shared, (ulong)words, 5, AnyMask);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAKE, 53, Private, (ulong)words, 0x8000_0000, AnyMask);
        r.AsyncCancel(54, 0, IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ALL | IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ANY);
        r.Submit();

        // ALL takes every match in one pass, which counts once; the newest wait is taken first.
        Assert.Equal([(52, 0), (53, 1), (54, 1), (22, 0), (51, -Errno.ECANCELED), (50, -Errno.ECANCELED)], r.Results());
    }

    [Fact]
    public void WaitvCopiesItsWordsAtPrepAndAnswersTheIndexWoken()
    {
        using var r = TestRing.Create(Snapshots.Newest, 64, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        var both = Waitv(0, (7, 0), (8, 1));
        var second = Waitv(2, (7, 0), (9, 1));
        var reserved = Waitv(4, (7, 0));
        ((uint*)reserved)[5] = 1;
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAITV, 30, 0, second, 0, 0)->len = 2;
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAITV, 31, 0, both, 0, 0)->len = 0;
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAITV, 32, 0, reserved, 0, 0)->len = 1;
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAITV, 33, 0, 0x10, 0, 0)->len = 1;
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAITV, 34, 0, both, 0, 0)->len = 2;
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAKE, 35, Private, (ulong)(words + 1), 3, 1);
        r.Submit();
        Assert.Equal([(30, -Errno.EAGAIN), (31, -Errno.EINVAL), (32, -Errno.EINVAL), (33, -Errno.EFAULT), (35, 1), (34, 1)], r.Results());
    }

    [Fact]
    public void AWaitvsOtherWordsStayQueuedUntilItsCompletionRuns()
    {
        // One submission: the first wake claims the FUTEX_WAITV through its second word, the next finds
        // its first word still queued and counts it; its result stays the highest index woken.
        using var r = TestRing.Create(Snapshots.Newest, 16, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        var both = Waitv(0, (7, 0), (8, 1));
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAITV, 1, 0, both, 0, 0)->len = 2;
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAKE, 101, Private, (ulong)(words + 1), 1, AnyMask);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAKE, 201, Private, (ulong)words, 1, AnyMask);
        r.Submit();
        Assert.Equal([(101, 1), (201, 1), (1, 1)], r.Results());
    }

    [Fact]
    public void ACancellationTakesTheNewestWaitFirstAndAnswersHowMany()
    {
        using var r = TestRing.Create(Snapshots.Newest, 64, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAIT, 22, Private, (ulong)words, 7, 2);
        r.Submit();
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAIT, 40, Private, (ulong)words, 7, AnyMask)->flags = (byte)IoUringSqeFlags.IOSQE_IO_LINK;
        r.Nop(41);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAIT, 42, Private, (ulong)words, 7, AnyMask);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAIT, 43, Shared, (ulong)words, 7, AnyMask);
        r.AsyncCancel(44, 40);
        r.AsyncCancel(45, 99, IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_OP, opcode: (byte)io_uring_op.IORING_OP_FUTEX_WAIT);
        r.AsyncCancel(46, 0, IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ANY);
        r.AsyncCancel(47, 43, IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ALL);
        r.Submit();
        Assert.Equal([(44, 1), (45, 1), (46, 2), (47, 0), (40, -Errno.ECANCELED), (43, -Errno.ECANCELED), (42, -Errno.ECANCELED), (22, -Errno.ECANCELED), (41, 0)], r.Results());
    }

    [Fact]
    public void SixTwelveLooksForAFutexByUserDataAndKnowsNoNumaFlags()
    {
        using var r = TestRing.Create(Snapshots.Profile("6.12"), 16, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAIT, 1, Private, (ulong)words, 7, AnyMask);
        r.AsyncCancel(2, 99, IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_OP, opcode: (byte)io_uring_op.IORING_OP_FUTEX_WAIT);
        Futex(r, io_uring_op.IORING_OP_FUTEX_WAKE, 3, 0x86, (ulong)words, 0, 1);
        r.AsyncCancel(4, 1);
        r.Submit();
        Assert.Equal([(2, -Errno.ENOENT), (3, -Errno.EINVAL), (4, 1), (1, -Errno.ECANCELED)], r.Results());
    }

    public void Dispose() => NativeMemory.AlignedFree(words);

    private static io_uring_sqe* Futex(TestRing r, io_uring_op op, ulong userData, int flags, ulong address, ulong value, ulong mask)
    {
        var sqe = r.Sqe(op, flags, userData, off: value, addr: address);
        sqe->addr3 = mask;
        return sqe;
    }

    /// <summary>An array of struct futex_waitv (values on private words, by index) in the block after the words, from its 24-byte slot <paramref name="at"/>.</summary>
    private ulong Waitv(int at, params (ulong Value, int Word)[] entries)
    {
        var v = (byte*)words + 64 + (at * 24);
        for (var k = 0; k < entries.Length; k++)
        {
            var e = v + (k * 24);
            *(ulong*)e = entries[k].Value;
            *(ulong*)(e + 8) = (ulong)(words + entries[k].Word);
            *(uint*)(e + 16) = Private;
            *(uint*)(e + 20) = 0;
        }

        return (ulong)v;
    }
}
