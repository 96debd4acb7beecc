using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>
/// SEND_ZC and SENDMSG_ZC: where the notification follows and where it does not. Each expectation is
/// what the host's 6.18 kernel gave for the same submissions (6.1's and 7.2's differences as their
/// sources read).
/// </summary>
public sealed unsafe class SendZeroCopyTests : IDisposable
{
    private const uint More = Constants.IORING_CQE_F_MORE;
    private const uint Notif = Constants.IORING_CQE_F_NOTIF;
    private readonly int memfd = Posix.memfd_create("send-zero-copy-tests", 0);
    private readonly TestMemory memory = new();

    // The newest snapshot as the host's 6.18 behaves: addr3 is no notification's user_data yet.
    private static KernelProfile Host => Snapshots.Newest with { ZeroCopyNotificationUserData = false };

    [Fact]
    public void EveryOutcomeAfterTheNotificationIsTakenCarriesMoreAndANotificationFollows()
    {
        using var r = TestRing.Create(Host, 64, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        var (a, b) = Posix.SocketPair(1); // SOCK_STREAM
        // "hello" in 64 zeroed bytes: as a SENDMSG_ZC's msghdr, a name of length 0 and no vectors.
        var data = memory.Zeroed(64);
        "hello"u8.CopyTo(new Span<byte>((void*)data, 5));
        Send(r, 1, memfd, data, 5);
        Send(r, 2, -1, data, 5);
        Send(r, 3, memfd, data, 5, 0x40);
        Send(r, 4, -1, data, 5)->addr3 = 5;
        Send(r, 5, memfd, data, 5)->flags = (byte)IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS;
        Send(r, 6, memfd, data, 5)->__pad2[0] = 1;
        Send(r, 7, -1, data, 0, (ushort)Constants.IORING_RECVSEND_FIXED_BUF, io_uring_op.IORING_OP_SENDMSG_ZC);
        Send(r, 8, a, data, 5);
        Send(r, 9, memfd, data, 5, (ushort)Constants.IORING_SEND_ZC_REPORT_USAGE);
        var withAddress = Send(r, 10, memfd, data, 5);
        withAddress->off = 0x10;
        withAddress->addr_len = 16;
        Send(r, 11, memfd, data, 5)->flags = (byte)IoUringSqeFlags.IOSQE_IO_LINK;
        r.Nop(12);
        Send(r, 13, memfd, data, 5, (ushort)Constants.IORING_RECVSEND_FIXED_BUF);
        Send(r, 14, memfd, data, 0, 0, io_uring_op.IORING_OP_SENDMSG_ZC)->off = 1;
        Send(r, 15, memfd, data, 5)->flags = (byte)IoUringSqeFlags.IOSQE_BUFFER_SELECT;
        Send(r, 16, memfd, 0xffff_8000_0000_0000, 5);
        Send(r, 17, memfd, 0x10, 0, 0, io_uring_op.IORING_OP_SENDMSG_ZC);
        Send(r, 18, memfd, data, 5)->__pad3[0] = 1;
        Send(r, 19, memfd, data, 5, (ushort)Constants.IORING_SEND_VECTORIZED);
        r.Submit();
        r.Submit();
        Assert.Equal(
            [
                new(1, -Errno.ENOTSOCK, More), new(2, -Errno.EBADF, More), new(3, -Errno.EINVAL, More), new(4, -Errno.EINVAL, 0),
                new(5, -Errno.EINVAL, 0), new(6, -Errno.EINVAL, 0), new(7, -Errno.EBADF, More), new(8, -Errno.EOPNOTSUPP, More),
                new(9, -Errno.ENOTSOCK, More), new(10, -Errno.EFAULT, More), new(11, -Errno.ENOTSOCK, More), new(13, -Errno.ENOTSOCK, More),
                new(14, -Errno.EINVAL, More), new(15, -Errno.EOPNOTSUPP, 0), new(16, -Errno.EFAULT, More), new(17, -Errno.EFAULT, More),
                new(18, -Errno.EINVAL, More), new(19, -Errno.ENOTSOCK, More),
                new(1, 0, Notif), new(2, 0, Notif), new(3, 0, Notif), new(7, 0, Notif), new(8, 0, Notif),
                new(9, int.MinValue, Notif), new(10, 0, Notif), new(12, -Errno.ECANCELED, 0), new(11, 0, Notif), new(13, 0, Notif),
                new(14, 0, Notif), new(16, 0, Notif), new(17, 0, Notif), new(18, 0, Notif), new(19, 0, Notif),
            ],
            r.Reap());
        Posix.Close(a);
        Posix.Close(b);
    }

    [Fact]
    public void AChainMemberCancelledByTheChainHasNoMoreFlagButItsNotificationFollows()
    {
        using var r = TestRing.Create(Host, 8);
        r.Nop(20, IoUringSqeFlags.IOSQE_IO_LINK, inject: -5);
        Send(r, 21, memfd, memory.Text("hello"), 5);
        r.Submit();
        r.Submit();
        Assert.Equal([new(20, -5, 0), new(21, -Errno.ECANCELED, 0), new(21, 0, Notif)], r.Reap());
    }

    [Fact]
    public void SixOneRefusesUnknownFlagsBeforeTheNotificationAndSevenTwoTakesAddr3AsItsUserData()
    {
        using (var r = TestRing.Create(Snapshots.Profile("6.1"), 8))
        {
            Send(r, 1, memfd, memory.Text("hello"), 5, 0x40);
            r.Submit();
            r.Submit();
            Assert.Equal([new(1, -Errno.EINVAL, 0)], r.Reap());
        }

        using (var r = TestRing.Create(Snapshots.Newest, 8))
        {
            Send(r, 1, memfd, memory.Text("hello"), 5)->addr3 = 77;
            r.Submit();
            r.Submit();
            Assert.Equal([new(1, -Errno.ENOTSOCK, More), new(77, 0, Notif)], r.Reap());
        }
    }

    public void Dispose()
    {
        Posix.Close(memfd);
        memory.Dispose();
    }

    private static io_uring_sqe* Send(TestRing r, ulong userData, int fd, ulong buffer, uint length, ushort flags = 0, io_uring_op op = io_uring_op.IORING_OP_SEND_ZC)
    {
        var sqe = r.Sqe(op, fd, userData, addr: buffer, len: length);
        sqe->ioprio = flags;
        return sqe;
    }
}
