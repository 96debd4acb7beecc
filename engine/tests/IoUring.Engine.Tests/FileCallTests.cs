using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>
/// FSYNC, SYNC_FILE_RANGE, FALLOCATE, FTRUNCATE, FADVISE and MADVISE on a memfd, a pipe and anonymous
/// memory. Each expectation is what the host's 6.18 kernel gave for the same submissions.
/// </summary>
public sealed unsafe class FileCallTests : IDisposable
{
    private readonly int memfd = Posix.memfd_create("file-call-tests", 0);
    private readonly (int Read, int Write) pipe = Posix.Pipe();

    public FileCallTests()
    {
        Posix.ftruncate(memfd, 8192);
    }

    [Fact]
    public void FallocateGrowsTheFileAndAnswersWhatShmemCannotDo()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Sqe(io_uring_op.IORING_OP_FALLOCATE, memfd, 1, off: 0, addr: 12288);
        r.Sqe(io_uring_op.IORING_OP_FALLOCATE, memfd, 2, off: 0, addr: 4096, len: 2); // PUNCH_HOLE without KEEP_SIZE
        r.Sqe(io_uring_op.IORING_OP_FALLOCATE, memfd, 3, off: 0, addr: 0);
        r.Sqe(io_uring_op.IORING_OP_FALLOCATE, memfd, 4, off: ulong.MaxValue, addr: 10);
        r.Sqe(io_uring_op.IORING_OP_FALLOCATE, memfd, 5, off: long.MaxValue, addr: 10);
        r.Sqe(io_uring_op.IORING_OP_FALLOCATE, pipe.Read, 6, off: 0, addr: 10);

