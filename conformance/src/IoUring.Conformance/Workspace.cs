using System.Runtime.InteropServices;

namespace IoUring.Conformance;

/// <summary>
/// The memory and the files a program's SQEs point at: a memfd holding 8 KiB of known bytes, a
/// buffer area, iovec arrays into it, for readiness a pipe and an eventfd, both empty, and a connected
/// pair of AF_UNIX stream sockets with msghdrs for their SENDMSG and RECVMSG, a TCP listener and a UDP
/// socket on 127.0.0.1 with their addresses (<see cref="Addresses"/>, which no digest covers: the ports
/// are the kernel's choice). Each run of a
/// program gets a fresh one with the same contents, so the engine and the kernel start from equal states;
/// the trace records digests of them after every step. Disposal closes the files and frees the memory.
/// </summary>
public sealed unsafe partial class Workspace : IDisposable
{
    public const int FileBytes = 8192;
    public const int AreaBytes = 48 * 1024;
    public const int IovecLength = 700;
    public const int IovecSlots = 1100;

    /// <summary>A msghdr's vectors: up to this many of <see cref="MsgVectorLength"/> bytes from its offset in the stream buffer.</summary>
    public const int MsgVectors = 8;
    public const int MsgVectorLength = 700;
    public const int MsgSlots = 64;

    // struct msghdr of the process and its iovec array, per slot.
    private static readonly int MsgHdrBytes = sizeof(IoUring.Ring.Posix.MsgHdr);
    private static readonly int MsgSlotBytes = MsgHdrBytes + 8 + (MsgVectors * 16);

    /// <summary>The buffer the pipe's and the eventfd's reads and writes use: apart from the area, which io-wq's file transfers may be using meanwhile.</summary>
    public const int StreamBytes = 16 * 1024;

    // Below mmap_min_addr: never mapped, so a copy to or from it faults (-EFAULT at issue).
    public const ulong UnmappedAddress = 0x1000;

    // Above TASK_SIZE: access_ok refuses it (-EFAULT at preparation).
    public const ulong KernelAddress = 0xffff_8000_0000_0000;

    public const int ClosedFd = 0x3fff_fff0;

    // Every workspace starts from the same bytes: computed once, copied per program.
    private static readonly byte[] FilePattern = Enumerable.Range(0, FileBytes).Select(i => (byte)((i * 7) + 3)).ToArray();
    private static readonly byte[] AreaPattern = Enumerable.Range(0, AreaBytes).Select(i => (byte)(i * 13)).ToArray();
    private static readonly byte[] StreamPattern = Enumerable.Range(0, StreamBytes).Select(i => (byte)((i * 29) + 1)).ToArray();
    private static readonly ulong StreamPatternHash = Hash(StreamPattern);

    private bool disposed;

