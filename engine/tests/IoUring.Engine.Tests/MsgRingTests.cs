using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>
/// MSG_RING between two rings of one engine, and to the sending ring itself. Each expectation is what the
/// host's 6.18 kernel gave for the same submissions.
/// </summary>
public sealed unsafe class MsgRingTests : IDisposable
{
    private const uint Data = (uint)io_uring_msg_ring_flags.IORING_MSG_DATA;
    private const uint SendFd = (uint)io_uring_msg_ring_flags.IORING_MSG_SEND_FD;
    private readonly int memfd = Posix.memfd_create("msg-ring-tests", 0);

    // The newest snapshot as the host's 6.18 behaves, which passes IORING_CQE_F_32 on.
    private static KernelProfile Host => Snapshots.Newest with { MsgRingRefusesBigCqeFlag = false };

    [Fact]
    public void DataPostsOnTheTargetAtOnceAndEveryErrorFailsTheRequest()
    {
        using var a = TestRing.Create(Host, 16, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        using var b = a.Beside(16);
        a.Nop(10);
        Message(a, a.Ring.Fd, 1, Data, 77, 5);
        Message(a, b.Ring.Fd, 2, Data, 78, 6);
        Message(a, memfd, 3, Data, 79, 6);
        Message(a, -1, 4, Data, 79, 6);
        Message(a, b.Ring.Fd, 5, 7, 79, 6);
        Message(a, b.Ring.Fd, 6, Data, 79, 6, sourceSlot: 1);
        Message(a, b.Ring.Fd, 7, Data, 79, 6, fileIndex: 1);
        Message(a, b.Ring.Fd, 8, Data, 80, 6, flags: Constants.IORING_MSG_RING_FLAGS_PASS, fileIndex: 8);
        Message(a, b.Ring.Fd, 9, Data, 79, 6, flags: Constants.IORING_MSG_RING_CQE_SKIP);
        Message(a, b.Ring.Fd, 11, Data, 79, 6, flags: 4);
        Message(a, memfd, 12, Data, 79, 6, sqeFlags: IoUringSqeFlags.IOSQE_IO_LINK);
        a.Nop(13);
        Message(a, b.Ring.Fd, 14, (1ul << 32) | Data, 81, unchecked((uint)-3));
        a.Submit();

        // The message to the ring itself lands ahead of the batch the NOP before it is in.
        Assert.Equal(
            [(77, 5), (10, 0), (1, 0), (2, 0), (3, -Errno.EBADFD), (4, -Errno.EBADF), (5, -Errno.EINVAL), (6, -Errno.EINVAL), (7, -Errno.EINVAL), (8, 0), (9, -Errno.EINVAL), (11, -Errno.EINVAL), (12, -Errno.EBADFD), (14, 0), (13, -Errno.ECANCELED)],
            a.Results());
        Assert.Equal([new(78, 6, 0), new(80, 6, 8), new(81, -3, 0)], b.Reap());
    }

    [Fact]
    public void SendFdInstallsAFixedFileInTheTargetsTable()
    {
        using var a = TestRing.Create(Host, 16, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        using var b = a.Beside(16);
        var files = stackalloc int[2] { memfd, -1 };
        Assert.Equal(0, a.Ring.RegisterFiles(files, 2));
        Message(a, a.Ring.Fd, 20, SendFd, 90, 0, fileIndex: 1);
        Message(a, b.Ring.Fd, 21, SendFd, 91, 0, fileIndex: 1);
        a.Submit();
        Assert.Equal([(20, -Errno.EINVAL), (21, -Errno.ENXIO)], a.Results());

        var sparse = stackalloc int[3] { -1, -1, -1 };
        Assert.Equal(0, b.Ring.RegisterFiles(sparse, 3));
        Message(a, b.Ring.Fd, 22, SendFd, 92, 0, fileIndex: 2);
        Message(a, b.Ring.Fd, 23, SendFd, 93, 0, fileIndex: Constants.IORING_FILE_INDEX_ALLOC);
        Message(a, b.Ring.Fd, 24, SendFd, 94, 0, flags: Constants.IORING_MSG_RING_CQE_SKIP, fileIndex: 3);
        Message(a, b.Ring.Fd, 25, SendFd, 95, 0, fileIndex: 1, sourceSlot: 1);
        Message(a, b.Ring.Fd, 26, SendFd, 96, 0, fileIndex: 1, sourceSlot: 5);
        Message(a, b.Ring.Fd, 27, SendFd, 97, 1, fileIndex: 1);
        Message(a, b.Ring.Fd, 28, SendFd, 98, 0);
        Message(a, b.Ring.Fd, 29, SendFd, 99, 0, fileIndex: 4);
        Message(a, b.Ring.Fd, 30, SendFd, 100, 0, fileIndex: Constants.IORING_FILE_INDEX_ALLOC);
        a.Submit();
        Assert.Equal(
            [(22, 0), (23, 2), (24, 0), (25, -Errno.EBADF), (26, -Errno.EBADF), (27, -Errno.EINVAL), (28, -Errno.EINVAL), (29, -Errno.EINVAL), (30, 0)],
            a.Results());
        Assert.Equal([(92, 0), (93, 2), (100, 0)], b.Results());
    }

    [Fact]
    public void ADisabledTargetIsEbadfdAndABigCqeFlagIsPassedOn()
    {
        using var a = TestRing.Create(Host, 16, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        using var b = a.Beside(16);
        using var disabled = a.Beside(4, IoUringSetupFlags.IORING_SETUP_R_DISABLED);
        var files = stackalloc int[1] { memfd };
        Assert.Equal(0, a.Ring.RegisterFiles(files, 1));
        Message(a, disabled.Ring.Fd, 40, Data, 1, 1);
        Message(a, disabled.Ring.Fd, 41, SendFd, 1, 0, fileIndex: 1);
        Message(a, b.Ring.Fd, 42, Data, 1, 1, flags: Constants.IORING_MSG_RING_FLAGS_PASS, fileIndex: Constants.IORING_CQE_F_32);
        Message(a, b.Ring.Fd, 43, Data, 1, 1, sqeFlags: IoUringSqeFlags.IOSQE_FIXED_FILE);
        Message(a, b.Ring.Fd, 44, Data, 2, 1, sqeFlags: IoUringSqeFlags.IOSQE_ASYNC);
        a.Submit(5);
        Assert.Equal([(40, -Errno.EBADFD), (41, -Errno.EBADFD), (42, 0), (43, -Errno.EBADF), (44, 0)], a.Results());

        // The host's 6.18 passes IORING_CQE_F_32 on to a ring of 16-byte CQEs (KernelProfile.MsgRingRefusesBigCqeFlag).
        Assert.Equal([new(1, 1, Constants.IORING_CQE_F_32), new(2, 1, 0)], b.Reap());
    }

    [Fact]
    public void SixOneRefusesFlagsPassAtPrepAndSevenRefusesABigCqeFlagForAPlainRing()
    {
        using (var a = TestRing.Create(Snapshots.Profile("6.1"), 4))
        {
            using var b = a.Beside(4);
            Message(a, b.Ring.Fd, 1, Data, 1, 1, flags: Constants.IORING_MSG_RING_FLAGS_PASS);
            a.Submit();
            Assert.Equal([(1, -Errno.EINVAL)], a.Results());
        }

        using (var a = TestRing.Create(Snapshots.Newest with { MsgRingRefusesBigCqeFlag = true }, 4))
        {
            using var b = a.Beside(4);
            using var mixed = a.Beside(4, IoUringSetupFlags.IORING_SETUP_CQE_MIXED);
            Message(a, b.Ring.Fd, 1, Data, 1, 1, flags: Constants.IORING_MSG_RING_FLAGS_PASS, fileIndex: Constants.IORING_CQE_F_32);
            Message(a, mixed.Ring.Fd, 2, Data, 7, 1, flags: Constants.IORING_MSG_RING_FLAGS_PASS, fileIndex: Constants.IORING_CQE_F_32);
            a.Submit();
            Assert.Equal([(1, -Errno.EINVAL), (2, 0)], a.Results());
            Assert.Equal([new(7, 1, Constants.IORING_CQE_F_32)], mixed.Reap());
        }
    }

    public void Dispose() => Posix.Close(memfd);

    private static void Message(TestRing r, int fd, ulong userData, ulong command, ulong targetUserData, uint len, uint flags = 0, uint fileIndex = 0, ulong sourceSlot = 0, IoUringSqeFlags sqeFlags = 0) =>
        r.Sqe(io_uring_op.IORING_OP_MSG_RING, fd, userData, off: targetUserData, addr: command, len: len, opFlags: flags, fileIndex: fileIndex, flags: sqeFlags)->addr3 = sourceSlot;
}