        // rw_flags: refused at prep, which ends the submission (so it comes last).
        r.Sqe(io_uring_op.IORING_OP_FALLOCATE, memfd, 7, off: 0, addr: 10, opFlags: 1);
        r.Submit(7); // waits for every CQE: io-wq completes some
        Assert.Equal(
            [(1, 0), (2, -Errno.EOPNOTSUPP), (3, -Errno.EINVAL), (4, -Errno.EINVAL), (5, -Errno.EFBIG), (6, -Errno.EBADF), (7, -Errno.EINVAL)],
            r.Results().OrderBy(x => x.UserData).ToList());
        Assert.Equal(12288, Posix.Size(memfd));
    }

    [Fact]
    public void FallocateRefusesAModeItsKernelDoesNotKnowBeforeAskingTheFile()
    {
        // FALLOC_FL_WRITE_ZEROES (0x80) of a pipe's read end: known from 6.17, so the file answers (-EBADF:
        // not open for writing); unknown before, -EOPNOTSUPP (6.1 and 6.12 under qemu).
        foreach (var (modes, expected) in new[] { (KernelProfile.AllFallocateModes, -Errno.EBADF), (0x7fu, -Errno.EOPNOTSUPP) })
        {
            using var r = TestRing.Create(Snapshots.Newest with { FallocateModes = modes }, 8);
            r.Sqe(io_uring_op.IORING_OP_FALLOCATE, pipe.Read, 1, addr: 1, len: 0x80);
            r.Submit(1);
            Assert.Equal([(1, expected)], r.Results());
        }
    }

    [Fact]
    public void TheSystemCallsErrorIsOnlyTheResultAndTheChainGoesOn()
    {
        using var r = TestRing.Create(Snapshots.Newest, 16);
        r.Sqe(io_uring_op.IORING_OP_FSYNC, pipe.Read, 1, flags: IoUringSqeFlags.IOSQE_IO_LINK);
        r.Nop(2);
        r.Sqe(io_uring_op.IORING_OP_FALLOCATE, memfd, 3, addr: 10, len: 0x80, flags: IoUringSqeFlags.IOSQE_IO_LINK);
        r.Nop(4);
        r.Sqe(io_uring_op.IORING_OP_SYNC_FILE_RANGE, pipe.Read, 5, len: 10, flags: IoUringSqeFlags.IOSQE_IO_LINK);
        r.Nop(6);
        r.Sqe(io_uring_op.IORING_OP_FTRUNCATE, memfd, 7, off: ulong.MaxValue, flags: IoUringSqeFlags.IOSQE_IO_LINK);
        r.Nop(8);
        r.Sqe(io_uring_op.IORING_OP_MADVISE, -1, 9, addr: 0x1000, len: 4096, opFlags: 3, flags: IoUringSqeFlags.IOSQE_IO_LINK);
        r.Nop(10);
        r.Submit(10); // waits for every CQE: io-wq completes some
        Assert.Equal(
            [(1, -Errno.EINVAL), (2, 0), (3, -Errno.EOPNOTSUPP), (4, 0), (5, -Errno.ESPIPE), (6, 0), (7, -Errno.EINVAL), (8, 0), (9, -Errno.ENOMEM), (10, 0)],
            r.Results().OrderBy(x => x.UserData).ToList());
    }

    [Fact]
    public void AFadviseErrorAndAMissingFileBreakTheChain()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Sqe(io_uring_op.IORING_OP_FADVISE, memfd, 1, len: 10, opFlags: 6, flags: IoUringSqeFlags.IOSQE_IO_LINK); // no such advice
        r.Nop(2);
        r.Sqe(io_uring_op.IORING_OP_FADVISE, pipe.Read, 3, len: 10, opFlags: 3, flags: IoUringSqeFlags.IOSQE_IO_LINK); // WILLNEED, from io-wq
        r.Nop(4);
        r.Sqe(io_uring_op.IORING_OP_FSYNC, 999, 5, flags: IoUringSqeFlags.IOSQE_IO_LINK);
        r.Nop(6);
        r.Submit(6); // waits for every CQE: io-wq completes some
        Assert.Equal(
            [(1, -Errno.EINVAL), (2, -Errno.ECANCELED), (3, -Errno.ESPIPE), (4, -Errno.ECANCELED), (5, -Errno.EBADF), (6, -Errno.ECANCELED)],
            r.Results().OrderBy(x => x.UserData).ToList());
    }

    [Fact]
    public void FadviseTakesA64BitLengthInAddrWhereTheKernelDoes()
    {
        using (var r = TestRing.Create(Snapshots.Newest, 8))
        {
            r.Sqe(io_uring_op.IORING_OP_FADVISE, memfd, 1, addr: 100);
            r.Sqe(io_uring_op.IORING_OP_FADVISE, memfd, 2, addr: ulong.MaxValue);
            r.Submit(2); // waits for every CQE: io-wq completes some
            Assert.Equal([(1, 0), (2, -Errno.EINVAL)], r.Results());
        }

        using (var r = TestRing.Create(Snapshots.Newest with { AdviseLength64 = false }, 8))
        {
            // Each refused at prep, which ends its submission.
            r.Sqe(io_uring_op.IORING_OP_FADVISE, memfd, 1, addr: 100);
            r.Submit();
            r.Sqe(io_uring_op.IORING_OP_MADVISE, -1, 2, off: 4096);
            r.Submit();
            Assert.Equal([(1, -Errno.EINVAL), (2, -Errno.EINVAL)], r.Results());
        }
    }

    [Fact]
    public void FadviseAtANegativeOffsetIsRefusedWhereTheKernelRefusesIt()
    {
        // 7.2 and 7.3-rc under qemu: -EINVAL, a failure (a pipe still -ESPIPE); 6.12 and the host's 6.18: 0.
        using (var r = TestRing.Create(Snapshots.Newest with { FadviseRefusesNegativeOffset = true }, 8))
        {
            r.Sqe(io_uring_op.IORING_OP_FADVISE, memfd, 1, off: ulong.MaxValue, flags: IoUringSqeFlags.IOSQE_IO_LINK);
            r.Nop(2);
            r.Sqe(io_uring_op.IORING_OP_FADVISE, pipe.Read, 3, off: ulong.MaxValue);
            r.Submit(3);
            Assert.Equal([(1, -Errno.EINVAL), (2, -Errno.ECANCELED), (3, -Errno.ESPIPE)], r.Results().OrderBy(x => x.UserData).ToList());
        }

        using (var r = TestRing.Create(Snapshots.Newest with { FadviseRefusesNegativeOffset = false }, 8))
        {
            r.Sqe(io_uring_op.IORING_OP_FADVISE, memfd, 1, off: ulong.MaxValue);
            r.Submit(1);
            Assert.Equal([(1, 0)], r.Results());
        }
    }

    [Fact]
    public void FtruncateSetsTheLengthOfAWritableRegularFileOnly()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Sqe(io_uring_op.IORING_OP_FTRUNCATE, memfd, 1, off: 100);
        r.Sqe(io_uring_op.IORING_OP_FTRUNCATE, pipe.Read, 2, off: 10);
        r.Sqe(io_uring_op.IORING_OP_FTRUNCATE, 999, 3, off: 10);
        r.Sqe(io_uring_op.IORING_OP_FTRUNCATE, memfd, 4, off: 10, len: 1); // refused at prep: the submission ends here
        r.Submit(4); // waits for every CQE: io-wq completes some
        Assert.Equal([(1, 0), (2, -Errno.EINVAL), (3, -Errno.EBADF), (4, -Errno.EINVAL)], r.Results().OrderBy(x => x.UserData).ToList());
        Assert.Equal(100, Posix.Size(memfd));
    }

    [Fact]
    public void MadviseDontneedDropsAnonymousPagesTakingItsLengthFromOff()
    {
        var memory = (byte*)Posix.Mmap(0, 16384, 3, 0x22, -1, 0); // PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS
        try
        {
            new Span<byte>(memory, 16384).Fill(7);
            using var r = TestRing.Create(Snapshots.Newest, 8);
            r.Sqe(io_uring_op.IORING_OP_MADVISE, -1, 1, addr: (ulong)memory, len: 4096, opFlags: 4); // MADV_DONTNEED
            r.Sqe(io_uring_op.IORING_OP_MADVISE, -1, 2, addr: (ulong)memory + 8192, off: 4096, opFlags: 4);
            r.Sqe(io_uring_op.IORING_OP_MADVISE, -1, 3, addr: (ulong)memory + 1, len: 4096, opFlags: 4);
            r.Submit(3); // waits for every CQE: io-wq completes some
            Assert.Equal([(1, 0), (2, 0), (3, -Errno.EINVAL)], r.Results().OrderBy(x => x.UserData).ToList());
            Assert.Equal([0, 7, 0, 7], new[] { memory[0], memory[4096], memory[8192], memory[12288] });
        }
        finally
        {
            Posix.Munmap((nint)memory, 16384);
        }
    }

    [Fact]
    public void SyncFileRangeRefusesAnAddressAtPrepAndUnknownFlagsAtTheCall()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Sqe(io_uring_op.IORING_OP_SYNC_FILE_RANGE, memfd, 1, len: 100, opFlags: 7);
        r.Sqe(io_uring_op.IORING_OP_SYNC_FILE_RANGE, memfd, 2, len: 100, opFlags: 8);
        r.Sqe(io_uring_op.IORING_OP_SYNC_FILE_RANGE, memfd, 3, addr: 5, len: 100);
        r.Submit(3); // waits for every CQE: io-wq completes some
        Assert.Equal([(1, 0), (2, -Errno.EINVAL), (3, -Errno.EINVAL)], r.Results().OrderBy(x => x.UserData).ToList());
    }

    public void Dispose()
    {
        Posix.Close(memfd);
        Posix.Close(pipe.Read);
        Posix.Close(pipe.Write);
    }
}
