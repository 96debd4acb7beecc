using System.Runtime.InteropServices;
using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>
/// Buffer rings: IORING_REGISTER_PBUF_RING, UNREGISTER_PBUF_RING and PBUF_STATUS, READ and RECV (single
/// and multishot) selecting from a ring, and incremental consumption. Each expectation is what the host's
/// 6.18 kernel gave for the same submissions.
/// </summary>
public sealed unsafe class BufferRingTests : IDisposable
{
    private const uint Buffer = Constants.IORING_CQE_F_BUFFER;
    private const uint More = Constants.IORING_CQE_F_MORE;
    private const uint NonEmpty = Constants.IORING_CQE_F_SOCK_NONEMPTY;
    private const uint BufMore = Constants.IORING_CQE_F_BUF_MORE;
    private const ushort Mmap = (ushort)io_uring_register_pbuf_ring_flags.IOU_PBUF_RING_MMAP;
    private const ushort Incremental = (ushort)io_uring_register_pbuf_ring_flags.IOU_PBUF_RING_INC;

    private readonly int memfd = Posix.memfd_create("buffer-ring-tests", 0);
    private readonly byte* ring = (byte*)NativeMemory.AlignedAlloc(4096, 4096);
    private readonly byte* area = (byte*)NativeMemory.AlignedAlloc(4096, 4096);

    public BufferRingTests()
    {
        new Span<byte>(ring, 4096).Clear();
        new Span<byte>(area, 4096).Fill((byte)'.');
        Write(memfd, "abcdefghijklmnopqrstuvwxyz");
    }

