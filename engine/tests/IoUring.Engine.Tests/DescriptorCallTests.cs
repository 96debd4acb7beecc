using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>
/// CLOSE, FILES_UPDATE and FIXED_FD_INSTALL between the process's descriptors and the ring's fixed file
/// table, and EPOLL_CTL. Each expectation is what the host's 6.18 kernel gave for the same submissions.
/// </summary>
public sealed unsafe class DescriptorCallTests : IDisposable
{
    private const uint Alloc = Constants.IORING_FILE_INDEX_ALLOC;

    private readonly int memfd = Posix.memfd_create("descriptor-call-tests", 0);
    private readonly (int Read, int Write) pipe = Posix.Pipe();

    [Fact]
    public void CloseOfAFixedSlotEmptiesItAndItsErrorsSayWhy()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Sqe(io_uring_op.IORING_OP_CLOSE, 0, 1, fileIndex: 1);
        r.Submit(1);
        Assert.Equal([(1, -Errno.ENXIO)], r.Results());

        Register(r, memfd, -1, memfd, -1);
        r.Sqe(io_uring_op.IORING_OP_CLOSE, 0, 2, fileIndex: 2); // slot 1: empty
        r.Sqe(io_uring_op.IORING_OP_CLOSE, 0, 3, fileIndex: 1);
        r.Sqe(io_uring_op.IORING_OP_CLOSE, 0, 4, fileIndex: 5); // past the table
        r.Sqe(io_uring_op.IORING_OP_CLOSE, 0, 5, fileIndex: Alloc);
        r.Sqe(io_uring_op.IORING_OP_FSYNC, 0, 6, flags: IoUringSqeFlags.IOSQE_FIXED_FILE);
        r.Submit(5);
        Assert.Equal([(2, -Errno.EBADF), (3, 0), (4, -Errno.EINVAL), (5, -Errno.EINVAL), (6, -Errno.EBADF)], r.Results().OrderBy(x => x.UserData).ToList());
    }

    [Fact]
    public void CloseOfADescriptorClosesItButNeverARing()
    {
        var dup = Posix.Dup(memfd);
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Sqe(io_uring_op.IORING_OP_CLOSE, dup, 1);
        r.Sqe(io_uring_op.IORING_OP_CLOSE, dup, 2);
        r.Sqe(io_uring_op.IORING_OP_CLOSE, r.Ring.Fd, 3);
        r.Sqe(io_uring_op.IORING_OP_CLOSE, -1, 4);
        r.Sqe(io_uring_op.IORING_OP_CLOSE, 0, 5, flags: IoUringSqeFlags.IOSQE_FIXED_FILE);
        r.Submit(5);
        Assert.Equal([(1, 0), (2, -Errno.EBADF), (3, -Errno.EBADF), (4, -Errno.EBADF), (5, -Errno.EBADF)], r.Results());
        Assert.False(Posix.IsOpen(dup));
    }

    [Fact]
    public void FilesUpdateSetsSkipsAndClearsSlotsUpToTheFirstError()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Register(r, -1, -1, -1, -1);
        var fds = stackalloc int[4] { memfd, (int)Constants.IORING_REGISTER_FILES_SKIP, pipe.Read, 0x3fff_fff0 };
        r.Sqe(io_uring_op.IORING_OP_FILES_UPDATE, 0, 1, addr: (ulong)fds, len: 4);
        r.Sqe(io_uring_op.IORING_OP_FILES_UPDATE, 0, 2, off: 3, addr: (ulong)fds, len: 2);
        r.Sqe(io_uring_op.IORING_OP_FILES_UPDATE, 0, 3, off: 0xffff_fffe, addr: (ulong)fds, len: 3);
        r.Sqe(io_uring_op.IORING_OP_FILES_UPDATE, 0, 4, addr: 0x1000, len: 2);
        r.Sqe(io_uring_op.IORING_OP_FSYNC, 2, 5, flags: IoUringSqeFlags.IOSQE_FIXED_FILE); // the pipe, now in slot 2: fsync(2)'s -EINVAL
        r.Sqe(io_uring_op.IORING_OP_FILES_UPDATE, 0, 6, addr: (ulong)fds, len: 0); // refused at prep: ends the submission
        r.Submit(6);
        Assert.Equal([(1, 3), (2, -Errno.EINVAL), (3, -Errno.EOVERFLOW), (4, -Errno.EFAULT), (5, -Errno.EINVAL), (6, -Errno.EINVAL)], r.Results().OrderBy(x => x.UserData).ToList());
    }

    [Fact]
    public void FilesUpdateWithIndexAllocWritesBackTheSlotsItFound()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Register(r, memfd, -1, -1, -1);
        var fds = stackalloc int[3] { memfd, pipe.Read, memfd };
        r.Sqe(io_uring_op.IORING_OP_FILES_UPDATE, 0, 1, off: Alloc, addr: (ulong)fds, len: 3);
        r.Submit(1);
        Assert.Equal([(1, 3)], r.Results());
        Assert.Equal([1, 2, 3], new[] { fds[0], fds[1], fds[2] });

        var more = stackalloc int[1] { memfd };
        r.Sqe(io_uring_op.IORING_OP_FILES_UPDATE, 0, 2, off: Alloc, addr: (ulong)more, len: 1);
        r.Submit(1);
        Assert.Equal([(2, -Errno.ENFILE)], r.Results());
        Assert.Equal(memfd, more[0]);
    }

    [Fact]
    public void FixedFdInstallMakesAFixedFileADescriptorAgain()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Register(r, memfd, -1);
        r.Sqe(io_uring_op.IORING_OP_FIXED_FD_INSTALL, 0, 1, flags: IoUringSqeFlags.IOSQE_FIXED_FILE);
        r.Sqe(io_uring_op.IORING_OP_FIXED_FD_INSTALL, 1, 2, flags: IoUringSqeFlags.IOSQE_FIXED_FILE); // empty slot
        r.Sqe(io_uring_op.IORING_OP_FIXED_FD_INSTALL, memfd, 3); // not a fixed file
        r.Submit(3);
        var results = r.Results().OrderBy(x => x.UserData).ToList();
        Assert.True(results[0].Res >= 0, $"FIXED_FD_INSTALL returned {results[0].Res}");
        Assert.Equal([(2, -Errno.EBADF), (3, -Errno.EBADF)], results[1..]);
        Assert.Equal(Posix.Size(memfd), Posix.Size(results[0].Res));
        Posix.Close(results[0].Res);

        r.Sqe(io_uring_op.IORING_OP_FIXED_FD_INSTALL, 0, 4, opFlags: 2, flags: IoUringSqeFlags.IOSQE_FIXED_FILE);
        r.Submit(1);
        Assert.Equal([(4, -Errno.EINVAL)], r.Results());
    }

    [Fact]
    public void EpollCtlChangesAnInterestListAsEpollCtlDoes()
    {
        var epoll = Posix.EpollCreate();
        var ev = stackalloc ulong[2] { 1, 7 }; // EPOLLIN; the layout differs by architecture, the first word's low half is the events either way
        using var r = TestRing.Create(Snapshots.Newest, 16);
        r.Sqe(io_uring_op.IORING_OP_EPOLL_CTL, epoll, 1, off: (ulong)pipe.Read, addr: (ulong)ev, len: 1); // EPOLL_CTL_ADD
        r.Sqe(io_uring_op.IORING_OP_EPOLL_CTL, epoll, 2, off: (ulong)pipe.Read, addr: (ulong)ev, len: 1);
        r.Sqe(io_uring_op.IORING_OP_EPOLL_CTL, epoll, 3, off: (ulong)pipe.Read, addr: 0x1000, len: 2); // EPOLL_CTL_DEL reads no event
        r.Sqe(io_uring_op.IORING_OP_EPOLL_CTL, epoll, 4, off: (ulong)pipe.Read, len: 2);
        r.Sqe(io_uring_op.IORING_OP_EPOLL_CTL, epoll, 5, off: (ulong)memfd, addr: (ulong)ev, len: 1);
        r.Sqe(io_uring_op.IORING_OP_EPOLL_CTL, memfd, 6, off: (ulong)pipe.Read, addr: (ulong)ev, len: 1);
        r.Sqe(io_uring_op.IORING_OP_EPOLL_CTL, epoll, 7, off: (ulong)pipe.Read, addr: 0x1000, len: 1); // refused at prep: ends the submission
        r.Submit(7);
        Assert.Equal(
            [(1, 0), (2, -17 /* EEXIST */), (3, 0), (4, -Errno.ENOENT), (5, -Errno.EPERM), (6, -Errno.EINVAL), (7, -Errno.EFAULT)],
            r.Results().OrderBy(x => x.UserData).ToList());
        Posix.Close(epoll);
    }

    public void Dispose()
    {
        Posix.Close(memfd);
        Posix.Close(pipe.Read);
        Posix.Close(pipe.Write);
    }

    private static void Register(TestRing r, params int[] fds)
    {
        fixed (int* table = fds)
        {
            Assert.Equal(0, r.Ring.RegisterFiles(table, (uint)fds.Length));
        }
    }
}