    public Workspace()
    {
        Fd = memfd_create("io_uring-conformance", 0);
        if (Fd < 0)
        {
            throw new InvalidOperationException($"memfd_create failed (errno {Marshal.GetLastPInvokeError()})");
        }

        fixed (byte* p = FilePattern)
        {
            if (pwrite(Fd, p, (nuint)FilePattern.Length, 0) != FilePattern.Length)
            {
                throw new InvalidOperationException("writing the workspace file failed");
            }
        }

        var pipe = stackalloc int[2];
        if (pipe2(pipe, 0x80000) != 0 || (EventFd = eventfd(0, 0x80000)) < 0)
        {
            throw new InvalidOperationException($"creating the workspace's pipe and eventfd failed (errno {Marshal.GetLastPInvokeError()})");
        }

        (PipeRead, PipeWrite) = (pipe[0], pipe[1]);
        (SocketA, SocketB) = IoUring.Ring.Posix.SocketPair(1); // SOCK_STREAM
        if (SocketA < 0)
        {
            throw new InvalidOperationException($"creating the workspace's socket pair failed (errno {Marshal.GetLastPInvokeError()})");
        }

        Addresses = (byte*)NativeMemory.AlignedAlloc(ConnectionChoices.AddressBytes, 64);
        new Span<byte>(Addresses, ConnectionChoices.AddressBytes).Clear();
        (Listener, Udp, listenerTwin, udpTwin) = LoopbackSockets(Addresses);
        if (Listener < 0 || Udp < 0)
        {
            throw new InvalidOperationException($"creating the workspace's loopback sockets failed (errno {Marshal.GetLastPInvokeError()}): is the loopback interface up?");
        }

        ConnectionChoices.WriteFixedAddresses(Addresses);
        Epoll = IoUring.Ring.Posix.EpollCreate();
        EpollEvents = (byte*)NativeMemory.AlignedAlloc(32, 16);
        EpollOut = (byte*)NativeMemory.AlignedAlloc(EpollOutBytes, 16);
        new Span<byte>(EpollOut, EpollOutBytes).Fill(EpollOutUnwritten);
        IoUring.Ring.Posix.WriteEvent(EpollEvents, 0x1, 1); // EPOLLIN
        IoUring.Ring.Posix.WriteEvent(EpollEvents + 16, 0x1 | (1u << 28), 2); // EPOLLIN | EPOLLEXCLUSIVE
        Spare = DuplicateFrom(Fd, SpareFloor);
        var notifier = eventfd(0, 0x80000 | 0x800); // EFD_CLOEXEC | EFD_NONBLOCK
        Notifier = notifier < 0 ? -1 : DuplicateFrom(notifier, NotifierFloor);
        close(notifier);
        // The two pipes only SPLICE and TEE touch, numbered from SplicePipesFloor up.
        var splicePipes = stackalloc int[4];
        for (var k = 0; k < 2; k++)
        {
            if (pipe2(pipe, 0x80000) != 0)
            {
                throw new InvalidOperationException($"creating the workspace's splice pipes failed (errno {Marshal.GetLastPInvokeError()})");
            }

            for (var end = 0; end < 2; end++)
            {
                splicePipes[(2 * k) + end] = DuplicateFrom(pipe[end], SplicePipesFloor);
                close(pipe[end]);
            }
        }

        (SplicePipeRead, SplicePipeWrite, TeePipeRead, TeePipeWrite) = (splicePipes[0], splicePipes[1], splicePipes[2], splicePipes[3]);
        Descriptors = (int*)NativeMemory.AlignedAlloc((nuint)(MsgSlots * 4 * sizeof(int)), 64);
        if (Spare < 0 || Epoll < 0 || Notifier < 0 || SplicePipeRead < 0 || SplicePipeWrite < 0 || TeePipeRead < 0 || TeePipeWrite < 0)
        {
            throw new InvalidOperationException($"duplicating the workspace file from {SpareFloor} up, or creating its epoll instance, its notification eventfd or its splice pipes, failed (errno {Marshal.GetLastPInvokeError()})");
        }

        Msgs = (byte*)NativeMemory.AlignedAlloc((nuint)(MsgSlots * MsgSlotBytes), 64);
        Area = (byte*)NativeMemory.AlignedAlloc(AreaBytes, 4096);
        AreaPattern.CopyTo(new Span<byte>(Area, AreaBytes));
        Stream = (byte*)NativeMemory.AlignedAlloc(StreamBytes, 4096);
        StreamPattern.CopyTo(new Span<byte>(Stream, StreamBytes));
        Iovecs = (nint*)NativeMemory.AlignedAlloc((nuint)(IovecSlots * 2 * sizeof(nint)), 64);
        Futex = (byte*)NativeMemory.AlignedAlloc(FutexBytes, 64);
        FillFutex(Futex);
        BufferRings = (byte*)NativeMemory.AlignedAlloc(BufferRingBytes, 4096);
        new Span<byte>(BufferRings, BufferRingBytes).Clear();

        // The path calls' scratch directory, its descriptor numbered from DirectoryFloor up (as the
        // spare's, so it takes no number a program's new descriptors would), and their names, open_hows
        // and statx buffer.
        DirectoryPath = System.IO.Directory.CreateTempSubdirectory("io_uring-conformance-").FullName;
        var opened = IoUring.Ring.Posix.OpenDirectory(DirectoryPath);
        Directory = opened < 0 ? -1 : DuplicateFrom(opened, DirectoryFloor);
        close(opened);
        if (Directory < 0)
        {
            throw new InvalidOperationException($"opening the workspace's scratch directory {DirectoryPath} failed (errno {Marshal.GetLastPInvokeError()})");
        }

        Names = (byte*)NativeMemory.AlignedAlloc(NamesBytes, 64);
        new Span<byte>(Names, NamesBytes).Clear();
        for (var i = 0; i < PathChoices.Names.Length; i++)
        {
            System.Text.Encoding.ASCII.GetBytes(PathChoices.Names[i], new Span<byte>(Names + NameOffset(i), NamesBytes - NameOffset(i)));
        }

        XattrStrings = (byte*)NativeMemory.AlignedAlloc(XattrStringsBytes, 64);
        new Span<byte>(XattrStrings, XattrStringsBytes).Clear();
        var paths = Enumerable.Range(0, PathChoices.XattrPaths.Length).Select(k => PathChoices.XattrPath(k, Directory));
        foreach (var (text, k) in PathChoices.XattrNames.Take(PathChoices.XattrNamesOwn).Concat(paths).Select((text, k) => (text, k)))
        {
            System.Text.Encoding.ASCII.GetBytes(text, new Span<byte>(XattrStrings + (32 * k), 31));
        }

        // One slot of zeros after the last: an OPENAT2 of the last with a size past its slot reads zeros.
        Hows = (ulong*)NativeMemory.AlignedAlloc((nuint)((PathChoices.Hows.Length + 1) * PathChoices.HowBytes), 64);
        new Span<byte>(Hows, (PathChoices.Hows.Length + 1) * PathChoices.HowBytes).Clear();
        for (var i = 0; i < PathChoices.Hows.Length; i++)
        {
            var how = Hows + (i * PathChoices.HowBytes / 8);
            (how[0], how[1], how[2]) = (PathChoices.NativeOpenFlags(PathChoices.Hows[i].Flags), PathChoices.Hows[i].Mode, PathChoices.Hows[i].Resolve);
        }

        StatxBuffer = (byte*)NativeMemory.AlignedAlloc(StatxBytes, 64);
        new Span<byte>(StatxBuffer, StatxBytes).Clear();

        // The timeouts' timespecs live apart from the area, which reads may overwrite while a TIMEOUT is prepared.
        Times = (long*)NativeMemory.AlignedAlloc((nuint)(TimeoutChoices.Times.Length * 2 * sizeof(long)), 64);
        for (var i = 0; i < TimeoutChoices.Times.Length; i++)
        {
            Times[2 * i] = TimeoutChoices.Times[i].Sec;
            Times[(2 * i) + 1] = TimeoutChoices.Times[i].Nsec;
        }
    }

