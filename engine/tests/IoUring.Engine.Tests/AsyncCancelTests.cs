using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>
/// IORING_OP_ASYNC_CANCEL over armed timeouts: by user_data the first match is cancelled (its own CQE 0,
/// the timeout's -ECANCELED after it), -ENOENT when nothing matches; ANY and ALL cancel every match and
/// count them (0 when none); an opcode key matches by opcode; a file key never matches a timeout.
/// IORING_REGISTER_SYNC_CANCEL searches the same way from the register call (measured on the host's 6.18).
/// </summary>
public sealed unsafe class AsyncCancelTests
{
    private static readonly TimeSpan Never = TimeSpan.FromDays(365);

    [Fact]
    public void ACancelByUserDataCancelsTheTimeoutAfterItsOwnCqe()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Timeout(1, Never);
        Assert.Equal(1, r.Submit());
        r.AsyncCancel(2, 1);
        r.AsyncCancel(3, 1);
        Assert.Equal(2, r.Submit());
        Assert.Equal([(2ul, 0), (3ul, -Errno.ENOENT), (1ul, -Errno.ECANCELED)], r.Results());
    }

    [Fact]
    public void AnyAndAllCancelEveryMatchAndCountThem()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Timeout(1, Never);
        r.Timeout(2, Never);
        r.Timeout(3, Never);
        Assert.Equal(3, r.Submit());
        r.AsyncCancel(4, 0, IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_OP | IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ALL, opcode: (byte)io_uring_op.IORING_OP_NOP);
        r.AsyncCancel(5, 0, IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ANY);
        r.AsyncCancel(6, 0, IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ANY);
        Assert.Equal(3, r.Submit());
        Assert.Equal([(4ul, 0), (5ul, 3), (6ul, 0), (1ul, -Errno.ECANCELED), (2ul, -Errno.ECANCELED), (3ul, -Errno.ECANCELED)], r.Results());
    }

    [Fact]
    public void AFileKeyNeverMatchesATimeoutAndMustNameAnOpenFile()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        var file = Posix.memfd_create("cancel-key", 0);
        r.Timeout(1, Never);
        Assert.Equal(1, r.Submit());
        r.AsyncCancel(2, 1, IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_FD, fd: file);
        r.AsyncCancel(3, 1, IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_FD, fd: -1);
        r.AsyncCancel(4, 1, IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_FD | IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ANY);
        Assert.Equal(3, r.Submit());
        Assert.Equal([(2ul, -Errno.ENOENT), (3ul, -Errno.EBADF), (4ul, -Errno.EINVAL)], r.Results());
        Posix.Close(file);
    }

    [Fact]
    public void ASyncCancelCancelsBeforeItReturnsAndCountsWithAny()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Timeout(1, Never);
        r.Timeout(2, Never);
        r.Timeout(3, Never);
        Assert.Equal(3, r.Submit());
        Assert.Equal(0, SyncCancel(r, 1));
        Assert.Equal([(1ul, -Errno.ECANCELED)], r.Results());
        Assert.Equal(-Errno.ENOENT, SyncCancel(r, 9));
        Assert.Equal(2, SyncCancel(r, 0, IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ANY));
        Assert.Equal([(2ul, -Errno.ECANCELED), (3ul, -Errno.ECANCELED)], r.Results());
        Assert.Equal(0, SyncCancel(r, 0, IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ANY));
    }

    [Fact]
    public void ASyncCancelRefusesPaddingAnArgumentCountOtherThanOneAndAClosedFileKey()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Assert.Equal(-Errno.EINVAL, SyncCancel(r, 2, dirty: true));
        Assert.Equal(-Errno.EINVAL, SyncCancel(r, 2, count: 2));
        Assert.Equal(-Errno.EINVAL, SyncCancel(r, 2, count: 0));
        Assert.Equal(-Errno.EBADF, SyncCancel(r, 0, IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_FD));
    }

    private static int SyncCancel(TestRing r, ulong userData, IoUringAsyncCancelFlags flags = 0, bool dirty = false, uint count = 1)
    {
        var sc = new io_uring_sync_cancel_reg { addr = userData, fd = -1, flags = (uint)flags };
        if (dirty)
        {
            ((byte*)&sc.pad)[3] = 1;
        }

        return r.Engine.Register(r.Ring.Fd, (uint)io_uring_register_op.IORING_REGISTER_SYNC_CANCEL, &sc, count);
    }
}