    [Fact]
    public void RegistrationChecksItsFieldsAndTheGroupsKind()
    {
        using var r = TestRing.Create(Snapshots.Newest, 16, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        Assert.Equal(-Errno.EINVAL, Register(r, 0, 3, 1));
        Assert.Equal(0, Register(r, (ulong)ring, 1, 1, Mmap));
        Assert.Equal(0, Unregister(r, 1));
        Assert.Equal(-Errno.EINVAL, Register(r, (ulong)ring, 1, 1, minLeft: 1));
        Assert.Equal(0, Register(r, 0, 1, 1, Mmap | Incremental, minLeft: 1));
        Assert.Equal(0, Unregister(r, 1));
        Assert.Equal(-Errno.EINVAL, Register(r, (ulong)ring + 8, 1, 1));
        Assert.Equal(-Errno.EINVAL, Register(r, (ulong)ring, 65536, 1));
        Assert.Equal(-Errno.ENOENT, Unregister(r, 5));
        Assert.Equal(-Errno.ENOENT, Status(r, 5));

        // A legacy group with a buffer: not a ring's to take, nor to drop or report.
        r.Sqe(io_uring_op.IORING_OP_PROVIDE_BUFFERS, 1, 1, addr: (ulong)area, len: 16)->buf_group = 3;
        r.Submit(1);
        Assert.Equal([(1, 0)], r.Results().ToList());
        Assert.Equal(-Errno.EEXIST, Register(r, (ulong)ring, 4, 3));
        Assert.Equal(-Errno.EINVAL, Unregister(r, 3));
        Assert.Equal(-Errno.EINVAL, Status(r, 3));

        // A ring group: taken once; legacy calls on it are -EINVAL.
        Assert.Equal(0, Register(r, (ulong)ring, 4, 1));
        Assert.Equal(-Errno.EEXIST, Register(r, (ulong)ring, 4, 1));
        Assert.Equal(0, Status(r, 1));
        r.Sqe(io_uring_op.IORING_OP_PROVIDE_BUFFERS, 1, 2, addr: (ulong)area, len: 16)->buf_group = 1;
        r.Sqe(io_uring_op.IORING_OP_REMOVE_BUFFERS, 1, 3)->buf_group = 1;
        r.Submit(2);
        Assert.Equal([(2, -Errno.EINVAL), (3, -Errno.EINVAL)], r.Results().ToList());
    }

    [Fact]
    public void On612TheAddressIsCheckedFirstAndAnMmapRingTakesNone()
    {
        using var r = TestRing.Create(Snapshots.Newest with { BufferRingChecksAddressFirst = true }, 16);
        Assert.Equal(-Errno.EFAULT, Register(r, 0, 3, 1));
        Assert.Equal(-Errno.EINVAL, Register(r, (ulong)ring, 1, 1, Mmap));
    }

    [Fact]
    public void ReadsAndReceivesTakeTheHeadAndAWaitingReceiveLeavesIt()
    {
        using var r = TestRing.Create(Snapshots.Newest, 16, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        Assert.Equal(0, Register(r, (ulong)ring, 4, 1));
        for (var i = 0; i < 3; i++)
        {
            Add(ring, i, 3, 100 * i, 8, (ushort)(10 + i));
        }

        Publish(ring, 3);

        // A memfd cannot be polled: the head moves as the buffer is selected.
        Read(r, memfd, 4, group: 1, length: 4);
        r.Submit(1);
        Assert.Equal([new Completion(4, 4, Buffer | (10 << 16))], r.Reap());
        Assert.Equal(1, Status(r, 1));

        var (a, b) = Posix.SocketPair(1);
        Receive(r, b, 5, group: 1);
        r.Submit();
        Assert.Empty(r.Reap());
        Assert.Equal(1, Status(r, 1));
        Write(a, "0123456789");
        r.Submit(0);
        Assert.Equal([new Completion(5, 8, Buffer | NonEmpty | (11 << 16))], r.Reap());
        Assert.Equal(2, Status(r, 1));

        // Multishot: each receive a buffer and a CQE with IORING_CQE_F_MORE, until the ring is empty.
        Add(ring, 3, 3, 300, 8, 13);
        Publish(ring, 4);
        Write(a, "ABCDEFGHIJKLMNOPQRST");
        Receive(r, b, 6, group: 1)->ioprio = (ushort)Constants.IORING_RECV_MULTISHOT;
        r.Submit(1);
        Assert.Equal(
            [new Completion(6, 8, Buffer | More | NonEmpty | (12 << 16)), new Completion(6, 8, Buffer | More | NonEmpty | (13 << 16)), new Completion(6, -Errno.ENOBUFS, 0)],
            r.Reap());
        Assert.Equal(4, Status(r, 1));
        Assert.Equal("abcd....|01234567|89ABCDEF|GHIJKLMN", $"{Text(0, 8)}|{Text(100, 8)}|{Text(200, 8)}|{Text(300, 8)}");
        Posix.Close(a);
        Posix.Close(b);
    }

    [Fact]
    public void ReceivesWaitingOnOneSocketTakeTurnsNewestFirstAndAnEmptyRingEndsEachWhenItsTurnComes()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Assert.Equal(0, Register(r, (ulong)ring, 4, 1));
        for (var i = 0; i < 3; i++)
        {
            Add(ring, i, 3, 100 * i, 8, (ushort)i);
        }

        Publish(ring, 3);
        var (a, b) = Posix.SocketPair(1);
        Receive(r, b, 1, group: 1)->ioprio = (ushort)Constants.IORING_RECV_MULTISHOT;
        r.Submit();
        Receive(r, b, 2, group: 1)->ioprio = (ushort)Constants.IORING_RECV_MULTISHOT;
        r.Submit();
        Receive(r, b, 3, group: 1);
        r.Submit();
        var seen = new List<string>();
        foreach (var text in new[] { "abcde", "fghij", "klmno", "pqrst" })
        {
            Write(a, text);
            r.Submit(0);
            seen.Add(string.Join(" ", r.Reap()));
        }

        // Each write wakes every waiter; the last armed runs first, and a woken receive selects before
        // it finds the socket empty again.
        Assert.Equal(["(3, 5, 0x1)", "(2, 5, 0x10003)", "(2, 5, 0x20003) (1, -105, 0x0)", "(2, -105, 0x0)"], seen);
        Posix.Close(a);
        Posix.Close(b);
    }

    /// <summary>
    /// A RECV bundle maps as many of the ring's buffers as its length needs and its CQE names the first;
    /// having filled them all while the socket holds more, it goes back once for that much, into the same
    /// CQE. Where its length ends in the ring's last buffer, 6.12 finds the ring empty and stops there;
    /// later kernels go back, find no buffer, and complete with what they had, failing the link (the host
    /// gave the first and third).
    /// </summary>
    [Fact]
    public void ABundleFillsSeveralBuffersAndGoesBackOnceForWhatTheSocketStillHolds()
    {
        foreach (var (buffers, takesLast, expected, text) in new (int, bool, Completion[], string)[]
        {
            (2, false, [new(1, 16, Buffer), new(2, -Errno.ECANCELED, 0)], "01234567|89abcdef|........"),
            (2, true, [new(1, 16, Buffer | NonEmpty), new(2, 0, 0)], "01234567|89abcdef|........"),
            (3, false, [new(1, 24, Buffer | NonEmpty), new(2, 0, 0)], "01234567|89abcdef|ghijklmn"),
        })
        {
            new Span<byte>(ring, 4096).Clear();
            new Span<byte>(area, 4096).Fill((byte)'.');
            using var r = TestRing.Create(Snapshots.Newest with { BundleTakesTheBufferItsLengthEndsIn = takesLast }, 8);
            Assert.Equal(0, Register(r, (ulong)ring, 4, 1));
            for (var i = 0; i < buffers; i++)
            {
                Add(ring, i, 3, 100 * i, 8, (ushort)i);
            }

            Publish(ring, (ushort)buffers);
            var (a, b) = Posix.SocketPair(1);
            Write(a, "0123456789abcdefghijklmnopqrstuvwxyzABCD");
            var sqe = Receive(r, b, 1, group: 1);
            sqe->ioprio = (ushort)Constants.IORING_RECVSEND_BUNDLE;
            sqe->len = 16;
            sqe->flags |= (byte)IoUringSqeFlags.IOSQE_IO_LINK;
            r.Nop(2);
            r.Submit(2);
            Assert.Equal(expected, r.Reap());
            Assert.Equal(buffers, Status(r, 1));
            Assert.Equal(text, $"{Text(0, 8)}|{Text(100, 8)}|{Text(200, 8)}");
            Posix.Close(a);
            Posix.Close(b);
        }
    }

    [Fact]
    public void AnIncrementalRingGivesUpOnlyWhatEachReadUsed()
    {
        using var r = TestRing.Create(Snapshots.Newest, 16, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        Assert.Equal(0, Register(r, 0, 2, 2, Mmap | Incremental));
        var mapped = (byte*)r.Engine.Map(r.Ring.Fd, Constants.IORING_OFF_PBUF_RING | (2UL << (int)Constants.IORING_OFF_PBUF_SHIFT), 4096);
        Assert.True((nint)mapped > 0);
        Add(mapped, 0, 1, 1000, 10, 20);
        Publish(mapped, 1);
        var seen = new List<string>();
        for (var k = 0; k < 3; k++)
        {
            Read(r, memfd, (ulong)(8 + k), group: 2, length: 4, offset: (ulong)(4 * k));
            r.Submit(1);
            var entry = (io_uring_buf*)mapped;
            seen.Add($"{r.Reap().Single()} +{entry->addr - (ulong)(area + 1000)} {entry->len} {Status(r, 2)}");
        }

        Assert.Equal(["(8, 4, 0x140011) +4 6 0", "(9, 4, 0x140011) +8 2 0", "(10, 2, 0x140001) +8 0 1"], seen);
        Assert.Equal("abcdefghij..", Text(1000, 12));
    }

    [Fact]
    public void ASendFromProvidedBuffersUsesThemUpWhenItSelectsThem()
    {
        using var r = TestRing.Create(Snapshots.Newest, 16);
        var (a, b) = Posix.SocketPair(1);
        Assert.Equal(0, Register(r, (ulong)ring, 4, 1));
        for (var i = 0; i < 4; i++)
        {
            Fill(64 * i, 32, (char)('a' + i));
            Add(ring, i, 3, 64 * i, 32, (ushort)i);
        }

        Publish(ring, 4);

        // One buffer, cut to the length asked for and used up all the same; no length sends all of it.
        Send(r, a, 1, group: 1, length: 5);
        Send(r, a, 2, group: 1, length: 0);
        Send(r, a, 3, group: 9, length: 0);
        r.Submit(3);
        Assert.Equal([new(1, 5, Buffer), new(2, 32, Buffer | (1u << 16)), new(3, -Errno.ENOENT, 0)], r.Reap());
        Assert.Equal("aaaaa" + new string('b', 32), Received(b));

        // A bundle of 40 bytes maps one buffer (the next would be cut short), then, asking for no
        // length, the rest; the selection that empties the ring ends it.
        Send(r, a, 4, group: 1, length: 40, bundle: true);
        Send(r, a, 5, group: 1, length: 0);
        r.Submit(2);
        Assert.Equal([new(4, 32, Buffer | More | (2u << 16)), new(4, 32, Buffer | (3u << 16)), new(5, -Errno.ENOBUFS, 0)], r.Reap());
        Assert.Equal(new string('c', 32) + new string('d', 32), Received(b));
        Assert.Equal(4, Status(r, 1));

        // An incremental ring gives up the bytes sent; a bundle's length may end inside a buffer.
        var incremental = (byte*)NativeMemory.AlignedAlloc(4096, 4096);
        new Span<byte>(incremental, 4096).Clear();
        Assert.Equal(0, Register(r, (ulong)incremental, 2, 2, Incremental));
        Fill(256, 32, 'e');
        Fill(320, 32, 'f');
        Add(incremental, 0, 1, 256, 32, 0);
        Add(incremental, 1, 1, 320, 32, 1);
        Publish(incremental, 2);
        Send(r, a, 6, group: 2, length: 5);
        Send(r, a, 7, group: 2, length: 40, bundle: true);
        r.Submit(2);
        Assert.Equal([new(6, 5, Buffer | BufMore), new(7, 40, Buffer | More | BufMore), new(7, 19, Buffer | (1u << 16))], r.Reap());
        Assert.Equal(new string('e', 32) + new string('f', 32), Received(b));
        NativeMemory.AlignedFree(incremental);

        // A legacy group gives its first buffer whole, whatever the length.
        Fill(512, 96, 'g');
        r.Sqe(io_uring_op.IORING_OP_PROVIDE_BUFFERS, 3, 8, addr: (ulong)(area + 512), len: 32)->buf_group = 5;
        r.Submit(1);
        Assert.Equal([(8, 0)], r.Results().ToList());
        Send(r, a, 9, group: 5, length: 5);
        Send(r, a, 10, group: 5, length: 40, bundle: true);
        Send(r, a, 11, group: 5, length: 0);
        r.Submit(3);
        Assert.Equal([new(9, 32, Buffer), new(10, 32, Buffer | More | (1u << 16)), new(10, 32, Buffer | (2u << 16)), new(11, -Errno.ENOBUFS, 0)], r.Reap());
        Assert.Equal(new string('g', 96), Received(b));

        // A send that fails has used its buffers up too, and its CQE names them.
        Add(ring, 4, 3, 0, 32, 4);
        Add(ring, 5, 3, 64, 32, 5);
        Publish(ring, 6);
        Assert.Equal(0, Posix.Shutdown(a, 1));
        Send(r, a, 12, group: 1, length: 5);
        Send(r, a, 13, group: 1, length: 5, bundle: true);
        r.Submit(2);
        Assert.Equal([new(12, -Errno.EPIPE, Buffer | (4u << 16)), new(13, -Errno.EPIPE, Buffer | (5u << 16))], r.Reap());
        Assert.Equal(6, Status(r, 1));
        Posix.Close(a);
        Posix.Close(b);
    }

    [Fact]
    public void ASendFromProvidedBuffersThatFillsTheSocketWaitsAndSendsTheRestOfItsSelection()
    {
        // 64 KiB of ring buffers into an AF_UNIX socket with a 4 KiB send buffer: a SEND with MSG_WAITALL
        // (its length cut to one buffer) and a bundle (all four) each send part, wait for room, and send
        // the rest of what they selected; the bundle, having waited, posts one CQE.
        foreach (var (bundle, length, expected) in new[] { (false, 40000u, 16384), (true, 0u, 65536) })
        {
            using var r = TestRing.Create(Snapshots.Newest, 16);
            var (a, b) = PairWithSmallSendBuffer();
            var memory = (byte*)NativeMemory.AlignedAlloc(4 * 16384, 4096);
            new Span<byte>(memory, 4 * 16384).Fill((byte)'x');
            new Span<byte>(ring, 4096).Clear();
            Assert.Equal(0, Register(r, (ulong)ring, 4, 1));
            for (var i = 0; i < 4; i++)
            {
                ((io_uring_buf*)ring)[i] = new io_uring_buf { addr = (ulong)(memory + (16384 * i)), len = 16384, bid = (ushort)i };
            }

            Publish(ring, 4);
            Send(r, a, 1, group: 1, length: length, bundle: bundle)->msg_flags = bundle ? 0u : 0x100; // MSG_WAITALL
            var (completions, received) = DrainUntilComplete(r, b);
            Assert.Equal([new(1, expected, Buffer)], completions);
            Assert.Equal(expected, received);
            Assert.Equal(bundle ? 4 : 1, Status(r, 1));
            NativeMemory.AlignedFree(memory);
            Posix.Close(a);
            Posix.Close(b);
        }

        // A legacy buffer partly sent stays with the request through the wait (not given back and
        // selected again, which would send its start twice).
        using (var r = TestRing.Create(Snapshots.Newest, 16))
        {
            var (a, b) = PairWithSmallSendBuffer();
            var memory = (byte*)NativeMemory.AlignedAlloc(2 * 32768, 4096);
            r.Sqe(io_uring_op.IORING_OP_PROVIDE_BUFFERS, 2, 1, addr: (ulong)memory, len: 32768, off: 7)->buf_group = 1;
            r.Submit();
            Assert.Equal([(1, 0)], r.Results().ToList());
            Send(r, a, 2, group: 1, length: 0)->msg_flags = 0x100; // MSG_WAITALL
            var (completions, received) = DrainUntilComplete(r, b);
            Assert.Equal([new(2, 32768, Buffer | (7u << 16))], completions);
            Assert.Equal(32768, received);
            r.Sqe(io_uring_op.IORING_OP_REMOVE_BUFFERS, 8, 3)->buf_group = 1;
            r.Submit();
            Assert.Equal([(3, 1)], r.Results().ToList());
            NativeMemory.AlignedFree(memory);
            Posix.Close(a);
            Posix.Close(b);
        }
    }

    public void Dispose()
    {
        Posix.Close(memfd);
        NativeMemory.AlignedFree(ring);
        NativeMemory.AlignedFree(area);
    }

    private static int Register(TestRing r, ulong address, uint entries, ushort group, ushort flags = 0, uint minLeft = 0)
    {
        var reg = new io_uring_buf_reg { ring_addr = address, ring_entries = entries, bgid = group, flags = flags, min_left = minLeft };
        return r.Engine.Register(r.Ring.Fd, (uint)io_uring_register_op.IORING_REGISTER_PBUF_RING, &reg, 1);
    }

    private static int Unregister(TestRing r, ushort group)
    {
        var reg = new io_uring_buf_reg { bgid = group };
        return r.Engine.Register(r.Ring.Fd, (uint)io_uring_register_op.IORING_UNREGISTER_PBUF_RING, &reg, 1);
    }

    private static int Status(TestRing r, ushort group)
    {
        var status = new io_uring_buf_status { buf_group = group };
        var rc = r.Engine.Register(r.Ring.Fd, (uint)io_uring_register_op.IORING_REGISTER_PBUF_STATUS, &status, 1);
        return rc < 0 ? rc : (int)status.head;
    }

    private void Add(byte* at, int index, int mask, int offset, uint length, ushort id) =>
        ((io_uring_buf*)at)[index & mask] = new io_uring_buf { addr = (ulong)(area + offset), len = length, bid = id };

    private static void Publish(byte* at, ushort tail) => Volatile.Write(ref *(ushort*)(at + 14), tail);

    private static void Read(TestRing r, int fd, ulong userData, ushort group, uint length, ulong offset = 0) =>
        r.Sqe(io_uring_op.IORING_OP_READ, fd, userData, off: offset, len: length, flags: IoUringSqeFlags.IOSQE_BUFFER_SELECT)->buf_group = group;

    private static io_uring_sqe* Receive(TestRing r, int fd, ulong userData, ushort group)
    {
        var sqe = r.Sqe(io_uring_op.IORING_OP_RECV, fd, userData, flags: IoUringSqeFlags.IOSQE_BUFFER_SELECT);
        sqe->buf_group = group;
        return sqe;
    }

    private static io_uring_sqe* Send(TestRing r, int fd, ulong userData, ushort group, uint length, bool bundle = false)
    {
        var sqe = r.Sqe(io_uring_op.IORING_OP_SEND, fd, userData, len: length, flags: IoUringSqeFlags.IOSQE_BUFFER_SELECT);
        sqe->buf_group = group;
        sqe->ioprio = bundle ? (ushort)Constants.IORING_RECVSEND_BUNDLE : (ushort)0;
        return sqe;
    }

    /// <summary>An AF_UNIX stream pair whose first end has a 4 KiB send buffer (SO_SNDBUF).</summary>
    private static (int A, int B) PairWithSmallSendBuffer()
    {
        var (a, b) = Posix.SocketPair(1);
        var room = 4096;
        Assert.Equal(0, Posix.SetSockOptAt(a, 1, 7, (nint)(&room), sizeof(int))); // SOL_SOCKET, SO_SNDBUF
        return (a, b);
    }

    /// <summary>Submits the ring's SQEs, then reads <paramref name="peer"/> and enters the ring until a CQE comes: the CQEs and the bytes read.</summary>
    private static (List<Completion> Completions, int Received) DrainUntilComplete(TestRing r, int peer)
    {
        r.Submit();
        var received = 0;
        var completions = new List<Completion>();
        for (var k = 0; k < 1000 && completions.Count == 0; k++)
        {
            received += Received(peer).Length;
            r.Submit();
            completions.AddRange(r.Reap());
        }

        return (completions, received + Received(peer).Length);
    }

    private static string Received(int fd)
    {
        var bytes = new byte[4096];
        fixed (byte* p = bytes)
        {
            var iov = new Posix.IoVec { Base = (nint)p, Length = (nuint)bytes.Length };
            var msg = new Posix.MsgHdr { Iov = (nint)(&iov), IovLength = 1 };
            var n = (int)Posix.RecvMsg(fd, &msg, 0x40); // MSG_DONTWAIT
            return System.Text.Encoding.ASCII.GetString(bytes, 0, Math.Max(n, 0));
        }
    }

    private void Fill(int at, int length, char letter) => new Span<byte>(area + at, length).Fill((byte)letter);

    private static void Write(int fd, string text)
    {
        var bytes = System.Text.Encoding.ASCII.GetBytes(text);
        fixed (byte* p = bytes)
        {
            var iov = new Posix.IoVec { Base = (nint)p, Length = (nuint)bytes.Length };
            Posix.pwritev2(fd, &iov, 1, -1, 0);
        }
    }

    private string Text(int at, int length) => System.Text.Encoding.ASCII.GetString(area + at, length);
}
