using System.Diagnostics;
using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>WAITID and EPOLL_WAIT. Each expectation is what the host's 6.18 kernel gave for the same submissions.</summary>
public sealed unsafe class WaitidAndEpollWaitTests : IDisposable
{
    private const uint PAll = 0;
    private const uint PPid = 1;
    private const uint PPidfd = 3;
    private const uint WNoHang = 1;
    private const uint WExited = 4;
    private readonly int memfd = Posix.memfd_create("waitid-epoll-wait-tests", 0);

    [Fact]
    public void WaitidChecksItsArgumentsAndWritesAZeroSiginfoWithEchild()
    {
        using var r = TestRing.Create(Snapshots.Newest, 32, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        var info = stackalloc byte[128];
        new Span<byte>(info, 128).Fill(0xaa);
        Waitid(r, 1, PAll, 0, WExited, (ulong)info);
        Waitid(r, 2, PAll, 0, WExited | WNoHang, 0);
        Waitid(r, 3, 7, 0, WExited, 0);
        Waitid(r, 4, PAll, 0, 0, 0);
        Waitid(r, 5, PPid, 0, WExited, 0);
        Waitid(r, 6, PPidfd, memfd, WExited, 0);
        Waitid(r, 7, PPid, 1, WExited, 0);
        Waitid(r, 8, PAll, 0, WExited, 0)->addr = 1;
        Waitid(r, 9, PAll, 0, WExited, 0x10);
        Waitid(r, 10, PAll, 0, WExited | 0x4000_0000 /* __WALL */, 0);
        Waitid(r, 11, PPidfd, -5, WExited, 0);
        r.Submit();
        Assert.Equal(
            [(1, -Errno.ECHILD), (2, -Errno.ECHILD), (3, -Errno.EINVAL), (4, -Errno.EINVAL), (5, -Errno.EINVAL), (6, -Errno.EBADF), (7, -Errno.ECHILD), (8, -Errno.EINVAL), (9, -Errno.EFAULT), (10, -Errno.ECHILD), (11, -Errno.EINVAL)],
            r.Results());
        Assert.Equal("000000000000000000000000aaaaaaaa000000000000000000000000aaaaaaaa", Convert.ToHexString(new ReadOnlySpan<byte>(info, 32)).ToLowerInvariant());
    }

    [Fact]
    public void WaitidWithWnohangOfARunningChildAnswersZero()
    {
        using var child = Process.Start(new ProcessStartInfo("sleep", "5") { UseShellExecute = false })!;
        try
        {
            using var r = TestRing.Create(Snapshots.Newest, 4);
            var info = stackalloc byte[128];
            new Span<byte>(info, 128).Fill(0xaa);
            Waitid(r, 1, PPid, child.Id, WExited | WNoHang, (ulong)info);
            r.Submit();
            Assert.Equal([(1, 0)], r.Results());
            Assert.Equal(0, *(int*)(info + 16));
        }
        finally
        {
            child.Kill();
            child.WaitForExit();
        }
    }

    [Fact]
    public void EpollWaitChecksCountRangeAndFileThenWaitsForAnEvent()
    {
        using var r = TestRing.Create(Snapshots.Newest, 16, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        var epoll = Posix.EpollCreate();
        var (read, write) = Posix.Pipe();
        Assert.Equal(0, Posix.EpollCtl(epoll, 1, read, 1 /* EPOLLIN */, 42));
        var events = stackalloc byte[64];
        new Span<byte>(events, 64).Fill(0xaa);
        EpollWait(r, 30, memfd, (ulong)events, 4);
        EpollWait(r, 31, epoll, (ulong)events, 0);
        EpollWait(r, 32, epoll, (ulong)events, uint.MaxValue);
        EpollWait(r, 33, memfd, 0, 0);
        EpollWait(r, 34, epoll, (ulong)events, 4)->off = 1;
        EpollWait(r, 35, -1, (ulong)events, 4);
        EpollWait(r, 36, memfd, 0xffff_8000_0000_0000, 4);
        r.Submit();
        Assert.Equal([(30, -Errno.EINVAL), (31, -Errno.EINVAL), (32, -Errno.EINVAL), (33, -Errno.EINVAL), (34, -Errno.EINVAL), (35, -Errno.EBADF), (36, -Errno.EFAULT)], r.Results());

        EpollWait(r, 37, epoll, (ulong)events, 4);
        r.Submit();
        Assert.Empty(r.Results());
        var x = stackalloc byte[1] { (byte)'x' };
        var iov = new Posix.IoVec { Base = (nint)x, Length = 1 };
        Posix.pwritev2(write, &iov, 1, -1, 0);
        r.Submit(1);
        Assert.Equal([(37, 1)], r.Results());
        Assert.Equal(1u, *(uint*)events);
        Assert.Equal(42ul, *(ulong*)(events + Posix.EpollEventBytes - 8));

        // Ready events written to an address nothing maps.
        EpollWait(r, 38, epoll, 0x10, 4);
        r.Submit();
        Assert.Equal([(38, -Errno.EFAULT)], r.Results());
        Posix.Close(read);
        Posix.Close(write);
        Posix.Close(epoll);
    }

    public void Dispose() => Posix.Close(memfd);

    private static io_uring_sqe* Waitid(TestRing r, ulong userData, uint which, int id, uint options, ulong info) =>
        r.Sqe(io_uring_op.IORING_OP_WAITID, id, userData, off: info, len: which, fileIndex: options);

    private static io_uring_sqe* EpollWait(TestRing r, ulong userData, int epoll, ulong events, uint max) =>
        r.Sqe(io_uring_op.IORING_OP_EPOLL_WAIT, epoll, userData, addr: events, len: max);
}