    public int Fd { get; }

    /// <summary>The read and write ends of the program's pipe.</summary>
    public int PipeRead { get; }

    public int PipeWrite { get; }

    /// <summary>The program's eventfd (count 0 at the start).</summary>
    public int EventFd { get; }

    /// <summary>The two ends of the program's connected AF_UNIX stream socket pair.</summary>
    public int SocketA { get; }

    public int SocketB { get; }

    /// <summary>A TCP socket listening on 127.0.0.1 (backlog 16) and a UDP socket bound there.</summary>
    public int Listener { get; }

    public int Udp { get; }

    /// <summary>Socket addresses and the accept's output (<see cref="ConnectionChoices"/> has the layout).</summary>
    public byte* Addresses { get; }

    public ProgramFds Fds => new(Fd, PipeRead, PipeWrite, EventFd, SocketA, SocketB, Listener, Udp, Spare, Epoll, Directory, SplicePipeRead, SplicePipeWrite, TeePipeRead, TeePipeWrite);

    /// <summary>The pipes only SPLICE and TEE touch (<see cref="SpliceChoices"/>), their ends numbered from <see cref="SplicePipesFloor"/> up.</summary>
    public int SplicePipeRead { get; }

    public int SplicePipeWrite { get; }

    public int TeePipeRead { get; }

    public int TeePipeWrite { get; }

    public const int SplicePipesFloor = 940;

    /// <summary>The path calls' scratch directory (empty at the start) and its descriptor.</summary>
    public string DirectoryPath { get; }

    public int Directory { get; }

    public const int DirectoryFloor = 910;

    // Name i at 32 * i; the long one (4096 bytes and its NUL) after them all.
    private const int NamesBytes = (32 * 9) + 4100;

    private static int NameOffset(int index) => index == PathChoices.LongName ? 32 * 9 : 32 * index;

    private byte* Names { get; }

    private ulong* Hows { get; }

    /// <summary>The statx buffer STATX writes (whose type, size and link count the digest shows once written).</summary>
    public byte* StatxBuffer { get; }

    public const int StatxBytes = 256;

    /// <summary>The NUL-terminated name <see cref="PathChoices.Names"/>[<paramref name="index"/>].</summary>
    public ulong Name(int index) => (ulong)(Names + NameOffset(index));

    /// <summary>The attribute name <see cref="PathChoices.XattrNames"/>[<paramref name="index"/>] (the empty and long ones are <see cref="Name"/>'s).</summary>
    public ulong XattrName(int index) => index switch
    {
        < PathChoices.XattrNamesOwn => (ulong)(XattrStrings + (32 * index)),
        PathChoices.XattrNamesOwn => Name(Array.IndexOf(PathChoices.Names, string.Empty)),
        _ => Name(PathChoices.LongName),
    };

