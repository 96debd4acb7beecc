using System.Runtime.InteropServices;

namespace IoUring.Ring;

/// <summary>
/// The system calls besides io_uring's own: the engine does what the kernel's io_uring would do for a
/// request by making the equivalent call itself, so results and errnos are the kernel's own; the probe
/// makes the files it asks a kernel about with them.
/// </summary>
public static unsafe partial class Posix
{
    public const int FGetFd = 1;

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public nint Base;
        public nuint Length;
    }

    /// <summary>The result as the kernel returns it: non-negative, or -errno.</summary>
    public static long Result(long rc) => rc < 0 ? -Marshal.GetLastPInvokeError() : rc;

    public static bool IsOpen(int fd) => fd >= 0 && fcntl(fd, FGetFd, 0) >= 0;

    /// <summary>
    /// Copies user memory the way the kernel's copy_from_user does: a bad address is -EFAULT, not a
    /// crash. process_vm_readv on our own process makes the kernel do the checked copy. The process is
    /// asked each time (getpid), never cached: after fork(2) the child copying from its parent's memory
    /// would read the wrong process (found by liburing's poll-cancel, whose forked child crashed).
    /// </summary>
    public static int CopyFromUser(void* destination, ulong source, nuint length)
    {
        if (length == 0)
        {
            return 0;
        }

        var local = new IoVec { Base = (nint)destination, Length = length };
        var remote = new IoVec { Base = (nint)source, Length = length };
        var rc = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
        return rc == (nint)length ? 0 : -Errno.EFAULT;
    }

    /// <summary>
    /// Whether the file takes RWF_NOWAIT (FMODE_NOWAIT): a one-byte positional read with the flag is
    /// refused with EOPNOTSUPP when it does not. Positional at 0, so the file position is untouched.
    /// </summary>
    public static bool SupportsNowait(int fd)
    {
        byte scratch;
        var iov = new IoVec { Base = (nint)(&scratch), Length = 1 };
        return !(preadv2(fd, &iov, 1, 0, 8) < 0 && Marshal.GetLastPInvokeError() == 95);
    }

    /// <summary>Whether the descriptor's file was opened or set O_NONBLOCK (a read that would wait returns -EAGAIN).</summary>
    /// <summary>Whether the descriptor's access mode lets it be read (O_RDONLY or O_RDWR: FMODE_READ).</summary>
    public static bool OpenedForReading(int fd) => (fcntl(fd, 3, 0) & 0x3) is 0 or 2; // F_GETFL, O_ACCMODE

    /// <summary>Whether the descriptor's access mode lets it be written (O_WRONLY or O_RDWR: FMODE_WRITE).</summary>
    public static bool OpenedForWriting(int fd) => (fcntl(fd, 3, 0) & 0x3) is 1 or 2;

    public static bool IsNonblocking(int fd) => (fcntl(fd, 3, 0) & 0x800) != 0; // F_GETFL, O_NONBLOCK

    /// <summary>Whether the descriptor is a pipe or FIFO.</summary>
    public static bool IsPipe(int fd) => FileType(fd) == 0x1000;

    public static int Dup(int fd) => fd < 0 ? -1 : fcntl(fd, 1030, 0); // F_DUPFD_CLOEXEC

    /// <summary>close(2): 0, or -1 with errno set (read it with <see cref="Result"/>).</summary>
    public static int Close(int fd) => close(fd);

    /// <summary>A duplicate at the lowest free number (F_DUPFD from 0, or F_DUPFD_CLOEXEC), as the kernel's receive_fd takes one.</summary>
    public static int DupLowest(int fd, bool cloexec) => fcntl(fd, cloexec ? 1030 : 0, 0);

    /// <summary>Every page of [address, address + length) can be read (the kernel could pin it).</summary>
    public static bool Readable(ulong address, ulong length)
    {
        byte scratch;
        for (var page = address & ~4095UL; page < address + length; page += 4096)
        {
            var at = Math.Max(page, address);
            if (CopyFromUser(&scratch, at, 1) != 0)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// What the kernel's long-term pin of user memory for io_uring (registered buffers, user memory
    /// regions) asks: every page can be faulted in and is mapped writable (FOLL_WRITE), so a read-only
    /// mapping is -EFAULT even though it can be read. Writability comes from /proc/self/maps.
    /// </summary>
    public static bool Pinnable(ulong address, ulong length)
    {
        if (!Readable(address, length))
        {
            return false;
        }

        if (length == 0)
        {
            return true;
        }

        var next = address & ~4095UL;
        var end = address + length;
        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            // "start-end perms offset dev inode path", ordered by address.
            var dash = line.IndexOf('-');
            var space = line.IndexOf(' ');
            var start = Convert.ToUInt64(line[..dash], 16);
            var stop = Convert.ToUInt64(line[(dash + 1)..space], 16);
            if (stop <= next)
            {
                continue;
            }

            if (start > next || line[space + 2] != 'w')
            {
                return false;
            }

            next = stop;
            if (next >= end)
            {
                return true;
            }
        }

        return next >= end;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    /// <summary>mmap(2): the address, or -errno.</summary>
    public static nint Mmap(nint address, nuint length, int prot, int flags, int fd, long offset)
    {
        var rc = mmap(address, length, prot, flags, fd, offset);
        return rc == -1 ? -Marshal.GetLastPInvokeError() : rc;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint mmap(nint address, nuint length, int prot, int flags, int fd, long offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(nint address, nuint length);

    /// <summary>Whether the file lives on hugetlbfs (statfs f_type HUGETLBFS_MAGIC).</summary>
    public static bool IsHugetlbfs(int fd) => FilesystemType(fd) == 0x958458f6;

    /// <summary>A file of shmem (a memfd, a file on tmpfs): statfs f_type TMPFS_MAGIC.</summary>
    public static bool IsShmem(int fd) => FilesystemType(fd) == 0x01021994;

    private static uint FilesystemType(int fd)
    {
        // struct statfs begins with f_type (a long on 64-bit Linux); 120 bytes is its size there.
        var buffer = stackalloc long[16];
        return fstatfs(fd, buffer) == 0 ? (uint)buffer[0] : 0;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fstatfs(int fd, long* buffer);

    /// <summary>Seekable (a regular file here, where the engine meets only files and pipes): lseek succeeds.</summary>
    public static bool IsSeekable(int fd) => lseek(fd, 0, 1) >= 0;

    /// <summary>The file position of a seekable descriptor.</summary>
    public static long Position(int fd) => lseek(fd, 0, 1);

    /// <summary>The size of a seekable descriptor's file (the position is left as it was).</summary>
    public static long Size(int fd)
    {
        var position = lseek(fd, 0, 1);
        var end = lseek(fd, 0, 2);
        lseek(fd, position, 0);
        return end;
    }

    /// <summary>Grows a file to <paramref name="size"/> bytes if it is shorter (a hole; the position is left as it was).</summary>
    public static void ExtendTo(int fd, long size)
    {
        var end = Size(fd);
        if (end >= 0 && size > end)
        {
            ftruncate(fd, size);
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    public static partial int ftruncate(int fd, long length);

    /// <summary>memfd_create(2): an anonymous file in memory (the probes' stand-in for a program's file).</summary>
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int memfd_create(string name, uint flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial long lseek(int fd, long offset, int whence);

    /// <summary>The kernel's copy_to_user: -EFAULT for a bad address (process_vm_writev on ourselves).</summary>
    public static int CopyToUser(ulong destination, void* source, nuint length)
    {
        if (length == 0)
        {
            return 0;
        }

        var local = new IoVec { Base = (nint)source, Length = length };
        var remote = new IoVec { Base = (nint)destination, Length = length };
        var rc = process_vm_writev(getpid(), &local, 1, &remote, 1, 0);
        return rc == (nint)length ? 0 : -Errno.EFAULT;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint process_vm_writev(int pid, IoVec* local, nuint liovcnt, IoVec* remote, nuint riovcnt, nuint flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint preadv2(int fd, IoVec* iov, int iovcnt, long offset, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint pwritev2(int fd, IoVec* iov, int iovcnt, long offset, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fsync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fdatasync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int sync_file_range(int fd, long offset, long nbytes, uint flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fallocate(int fd, int mode, long offset, long length);

    /// <summary>posix_fadvise returns the error number itself (errno is not set).</summary>
    [LibraryImport("libc")]
    public static partial int posix_fadvise(int fd, long offset, long length, int advice);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int madvise(nint address, nuint length, int advice);

    // The path calls, with the path already copied (as the kernel's getname does at prep): each takes
    // a NUL-terminated name in the caller's memory, so only the call's own errors come back.
    [LibraryImport("libc", SetLastError = true)]
    public static partial int statx(int dirfd, byte* path, int flags, uint mask, nint buffer);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int mkdirat(int dirfd, byte* path, uint mode);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int unlinkat(int dirfd, byte* path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int renameat2(int olddirfd, byte* oldpath, int newdirfd, byte* newpath, uint flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int symlinkat(byte* target, int newdirfd, byte* linkpath);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int linkat(int olddirfd, byte* oldpath, int newdirfd, byte* newpath, int flags);

    // Extended attributes, by descriptor and by path (following symbolic links), with the name copied already.
    [LibraryImport("libc", SetLastError = true)]
    public static partial nint fgetxattr(int fd, byte* name, nint value, nuint size);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fsetxattr(int fd, byte* name, byte* value, nuint size, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint getxattr(byte* path, byte* name, nint value, nuint size);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setxattr(byte* path, byte* name, byte* value, nuint size, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint splice(int fdIn, long* offIn, int fdOut, long* offOut, nuint length, uint flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint tee(int fdIn, int fdOut, nuint length, uint flags);

    /// <summary>The open_how of openat2(2): flags, mode and resolve, 24 bytes in the first version.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    // openat2 is 437 on every architecture (a syscall number from the unified table); glibc has no wrapper.
    private const long SysOpenat2 = 437;

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall4(long number, long a, long b, long c, long d);

    /// <summary>A directory opened for the *at calls (O_DIRECTORY | O_CLOEXEC, read-only), or -1.</summary>
    public static int OpenDirectory(string path)
    {
        var name = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        var how = new OpenHow { Flags = 0x80000 | (ulong)(RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 0x4000 : 0x10000) };
        fixed (byte* p = name)
        {
            return Openat2(-100, p, &how); // AT_FDCWD
        }
    }

    /// <summary>
    /// A new open file description of the pipe end <paramref name="fd"/> (through /proc/self/fd, with its
    /// access mode and O_NONBLOCK, close-on-exec), or -1: splice(2) clears FMODE_NOWAIT on the pipe ends
    /// it is given (6.5 on), which a caller that must leave the original description as it was splices
    /// this one instead.
    /// </summary>
    public static int ReopenPipeEnd(int fd)
    {
        var status = fcntl(fd, 3, 0); // F_GETFL
        if (status < 0)
        {
            return -1;
        }

        var name = System.Text.Encoding.ASCII.GetBytes($"/proc/self/fd/{fd}\0");
        var how = new OpenHow { Flags = (ulong)(status & (0x3 | 0x800)) | 0x80000 }; // O_ACCMODE | O_NONBLOCK, O_CLOEXEC
        fixed (byte* p = name)
        {
            return Openat2(-100, p, &how); // AT_FDCWD
        }
    }

    /// <summary>openat2(2): a new descriptor at the lowest free number, or -1 with errno set.</summary>
    public static int Openat2(int dirfd, byte* path, OpenHow* how) => (int)syscall4(SysOpenat2, dirfd, (long)path, (long)how, sizeof(OpenHow));

    public const int ClockRealtime = 0;
    public const int ClockMonotonic = 1;
    public const int ClockBoottime = 7;

    /// <summary>The time of <paramref name="clock"/> in nanoseconds (the kernel's ktime_t of that clock).</summary>
    public static long ClockNs(int clock)
    {
        var ts = stackalloc long[2];
        clock_gettime(clock, ts);
        return (ts[0] * 1_000_000_000) + ts[1];
    }

    /// <summary>Sleeps until <paramref name="clock"/> reads <paramref name="deadlineNs"/> (an absolute clock_nanosleep, restarted after signals).</summary>
    public static void SleepUntil(int clock, long deadlineNs)
    {
        var ts = stackalloc long[2];
        ts[0] = deadlineNs / 1_000_000_000;
        ts[1] = deadlineNs % 1_000_000_000;
        while (clock_nanosleep(clock, 1, ts, null) == 4)
        {
        }
    }

    [LibraryImport("libc")]
    private static partial int clock_gettime(int clock, long* ts);

    // Returns the error number itself (4: EINTR), not -1 and errno.
    [LibraryImport("libc")]
    private static partial int clock_nanosleep(int clock, int flags, long* request, long* remain);

    /// <summary>
    /// What the file's poll method reports now (vfs_poll): every event bit poll(2) can return, asked
    /// with a zero timeout; 0 for a descriptor that is not open.
    /// </summary>
    public static uint PollNow(int fd)
    {
        var p = stackalloc int[2];
        p[0] = fd;
        p[1] = 0xffff; // events: all (short), revents: 0
        return poll(p, 1, 0) > 0 ? (uint)(ushort)(p[1] >> 16) : 0;
    }

    /// <summary>Whether the descriptor is readable now (POLLIN): for an eventfd, a count above 0.</summary>
    public static bool IsReadable(int fd) => (PollNow(fd) & 0x001) != 0;

    /// <summary>Waits up to <paramref name="timeoutMs"/> for the descriptor to be readable (an epoll set: to hold events), without reading it.</summary>
    public static void WaitReadable(int fd, int timeoutMs)
    {
        var p = stackalloc int[2];
        p[0] = fd;
        p[1] = 0x1; // POLLIN
        while (poll(p, 1, timeoutMs) < 0 && Marshal.GetLastPInvokeError() == 4)
        {
        }
    }

    /// <summary>
    /// Whether the file has a poll method with a wait queue (a pipe, socket, eventfd ...): the kernel's
    /// epoll accepts exactly those, and refuses a regular file or a directory with EPERM.
    /// </summary>
    public static bool CanPoll(int fd)
    {
        var epfd = epoll_create1(0x80000);
        if (epfd < 0)
        {
            return false;
        }

        var ev = stackalloc byte[16];
        var ok = epoll_ctl(epfd, EpollCtlAdd, fd, ev) == 0;
        close(epfd);
        return ok;
    }

    /// <summary>Whether the descriptor is an eventfd (its /proc/self/fd link names the anonymous inode).</summary>
    public static bool IsEventfd(int fd) => IsAnonymousInode(fd, "anon_inode:[eventfd]");

    /// <summary>Whether the descriptor is an io_uring instance of the kernel's.</summary>
    public static bool IsIoUring(int fd) => IsAnonymousInode(fd, "anon_inode:[io_uring]");

    private static bool IsAnonymousInode(int fd, string name)
    {
        try
        {
            return fd >= 0 && File.ResolveLinkTarget($"/proc/self/fd/{fd}", false)?.Name == name;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Whether the descriptor is a regular file: one without a poll method of its own on the filesystems the programs use.</summary>
    public static bool IsRegularFile(int fd) => FileType(fd) == 0x8000;

    /// <summary>
    /// Whether transfers of the file happen at a position: a regular file or a block device. Anything
    /// else (a pipe, socket, character device, eventfd) reads and writes as a stream, whatever lseek says.
    /// </summary>
    public static bool IsPositional(int fd) => FileType(fd) is 0x8000 or 0x6000;

    // The S_IFMT bits of the file's mode (0 when fstat fails or the inode has none, as an eventfd's).
    private static uint FileType(int fd)
    {
        var st = stackalloc byte[256];
        return fstat(fd, st) == 0 ? StatMode(st) & 0xf000 : 0;
    }

    // st_mode: offset 24 in x86_64's struct stat, 16 in the generic layout (arm64).
    private static uint StatMode(byte* st) => RuntimeInformation.ProcessArchitecture == Architecture.X64 ? *(uint*)(st + 24) : *(uint*)(st + 16);

    public const int EpollCtlAdd = 1;
    public const int EpollCtlDel = 2;

    public static int EpollCreate() => epoll_create1(0x80000); // EPOLL_CLOEXEC

    /// <summary>epoll_ctl(2) with one event word and its 64-bit cookie; 0 or -errno.</summary>
    public static int EpollCtl(int epfd, int op, int fd, uint events, ulong data)
    {
        var ev = stackalloc byte[16];
        WriteEvent(ev, events, data);
        return epoll_ctl(epfd, op, fd, ev) == 0 ? 0 : -Marshal.GetLastPInvokeError();
    }

    /// <summary>struct epoll_event as this process's architecture lays it out (packed to 12 bytes on x86_64).</summary>
    public static int EpollEventBytes => EpollEventSize;

    /// <summary>epoll_ctl(2) with an event as the caller laid it out (null for EPOLL_CTL_DEL); 0 or -errno.</summary>
    public static int EpollCtlRaw(int epfd, int op, int fd, byte* ev) => epoll_ctl(epfd, op, fd, ev) == 0 ? 0 : -Marshal.GetLastPInvokeError();

    /// <summary>epoll_wait(2) into <paramref name="cookies"/>; the number of events, or 0 on error.</summary>
    public static int EpollWait(int epfd, Span<ulong> cookies, int timeoutMs)
    {
        var size = EpollEventSize;
        var buffer = stackalloc byte[cookies.Length * size];
        int n;
        while ((n = epoll_wait(epfd, buffer, cookies.Length, timeoutMs)) < 0 && Marshal.GetLastPInvokeError() == 4)
        {
        }

        for (var k = 0; k < n; k++)
        {
            cookies[k] = *(ulong*)(buffer + (k * size) + (size - 8));
        }

        return Math.Max(n, 0);
    }

    /// <summary>epoll_wait(2) of at most <paramref name="max"/> events into user memory at <paramref name="events"/>, without waiting: the count, or -errno.</summary>
    public static int EpollWaitNow(int epfd, ulong events, int max) => (int)Result(epoll_wait(epfd, (byte*)events, max, 0));

    /// <summary>waitid(2) into <paramref name="info"/> (a siginfo_t of 128 bytes): 0, or -errno.</summary>
    public static int Waitid(int idType, int id, byte* info, int options) => (int)Result(waitid(idType, id, info, options));

    [LibraryImport("libc", SetLastError = true)]
    private static partial int waitid(int idType, int id, byte* info, int options);

    // struct epoll_event is packed on x86_64 (12 bytes) and naturally aligned elsewhere (16).
    private static int EpollEventSize => RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    /// <summary>Writes a struct epoll_event as this process's architecture lays it out.</summary>
    /// <summary>A struct epoll_event as this process's architecture lays it out: its events and its data.</summary>
    public static (uint Events, ulong Data) ReadEvent(byte* ev) => (*(uint*)ev, *(ulong*)(ev + EpollEventSize - 8));

    public static void WriteEvent(byte* ev, uint events, ulong data)
    {
        *(uint*)ev = events;
        *(ulong*)(ev + EpollEventSize - 8) = data;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int poll(int* fds, nuint count, int timeoutMs);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fstat(int fd, byte* st);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_create1(int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_ctl(int epfd, int op, int fd, byte* ev);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_wait(int epfd, byte* events, int max, int timeoutMs);

    /// <summary>pipe2(2): the read end, then the write end (-1, -1 on failure).</summary>
    public static (int Read, int Write) Pipe()
    {
        var fds = stackalloc int[2];
        return pipe2(fds, 0x80000) == 0 ? (fds[0], fds[1]) : (-1, -1);
    }

    /// <summary>eventfd(2) with a count of 0 (close-on-exec).</summary>
    public static int Eventfd() => eventfd(0, 0x80000);

    /// <summary>Whether the descriptor is a socket (S_IFSOCK).</summary>
    public static bool IsSocket(int fd) => FileType(fd) == 0xc000;

    /// <summary>A socket's type (SO_TYPE: SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_SEQPACKET 5), or -1.</summary>
    public static int SocketType(int fd)
    {
        int type;
        var size = sizeof(int);
        return getsockopt(fd, 1, 3, &type, &size) == 0 ? type : -1; // SOL_SOCKET, SO_TYPE
    }

    /// <summary>The bytes a socket or pipe holds for reading (SIOCINQ, which is FIONREAD), 0 on error.</summary>
    public static int Queued(int fd)
    {
        var queued = 0;
        return ioctl(fd, 0x541B, &queued) == 0 ? queued : 0;
    }

    /// <summary>socketpair(2) of AF_UNIX sockets of <paramref name="type"/>, close-on-exec (-1, -1 on failure).</summary>
    public static (int A, int B) SocketPair(int type)
    {
        var fds = stackalloc int[2];
        return socketpair(1, type | 0x80000, 0, fds) == 0 ? (fds[0], fds[1]) : (-1, -1);
    }

    /// <summary>struct msghdr as the running process lays it out (the engine runs 64-bit only).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MsgHdr
    {
        public nint Name;
        public int NameLength;
        public nint Iov;
        public nint IovLength;
        public nint Control;
        public nint ControlLength;
        public int Flags;
    }

    /// <summary>socket(2): a descriptor, or -1 with errno.</summary>
    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    public static partial int Socket(int domain, int type, int protocol);

    /// <summary>bind(2) of an address copied already (0, or -1 with errno).</summary>
    [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
    public static partial int Bind(int fd, byte* address, int length);

    /// <summary>listen(2).</summary>
    [LibraryImport("libc", EntryPoint = "listen", SetLastError = true)]
    public static partial int Listen(int fd, int backlog);

    /// <summary>connect(2) of an address copied already.</summary>
    [LibraryImport("libc", EntryPoint = "connect", SetLastError = true)]
    public static partial int Connect(int fd, byte* address, int length);

    /// <summary>accept4(2): the peer's address and its length go where the caller's pointers say, checked by the call itself.</summary>
    [LibraryImport("libc", EntryPoint = "accept4", SetLastError = true)]
    public static partial int Accept4(int fd, nint address, nint length, int flags);

    /// <summary>
    /// Sets O_NONBLOCK on the descriptor's open file for one call, returning what to give
    /// <see cref="EndNonblocking"/>: connect(2) and accept4(2) take no per-call don't-wait flag, and the
    /// engine must never block where io_uring's issue does not.
    /// </summary>
    public static int BeginNonblocking(int fd)
    {
        var flags = fcntl(fd, 3, 0); // F_GETFL
        if (flags < 0 || (flags & 0x800) != 0)
        {
            return -1;
        }

        fcntl(fd, 4, flags | 0x800); // F_SETFL
        return flags;
    }

    /// <summary>Restores the flags <see cref="BeginNonblocking"/> changed, keeping the call's errno.</summary>
    public static void EndNonblocking(int fd, int flags)
    {
        if (flags >= 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            fcntl(fd, 4, flags);
            Marshal.SetLastPInvokeError(errno);
        }
    }

    /// <summary>
    /// A close-on-exec socket of <paramref name="type"/> (SOCK_STREAM: listening, backlog 16; SOCK_DGRAM)
    /// bound to 127.0.0.1 on a port the kernel picks; its sockaddr_in (16 bytes) is written to
    /// <paramref name="address"/>. -1 on failure.
    /// </summary>
    public static int LoopbackSocket(int type, byte* address)
    {
        var fd = Socket(2, type | 0x80000, 0); // AF_INET
        if (fd < 0)
        {
            return -1;
        }

        LoopbackAddress(address, 0);
        var length = 16;
        if (Bind(fd, address, 16) != 0 || getsockname(fd, address, &length) != 0 || (type == 1 && Listen(fd, 16) != 0))
        {
            close(fd);
            return -1;
        }

        return fd;
    }

    /// <summary>Writes the sockaddr_in (16 bytes) of 127.0.0.1:<paramref name="port"/>.</summary>
    public static void LoopbackAddress(byte* address, int port)
    {
        new Span<byte>(address, 16).Clear();
        *(ushort*)address = 2; // AF_INET, in the host's byte order
        address[2] = (byte)(port >> 8);
        address[3] = (byte)port;
        address[4] = 127;
        address[7] = 1;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getsockname(int fd, byte* address, int* length);

    /// <summary>getsockopt(2) into memory the caller names, the length given as a value and returned: the length, or -errno.</summary>
    public static int GetSockOptAt(int fd, int level, int name, nint value, int length) =>
        getsockopt(fd, level, name, (void*)value, &length) == 0 ? length : -Marshal.GetLastPInvokeError();

    /// <summary>setsockopt(2) from memory the caller names: 0 or -1 with errno.</summary>
    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    public static partial int SetSockOptAt(int fd, int level, int name, nint value, int length);

    /// <summary>getsockname(2), or getpeername(2) when <paramref name="peer"/>, into memory the caller names: 0 or -1 with errno.</summary>
    public static int SocketNameAt(int fd, bool peer, nint address, nint length) =>
        peer ? getpeername(fd, (byte*)address, (int*)length) : getsockname(fd, (byte*)address, (int*)length);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getpeername(int fd, byte* address, int* length);

    /// <summary>An ioctl(2) that answers an int (SIOCINQ, SIOCOUTQ): the value, or -errno.</summary>
    public static int IoctlInt(int fd, nuint request)
    {
        var value = 0;
        return ioctl(fd, request, &value) == 0 ? value : -Marshal.GetLastPInvokeError();
    }

    /// <summary>An int socket option at SOL_SOCKET (SO_ERROR 4, SO_PROTOCOL 38, SO_DOMAIN 39), or -1.</summary>
    public static int SocketOption(int fd, int name)
    {
        int value;
        var size = sizeof(int);
        return getsockopt(fd, 1, name, &value, &size) == 0 ? value : -1;
    }

    [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
    public static partial nint SendMsg(int fd, MsgHdr* msg, int flags);

    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    public static partial nint RecvMsg(int fd, MsgHdr* msg, int flags);

    [LibraryImport("libc", EntryPoint = "shutdown", SetLastError = true)]
    public static partial int Shutdown(int fd, int how);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getsockopt(int fd, int level, int name, void* value, int* length);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int ioctl(int fd, nuint request, int* value);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int socketpair(int domain, int type, int protocol, int* fds);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int pipe2(int* fds, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int eventfd(uint count, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fcntl(int fd, int cmd, int arg);

    [LibraryImport("libc")]
    private static partial int getpid();

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint process_vm_readv(int pid, IoVec* local, nuint liovcnt, IoVec* remote, nuint riovcnt, nuint flags);
}
