using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>
/// The xattr calls, SPLICE and TEE, PIPE and URING_CMD on memfds, pipes and sockets. Each expectation is
/// what the host's 6.18 kernel gave for the same submissions.
/// </summary>
public sealed unsafe class XattrSpliceAndCommandTests : IDisposable
{
    private readonly int memfd = Posix.memfd_create("xattr-splice-command-tests", 0);
    private readonly TestMemory memory = new();

    public XattrSpliceAndCommandTests()
    {
        var abc = stackalloc byte[3] { (byte)'a', (byte)'b', (byte)'c' };
        var iov = new Posix.IoVec { Base = (nint)abc, Length = 3 };
        Posix.pwritev2(memfd, &iov, 1, 0, 0);
    }

    [Fact]
    public void XattrCallsCheckNameFlagsAndValueAtPrep()
    {
        using var r = TestRing.Create(Snapshots.Newest, 32, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        RegisterMemfd(r);
        r.Sqe(io_uring_op.IORING_OP_FSETXATTR, 0, 1, off: memory.Text("v"), addr: memory.Text("user.x"), len: 1, flags: IoUringSqeFlags.IOSQE_FIXED_FILE);
        r.Submit(1);
        r.Sqe(io_uring_op.IORING_OP_FGETXATTR, 0, 2, addr: memory.Text("user.x"), flags: IoUringSqeFlags.IOSQE_FIXED_FILE);
        r.Sqe(io_uring_op.IORING_OP_FGETXATTR, memfd, 3, addr: memory.Text("user.missing"));
        r.Sqe(io_uring_op.IORING_OP_FGETXATTR, memfd, 4, addr: memory.Text("bogus"));
        r.Sqe(io_uring_op.IORING_OP_FGETXATTR, memfd, 5, addr: memory.Text(string.Empty));
        r.Sqe(io_uring_op.IORING_OP_FGETXATTR, memfd, 6, addr: memory.Text("user.x"), opFlags: 1);
        r.Sqe(io_uring_op.IORING_OP_FSETXATTR, memfd, 7, off: 0x10, addr: memory.Text("user.y"), len: 3);
        r.Sqe(io_uring_op.IORING_OP_FSETXATTR, memfd, 8, off: 0x10, addr: memory.Text("user.y"), len: 70000);
        r.Sqe(io_uring_op.IORING_OP_GETXATTR, -1, 9, addr: memory.Text("user.x"))->addr3 = memory.Text("no-such-file");
        r.Sqe(io_uring_op.IORING_OP_GETXATTR, 0, 10, addr: memory.Text("user.x"), flags: IoUringSqeFlags.IOSQE_FIXED_FILE)->addr3 = memory.Text("no-such-file");
        r.Submit(9);
        Assert.Equal(
            [(1, 0), (2, 1), (3, -61 /* ENODATA */), (4, -Errno.EOPNOTSUPP), (5, -Errno.ERANGE), (6, -Errno.EINVAL), (7, -Errno.EFAULT), (8, -Errno.E2BIG), (9, -Errno.ENOENT), (10, -Errno.EBADF)],
            r.Results().OrderBy(x => x.UserData).ToList());
    }

    [Fact]
    public void SpliceLooksUpBothFilesBeforeALengthOfZeroAndFailsAShortTransfer()
    {
        using var r = TestRing.Create(Snapshots.Newest, 16, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        var (read, write) = Posix.Pipe();
        SpliceSqe(r, memfd, memfd, 1, length: 0);
        SpliceSqe(r, memfd, memfd, 2, length: 5);
        SpliceSqe(r, 1000, memfd, 3, length: 0); // no input
        SpliceSqe(r, memfd, write, 4, length: 10, offIn: 0, flags: IoUringSqeFlags.IOSQE_IO_LINK); // 3 bytes of 10: short, the chain stops
        r.Nop(5);
        r.Sqe(io_uring_op.IORING_OP_TEE, memfd, 6, off: 1, len: 5);
        r.Submit(6);
        Assert.Equal(
            [(1, 0), (2, -Errno.EINVAL), (3, -Errno.EBADF), (4, 3), (5, -Errno.ECANCELED), (6, -Errno.EINVAL)],
            r.Results().OrderBy(x => x.UserData).ToList());
        Assert.Equal(3, Posix.Queued(read));
        Posix.Close(read);
        Posix.Close(write);
    }

    [Fact]
    public void PipeWritesItsDescriptorsOrFixedSlotsToAddr()
    {
        using var r = TestRing.Create(Snapshots.Newest, 16, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        var fds = stackalloc int[2] { -1, -1 };
        r.Sqe(io_uring_op.IORING_OP_PIPE, 0, 1, addr: (ulong)fds);
        r.Sqe(io_uring_op.IORING_OP_PIPE, 0, 2, addr: 0x10);
        r.Sqe(io_uring_op.IORING_OP_PIPE, 0, 3, addr: (ulong)fds, opFlags: 1); // O_WRONLY is no pipe flag
        r.Sqe(io_uring_op.IORING_OP_PIPE, 0, 4, addr: (ulong)fds, fileIndex: 1); // no fixed table
        r.Submit(4);
        Assert.Equal([(1, 0), (2, -Errno.EFAULT), (3, -Errno.EINVAL), (4, -Errno.ENXIO)], r.Results().OrderBy(x => x.UserData).ToList());
        Assert.True(Posix.IsPipe(fds[0]) && Posix.IsPipe(fds[1]), $"PIPE wrote {fds[0]}, {fds[1]}");
        Posix.Close(fds[0]);
        Posix.Close(fds[1]);

        var table = stackalloc int[4] { -1, -1, -1, -1 };
        Assert.Equal(0, r.Ring.RegisterFiles(table, 4));
        r.Sqe(io_uring_op.IORING_OP_PIPE, 0, 5, addr: (ulong)fds, fileIndex: Constants.IORING_FILE_INDEX_ALLOC);
        r.Sqe(io_uring_op.IORING_OP_PIPE, 0, 6, addr: (ulong)fds, fileIndex: 1, opFlags: 0x80000); // O_CLOEXEC with fixed slots
        r.Submit(2);
        Assert.Equal([(5, 0), (6, -Errno.EINVAL)], r.Results().OrderBy(x => x.UserData).ToList());
        Assert.Equal([0, 1], new[] { fds[0], fds[1] });

        // From slot 4 the write end would be past the table: the read end does not stay either.
        r.Sqe(io_uring_op.IORING_OP_PIPE, 0, 7, addr: (ulong)fds, fileIndex: 4);
        r.Sqe(io_uring_op.IORING_OP_PIPE, 0, 8, addr: (ulong)fds, fileIndex: 3);
        r.Submit(2);
        Assert.Equal([(7, -Errno.EINVAL), (8, 0)], r.Results().OrderBy(x => x.UserData).ToList());
        Assert.Equal([2, 3], new[] { fds[0], fds[1] });
    }

    [Fact]
    public void UringCmdAnswersSocketCommandsAndRefusesOtherFiles()
    {
        using var r = TestRing.Create(Snapshots.Newest, 32, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        var (a, b) = Posix.SocketPair(1);
        var udp = Posix.Socket(2, 2, 0);
        var value = stackalloc int[1] { 1 };
        Command(r, memfd, 1, 0);
        Command(r, a, 2, 0); // AF_UNIX has no protocol ioctl
        Command(r, udp, 3, 0);
        Command(r, a, 4, 2, level: 1, name: 3, optval: (ulong)value, optlen: 4); // SO_TYPE
        Command(r, a, 5, 2, level: 6, name: 1, optval: (ulong)value, optlen: 4); // only SOL_SOCKET
        Command(r, a, 6, 3, level: 1, name: 9, optval: (ulong)value, optlen: 4); // SO_KEEPALIVE
        Command(r, a, 7, 4); // TX_TIMESTAMP needs 32-byte CQEs
        Command(r, a, 8, 9);
        r.Sqe(io_uring_op.IORING_OP_URING_CMD, memfd, 9, off: 1UL << 32); // __pad1
        r.Submit(9);
        Assert.Equal(
            [(1, -Errno.EOPNOTSUPP), (2, -Errno.EOPNOTSUPP), (3, 0), (4, 4), (5, -Errno.EOPNOTSUPP), (6, 0), (7, -Errno.EINVAL), (8, -Errno.EOPNOTSUPP), (9, -Errno.EINVAL)],
            r.Results().OrderBy(x => x.UserData).ToList());
        Assert.Equal(1, value[0]); // SOCK_STREAM
        Assert.Equal(1, Posix.SocketOption(a, 9));
        Posix.Close(a);
        Posix.Close(b);
        Posix.Close(udp);
    }

    [Fact]
    public void UringCmdFlagsAreThoseOfTheKernel()
    {
        // 6.18: MULTISHOT only with provided buffers, a fixed buffer's index left to the driver; 6.12:
        // FIXED the only flag, its index checked at prep.
        foreach (var (multishot, fixedBuffer) in new[] { (true, -Errno.EOPNOTSUPP), (false, -Errno.EFAULT) })
        {
            using var r = TestRing.Create(Snapshots.Newest with { UringCmdMultishot = multishot }, 16, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
            r.Sqe(io_uring_op.IORING_OP_URING_CMD, memfd, 1, opFlags: Constants.IORING_URING_CMD_FIXED);
            r.Sqe(io_uring_op.IORING_OP_URING_CMD, memfd, 2, opFlags: Constants.IORING_URING_CMD_MULTISHOT);
            r.Sqe(io_uring_op.IORING_OP_URING_CMD, memfd, 3, flags: IoUringSqeFlags.IOSQE_BUFFER_SELECT);
            r.Submit(3);
            Assert.Equal([(1, fixedBuffer), (2, -Errno.EINVAL), (3, multishot ? -Errno.EINVAL : -Errno.EOPNOTSUPP)], r.Results().OrderBy(x => x.UserData).ToList());
        }
    }

    public void Dispose()
    {
        Posix.Close(memfd);
        memory.Dispose();
    }

    private static void SpliceSqe(TestRing r, int input, int output, ulong userData, uint length, long offIn = -1, IoUringSqeFlags flags = 0)
    {
        r.Sqe(io_uring_op.IORING_OP_SPLICE, output, userData, off: ulong.MaxValue, addr: (ulong)offIn, len: length, flags: flags)->splice_fd_in = input;
    }

    private static void Command(TestRing r, int fd, ulong userData, uint op, uint level = 0, uint name = 0, ulong optval = 0, int optlen = 0)
    {
        var sqe = r.Sqe(io_uring_op.IORING_OP_URING_CMD, fd, userData, off: op, addr: level | ((ulong)name << 32));
        sqe->addr3 = optval;
        sqe->splice_fd_in = optlen;
    }

    private void RegisterMemfd(TestRing r)
    {
        var table = stackalloc int[1] { memfd };
        Assert.Equal(0, r.Ring.RegisterFiles(table, 1));
    }
}
