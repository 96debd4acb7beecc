using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>
/// SEND, RECV, SENDMSG, RECVMSG and SHUTDOWN on a connected AF_UNIX stream socket pair. Each expectation is
/// what the host's 6.18 kernel gave for the same submissions; the per-kernel ones take the profile value
/// each kernel of the corpus was measured with (the conformance suite holds the engine to every kernel on
/// generated programs of this kind).
/// </summary>
public sealed unsafe class SocketTests : IDisposable
{
    private const uint WaitAll = 0x100;
    private const uint DontWait = 0x40;
    private const uint NonEmpty = Constants.IORING_CQE_F_SOCK_NONEMPTY;

    private readonly int a;
    private readonly int b;
    private readonly byte* buffer;

    public SocketTests()
    {
        (a, b) = Posix.SocketPair(1);
        buffer = (byte*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(256);
        for (var k = 0; k < 64; k++)
        {
            buffer[k] = (byte)('a' + (k % 26));
        }
    }

    [Fact]
    public void ASendIsReceivedByThePeer()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Transfer(r, io_uring_op.IORING_OP_SEND, a, 0, 5, 1);
        Transfer(r, io_uring_op.IORING_OP_RECV, b, 100, 5, 2);
        r.Submit();
        Assert.Equal([new(1, 5, 0), new(2, 5, 0)], r.Reap());
        Assert.Equal("abcde", System.Text.Encoding.ASCII.GetString(buffer + 100, 5));
    }

