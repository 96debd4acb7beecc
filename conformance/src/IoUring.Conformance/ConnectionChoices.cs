using FsCheck;
using FsCheck.Fluent;
using IoUring.Bindings;

namespace IoUring.Conformance;

/// <summary>
/// What generated programs do with SOCKET, BIND, LISTEN, CONNECT and ACCEPT, on the workspace's TCP
/// listener and UDP socket on 127.0.0.1:
/// <list type="bullet">
/// <item>Connection steps: a new TCP socket connects to the listener (and sends) while an ACCEPT takes the
/// connection; a new UDP socket connects to the workspace's UDP socket and sends a datagram a RECV takes;
/// a new socket is bound and listens; a connection to a port nothing listens on is refused. The new
/// socket goes into fixed slot 1 (<see cref="FdChoice.DirectSlot"/>), in the table the step registers,
/// and the calls after it in its chain use that slot: a chain, not a descriptor number, carries it.</item>
/// <item>Each opcode alone with random arguments on the program's other descriptors (error paths: a
/// socket already connected, bound or listening, a file that is no socket, bad addresses and lengths).</item>
/// </list>
/// A plain descriptor that SOCKET or ACCEPT creates is numbered by the process it runs in, so the runner
/// records it as <see cref="NewDescriptor"/> and closes it.
/// </summary>
public static unsafe class ConnectionChoices
{
    /// <summary>The layout of <see cref="Workspace.Addresses"/>: sockaddr_in of the listener, of the UDP socket, of 127.0.0.1:0, of 127.0.0.1:1; an accept's peer address (128 bytes) and its length.</summary>
    public const int AddressBytes = 256;
    public const int ListenerAddress = 0;
    public const int UdpAddress = 16;
    public const int AnyPortAddress = 32;
    public const int ClosedPortAddress = 48;
    public const int PeerAddress = 64;
    public const int PeerAddressLength = 192;

    public const int AfUnix = 1;
    public const int AfInet = 2;
    public const int AfInet6 = 10;
    public const uint SockStream = 1;
    public const uint SockDgram = 2;
    public const uint SockNonblock = 0x800;
    public const uint SockCloexec = 0x80000;

    public const ushort AcceptMultishot = (ushort)Constants.IORING_ACCEPT_MULTISHOT;
    public const ushort AcceptDontwait = (ushort)Constants.IORING_ACCEPT_DONTWAIT;
    public const ushort AcceptPollFirst = (ushort)Constants.IORING_ACCEPT_POLL_FIRST;

    /// <summary>file_index of fixed slot 1 (slot + 1).</summary>
    public const uint DirectSlotIndex = 2;
    public const uint Alloc = Constants.IORING_FILE_INDEX_ALLOC;

    /// <summary>What a CQE carrying a new plain descriptor is recorded with: its number is the process's choice.</summary>
    public const int NewDescriptor = 0x4000_0000;

    /// <summary>The fixed table a connection step registers: [program file, empty, program file, program file].</summary>
    public static readonly RegisterSpec Table = new(RegisterKind.Files, 4, 0, false);

    private const byte Socket = (byte)io_uring_op.IORING_OP_SOCKET;
    private const byte Bind = (byte)io_uring_op.IORING_OP_BIND;
    private const byte Listen = (byte)io_uring_op.IORING_OP_LISTEN;
    private const byte Connect = (byte)io_uring_op.IORING_OP_CONNECT;
    private const byte Accept = (byte)io_uring_op.IORING_OP_ACCEPT;
    private const byte Link = (byte)IoUringSqeFlags.IOSQE_IO_LINK;
    private const byte FixedFile = (byte)IoUringSqeFlags.IOSQE_FIXED_FILE;

    public static bool IsConnectionOpcode(byte opcode) => opcode is Socket or Bind or Listen or Connect or Accept;

    /// <summary>SOCKET or ACCEPT into the descriptor table: its CQE carries a descriptor number.</summary>
    public static bool CreatesDescriptor(SqeSpec s) => s.Opcode is Socket or Accept && s.FileIndex == 0;

    /// <summary>Whether a program uses the workspace's loopback sockets (a C export creates them only then).</summary>
    public static bool UsesConnections(RingProgram p) =>
        p.Steps.SelectMany(step => step.Batch).Any(s => IsConnectionOpcode(s.Opcode) || s.Fd is FdChoice.Listener or FdChoice.Udp or FdChoice.DirectSlot);

    /// <summary>Where an SQE's address points: for BIND and CONNECT a socket address, for ACCEPT the peer-address output.</summary>
    public static bool TakesAddress(SqeSpec s) => s.Opcode is Bind or Connect or Accept;