    /// <summary>The path <see cref="PathChoices.XattrPaths"/>[<paramref name="index"/>].</summary>
    public ulong XattrPath(int index) => (ulong)(XattrStrings + (32 * (PathChoices.XattrNamesOwn + index)));

    // The attribute names of the workspace's own, then the paths, 32 bytes each.
    private const int XattrStringsBytes = 32 * 8;

    private byte* XattrStrings { get; }

    /// <summary>The open_how <see cref="PathChoices.Hows"/>[<paramref name="index"/>], its open flags the process's own numbers.</summary>
    public ulong How(int index) => (ulong)(Hows + (index * PathChoices.HowBytes / 8));

    /// <summary>
    /// The futex calls' memory: two 32-bit words, 7 at offset 0 and 8 at offset 4, which nothing else
    /// writes (a read into the area from io-wq could change a word while a wait reads it), then three
    /// arrays of struct futex_waitv (<see cref="FutexWaitvArray"/>).
    /// </summary>
    public byte* Futex { get; }

    public const int FutexBytes = 256;

    /// <summary>
    /// The futex_waitv array <paramref name="index"/>: 0 waits for both words as they are, 1 for the first
    /// as it is and the second as 9 (-EAGAIN), 2 has a reserved word that is not 0 (-EINVAL); each
    /// private, 24 bytes an entry (val, uaddr, flags, reserved).
    /// </summary>
    public ulong FutexWaitvArray(int index) => (ulong)(Futex + 64 + (index * 48));

    /// <summary>The siginfo WAITID writes (28 bytes of 0xaa between the futex words and the arrays until it does).</summary>
    public ulong Siginfo => (ulong)(Futex + SiginfoOffset);

    /// <summary>
    /// The buffer rings' entries: two pages, zero until a ring is registered over them (group 2's the
    /// second, every other group's the first). The buffers they name are at <see cref="RingBufferOffset"/> of the area.
    /// </summary>
    public byte* BufferRings { get; }

    public const int BufferRingBytes = 8192;

    /// <summary>Where in the area the buffers a ring's entries name are: the last 8 KiB, 1 KiB each.</summary>
    public const int RingBufferOffset = AreaBytes - 8192;

    public byte* BufferRingPage(ushort group) => BufferRings + (group == 2 ? 4096 : 0);

    private const int SiginfoOffset = 16;
    private const int SiginfoBytes = 28;

    private static void FillFutex(byte* futex)
    {
        new Span<byte>(futex, FutexBytes).Clear();
        new Span<byte>(futex + SiginfoOffset, SiginfoBytes).Fill(0xaa);
        ((uint*)futex)[0] = 7;
        ((uint*)futex)[1] = 8;
        (ulong Value, int Word, uint Reserved)[][] arrays = [[(7, 0, 0), (8, 4, 0)], [(7, 0, 0), (9, 4, 0)], [(7, 0, 1), (8, 4, 0)]];
        for (var a = 0; a < arrays.Length; a++)
        {
            for (var k = 0; k < arrays[a].Length; k++)
            {
                var entry = futex + 64 + (a * 48) + (k * 24);
                *(ulong*)entry = arrays[a][k].Value;
                *(ulong*)(entry + 8) = (ulong)(futex + arrays[a][k].Word);
                *(uint*)(entry + 16) = 0x82; // FUTEX2_SIZE_U32 | FUTEX2_PRIVATE
                *(uint*)(entry + 20) = arrays[a][k].Reserved;
            }
        }
    }

    /// <summary>The program's epoll instance, empty at the start; EPOLL_CTL changes its interest list.</summary>
    public int Epoll { get; }

    /// <summary>The events an EPOLL_CTL reads: 0 EPOLLIN, 1 EPOLLIN | EPOLLEXCLUSIVE (which EPOLL_CTL_MOD refuses).</summary>
    public ulong EpollEvent(int choice) => (ulong)(EpollEvents + (16 * (choice & 1)));

    private byte* EpollEvents { get; }

    /// <summary>
    /// Where EPOLL_WAIT writes its events (8 of them at most), outside the area: a struct epoll_event is
    /// laid out differently on x86_64 (packed) and elsewhere, and an arm64 kernel's trace is compared with
    /// the engine on an x86_64 host; the digest reads each event in its own process's layout.
    /// </summary>
    public byte* EpollOut { get; }

