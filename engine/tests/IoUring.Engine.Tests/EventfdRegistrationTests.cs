using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>
/// IORING_REGISTER_EVENTFD, _ASYNC and IORING_UNREGISTER_EVENTFD: the errnos, and when the ring adds to
/// the eventfd's count. Each expectation is what the host's 6.18 kernel gave for the same calls.
/// </summary>
public sealed unsafe class EventfdRegistrationTests : IDisposable
{
    private const uint Disabled = Constants.IORING_CQ_EVENTFD_DISABLED;

    private readonly int eventfd = Posix.Eventfd();
    private readonly int memfd = Posix.memfd_create("eventfd-tests", 0);

    [Fact]
    public void RegistrationAnswersEachKernelErrno()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        var fd = eventfd;
        Assert.Equal(-Errno.EINVAL, Register(r, &fd, 2));
        Assert.Equal(-Errno.EFAULT, Register(r, (int*)0x1000, 1));
        Assert.Equal(-Errno.EFAULT, Register(r, null, 1));
        var negative = -1;
        Assert.Equal(-Errno.EBADF, Register(r, &negative, 1));
        var notEventfd = memfd;
        Assert.Equal(-Errno.EINVAL, Register(r, &notEventfd, 1));
        var ringFd = r.Ring.Fd;
        Assert.Equal(-Errno.EINVAL, Register(r, &ringFd, 1));
        Assert.Equal(-Errno.ENXIO, Unregister(r, null, 0));

        Assert.Equal(0, Register(r, &fd, 1));
        Assert.Equal(-Errno.EBUSY, Register(r, &fd, 1, async: true));
        Assert.Equal(-Errno.EBUSY, Register(r, (int*)0x1000, 1));
        Assert.Equal(-Errno.EINVAL, Unregister(r, &fd, 0));
        Assert.Equal(-Errno.EINVAL, Unregister(r, null, 1));
        Assert.Equal(0, Unregister(r, null, 0));
    }

    [Fact]
    public void EachCommitWithNewCompletionsSignalsOnce()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        var fd = eventfd;
        Assert.Equal(0, Register(r, &fd, 1));

        r.Nop(1);
        r.Nop(2);
        r.Nop(3);
        r.Submit(3);
        Assert.Equal(1ul, Take());

        // io-wq's completion signals from the worker; a commit that posts nothing does not signal.
        r.Nop(4, IoUringSqeFlags.IOSQE_ASYNC);
        r.Submit(1);
        Assert.Equal(1ul, Take());
        r.Nop(5, IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS);
        r.Submit();
        Assert.Equal(0ul, Take());

        Assert.Equal(0, Unregister(r, null, 0));
        r.Nop(6);
        r.Submit(1);
        Assert.Equal(0ul, Take());
    }

    [Theory]
    [InlineData("6.1")]
    [InlineData("6.12")]
    [InlineData("7.3-rc")]
    public void AnAsyncEventfdHearsOnlyIoWq(string kernel)
    {
        using var r = TestRing.Create(Snapshots.Profile(kernel), 8);
        var fd = eventfd;
        Assert.Equal(0, Register(r, &fd, 1, async: true));
        r.Nop(1);
        r.Submit(1);
        Assert.Equal(0ul, Take());
        r.Nop(2, IoUringSqeFlags.IOSQE_ASYNC);
        r.Submit(1);
        Assert.Equal(1ul, Take());
    }

    [Fact]
    public void TheRingKeepsTheEventfdAfterItsDescriptorIsClosed()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        var registered = Posix.Dup(eventfd);
        Assert.Equal(0, Register(r, &registered, 1));
        Posix.Close(registered);
        r.Nop(1);
        r.Submit(1);
        Assert.Equal(1ul, Take());
    }

    [Theory]
    [InlineData(true, 1ul)]
    [InlineData(false, 0ul)]
    public void DisabledCommitsSignalNothingAndWhereTheTailStaysDependsOnTheKernel(bool skipKeepsTail, ulong afterEnabling)
    {
        using var r = TestRing.Create(Snapshots.Newest with { EventfdSkipKeepsTail = skipKeepsTail }, 8);
        var fd = eventfd;
        Assert.Equal(0, Register(r, &fd, 1));
        r.Ring.CqFlags |= Disabled;
        r.Nop(1);
        r.Submit(1);
        Assert.Equal(0ul, Take());

        // Enabled again, a commit with no new CQE: 6.18 signals (its last signal measured the tail
        // before the disabled NOP), 6.1 and 6.12 do not.
        r.Ring.CqFlags &= ~Disabled;
        r.Nop(2, IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS);
        r.Submit();
        Assert.Equal(afterEnabling, Take());
    }

    [Fact]
    public void AMultishotPollOnTheRingsOwnEventfdEndsWhenTheRingSignalsIt()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        var fd = eventfd;
        Assert.Equal(0, Register(r, &fd, 1));
        Prep.PollAdd(r.Ring.GetSqe(), eventfd, 0x001, 50, multishot: true);
        r.Submit();
        r.Nop(51);
        r.Submit(2);

        // The NOP's signal woke the poll with EPOLL_URING_WAKE: it posts once, without F_MORE, and its
        // own CQE signals again.
        Assert.Equal([new Completion(51, 0, 0), new Completion(50, 1, 0)], r.Reap());
        Assert.Equal(2ul, Take());
    }

    public void Dispose()
    {
        Posix.Close(eventfd);
        Posix.Close(memfd);
    }

    private static int Register(TestRing r, int* fd, uint nrArgs, bool async = false) =>
        r.Engine.Register(r.Ring.Fd, (uint)(async ? io_uring_register_op.IORING_REGISTER_EVENTFD_ASYNC : io_uring_register_op.IORING_REGISTER_EVENTFD), fd, nrArgs);

    private static int Unregister(TestRing r, void* arg, uint nrArgs) =>
        r.Engine.Register(r.Ring.Fd, (uint)io_uring_register_op.IORING_UNREGISTER_EVENTFD, arg, nrArgs);

    /// <summary>The eventfd's count, read (and so reset to 0); 0 when nothing was added.</summary>
    private ulong Take()
    {
        if (!Posix.IsReadable(eventfd))
        {
            return 0;
        }

        ulong value = 0;
        var iov = new Posix.IoVec { Base = (nint)(&value), Length = 8 };
        Posix.preadv2(eventfd, &iov, 1, -1, 0);
        return value;
    }
}