    /// <summary>127.0.0.1:0 and 127.0.0.1:1 (port 1, which nothing listens on).</summary>
    public static void WriteFixedAddresses(byte* addresses)
    {
        IoUring.Ring.Posix.LoopbackAddress(addresses + AnyPortAddress, 0);
        IoUring.Ring.Posix.LoopbackAddress(addresses + ClosedPortAddress, 1);
    }

    public static string Describe(SqeSpec s) => s.Opcode switch
    {
        Socket => $" domain {s.Domain} type 0x{s.Off:x} protocol {s.Len} file_index {Slot(s.FileIndex)}",
        Listen => $" fd {s.Fd} backlog {(int)s.Len}",
        Accept => $" fd {s.Fd} addr {s.Buf} flags 0x{s.OpFlags:x} file_index {Slot(s.FileIndex)}" + (s.Len != 0 ? $" len {s.Len}" : string.Empty),
        _ => $" fd {s.Fd} addr {s.Buf}+{AddressName(s.BufOffset)} addr_len {(long)s.Off}",
    };

    private static string Slot(uint fileIndex) => fileIndex == Alloc ? "alloc" : fileIndex.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static string AddressName(int offset) => offset switch
    {
        ListenerAddress => "listener",
        UdpAddress => "udp",
        AnyPortAddress => "127.0.0.1:0",
        _ => "127.0.0.1:1",
    };

    private static readonly int[] Addresses = [ListenerAddress, UdpAddress, AnyPortAddress, ClosedPortAddress];

    // addr_len: a sockaddr_in's, none, too short for one, past sockaddr_storage, and one whose upper
    // half the kernel drops (it reads addr2 into an int).
    private static readonly ulong[] AddressLengths = [16, 16, 16, 16, 0, 8, 129, (1ul << 32) + 16];

    private static readonly BufChoice[] AddressBuffers = [BufChoice.Area, BufChoice.Area, BufChoice.Area, BufChoice.Area, BufChoice.Null, BufChoice.Unmapped, BufChoice.Kernel];

    /// <summary>
    /// One of the opcodes drawn alone: SOCKET of any domain, type and protocol, plain or direct; BIND,
    /// LISTEN, CONNECT and ACCEPT on the program's other descriptors. LISTEN never names the program's
    /// listener, whose backlog the connection steps count on; CONNECT never the UDP socket, whose peer they do.
    /// </summary>
    public static Gen<SqeSpec> Alone(byte opcode)
    {
        var bad = new[] { (1, Gen.Constant(FdChoice.Negative)), (1, Gen.Constant(FdChoice.Closed)), (1, Gen.Constant(FdChoice.File)) };
        var fd = opcode switch
        {
            Accept => Gen.Frequency([(4, Gen.Constant(FdChoice.Listener)), (2, Gen.Constant(FdChoice.SocketA)), (1, Gen.Constant(FdChoice.Udp)), .. bad]),
            Connect => Gen.Frequency([(2, Gen.Constant(FdChoice.SocketA)), (2, Gen.Constant(FdChoice.Listener)), .. bad]),
            _ => Gen.Frequency([(2, Gen.Constant(FdChoice.SocketA)), (2, Gen.Constant(FdChoice.Udp)), (1, Gen.Constant(FdChoice.SocketB)), .. bad]),
        };
        return from flags in Gen.Elements((byte)0, (byte)0, (byte)0, Link, (byte)IoUringSqeFlags.IOSQE_ASYNC, FixedFile)
               from f in fd
               from domain in Gen.Elements(AfUnix, AfInet, AfInet, AfInet6, 9999)
               from type in Gen.Elements(SockStream, SockStream, SockDgram, 3u, 99u, SockStream | SockNonblock, SockDgram | SockCloexec, SockStream | 0x100)
               from protocol in Gen.Elements(0u, 0u, 0u, 6u, 999u)
               from fileIndex in Gen.Elements(0u, 0u, DirectSlotIndex, Alloc, 9u)
               from buf in Gen.Elements(AddressBuffers)
               from address in Gen.Elements(Addresses)
               from length in Gen.Elements(AddressLengths)
               from backlog in Gen.Elements(0u, 1u, 16u, uint.MaxValue)
               from ioprio in Gen.Elements((ushort)0, (ushort)0, AcceptMultishot, AcceptDontwait, AcceptPollFirst, (ushort)8, (ushort)(AcceptMultishot | AcceptDontwait))
               from acceptFlags in Gen.Elements(0u, 0u, SockNonblock, SockCloexec, 0x100u)
               from len in Gen.Elements(0u, 0u, 0u, 1u)
               select opcode switch
               {
                   Socket => new SqeSpec(opcode, (byte)(flags & Link), 0, 0, 0, FdChoice.Negative, BufChoice.Null, 0, protocol, type, 0, 0, FileIndex: fileIndex, Domain: domain),
                   Listen => new SqeSpec(opcode, flags, 0, 0, 0, f, BufChoice.Null, 0, backlog, 0, 0, 0),
                   Accept => new SqeSpec(opcode, flags, ioprio, 0, 0, f, buf, 0, len, 0, acceptFlags, 0, FileIndex: fileIndex),
                   _ => new SqeSpec(opcode, flags, 0, 0, 0, f, buf, address, 0, length, 0, 0),
               };
    }