    private const int EpollOutEvents = 8;

    private const int EpollOutBytes = EpollOutEvents * 16;

    // What an event nobody wrote holds.
    private const byte EpollOutUnwritten = 0xab;

    /// <summary>
    /// A duplicate of the program's file that only a CLOSE of the program closes, numbered from
    /// <see cref="SpareFloor"/> up so that no descriptor the program or the engine opens takes its number
    /// once it is closed, nor another workspace's (<see cref="DuplicateFrom"/>).
    /// </summary>
    public int Spare { get; }

    public const int SpareFloor = 900;

    // The other protocol's socket bound (never listening) to the listener's port (UDP) and to the UDP
    // socket's port (TCP). Ports of the two protocols are numbered apart, so without them a program's
    // TCP connection to its UDP socket's address is refused or not by whether anything else on the
    // machine (another program replayed beside it) happens to listen on that number.
    private readonly int listenerTwin;
    private readonly int udpTwin;

    /// <summary>The TCP listener and the UDP socket on loopback ports whose other-protocol twins this workspace holds (tried again on another pair of ports while a twin's port is taken); -1s if none could be made.</summary>
    private static (int Listener, int Udp, int ListenerTwin, int UdpTwin) LoopbackSockets(byte* addresses)
    {
        for (var attempt = 0; attempt < 64; attempt++)
        {
            var listener = IoUring.Ring.Posix.LoopbackSocket(1, addresses + ConnectionChoices.ListenerAddress); // SOCK_STREAM
            var udp = IoUring.Ring.Posix.LoopbackSocket(2, addresses + ConnectionChoices.UdpAddress); // SOCK_DGRAM
            var listenerTwin = Twin(2, addresses + ConnectionChoices.ListenerAddress);
            var udpTwin = Twin(1, addresses + ConnectionChoices.UdpAddress);
            if (listener >= 0 && udp >= 0 && listenerTwin >= 0 && udpTwin >= 0)
            {
                return (listener, udp, listenerTwin, udpTwin);
            }

            foreach (var fd in new[] { listener, udp, listenerTwin, udpTwin })
            {
                close(fd);
            }
        }

        return (-1, -1, -1, -1);

        static int Twin(int type, byte* address)
        {
            var fd = IoUring.Ring.Posix.Socket(2, type | 0x80000, 0); // AF_INET, SOCK_CLOEXEC
            if (fd >= 0 && IoUring.Ring.Posix.Bind(fd, address, 16) != 0)
            {
                close(fd);
                return -1;
            }

            return fd;
        }
    }

    // The numbers from a floor up that live workspaces of this process hold, closed by their program or
    // not. A program's CLOSE frees its spare's number in the kernel but not here: a workspace created
    // beside it (replays and tests run programs side by side in one process) never takes that number,
    // so the program's later requests on it still fail with -EBADF, and the workspace's own close of it
    // at the end cannot close another workspace's descriptor.
    private static readonly HashSet<int> NumberedDescriptors = [];

    /// <summary>A close-on-exec duplicate of <paramref name="fd"/> at the lowest number from <paramref name="floor"/> up that is free and no live workspace holds; -1 with errno set if there is none.</summary>
    private static int DuplicateFrom(int fd, int floor)
    {
        lock (NumberedDescriptors)
        {
            for (var number = floor; ; number++)
            {
                var duplicate = fcntl(fd, 1030, number); // F_DUPFD_CLOEXEC
                if (duplicate < 0 || NumberedDescriptors.Add(duplicate))
                {
                    return duplicate;
                }

                close(duplicate);
                number = duplicate;
            }
        }
    }

    /// <summary>Closes a descriptor <see cref="DuplicateFrom"/> numbered, and lets another workspace take its number.</summary>
    private static void CloseNumbered(int number)
    {
        lock (NumberedDescriptors)
        {
            close(number);
            NumberedDescriptors.Remove(number);
        }
    }

    /// <summary>
    /// The eventfd a program registers with its ring (IORING_REGISTER_EVENTFD): no request reads, writes or
    /// polls it, so only the ring's signals move its count. Non-blocking, numbered from
    /// <see cref="NotifierFloor"/> up as the spare is.
    /// </summary>
    public int Notifier { get; }

    public const int NotifierFloor = 920;

    /// <summary>Whether the ring signalled the notification eventfd since the digest last read it.</summary>
    public bool Notified => IoUring.Ring.Posix.IsReadable(Notifier);