    /// <summary>A WRITE of nothing is still a send: -EPIPE once the socket's sending side is shut down (pwritev2 would answer 0).</summary>
    [Fact]
    public void AnEmptyWriteOfAShutDownSocketIsEpipe()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Posix.Shutdown(a, 1); // SHUT_WR
        Prep.Write(r.Ring.GetSqe(), a, buffer, 0, 0, 1);
        Prep.Write(r.Ring.GetSqe(), b, buffer, 0, 0, 2);
        r.Submit();
        Assert.Equal([(1ul, -Errno.EPIPE), (2ul, 0)], r.Results().OrderBy(c => c.UserData));
    }

    [Fact]
    public void AReceiveOfAnEmptySocketWaitsForASend()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Transfer(r, io_uring_op.IORING_OP_RECV, b, 100, 16, 1);
        r.Submit();
        Assert.Empty(r.Reap());
        Transfer(r, io_uring_op.IORING_OP_SEND, a, 0, 3, 2);
        r.Submit();
        Assert.Equal([new(2, 3, 0), new(1, 3, 0)], r.Reap());
    }

    [Fact]
    public void AReceiveThatLeavesBytesQueuedSaysSoWhereTheSocketReportsIt()
    {
        Send(8);
        using (var r = TestRing.Create(Snapshots.Newest, 8))
        {
            Transfer(r, io_uring_op.IORING_OP_RECV, b, 100, 4, 1);
            Transfer(r, io_uring_op.IORING_OP_RECV, b, 100, 4, 2);
            r.Submit();
            Assert.Equal([new(1, 4, NonEmpty), new(2, 4, 0)], r.Reap());
        }

        Send(8);
        using (var r = TestRing.Create(Snapshots.Newest with { UnixStreamInq = UnixStreamInq.Never }, 8))
        {
            Transfer(r, io_uring_op.IORING_OP_RECV, b, 100, 4, 1);
            r.Submit();
            Assert.Equal([new(1, 4, 0)], r.Reap());
        }
    }

    [Fact]
    public void AReceiveWhoseSocketIsReadyAsItArmsIsIssuedAgainAndQueuesBehindThoseArmedBefore()
    {
        // RECV 3 (POLL_FIRST) arms while the socket holds data: it is issued again from task work, after
        // the WAITALL RECV 1 has taken everything, and arms anew, in front of RECV 1 on the socket's wait
        // queue. The next byte goes to RECV 3 (6.12, 7.2, 7.3-rc under qemu).
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Transfer(r, io_uring_op.IORING_OP_RECV, b, 100, 64, 1, WaitAll);
        Transfer(r, io_uring_op.IORING_OP_SEND, a, 0, 20, 2);
        Transfer(r, io_uring_op.IORING_OP_RECV, b, 200, 1, 3, ioprio: 1);
        Transfer(r, io_uring_op.IORING_OP_SEND, a, 0, 1, 4);
        r.Submit();
        Assert.Equal([new(2, 20, 0), new(4, 1, 0)], r.Reap());
        Transfer(r, io_uring_op.IORING_OP_SEND, a, 0, 1, 5);
        r.Submit();
        Assert.Equal([new(5, 1, 0), new(3, 1, 0)], r.Reap());
    }

    [Fact]
    public void MsgWaitallKeepsWhatItReceivedAndWaitsForTheRest()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Transfer(r, io_uring_op.IORING_OP_RECV, b, 100, 8, 1, WaitAll);
        r.Submit();
        Transfer(r, io_uring_op.IORING_OP_SEND, a, 0, 5, 2);
        r.Submit();
        Assert.Equal([new(2, 5, 0)], r.Reap());
        Transfer(r, io_uring_op.IORING_OP_SEND, a, 5, 3, 3);
        r.Submit();
        Assert.Equal([new(3, 3, 0), new(1, 8, 0)], r.Reap());
        Assert.Equal("abcdefgh", System.Text.Encoding.ASCII.GetString(buffer + 100, 8));
    }

    [Fact]
    public void MsgDontwaitWithMsgWaitallPostsWhatItMovedAndBreaksItsChain()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Send(3);
        Transfer(r, io_uring_op.IORING_OP_RECV, b, 100, 8, 1, WaitAll | DontWait, IoUringSqeFlags.IOSQE_IO_LINK);
        r.Nop(2);
        r.Submit();
        Assert.Equal([new(1, 3, 0), new(2, -125, 0)], r.Reap());
    }

    [Fact]
    public void MsgDontwaitOnAnEmptySocketIsEagain()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Transfer(r, io_uring_op.IORING_OP_RECV, b, 100, 8, 1, DontWait);
        r.Submit();
        Assert.Equal([new(1, -Errno.EAGAIN, 0)], r.Reap());
    }

    [Fact]
    public void RecvmsgFillsTheVectorsOfItsMsghdrAndWritesItsFlagsBack()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Send(8);
        var iov = stackalloc Posix.IoVec[2];
        iov[0] = new Posix.IoVec { Base = (nint)(buffer + 100), Length = 3 };
        iov[1] = new Posix.IoVec { Base = (nint)(buffer + 110), Length = 2 };
        var msg = new Posix.MsgHdr { Iov = (nint)iov, IovLength = 2, Flags = 0x7777 };
        Message(r, io_uring_op.IORING_OP_RECVMSG, b, &msg, 1);
        r.Submit();
        Assert.Equal([new(1, 5, NonEmpty)], r.Reap());
        Assert.Equal(0, msg.Flags);
        Assert.Equal("abc", System.Text.Encoding.ASCII.GetString(buffer + 100, 3));
        Assert.Equal("de", System.Text.Encoding.ASCII.GetString(buffer + 110, 2));
    }

    [Fact]
    public void AMsghdrOfTooManyVectorsIsRefusedWithTheErrnoOfTheKernel()
    {
        var iov = stackalloc Posix.IoVec[1025];
        var msg = new Posix.MsgHdr { Iov = (nint)iov, IovLength = 1025 };
        foreach (var (emsgsize, expected) in new[] { (true, -Errno.EMSGSIZE), (false, -Errno.EINVAL) })
        {
            using var r = TestRing.Create(Snapshots.Newest with { MsgTooManyVectorsIsEmsgsize = emsgsize }, 8);
            Message(r, io_uring_op.IORING_OP_SENDMSG, a, &msg, 1);
            r.Submit();
            Assert.Equal([new(1, expected, 0)], r.Reap());
        }
    }

    [Fact]
    public void ARecvWithPollFirstOfAFileThatIsNotASocketIsRefusedOrWaitsAsTheKernelOrdersItsChecks()
    {
        var memfd = Posix.memfd_create("socket-tests", 0);
        try
        {
            foreach (var (socketFirst, expected) in new[] { (true, -Errno.ENOTSOCK), (false, -Errno.EAGAIN) })
            {
                using var r = TestRing.Create(Snapshots.Newest with { RecvChecksSocketFirst = socketFirst }, 8);
                Transfer(r, io_uring_op.IORING_OP_RECV, memfd, 100, 8, 1, ioprio: Constants.IORING_RECVSEND_POLL_FIRST);
                r.Submit(1);
                Assert.Equal([new(1, expected, 0)], r.Reap());
            }
        }
        finally
        {
            Posix.Close(memfd);
        }
    }

    [Fact]
    public void AShutdownThatShutdownRefusesDoesNotBreakItsChainButOneOfAFileThatIsNotASocketDoes()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Shutdown(r, a, 3, 1);
        r.Nop(2);
        r.Submit(2);
        Assert.Equal([new(1, -Errno.EINVAL, 0), new(2, 0, 0)], r.Reap());

        var memfd = Posix.memfd_create("socket-tests", 0);
        try
        {
            Shutdown(r, memfd, 1, 3);
            r.Nop(4);
            r.Submit(2);
            Assert.Equal([new(3, -Errno.ENOTSOCK, 0), new(4, -Errno.ECANCELED, 0)], r.Reap());
        }
        finally
        {
            Posix.Close(memfd);
        }
    }

    [Fact]
    public void ASendAfterItsSocketWasShutForWritingIsEpipe()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Shutdown(r, a, 1, 1);
        Transfer(r, io_uring_op.IORING_OP_SEND, a, 0, 5, 2);
        r.Submit(2);
        Assert.Equal([new(1, 0, 0), new(2, -32, 0)], r.Reap());
    }

    public void Dispose()
    {
        Posix.Close(a);
        Posix.Close(b);
        System.Runtime.InteropServices.NativeMemory.Free(buffer);
    }

    private void Send(int length)
    {
        var iov = new Posix.IoVec { Base = (nint)buffer, Length = (nuint)length };
        var msg = new Posix.MsgHdr { Iov = (nint)(&iov), IovLength = 1 };
        Assert.Equal(length, (int)Posix.SendMsg(a, &msg, 0));
    }

    private void Transfer(TestRing r, io_uring_op op, int fd, int offset, uint length, ulong userData, uint msgFlags = 0, IoUringSqeFlags sqeFlags = 0, uint ioprio = 0)
    {
        var sqe = r.Ring.GetSqe();
        sqe->opcode = (byte)op;
        sqe->fd = fd;
        sqe->addr = (ulong)(buffer + offset);
        sqe->len = length;
        sqe->msg_flags = msgFlags;
        sqe->ioprio = (ushort)ioprio;
        sqe->flags = (byte)sqeFlags;
        sqe->user_data = userData;
    }

    private static void Message(TestRing r, io_uring_op op, int fd, Posix.MsgHdr* msg, ulong userData)
    {
        var sqe = r.Ring.GetSqe();
        sqe->opcode = (byte)op;
        sqe->fd = fd;
        sqe->addr = (ulong)msg;
        sqe->len = 1;
        sqe->user_data = userData;
    }

    private static void Shutdown(TestRing r, int fd, uint how, ulong userData)
    {
        var sqe = r.Ring.GetSqe();
        sqe->opcode = (byte)io_uring_op.IORING_OP_SHUTDOWN;
        sqe->fd = fd;
        sqe->len = how;
        sqe->flags = (byte)IoUringSqeFlags.IOSQE_IO_LINK;
        sqe->user_data = userData;
    }
}
