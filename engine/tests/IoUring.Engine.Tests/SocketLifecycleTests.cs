using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>
/// SOCKET, BIND, LISTEN, CONNECT and ACCEPT, with plain and direct (fixed-table) descriptors. Each
/// expectation is what the host's 6.18 kernel gave for the same submissions; the per-kernel ones take the
/// profile value each kernel of the corpus was measured with.
/// </summary>
public sealed unsafe class SocketLifecycleTests : IDisposable
{
    private const int AfUnix = 1;
    private const int AfInet = 2;
    private const int SockStream = 1;
    private const uint Alloc = Constants.IORING_FILE_INDEX_ALLOC;
    private const IoUringSqeFlags Link = IoUringSqeFlags.IOSQE_IO_LINK;
    private const IoUringSqeFlags Fixed = IoUringSqeFlags.IOSQE_FIXED_FILE;

    private readonly List<int> opened = [];
    private readonly byte* address = (byte*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(128);
    private readonly int addressLength;

    public SocketLifecycleTests()
    {
        // An abstract AF_UNIX address of this test object's own (nothing in the file system; released on close).
        *(ushort*)address = AfUnix;
        var name = System.Text.Encoding.ASCII.GetBytes($"engine-test-{Environment.ProcessId}-{Guid.NewGuid():N}");
        name.CopyTo(new Span<byte>(address + 3, name.Length));
        addressLength = 3 + name.Length;
    }

    [Fact]
    public void ASocketIsADescriptorAndAFailedOneBreaksItsChain()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Sqe(r, io_uring_op.IORING_OP_SOCKET, AfUnix, off: SockStream, userData: 1);
        Sqe(r, io_uring_op.IORING_OP_SOCKET, 9999, off: SockStream, userData: 2, flags: Link);
        r.Nop(3);
        r.Submit(3);
        var cqes = r.Reap();
        Assert.True(cqes[0].Res >= 0 && Posix.IsSocket(cqes[0].Res), $"SOCKET gave {cqes[0]}");
        opened.Add(cqes[0].Res);
        Assert.Equal([new(2, -97, 0), new(3, -125, 0)], cqes.Skip(1));
    }

    [Fact]
    public void ADirectSocketTakesItsSlotOrTheFirstFreeOneAndAFullTableIsOnlyItsResult()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Sqe(r, io_uring_op.IORING_OP_SOCKET, AfUnix, off: SockStream, fileIndex: 1, userData: 1);
        Sqe(r, io_uring_op.IORING_OP_SOCKET, AfUnix, off: SockStream, fileIndex: Alloc, userData: 2);
        r.Submit(2);
        Assert.Equal([new(1, -6, 0), new(2, -23, 0)], r.Reap());