    /// <summary>
    /// Waits (up to <paramref name="timeout"/>) for the ring's signal, then a millisecond more: io-wq's
    /// workers signal just after they post, so a step whose CQEs are all in may still have one coming.
    /// </summary>
    public void WaitNotified(TimeSpan timeout)
    {
        IoUring.Ring.Posix.WaitReadable(Notifier, (int)timeout.TotalMilliseconds);
        Thread.Sleep(1);
    }

    /// <summary>Per SQE slot, the four descriptors a FILES_UPDATE reads (<see cref="DescriptorList"/>).</summary>
    private int* Descriptors { get; }

    /// <summary>
    /// The descriptor list of SQE slot <paramref name="slot"/>: four of [the program's file, -1 (empty the
    /// slot), IORING_REGISTER_FILES_SKIP, a closed descriptor, the program's file] from <paramref name="start"/> on, cyclically.
    /// </summary>
    public ulong DescriptorList(int slot, int start)
    {
        ReadOnlySpan<int> choices = [Fd, -1, (int)Bindings.Constants.IORING_REGISTER_FILES_SKIP, ClosedFd, Fd];
        var list = Descriptors + ((slot % MsgSlots) * 4);
        for (var i = 0; i < 4; i++)
        {
            list[i] = choices[(start + i) % choices.Length];
        }

        return (ulong)list;
    }

    /// <summary>msghdrs and their vectors (<see cref="MsgHdr"/>).</summary>
    public byte* Msgs { get; }

    public byte* Area { get; }

    /// <summary>The pipe's and the eventfd's transfer buffer (<see cref="StreamBytes"/>).</summary>
    public byte* Stream { get; }

    /// <summary>struct iovec pairs (base, length), filled per SQE by <see cref="IovecArray"/>.</summary>
    public nint* Iovecs { get; }

    /// <summary>__kernel_timespec values, <see cref="TimeoutChoices.Times"/> in order.</summary>
    public long* Times { get; }

    public ulong TimeAddress(int choice) => (ulong)(Times + (2 * choice));

    /// <summary>An iovec array of <paramref name="count"/> vectors of 700 bytes from <paramref name="areaOffset"/>.</summary>
    public ulong IovecArray(int slot, int areaOffset, int count)
    {
        // Each SQE gets its own slice of iovec memory: a READV keeps pointing at it until it completes.
        var start = (slot * 8) % (IovecSlots - 1030);
        for (var i = 0; i < Math.Min(count, IovecSlots - start); i++)
        {
            var offset = (areaOffset + (i * 1024)) % (AreaBytes - IovecLength);
            Iovecs[(start + i) * 2] = (nint)(Area + offset);
            Iovecs[((start + i) * 2) + 1] = IovecLength;
        }

        return (ulong)(Iovecs + (start * 2));
    }

    /// <summary>
    /// A msghdr with no name and no control data whose <paramref name="count"/> vectors (msg_iovlen; at
    /// most <see cref="MsgVectors"/> are filled, a larger count is refused before any is read) of 700
    /// bytes follow each other from <paramref name="streamOffset"/> in the stream buffer. Its msg_namelen
    /// and msg_controllen are <paramref name="nameLength"/> and <paramref name="controlLength"/>, with
    /// no pointers: a receive takes no name without a pointer and an AF_UNIX stream has no control data
    /// to give, but a multishot RECVMSG lays out its buffers by these lengths alone.
    /// </summary>
    public ulong MsgHdr(int slot, int streamOffset, uint count, int nameLength = 0, uint controlLength = 0)
    {
        var hdr = Msgs + ((slot % MsgSlots) * MsgSlotBytes);
        var iov = (nint*)(hdr + MsgHdrBytes + 8);
        new Span<byte>(hdr, MsgSlotBytes).Clear();
        for (var i = 0; i < Math.Min(count, MsgVectors); i++)
        {
            var offset = (streamOffset + (i * MsgVectorLength)) % (StreamBytes - MsgVectorLength);
            iov[i * 2] = (nint)(Stream + offset);
            iov[(i * 2) + 1] = MsgVectorLength;
        }

        var msg = (IoUring.Ring.Posix.MsgHdr*)hdr;
        msg->Iov = (nint)iov;
        msg->IovLength = (nint)count;
        msg->NameLength = nameLength;
        msg->ControlLength = (nint)controlLength;
        return (ulong)hdr;
    }

