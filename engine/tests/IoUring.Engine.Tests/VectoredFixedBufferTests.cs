using System.Runtime.InteropServices;
using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>
/// READV_FIXED and WRITEV_FIXED (an iovec array inside a registered buffer) and RECV_ZC on a ring without
/// a zero-copy receive queue. Each expectation is what the host's 6.18 kernel gave for the same submissions.
/// </summary>
public sealed unsafe class VectoredFixedBufferTests : IDisposable
{
    private readonly int memfd = Posix.memfd_create("vectored-fixed-tests", 0);
    private readonly byte* buffer = (byte*)NativeMemory.AlignedAlloc(8192, 4096);
    private readonly Posix.IoVec* vectors = (Posix.IoVec*)NativeMemory.Alloc(8, (nuint)sizeof(Posix.IoVec));

    public VectoredFixedBufferTests()
    {
        var data = stackalloc byte[100];
        new Span<byte>(data, 100).Fill((byte)'z');
        var iov = new Posix.IoVec { Base = (nint)data, Length = 100 };
        Posix.pwritev2(memfd, &iov, 1, 0, 0);
    }

    [Fact]
    public void EveryVectorMustLieInsideTheRegisteredBufferAtIssue()
    {
        using var r = TestRing.Create(Snapshots.Newest, 32, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        var registered = new Posix.IoVec { Base = (nint)buffer, Length = 8192 };
        Assert.Equal(0, r.Engine.Register(r.Ring.Fd, (uint)io_uring_register_op.IORING_REGISTER_BUFFERS, &registered, 1));
        var twoInside = Vectors(0, (0, 10), (100, 20));
        var pastTheEnd = Vectors(2, (8000, 500));
        var oneEmpty = Vectors(3, (0, 10), (100, 0));
        var negative = Vectors(5, (0, ulong.MaxValue));
        r.Sqe(io_uring_op.IORING_OP_READV_FIXED, memfd, 1, addr: twoInside, len: 2);
        r.Sqe(io_uring_op.IORING_OP_READV_FIXED, memfd, 2, addr: pastTheEnd, len: 1);
        r.Sqe(io_uring_op.IORING_OP_READV_FIXED, memfd, 3, addr: oneEmpty, len: 2);
        r.Sqe(io_uring_op.IORING_OP_READV_FIXED, memfd, 4, addr: twoInside, len: 2)->buf_index = 3;
        r.Sqe(io_uring_op.IORING_OP_READV_FIXED, memfd, 5, addr: twoInside, len: 1025);
        r.Sqe(io_uring_op.IORING_OP_READV_FIXED, memfd, 6, addr: negative, len: 1);
        r.Sqe(io_uring_op.IORING_OP_READV_FIXED, memfd, 7, addr: 0x10, len: 1);
        r.Sqe(io_uring_op.IORING_OP_READV_FIXED, memfd, 8, addr: twoInside, len: 0);
        r.Sqe(io_uring_op.IORING_OP_RECV_ZC, memfd, 9);
        r.Sqe(io_uring_op.IORING_OP_READV_FIXED, memfd, 10, addr: twoInside, len: 2, flags: IoUringSqeFlags.IOSQE_BUFFER_SELECT);
        r.Submit(10);
        Assert.Equal(
            [(1, 30), (2, -Errno.EFAULT), (3, -Errno.EFAULT), (4, -Errno.EFAULT), (5, -Errno.EINVAL), (6, -Errno.EINVAL), (7, -Errno.EFAULT), (8, 0), (9, -Errno.EINVAL), (10, -Errno.EOPNOTSUPP)],
            r.Results().OrderBy(x => x.UserData).ToList());
        Assert.Equal((byte)'z', buffer[100]);

        r.Sqe(io_uring_op.IORING_OP_WRITEV_FIXED, memfd, 11, off: 200, addr: twoInside, len: 2);
        r.Submit(1);
        Assert.Equal([(11, 30)], r.Results());
        Assert.Equal(230, Posix.Size(memfd));
    }

    public void Dispose()
    {
        Posix.Close(memfd);
        NativeMemory.AlignedFree(buffer);
        NativeMemory.Free(vectors);
    }

    /// <summary>Iovecs from <paramref name="at"/> in the test's array, each (offset into the buffer, length).</summary>
    private ulong Vectors(int at, params (int Offset, ulong Length)[] spans)
    {
        for (var k = 0; k < spans.Length; k++)
        {
            vectors[at + k] = new Posix.IoVec { Base = (nint)(buffer + spans[k].Offset), Length = (nuint)spans[k].Length };
        }

        return (ulong)(vectors + at);
    }
}
