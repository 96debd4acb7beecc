using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>
/// OPENAT, OPENAT2, STATX, MKDIRAT, UNLINKAT, RENAMEAT, SYMLINKAT and LINKAT inside a scratch directory of
/// the test's own. Each expectation is what the host's 6.18 kernel gave for the same submissions.
/// </summary>
public sealed unsafe class PathCallTests : IDisposable
{
    private const uint OCreat = 0x40;
    private const uint OCloexec = 0x80000;
    private const uint AtRemovedir = 0x200;
    private const uint AtEmptyPath = 0x1000;
    private const uint StatxSize = 0x200;

    private readonly string scratch = Directory.CreateTempSubdirectory("path-call-tests").FullName;
    private readonly int dir;
    private readonly TestMemory memory = new();

    public PathCallTests()
    {
        dir = Posix.OpenDirectory(scratch);
        Assert.True(dir >= 0, $"open {scratch}");
    }

    [Fact]
    public void OpenatChecksItsNameAtPrepAndFailsTheRequestOnError()
    {
        using var r = TestRing.Create(Snapshots.Newest, 16, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        var longName = new string('a', 4096);
        File.WriteAllText(Path.Combine(scratch, "e"), "x");
        r.Sqe(io_uring_op.IORING_OP_OPENAT, dir, 1, addr: memory.Text("f"), len: 0x1a4, opFlags: OCreat | 2);
        r.Sqe(io_uring_op.IORING_OP_OPENAT, dir, 2, addr: memory.Text("missing"));
        r.Sqe(io_uring_op.IORING_OP_OPENAT, 0, 3, addr: memory.Text("f"), flags: IoUringSqeFlags.IOSQE_FIXED_FILE);
        r.Sqe(io_uring_op.IORING_OP_OPENAT, dir, 4, addr: memory.Text(string.Empty));
        r.Sqe(io_uring_op.IORING_OP_OPENAT, dir, 5, addr: 0x10);
        r.Sqe(io_uring_op.IORING_OP_OPENAT, dir, 6, addr: memory.Text(longName));
        r.Sqe(io_uring_op.IORING_OP_OPENAT, dir, 7, addr: memory.Text("e"), opFlags: OCloexec, fileIndex: 1);
        r.Sqe(io_uring_op.IORING_OP_OPENAT, -1, 8, addr: memory.Text("f"));
        r.Sqe(io_uring_op.IORING_OP_OPENAT, dir, 9, addr: memory.Text("e"), fileIndex: 1); // no fixed table
        r.Submit(9);
        var results = r.Results().OrderBy(x => x.UserData).ToList();
        Assert.True(results[0].Res >= 0, $"OPENAT with O_CREAT returned {results[0].Res}");
        Posix.Close(results[0].Res);
        Assert.Equal(
            [(2, -Errno.ENOENT), (3, -Errno.EBADF), (4, -Errno.ENOENT), (5, -Errno.EFAULT), (6, -Errno.ENAMETOOLONG), (7, -Errno.EINVAL), (8, -Errno.EBADF), (9, -Errno.ENXIO)],
            results[1..]);
        Assert.True(File.Exists(Path.Combine(scratch, "f")));
    }

    [Fact]
    public void Openat2CopiesItsOpenHowAtPrep()
    {
        using var r = TestRing.Create(Snapshots.Newest, 16, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        File.WriteAllText(Path.Combine(scratch, "f"), "x");
        var how = (ulong*)memory.Zeroed(64);
        ((byte*)how)[30] = 1;
        r.Sqe(io_uring_op.IORING_OP_OPENAT2, dir, 1, off: (ulong)how, addr: memory.Text("f"), len: 10);
        r.Sqe(io_uring_op.IORING_OP_OPENAT2, dir, 2, off: (ulong)how, addr: memory.Text("f"), len: 32); // not zero past the 24 bytes known
        r.Sqe(io_uring_op.IORING_OP_OPENAT2, dir, 3, off: 0x10, addr: memory.Text("f"), len: 24);
        r.Submit(3);
        Assert.Equal([(1, -Errno.EINVAL), (2, -Errno.E2BIG), (3, -Errno.EFAULT)], r.Results().OrderBy(x => x.UserData).ToList());

        // Flags and resolve are the call's own to check, at issue: -EINVAL, and RESOLVE_BENEATH's -EXDEV.
        new Span<byte>(how, 64).Clear();
        how[0] = 1UL << 40;
        r.Sqe(io_uring_op.IORING_OP_OPENAT2, dir, 4, off: (ulong)how, addr: memory.Text("f"), len: 24);
        r.Submit(1);
        how[0] = 0;
        how[2] = 0x08; // RESOLVE_BENEATH
        r.Sqe(io_uring_op.IORING_OP_OPENAT2, dir, 5, off: (ulong)how, addr: memory.Text("../x"), len: 24);
        r.Sqe(io_uring_op.IORING_OP_OPENAT2, dir, 6, off: (ulong)how, addr: memory.Text("f"), len: 24);
        r.Submit(2);
        var results = r.Results().OrderBy(x => x.UserData).ToList();
        Assert.Equal([(4, -Errno.EINVAL), (5, -18 /* EXDEV */)], results[..2]);
        Assert.True(results[2].Res >= 0, $"OPENAT2 returned {results[2].Res}");
        Posix.Close(results[2].Res);
    }

    [Fact]
    public void TheDirectoryCallsErrorIsOnlyTheResultAndTheChainGoesOn()
    {
        using var r = TestRing.Create(Snapshots.Newest, 16, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        r.Sqe(io_uring_op.IORING_OP_MKDIRAT, dir, 1, addr: memory.Text("d"), len: 0x1ed);
        r.Submit(1);
        r.Sqe(io_uring_op.IORING_OP_MKDIRAT, dir, 2, addr: memory.Text("d"), len: 0x1ed, flags: IoUringSqeFlags.IOSQE_IO_LINK);
        r.Nop(3);
        r.Sqe(io_uring_op.IORING_OP_UNLINKAT, dir, 4, addr: memory.Text("d"), opFlags: 1); // only AT_REMOVEDIR
        r.Sqe(io_uring_op.IORING_OP_UNLINKAT, dir, 5, addr: memory.Text("d"));
        r.Sqe(io_uring_op.IORING_OP_STATX, dir, 6, off: memory.Zeroed(256), addr: memory.Text("nope"), len: 1, flags: IoUringSqeFlags.IOSQE_IO_LINK);
        r.Nop(7);
        r.Sqe(io_uring_op.IORING_OP_OPENAT, dir, 8, addr: memory.Text("nope"), flags: IoUringSqeFlags.IOSQE_IO_LINK);
        r.Nop(9);
        r.Submit(9);
        Assert.Equal(
            [(1, 0), (2, -17 /* EEXIST */), (3, 0), (4, -Errno.EINVAL), (5, -21 /* EISDIR */), (6, -Errno.ENOENT), (7, 0), (8, -Errno.ENOENT), (9, -Errno.ECANCELED)],
            r.Results().OrderBy(x => x.UserData).ToList());
    }

    [Fact]
    public void RenameLinkAndSymlinkTakeTwoNames()
    {
        using var r = TestRing.Create(Snapshots.Newest, 16, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        File.WriteAllText(Path.Combine(scratch, "f"), "x");
        Directory.CreateDirectory(Path.Combine(scratch, "d"));
        r.Sqe(io_uring_op.IORING_OP_RENAMEAT, dir, 1, off: memory.Text("g"), addr: memory.Text("f"), len: (uint)dir);
        r.Submit(1);
        r.Sqe(io_uring_op.IORING_OP_SYMLINKAT, dir, 2, off: memory.Text("s"), addr: memory.Text("g"));
        r.Submit(1);
        r.Sqe(io_uring_op.IORING_OP_LINKAT, dir, 3, off: memory.Text("h"), addr: memory.Text("g"), len: (uint)dir);
        r.Sqe(io_uring_op.IORING_OP_LINKAT, dir, 4, off: memory.Text("h2"), addr: memory.Text(string.Empty), len: (uint)dir); // an empty name needs AT_EMPTY_PATH
        r.Sqe(io_uring_op.IORING_OP_UNLINKAT, dir, 5, addr: memory.Text("d"), opFlags: AtRemovedir);
        r.Sqe(io_uring_op.IORING_OP_SYMLINKAT, dir, 6, off: memory.Text("s2"), addr: memory.Text("g"), len: 1);
        r.Submit(4);
        Assert.Equal([(1, 0), (2, 0), (3, 0), (4, -Errno.ENOENT), (5, 0), (6, -Errno.EINVAL)], r.Results().OrderBy(x => x.UserData).ToList());
        Assert.Equal(["g", "h", "s"], Directory.EnumerateFileSystemEntries(scratch).Select(Path.GetFileName).Order());
        Assert.Equal("g", new FileInfo(Path.Combine(scratch, "s")).LinkTarget);
    }

    [Fact]
    public void StatxTakesAnEmptyNameOnlyWithAtEmptyPath()
    {
        using var r = TestRing.Create(Snapshots.Newest, 16, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
        File.WriteAllText(Path.Combine(scratch, "g"), "hello");
        var buffer = memory.Zeroed(256);
        r.Sqe(io_uring_op.IORING_OP_STATX, dir, 1, off: buffer, addr: memory.Text("g"), len: StatxSize);
        r.Sqe(io_uring_op.IORING_OP_STATX, dir, 2, off: buffer, addr: memory.Text(string.Empty), len: StatxSize);
        r.Sqe(io_uring_op.IORING_OP_STATX, dir, 3, off: buffer, addr: memory.Text("g"), len: 0x80000000); // STATX__RESERVED
        r.Sqe(io_uring_op.IORING_OP_STATX, dir, 4, off: 0x10, addr: memory.Text("g"), len: StatxSize);
        r.Sqe(io_uring_op.IORING_OP_STATX, dir, 5, off: buffer, addr: 0, len: StatxSize, opFlags: AtEmptyPath);
        r.Submit(5);
        Assert.Equal([(1, 0), (2, -Errno.ENOENT), (3, -Errno.EINVAL), (4, -Errno.EFAULT), (5, -Errno.EFAULT)], r.Results().OrderBy(x => x.UserData).ToList());
        Assert.Equal(5UL, *(ulong*)(buffer + 40)); // stx_size
    }

    public void Dispose()
    {
        Posix.Close(dir);
        memory.Dispose();
        Directory.Delete(scratch, recursive: true);
    }
}