    /// <summary>
    /// Digests of the file's contents, its position, and the buffer area; then, once the program has used
    /// its pipe or eventfd, the bytes waiting in the pipe, the eventfd's count and a digest of their
    /// transfer buffer (so a program that never touches them keeps the digest it always had).
    /// </summary>
    public string Digest()
    {
        var position = lseek(Fd, 0, 1);
        var size = lseek(Fd, 0, 2);
        var content = new byte[Math.Max(0, size)];
        fixed (byte* p = content)
        {
            pread(Fd, p, (nuint)content.Length, 0);
        }

        // lseek(SEEK_END) moved the position; put it back where the program left it.
        lseek(Fd, position, 0);
        var text = $"file {size}:{Hash(content):x16} pos {position} area {Hash(new ReadOnlySpan<byte>(Area, AreaBytes)):x16}";
        var queued = 0;
        ioctl(PipeRead, 0x541B, &queued); // FIONREAD
        var count = EventfdCount(EventFd);
        var stream = Hash(new ReadOnlySpan<byte>(Stream, StreamBytes));
        text = queued != 0 || count != 0 || stream != StreamPatternHash ? $"{text} pipe {queued} eventfd {count} stream {stream:x16}" : text;

        // The bytes each socket holds for reading, once there are any (what was received is in the stream buffer's digest).
        var a = IoUring.Ring.Posix.Queued(SocketA);
        var b = IoUring.Ring.Posix.Queued(SocketB);
        text = a != 0 || b != 0 ? $"{text} sockets {a} {b}" : text;

        // The events EPOLL_WAIT wrote, once there are any: each as events:data.
        var events = new List<string>();
        for (var k = 0; k < EpollOutEvents; k++)
        {
            var (mask, data) = IoUring.Ring.Posix.ReadEvent(EpollOut + (k * IoUring.Ring.Posix.EpollEventBytes));
            if (mask != 0xabababab || data != 0xababababababababUL)
            {
                events.Add($"{mask:x}:{data:x}");
            }
        }

        text = events.Count > 0 ? $"{text} epoll-out {string.Join(',', events)}" : text;

        // The bytes waiting in the splice pipes, once there are any.
        int spliced = 0, teed = 0;
        ioctl(SplicePipeRead, 0x541B, &spliced); // FIONREAD
        ioctl(TeePipeRead, 0x541B, &teed);
        text = spliced != 0 || teed != 0 ? $"{text} splice-pipes {spliced} {teed}" : text;
        return text + PathsDigest() + SiginfoDigest() + BufferRingsDigest() + NotifierDigest();
    }

    /// <summary>Once the ring signalled the notification eventfd since the last digest: " notified", and the count is read back to 0 (how many signals a step gives is the kernel's batching, not a contract).</summary>
    private string NotifierDigest()
    {
        if (!Notified)
        {
            return string.Empty;
        }

        ulong count;
        read(Notifier, &count, 8);
        return " notified";
    }

    /// <summary>
    /// Once a buffer ring was registered over the workspace's pages: " rings" and a digest of them (an
    /// incremental ring's entries change), each entry's address as its offset from the area (the area
    /// is elsewhere in each process).
    /// </summary>
    private string BufferRingsDigest()
    {
        var rings = new ReadOnlySpan<byte>(BufferRings, BufferRingBytes);
        if (!rings.ContainsAnyExcept((byte)0))
        {
            return string.Empty;
        }

        var copy = rings.ToArray();
        fixed (byte* p = copy)
        {
            for (var k = 0; k < BufferRingBytes; k += 16)
            {
                var address = (ulong*)(p + k);
                *address = *address == 0 ? 0 : *address - (ulong)Area;
            }
        }

        return $" rings {Hash(copy):x16}";
    }

    /// <summary>Once WAITID has written its siginfo: " siginfo" and its 28 bytes in hex (as the process lays them out).</summary>
    private string SiginfoDigest()
    {
        var siginfo = new ReadOnlySpan<byte>(Futex + SiginfoOffset, SiginfoBytes);
        return siginfo.ContainsAnyExcept((byte)0xaa) ? $" siginfo {Convert.ToHexStringLower(siginfo)}" : string.Empty;
    }

