using System.Runtime.InteropServices;
using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>
/// PROVIDE_BUFFERS, REMOVE_BUFFERS, and READ and READ_MULTISHOT with IOSQE_BUFFER_SELECT from a legacy group. Each expectation
/// is what the host's 6.18 kernel gave for the same submissions (6.1's recycling as its source reads).
/// </summary>
public sealed unsafe class ProvidedBufferTests : IDisposable
{
    private const uint Buffer = Constants.IORING_CQE_F_BUFFER;
    private readonly int memfd = Posix.memfd_create("provided-buffer-tests", 0);
    private readonly byte* area = (byte*)NativeMemory.AllocZeroed(4096);

    public ProvidedBufferTests()
    {
        var data = stackalloc byte[100];
        for (var i = 0; i < 100; i++)
        {
            data[i] = (byte)('a' + (i % 26));
        }

        var iov = new Posix.IoVec { Base = (nint)data, Length = 100 };
        Posix.pwritev2(memfd, &iov, 1, 0, 0);
    }

    [Fact]
    public void ReadsTakeTheGroupsBuffersInOrderAndSayWhichInTheirCqe()
    {
        using var r = TestRing.Create(Snapshots.Newest, 32, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        Provide(r, 1, count: 2, at: 0, length: 8, group: 1, firstId: 5);
        Read(r, memfd, 2, group: 1, length: 0);
        Read(r, memfd, 3, group: 1, length: 4, offset: 50);
        Read(r, memfd, 4, group: 1, length: 4);
        r.Sqe(io_uring_op.IORING_OP_REMOVE_BUFFERS, 5, 5)->buf_group = 1;
        r.Sqe(io_uring_op.IORING_OP_REMOVE_BUFFERS, 1, 6)->buf_group = 9;
        r.Submit(6);
        Assert.Equal(
            [(1UL, 0, 0u), (2, 8, Buffer | (5 << 16)), (3, 4, Buffer | (6 << 16)), (4, -Errno.ENOBUFS, 0), (5, 0, 0), (6, -Errno.ENOENT, 0)],
            r.Reap().Select(c => (c.UserData, c.Res, c.Flags)).OrderBy(x => x.UserData).ToList());
        Assert.Equal("abcdefgh", Text(0, 8));
        Assert.Equal("yzab", Text(8, 4));
    }

    [Fact]
    public void ProvideAndRemoveCheckTheirFieldsAtPrep()
    {
        using var r = TestRing.Create(Snapshots.Newest, 32, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        Provide(r, 7, count: 0, at: 0, length: 8);
        Provide(r, 8, count: 1, at: 0, length: 0);
        Provide(r, 9, count: 2, at: 0, length: 8, firstId: 65535);
        Provide(r, 10, count: 2, at: 0, length: 8, firstId: 70000);
        r.Sqe(io_uring_op.IORING_OP_PROVIDE_BUFFERS, 2, 11, addr: 0xffff_8000_0000_0000, len: 8);
        r.Sqe(io_uring_op.IORING_OP_REMOVE_BUFFERS, 1, 12, addr: 5);
        Provide(r, 13, count: -1, at: 0, length: 8);
        r.Submit(7);
        Assert.Equal(
            [(7, -Errno.E2BIG), (8, -Errno.EINVAL), (9, -Errno.EINVAL), (10, -Errno.E2BIG), (11, -Errno.EFAULT), (12, -Errno.EINVAL), (13, -Errno.E2BIG)],
            r.Results().OrderBy(x => x.UserData).ToList());
    }

    [Fact]
    public void AReadThatFailsAfterSelectingHasUsedItsBuffer()
    {
        using var r = TestRing.Create(Snapshots.Newest, 32, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        Provide(r, 21, count: 1, at: 100, length: 16, group: 2, firstId: 7);
        Read(r, memfd, 22, group: 2, length: 4, rwFlags: 0x100000); // no such RWF_ flag: -EOPNOTSUPP after the selection
        r.Sqe(io_uring_op.IORING_OP_REMOVE_BUFFERS, 1, 23)->buf_group = 2;
        r.Submit(3);
        Assert.Equal(
            [(21UL, 0, 0u), (22, -Errno.EOPNOTSUPP, Buffer | (7 << 16)), (23, 0, 0)],
            r.Reap().Select(c => (c.UserData, c.Res, c.Flags)).OrderBy(x => x.UserData).ToList());
    }

    [Fact]
    public void AWaitingReadKeepsItsBufferOrOn61GivesItBack()
    {
        var xyz = stackalloc byte[3] { (byte)'x', (byte)'y', (byte)'z' };
        foreach (var recycled in new[] { false, true })
        {
            using var r = TestRing.Create(Snapshots.Newest with { LegacyBufferRecycledWhileWaiting = recycled }, 32, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
            var (read, write) = Posix.Pipe();
            Provide(r, 31, count: 1, at: 200, length: 16, group: 3, firstId: 9);
            Read(r, read, 32, group: 3, length: 0);
            r.Submit(1);
            r.Sqe(io_uring_op.IORING_OP_REMOVE_BUFFERS, 1, 33)->buf_group = 3;
            r.Submit(2);
            var iov = new Posix.IoVec { Base = (nint)xyz, Length = 3 };
            Posix.pwritev2(write, &iov, 1, -1, 0);
            r.Submit(3);
            Assert.Equal(
                recycled ? [(31UL, 0, 0u), (33, 1, 0), (32, -Errno.ENOBUFS, 0)] : [(31UL, 0, 0u), (33, 0, 0), (32, 3, Buffer | (9 << 16))],
                r.Reap().Select(c => (c.UserData, c.Res, c.Flags)).ToList());
            Posix.Close(read);
            Posix.Close(write);
        }
    }

    [Fact]
    public void On61EveryGroupBelow64ExistsOnceOneWasProvided()
    {
        foreach (var (array, expected) in new[] { (false, -Errno.ENOENT), (true, 0) })
        {
            using var r = TestRing.Create(Snapshots.Newest with { BufferGroupArray = array }, 8, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
            r.Sqe(io_uring_op.IORING_OP_REMOVE_BUFFERS, 1, 1)->buf_group = 0;
            Provide(r, 2, count: 1, at: 0, length: 8, group: 1);
            r.Sqe(io_uring_op.IORING_OP_REMOVE_BUFFERS, 1, 3)->buf_group = 0;
            r.Sqe(io_uring_op.IORING_OP_REMOVE_BUFFERS, 1, 4)->buf_group = 64;
            r.Submit(4);
            Assert.Equal([(1, -Errno.ENOENT), (2, 0), (3, expected), (4, -Errno.ENOENT)], r.Results().OrderBy(x => x.UserData).ToList());
        }
    }

    public void Dispose()
    {
        Posix.Close(memfd);
        NativeMemory.Free(area);
    }

    /// <summary>
    /// Two READ_MULTISHOTs on one pipe: the one woken first reads again in the same task work while the
    /// pipe holds data (io_poll_multishot_retry), so it takes every buffer before the other runs (the
    /// host's 6.18 gave this, found by the soak; the engine had them take turns).
    /// </summary>
    [Fact]
    public void AReadMultishotDrainsThePipeBeforeAnotherWaiterRuns()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        var (read, write) = Posix.Pipe();
        Provide(r, 1, count: 3, at: 0, length: 16, group: 3, firstId: 10);
        ReadMultishot(r, 2, read, group: 3);
        r.Submit();
        ReadMultishot(r, 3, read, group: 3);
        r.Submit();
        WriteText(write, "0123456789abcdefXYZ");
        r.Submit();
        const uint More = Constants.IORING_CQE_F_MORE;
        Assert.Equal(
            [(1UL, 0, 0u), (3, 16, More | Buffer | (10 << 16)), (3, 3, More | Buffer | (11 << 16))],
            r.Reap().Select(c => (c.UserData, c.Res, c.Flags)).ToList());
        Posix.Close(write);
        Posix.Close(read);
    }

    [Fact]
    public void ReadMultishotPostsEachReadOfAPipeUntilItsEnd()
    {
        using var r = TestRing.Create(Snapshots.Newest, 32, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        var (read, write) = Posix.Pipe();
        Provide(r, 1, count: 4, at: 0, length: 16, group: 3, firstId: 10);
        ReadMultishot(r, 2, memfd, group: 3);
        ReadMultishot(r, 3, read, group: 3)->flags = 0;
        ReadMultishot(r, 4, read, group: 3)->addr = (ulong)area;
        ReadMultishot(r, 5, read, group: 3)->len = 4;
        ReadMultishot(r, 6, -1, group: 3);
        ReadMultishot(r, 7, read, group: 9);
        r.Submit();
        Assert.Equal(
            [(1UL, 0, 0u), (2, -Errno.EBADFD, 0), (3, -Errno.EINVAL, 0), (4, -Errno.EINVAL, 0), (5, -Errno.EINVAL, 0), (6, -Errno.EBADF, 0), (7, -Errno.ENOBUFS, 0)],
            r.Reap().Select(c => (c.UserData, c.Res, c.Flags)).ToList());

        // Each read a CQE with IORING_CQE_F_MORE and its buffer; a read that leaves data reads again at once.
        ReadMultishot(r, 8, read, group: 3);
        r.Submit();
        const uint More = Constants.IORING_CQE_F_MORE;
        foreach (var (text, expected) in new (string, (ulong, int, uint)[])[]
        {
            ("hello", [(8, 5, More | Buffer | (10 << 16))]),
            ("0123456789abcdefXYZ", [(8, 16, More | Buffer | (11 << 16)), (8, 3, More | Buffer | (12 << 16))]),
            ("more", [(8, 4, More | Buffer | (13 << 16))]),
        })
        {
            WriteText(write, text);
            r.Submit();
            Assert.Equal(expected, r.Reap().Select(c => (c.UserData, c.Res, c.Flags)).ToList());
        }

        // The group is empty, but no read is tried until the pipe is ready; at its end the buffer goes back.
        Provide(r, 9, count: 2, at: 64, length: 16, group: 3, firstId: 20);
        r.Submit();
        Posix.Close(write);
        r.Submit(1);
        Assert.Equal([(9UL, 0, 0u), (8, 0, 0)], r.Reap().Select(c => (c.UserData, c.Res, c.Flags)).ToList());
        Assert.Equal("hello0123456789abcdefXYZmore", Text(0, 5) + Text(16, 16) + Text(32, 3) + Text(48, 4));
        Posix.Close(read);
    }

    /// <summary>
    /// A multishot RECVMSG lays each buffer out as io_uring_recvmsg_out, room for the name and the control
    /// data as long as its msghdr says, then the payload; the CQE counts all of it. The end of the stream
    /// still fills a header (payload 0) in the final CQE, and a buffer too small for the header ends the
    /// multishot with -EFAULT (the host's 6.18 gave these for the same submissions).
    /// </summary>
    [Fact]
    public void AMultishotRecvmsgLaysEachBufferOutAsHeaderNameControlAndPayload()
    {
        const uint More = Constants.IORING_CQE_F_MORE;
        const uint NonEmpty = Constants.IORING_CQE_F_SOCK_NONEMPTY;
        var (a, b) = Posix.SocketPair(1);
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Provide(r, 1, count: 4, at: 0, length: 64, group: 1);
        var msg = new Posix.MsgHdr { NameLength = 8 };
        RecvmsgMultishot(r, 2, b, &msg, group: 1);
        r.Submit();
        WriteText(a, "hello world, this is a long message of 49 bytes!!");
        r.Submit();
        WriteText(a, "abc");
        r.Submit();
        Posix.Shutdown(a, 1); // SHUT_WR
        r.Submit(1);
        Assert.Equal(
            [(1UL, 0, 0u), (2, 64, More | NonEmpty | Buffer), (2, 33, More | Buffer | (1 << 16)), (2, 27, More | Buffer | (2 << 16)), (2, 24, Buffer | (3 << 16))],
            r.Reap().Select(c => (c.UserData, c.Res, c.Flags)).ToList());
        Assert.Equal([(0u, 0u, 40u, 0u), (0, 0, 9, 0), (0, 0, 3, 0), (0, 0, 0, 0)], Enumerable.Range(0, 4).Select(k => Out(k * 64)));
        Assert.Equal("hello world, this is a long message of 4", Text(24, 40));

        // Too small for a name of 1000: the buffer goes back and the multishot ends.
        msg.NameLength = 1000;
        Provide(r, 3, count: 1, at: 256, length: 64, group: 2);
        RecvmsgMultishot(r, 4, b, &msg, group: 2);
        r.Submit(2);
        Assert.Equal([(3UL, 0, 0u), (4, -Errno.EFAULT, 0)], r.Reap().Select(c => (c.UserData, c.Res, c.Flags)).ToList());
        Posix.Close(a);
        Posix.Close(b);
    }

    /// <summary>
    /// A datagram's sender is written into the name's room (as much as fits, its whole length in the
    /// header), and the payload into what the buffer has left: MSG_TRUNC in the header's flags. A UDP
    /// socket does not say what it still holds, so after each CQE the kernel receives again at once:
    /// with no buffer left that is -ENOBUFS, the final CQE.
    /// </summary>
    [Fact]
    public void AMultishotRecvmsgOfADatagramNamesItsSenderAndCutsItsPayloadToTheBuffer()
    {
        const uint More = Constants.IORING_CQE_F_MORE;
        var address = stackalloc byte[16];
        var receiver = Posix.LoopbackSocket(2, address);
        var sender = Posix.Socket(2, 2, 0);
        Assert.Equal(0, Posix.Connect(sender, address, 16));
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Provide(r, 1, count: 2, at: 0, length: 64, group: 1);
        var msg = new Posix.MsgHdr { NameLength = 32 };
        RecvmsgMultishot(r, 2, receiver, &msg, group: 1);
        r.Submit();
        WriteText(sender, "hello world, this is a long message of 49 bytes!!");
        r.Submit();
        WriteText(sender, "abc");
        r.Submit();
        Assert.Equal(
            [(1UL, 0, 0u), (2, 64, More | Buffer), (2, 51, More | Buffer | (1 << 16)), (2, -Errno.ENOBUFS, 0)],
            r.Reap().Select(c => (c.UserData, c.Res, c.Flags)).ToList());
        Assert.Equal([(16u, 0u, 16u, 0x20u), (16, 0, 3, 0)], Enumerable.Range(0, 2).Select(k => Out(k * 64)));
        Assert.Equal(2, area[16]); // AF_INET
        Assert.Equal("hello world, thi", Text(48, 16));
        Posix.Close(sender);
        Posix.Close(receiver);
    }

    private static void RecvmsgMultishot(TestRing r, ulong userData, int fd, Posix.MsgHdr* msg, ushort group)
    {
        var sqe = r.Sqe(io_uring_op.IORING_OP_RECVMSG, fd, userData, addr: (ulong)msg, flags: IoUringSqeFlags.IOSQE_BUFFER_SELECT);
        sqe->ioprio = (ushort)Constants.IORING_RECV_MULTISHOT;
        sqe->buf_group = group;
    }

    /// <summary>The io_uring_recvmsg_out at the start of a buffer: name, control and payload lengths, flags.</summary>
    private (uint, uint, uint, uint) Out(int at)
    {
        var header = (io_uring_recvmsg_out*)(area + at);
        return (header->namelen, header->controllen, header->payloadlen, header->flags);
    }

    private static io_uring_sqe* ReadMultishot(TestRing r, ulong userData, int fd, ushort group)
    {
        var sqe = r.Sqe(io_uring_op.IORING_OP_READ_MULTISHOT, fd, userData, flags: IoUringSqeFlags.IOSQE_BUFFER_SELECT);
        sqe->buf_group = group;
        return sqe;
    }

    private static void WriteText(int fd, string text)
    {
        var bytes = System.Text.Encoding.ASCII.GetBytes(text);
        fixed (byte* b = bytes)
        {
            var iov = new Posix.IoVec { Base = (nint)b, Length = (nuint)bytes.Length };
            Posix.pwritev2(fd, &iov, 1, -1, 0);
        }
    }

    private void Provide(TestRing r, ulong userData, int count, int at, uint length, ushort group = 0, ulong firstId = 0) =>
        r.Sqe(io_uring_op.IORING_OP_PROVIDE_BUFFERS, count, userData, off: firstId, addr: (ulong)(area + at), len: length)->buf_group = group;

    private static void Read(TestRing r, int fd, ulong userData, ushort group, uint length, ulong offset = 0, uint rwFlags = 0) =>
        r.Sqe(io_uring_op.IORING_OP_READ, fd, userData, off: offset, len: length, opFlags: rwFlags, flags: IoUringSqeFlags.IOSQE_BUFFER_SELECT)->buf_group = group;

    private string Text(int at, int length) => System.Text.Encoding.ASCII.GetString(area + at, length);
}