    private enum ConnectionKind
    {
        Tcp,
        Udp,
        BindAndListen,
        Refused,
    }

    /// <summary>
    /// A connection step: the fixed table registered (-EBUSY if it is already), then one chain that makes a
    /// new socket in slot 1 and uses it, with an ACCEPT of the listener or a RECV of the UDP socket before
    /// or after it in the batch. The new socket is plain now and then (its chain then works on whatever
    /// slot 1 holds), or its slot is past the table (its result only: the chain goes on).
    /// </summary>
    public static Gen<Step> Connection =>
        from kind in Gen.Elements(ConnectionKind.Tcp, ConnectionKind.Tcp, ConnectionKind.Tcp, ConnectionKind.Udp, ConnectionKind.Udp, ConnectionKind.BindAndListen, ConnectionKind.Refused)
        from typeFlags in Gen.Elements(0u, 0u, 0u, SockNonblock, SockCloexec)
        from fileIndex in Gen.Elements(DirectSlotIndex, DirectSlotIndex, DirectSlotIndex, DirectSlotIndex, 0u, 9u)
        from length in Gen.Elements(16ul, 16ul, 16ul, 16ul, 16ul, 0ul, 129ul)
        from send in Gen.Elements(0u, 1u, 100u, 700u)
        from acceptFirst in Gen.Elements(true, false)
        from ioprio in Gen.Elements((ushort)0, (ushort)0, AcceptMultishot, AcceptDontwait, AcceptPollFirst)
        from acceptSlot in Gen.Elements(0u, 0u, Alloc, Alloc, 4u)
        from acceptFlags in Gen.Elements(0u, 0u, SockNonblock, SockCloexec)
        from peer in Gen.Elements(BufChoice.Null, BufChoice.Null, BufChoice.Area, BufChoice.Kernel)
        from bindAt in Gen.Elements(AnyPortAddress, AnyPortAddress, ListenerAddress)
        from backlog in Gen.Elements(8u, 0u, uint.MaxValue)
        from receive in Gen.Elements(1u, 100u, 700u)
        select new Step(
            ConnectionBatch(kind, typeFlags, fileIndex, length, send, acceptFirst, new SqeSpec(Accept, 0, ioprio, 0, 0, FdChoice.Listener, peer, 0, 0, 0, acceptFlags, 0, FileIndex: acceptSlot), bindAt, backlog, receive),
            true, 12, -1, Table);

    private static SqeSpec[] ConnectionBatch(ConnectionKind kind, uint typeFlags, uint fileIndex, ulong length, uint send, bool acceptFirst, SqeSpec accept, int bindAt, uint backlog, uint receive)
    {
        var dgram = kind == ConnectionKind.Udp;
        var socket = new SqeSpec(Socket, Link, 0, 0, 0, FdChoice.Negative, BufChoice.Null, 0, 0, (dgram ? SockDgram : SockStream) | typeFlags, 0, 0, FileIndex: fileIndex, Domain: AfInet);
        SqeSpec Addressed(byte opcode, int address, byte flags) => new(opcode, (byte)(FixedFile | flags), 0, 0, 0, FdChoice.DirectSlot, BufChoice.Area, address, 0, length, 0, 0);
        var sendSqe = SocketChoices.Send(FdChoice.DirectSlot, send, 0) with { Flags = FixedFile };
        var chain = kind switch
        {
            ConnectionKind.Tcp => new[] { socket, Addressed(Connect, ListenerAddress, send > 0 ? Link : (byte)0) }.Concat(send > 0 ? [sendSqe] : []).ToArray(),
            ConnectionKind.Udp => [socket, Addressed(Connect, UdpAddress, Link), sendSqe],
            ConnectionKind.BindAndListen => [socket, Addressed(Bind, bindAt, Link), new SqeSpec(Listen, FixedFile, 0, 0, 0, FdChoice.DirectSlot, BufChoice.Null, 0, backlog, 0, 0, 0)],
            _ => [socket, Addressed(Connect, ClosedPortAddress, Link), new SqeSpec((byte)io_uring_op.IORING_OP_NOP, 0, 0, 0, 0, FdChoice.Negative, BufChoice.Null, 0, 0, 0, 0, 0)],
        };
        SqeSpec? partner = kind switch
        {
            ConnectionKind.Tcp => accept,
            ConnectionKind.Udp => SocketChoices.Receive(FdChoice.Udp, receive, 4096),
            _ => null,
        };
        return partner is null ? chain : acceptFirst ? [partner, .. chain] : [.. chain, partner];
    }
}