    /// <summary>
    /// Once the scratch directory holds anything: " dir" and its entries in byte order of their names,
    /// the subdirectories' after their own entry ("name:f" and a regular file's size, "name:d", "name:l>"
    /// and a link's target); once STATX has written its buffer: " statx" and the type (f, d, l, ?) with a
    /// regular file's or a link's size and link count. A directory's size and link count are the file
    /// system's own (tmpfs and ext4 differ), so they are not shown.
    /// </summary>
    private string PathsDigest()
    {
        var text = new System.Text.StringBuilder();
        void List(string path, string prefix)
        {
            foreach (var entry in System.IO.Directory.EnumerateFileSystemEntries(path).Select(System.IO.Path.GetFileName).Order(StringComparer.Ordinal))
            {
                var full = System.IO.Path.Combine(path, entry!);
                var info = new FileInfo(full);
                if (info.LinkTarget is { } target)
                {
                    text.Append($" {prefix}{entry}:l>{target}");
                }
                else if ((info.Attributes & FileAttributes.Directory) != 0)
                {
                    text.Append($" {prefix}{entry}:d");
                    List(full, $"{prefix}{entry}/");
                }
                else
                {
                    text.Append($" {prefix}{entry}:f{info.Length}");
                }
            }
        }

        List(DirectoryPath, string.Empty);
        var digest = text.Length > 0 ? $" dir{text}" : string.Empty;
        if (*(uint*)StatxBuffer != 0)
        {
            var type = *(ushort*)(StatxBuffer + 28) & 0xf000;
            var kind = type switch { 0x8000 => "f", 0x4000 => "d", 0xa000 => "l", _ => "?" };
            digest += type is 0x8000 or 0xa000 ? $" statx {kind}{*(ulong*)(StatxBuffer + 40)}/{*(uint*)(StatxBuffer + 16)}" : $" statx {kind}";
        }

        return digest;
    }

    /// <summary>An eventfd's count without reading it (which would reset it): the eventfd-count line of its fdinfo, in hex.</summary>
    private static ulong EventfdCount(int fd)
    {
        foreach (var line in File.ReadLines($"/proc/self/fdinfo/{fd}"))
        {
            if (line.StartsWith("eventfd-count:", StringComparison.Ordinal))
            {
                return Convert.ToUInt64(line["eventfd-count:".Length..].Trim(), 16);
            }
        }

        return 0;
    }

    private static ulong Hash(ReadOnlySpan<byte> bytes)
    {
        // FNV-1a over 64-bit words: only equality matters, and it must be cheap for 48 KiB per step.
        var h = 14695981039346656037UL;
        var words = MemoryMarshal.Cast<byte, ulong>(bytes);
        foreach (var w in words)
        {
            h = (h ^ w) * 1099511628211UL;
        }

        for (var i = words.Length * 8; i < bytes.Length; i++)
        {
            h = (h ^ bytes[i]) * 1099511628211UL;
        }

        return h;
    }

    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        close(Fd);
        close(PipeRead);
        close(PipeWrite);
        CloseNumbered(SplicePipeRead);
        CloseNumbered(SplicePipeWrite);
        CloseNumbered(TeePipeRead);
        CloseNumbered(TeePipeWrite);
        close(EventFd);
        close(SocketA);
        close(SocketB);
        close(Listener);
        close(Udp);
        close(listenerTwin);
        close(udpTwin);
        CloseNumbered(Spare);
        CloseNumbered(Notifier);
        close(Epoll);
        NativeMemory.AlignedFree(Descriptors);
        NativeMemory.AlignedFree(EpollEvents);
        NativeMemory.AlignedFree(EpollOut);
        NativeMemory.AlignedFree(Addresses);
        NativeMemory.AlignedFree(Msgs);
        NativeMemory.AlignedFree(Area);
        NativeMemory.AlignedFree(Stream);
        NativeMemory.AlignedFree(Iovecs);
        NativeMemory.AlignedFree(Futex);
        NativeMemory.AlignedFree(BufferRings);
        NativeMemory.AlignedFree(Times);
        CloseNumbered(Directory);
        NativeMemory.AlignedFree(Names);
        NativeMemory.AlignedFree(Hows);
        NativeMemory.AlignedFree(XattrStrings);
        NativeMemory.AlignedFree(StatxBuffer);
        try
        {
            System.IO.Directory.Delete(DirectoryPath, recursive: true);
        }
        catch (IOException)
        {
            // A name the program made unreadable or busy stays behind in the temporary folder; nothing else depends on it.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int memfd_create(string name, uint flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint pwrite(int fd, byte* buffer, nuint count, long offset);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint pread(int fd, byte* buffer, nuint count, long offset);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint read(int fd, void* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    private static partial long lseek(int fd, long offset, int whence);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fcntl(int fd, int command, int argument);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int pipe2(int* fds, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int eventfd(uint count, int flags);


    [LibraryImport("libc", SetLastError = true)]
    private static partial int ioctl(int fd, nuint request, int* value);
}