        var empty = stackalloc int[2] { -1, -1 };
        Assert.Equal(0, r.Ring.RegisterFiles(empty, 2));
        Sqe(r, io_uring_op.IORING_OP_SOCKET, AfUnix, off: SockStream, fileIndex: 1, userData: 1);
        Sqe(r, io_uring_op.IORING_OP_SOCKET, AfUnix, off: SockStream, fileIndex: Alloc, userData: 2);
        Sqe(r, io_uring_op.IORING_OP_SOCKET, AfUnix, off: SockStream, fileIndex: Alloc, userData: 3, flags: Link);
        r.Nop(4);
        Sqe(r, io_uring_op.IORING_OP_SOCKET, AfUnix, off: SockStream, fileIndex: 5, userData: 5);
        r.Submit(5);
        Assert.Equal([new(1, 0, 0), new(2, 1, 0), new(3, -23, 0), new(5, -22, 0), new(4, 0, 0)], r.Reap());
    }

    [Fact]
    public void AnAllocationAfterAReplacedSlotStartsWhereTheKernelLeftItsHint()
    {
        var table = stackalloc int[4];
        foreach (var (moves, slot) in new[] { (false, 0), (true, 3) })
        {
            using var r = TestRing.Create(Snapshots.Newest with { InstallOverSlotMovesAllocHint = moves }, 8);
            var memfd = Posix.memfd_create("lifecycle", 0);
            opened.Add(memfd);
            table[0] = table[3] = -1;
            table[1] = table[2] = memfd;
            Assert.Equal(0, r.Ring.RegisterFiles(table, 4));
            Sqe(r, io_uring_op.IORING_OP_SOCKET, AfUnix, off: SockStream, fileIndex: 3, userData: 1);
            Sqe(r, io_uring_op.IORING_OP_SOCKET, AfUnix, off: SockStream, fileIndex: Alloc, userData: 2);
            r.Submit(2);
            Assert.Equal([new(1, 0, 0), new(2, slot, 0)], r.Reap());
        }
    }

    [Fact]
    public void SocketPrepRefusesCloexecIntoASlotUnknownTypeFlagsAndAnAddress()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        Sqe(r, io_uring_op.IORING_OP_SOCKET, AfUnix, off: SockStream | 0x80000, fileIndex: 1, userData: 1);
        Sqe(r, io_uring_op.IORING_OP_SOCKET, AfUnix, off: SockStream | 0x100, userData: 2);
        Sqe(r, io_uring_op.IORING_OP_SOCKET, AfUnix, off: SockStream, addr: 8, userData: 3);
        r.Submit(3);
        Assert.Equal([new(1, -22, 0), new(2, -22, 0), new(3, -22, 0)], r.Reap());
    }

    [Fact]
    public void DirectSocketsBindListenConnectAndAcceptIntoTheTable()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        var empty = stackalloc int[3] { -1, -1, -1 };
        Assert.Equal(0, r.Ring.RegisterFiles(empty, 3));
        Sqe(r, io_uring_op.IORING_OP_SOCKET, AfUnix, off: SockStream, fileIndex: 1, userData: 1, flags: Link);
        Sqe(r, io_uring_op.IORING_OP_BIND, 0, addr: (ulong)address, off: (ulong)addressLength, userData: 2, flags: Fixed | Link);
        Sqe(r, io_uring_op.IORING_OP_LISTEN, 0, len: 8, userData: 3, flags: Fixed);
        r.Submit(3);
        Assert.Equal([new(1, 0, 0), new(2, 0, 0), new(3, 0, 0)], r.Reap());

        Sqe(r, io_uring_op.IORING_OP_SOCKET, AfUnix, off: SockStream, fileIndex: 2, userData: 4, flags: Link);
        Sqe(r, io_uring_op.IORING_OP_CONNECT, 1, addr: (ulong)address, off: (ulong)addressLength, userData: 5, flags: Fixed);
        Sqe(r, io_uring_op.IORING_OP_ACCEPT, 0, fileIndex: Alloc, userData: 6, flags: Fixed);
        r.Submit(3);
        Assert.Equal([new(4, 0, 0), new(5, 0, 0), new(6, 2, 0)], r.Reap());
    }

    [Fact]
    public void AFailedBindBreaksItsChainAndListenOfAFileThatIsNotASocketIsReturnedAtOnce()
    {
        var listener = UnixListener();
        var memfd = Posix.memfd_create("lifecycle", 0);
        opened.Add(memfd);
        using var r = TestRing.Create(Snapshots.Newest, 8);
        var empty = stackalloc int[1] { -1 };
        Assert.Equal(0, r.Ring.RegisterFiles(empty, 1));
        Sqe(r, io_uring_op.IORING_OP_SOCKET, AfUnix, off: SockStream, fileIndex: 1, userData: 7, flags: Link);
        Sqe(r, io_uring_op.IORING_OP_BIND, 0, addr: (ulong)address, off: (ulong)addressLength, userData: 8, flags: Fixed | Link);
        r.Nop(9);
        Sqe(r, io_uring_op.IORING_OP_LISTEN, memfd, len: 8, userData: 10, flags: Link);
        r.Nop(11);
        r.Submit(5);
        Assert.Equal([new(7, 0, 0), new(10, -88, 0), new(8, -98, 0), new(11, -125, 0), new(9, -125, 0)], r.Reap());
        GC.KeepAlive(listener);
    }

    [Fact]
    public void AConnectionRefusedFailsTheConnectAndItsChain()
    {
        var client = Posix.Socket(AfInet, SockStream | 0x80000, 0);
        opened.Add(client);
        var closedPort = stackalloc byte[16];
        Posix.LoopbackAddress(closedPort, 1);
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Sqe(r, io_uring_op.IORING_OP_CONNECT, client, addr: (ulong)closedPort, off: 16, userData: 1, flags: Link);
        r.Nop(2);
        r.Submit(2);
        Assert.Equal([new(1, -111, 0), new(2, -125, 0)], r.Reap());
    }

    [Fact]
    public void AcceptPrepRefusesALengthAMultishotIntoOneSlotAndFlagsTheKernelLacks()
    {
        var listener = UnixListener();
        foreach (var (profile, dontwait) in new[] { (Snapshots.Newest, -11), (Snapshots.Newest with { AcceptFlags = 1 }, -22) })
        {
            using var r = TestRing.Create(profile, 8, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
            Sqe(r, io_uring_op.IORING_OP_ACCEPT, listener, ioprio: Constants.IORING_ACCEPT_DONTWAIT, userData: 3);
            Sqe(r, io_uring_op.IORING_OP_ACCEPT, listener, len: 1, userData: 4);
            Sqe(r, io_uring_op.IORING_OP_ACCEPT, listener, fileIndex: 1, ioprio: Constants.IORING_ACCEPT_MULTISHOT, userData: 5);
            Sqe(r, io_uring_op.IORING_OP_ACCEPT, listener, ioprio: 8, userData: 6);
            r.Submit(4);
            Assert.Equal([new(3, dontwait, 0), new(4, -22, 0), new(5, -22, 0), new(6, -22, 0)], r.Reap());
        }
    }

    [Fact]
    public void AMultishotAcceptPostsEachConnectionAndEndsWhenCancelled()
    {
        var listener = UnixListener();
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Sqe(r, io_uring_op.IORING_OP_ACCEPT, listener, ioprio: Constants.IORING_ACCEPT_MULTISHOT, userData: 7);
        r.Submit();
        Assert.Empty(r.Reap());
        ConnectUnix();
        ConnectUnix();
        r.Submit();
        var posted = r.Reap();
        Assert.Equal(2, posted.Count);
        Assert.All(posted, c => Assert.True(c.UserData == 7 && c.Res >= 0 && c.Flags == Constants.IORING_CQE_F_MORE, $"{c}"));
        opened.AddRange(posted.Select(c => c.Res));
        r.AsyncCancel(8, 7);
        r.Submit(2);
        Assert.Equal([new(8, 0, 0), new(7, -125, 0)], r.Reap());
    }

    [Fact]
    public void AnAcceptFromATcpListenerWithMoreQueuedSaysSoWhereTheKernelReportsIt()
    {
        var tcp = stackalloc byte[16];
        foreach (var (profile, first) in new[] { (Snapshots.Newest, Constants.IORING_CQE_F_SOCK_NONEMPTY), (Snapshots.Newest with { AcceptNonEmpty = false }, 0u) })
        {
            var listener = Posix.LoopbackSocket(SockStream, tcp);
            opened.Add(listener);
            for (var k = 0; k < 2; k++)
            {
                var client = Posix.Socket(AfInet, SockStream | 0x80000, 0);
                opened.Add(client);
                Assert.Equal(0, Posix.Connect(client, tcp, 16));
            }

            using var r = TestRing.Create(profile, 8);
            Sqe(r, io_uring_op.IORING_OP_ACCEPT, listener, userData: 1);
            Sqe(r, io_uring_op.IORING_OP_ACCEPT, listener, userData: 2);
            r.Submit(2);
            var cqes = r.Reap();
            opened.AddRange(cqes.Select(c => c.Res));
            Assert.Equal([(1ul, first), (2ul, 0u)], cqes.Select(c => (c.UserData, c.Flags)));
        }
    }

    [Fact]
    public void AConnectionWakesTheAcceptQueuedLongestNotOneIssuedLater()
    {
        var tcp = stackalloc byte[16];
        var listener = Posix.LoopbackSocket(SockStream, tcp);
        opened.Add(listener);
        var table = stackalloc int[2];
        foreach (var kernel in new[] { "6.1", "7.2" })
        {
            using var r = TestRing.Create(Snapshots.Profile(kernel), 8);
            Sqe(r, io_uring_op.IORING_OP_ACCEPT, listener, userData: 1);
            r.Submit();
            Assert.Empty(r.Reap());
            table[0] = table[1] = -1;
            Assert.Equal(0, r.Ring.RegisterFiles(table, 2));
            Sqe(r, io_uring_op.IORING_OP_SOCKET, AfInet, off: SockStream, fileIndex: 1, userData: 101, flags: Link);
            Sqe(r, io_uring_op.IORING_OP_CONNECT, 0, addr: (ulong)tcp, off: 16, userData: 102, flags: Fixed | Link);
            r.Nop(103);
            Sqe(r, io_uring_op.IORING_OP_ACCEPT, listener, userData: 104);
            r.Submit(4);
            var cqes = r.Reap();
            opened.AddRange(cqes.Where(c => c.UserData is 1 or 104).Select(c => c.Res));
            Assert.Equal([(101ul, 0), (102ul, 0), (103ul, 0), (1ul, 1)], cqes.Select(c => (c.UserData, c.Res >= 0 ? Math.Min(c.Res, 1) : c.Res)).OrderBy(c => c.Item1 == 1 ? 1000 : c.Item1));
        }
    }

    public void Dispose()
    {
        foreach (var fd in opened)
        {
            Posix.Close(fd);
        }

        System.Runtime.InteropServices.NativeMemory.Free(address);
    }

    /// <summary>A listening AF_UNIX stream socket on this test's abstract address.</summary>
    private int UnixListener()
    {
        var fd = Posix.Socket(AfUnix, SockStream | 0x80000, 0);
        opened.Add(fd);
        Assert.Equal(0, Posix.Bind(fd, address, addressLength));
        Assert.Equal(0, Posix.Listen(fd, 8));
        return fd;
    }

    private void ConnectUnix()
    {
        var fd = Posix.Socket(AfUnix, SockStream | 0x80000, 0);
        opened.Add(fd);
        Assert.Equal(0, Posix.Connect(fd, address, addressLength));
    }

    private static void Sqe(TestRing r, io_uring_op op, int fd, ulong addr = 0, ulong off = 0, uint len = 0, uint fileIndex = 0, uint ioprio = 0, ulong userData = 0, IoUringSqeFlags flags = 0)
    {
        var sqe = r.Ring.GetSqe();
        *sqe = default;
        sqe->opcode = (byte)op;
        sqe->fd = fd;
        sqe->addr = addr;
        sqe->off = off;
        sqe->len = len;
        sqe->file_index = fileIndex;
        sqe->ioprio = (ushort)ioprio;
        sqe->flags = (byte)flags;
        sqe->user_data = userData;
    }
}
