using FsCheck;
using FsCheck.Fluent;
using IoUring.Bindings;

namespace IoUring.Conformance;

/// <summary>
/// What generated programs do with provided buffers of the legacy kind: PROVIDE_BUFFERS puts buffers of
/// the buffer area into group 0, 1 or 3, REMOVE_BUFFERS takes them off again (group 7 was never made:
/// -ENOENT), and a READ or READV of the program's file with IOSQE_BUFFER_SELECT (its buf_index the
/// group) reads into the group's first buffer. Each draws the fields its prep refuses now and then.
/// <para>
/// Fields (<see cref="SqeSpec"/>): Length the count (the SQE's fd), BufIndex the group, Buf and BufOffset
/// the first buffer, Len each buffer's length, Off the first buffer id, OpFlags the flags word (refused).
/// </para>
/// <para>
/// A selection takes whatever is first in the group when the read is issued, so which buffer a read
/// gets depends on what else ran first: a read selects inline at submission, in submission order, but
/// one sent to io-wq (IOSQE_ASYNC, a drain) selects when its worker gets to it, and one that waits for
/// a pipe selects again when woken (6.1). So only reads of the program's file select, never from
/// io-wq, and a step holds one buffer call at most (<see cref="ProgramGen.BufferCallsAlone"/>).
/// </para>
/// </summary>
public static class BufferChoices
{
    private const byte Provide = (byte)io_uring_op.IORING_OP_PROVIDE_BUFFERS;
    private const byte Remove = (byte)io_uring_op.IORING_OP_REMOVE_BUFFERS;
    private const byte BufferSelect = (byte)IoUringSqeFlags.IOSQE_BUFFER_SELECT;

    /// <summary>The opcodes this class draws.</summary>
    public static readonly byte[] Opcodes = [Provide, Remove];

    public static bool IsBufferCall(byte opcode) => opcode is Provide or Remove;

    public static bool IsBufferCall(SqeSpec s) => IsBufferCall(s.Opcode);

    /// <summary>A read, receive or SEND that takes a provided buffer: of the program's file or socket pair, issued inline.</summary>
    public static bool Selects(SqeSpec s) => (s.Flags & BufferSelect) != 0 && (IsRead(s) || IsReceive(s) || IsSend(s) || IsReadMultishot(s));

    private static bool IsReadMultishot(SqeSpec s) => s.Opcode == (byte)io_uring_op.IORING_OP_READ_MULTISHOT;

    private static bool IsRead(SqeSpec s) => s.Opcode is (byte)io_uring_op.IORING_OP_READ or (byte)io_uring_op.IORING_OP_READV;

    private static bool IsReceive(SqeSpec s) => s.Opcode is (byte)io_uring_op.IORING_OP_RECV or (byte)io_uring_op.IORING_OP_RECVMSG;

    private static bool IsSend(SqeSpec s) => s.Opcode == (byte)io_uring_op.IORING_OP_SEND;

    /// <summary>A request that changes a group or takes from one.</summary>
    public static bool UsesGroups(SqeSpec s) => IsBufferCall(s) || Selects(s);

    /// <summary>
    /// IOSQE_BUFFER_SELECT kept only where the selection cannot race: a READ or READV of the program's
    /// file, a RECV, RECVMSG or SEND of its socket pair, not sent to io-wq by IOSQE_ASYNC or a drain. Elsewhere
    /// the flag is dropped (other opcodes keep it: their prep refuses it, which is the behaviour
    /// compared). A buffer call never goes to io-wq by IOSQE_ASYNC. A receive that keeps it never asks for MSG_WAITALL (the kernel keeps part of a buffer
    /// for the rest, which the engine does not model).
    /// </summary>
    public static SqeSpec OnlyWhereItCannotRace(SqeSpec s)
    {
        const byte ToIoWq = (byte)(IoUringSqeFlags.IOSQE_ASYNC | IoUringSqeFlags.IOSQE_IO_DRAIN);

        // A buffer call in io-wq would change a group while a receive woken meanwhile selects from it.
        if (IsBufferCall(s))
        {
            return s with { Flags = (byte)(s.Flags & ~(byte)IoUringSqeFlags.IOSQE_ASYNC) };
        }

        var inline = (s.Flags & ToIoWq) == 0;

        // READ_MULTISHOT selects each time the pipe is ready: kept on the pipe, issued inline (without the
        // flag its prep refuses it).
        if (IsReadMultishot(s))
        {
            return (s.Flags & BufferSelect) != 0 && !(inline && s.Fd == FdChoice.PipeRead) ? s with { Flags = (byte)(s.Flags & ~BufferSelect) } : s;
        }

        if ((s.Flags & BufferSelect) == 0 || !(IsRead(s) || IsReceive(s) || IsSend(s)))
        {
            return s;
        }

        if (IsRead(s) ? !(inline && s.Fd == FdChoice.File) : !(inline && SocketChoices.IsSocket(s.Fd)))
        {
            return s with { Flags = (byte)(s.Flags & ~BufferSelect) };
        }

        return IsReceive(s) ? s with { OpFlags = s.OpFlags & ~SocketChoices.WaitAll } : s;
    }

    /// <summary>One SQE of a buffer call, its fields drawn by what the opcode makes of them.</summary>
    public static Gen<SqeSpec> Sqe(byte opcode, Gen<byte> flags) => opcode == Provide
        ? from f in flags
          from count in Gen.Frequency((10, Gen.Elements(1UL, 2UL, 4UL)), (1, Gen.Elements(0UL, 70000UL, ulong.MaxValue)))
          from bgid in Gen.Elements((ushort)0, (ushort)1, (ushort)1, (ushort)3)
          from buf in Gen.Frequency((12, Gen.Constant(BufChoice.Area)), (1, Gen.Constant(BufChoice.Null)), (1, Gen.Constant(BufChoice.Kernel)))
          from page in Gen.Choose(0, 7)
          from length in Gen.Frequency((10, Gen.Elements(64u, 700u, 1000u)), (1, Gen.Constant(0u)))
          from firstId in Gen.Frequency((10, Gen.Elements(0UL, 10UL, 100UL)), (1, Gen.Elements(65535UL, 70000UL)))
          from refused in Gen.Frequency((12, Gen.Constant(0u)), (1, Gen.Constant(1u)))
          select new SqeSpec(Provide, f, 0, 0, 0, FdChoice.Negative, buf, page * 4096, length, firstId, refused, 0, bgid, Length: count)
        : from f in flags
          from count in Gen.Frequency((10, Gen.Elements(1UL, 2UL, 8UL)), (1, Gen.Elements(0UL, 70000UL)))
          from bgid in Gen.Elements((ushort)0, (ushort)1, (ushort)3, (ushort)7)
          from refused in Gen.Frequency((12, Gen.Constant(0u)), (1, Gen.Constant(5u)))
          select new SqeSpec(Remove, f, 0, 0, 0, FdChoice.Negative, BufChoice.Area, 0, refused, 0, 0, 0, bgid, Length: count);

    /// <summary>
    /// Two to five steps of one request each: a PROVIDE_BUFFERS of a few buffers to group 0 or 1, then reads
    /// of the program's file that take from that group (IOSQE_BUFFER_SELECT, buf_index the group, a length
    /// of 0 or less than a buffer's) and SENDs on socket A from it, now and then a REMOVE_BUFFERS of it,
    /// so that the later ones meet a group emptied or refilled.
    /// </summary>
    public static Gen<Step[]> Scenario =>
        from bgid in Gen.Elements((ushort)0, (ushort)1)
        from count in Gen.Elements(1UL, 2UL, 4UL)
        from page in Gen.Choose(0, 7)
        from length in Gen.Elements(64u, 700u)
        from firstId in Gen.Elements(0UL, 10UL)
        from rest in Gen.Frequency(
                (6, from opcode in Gen.Elements((byte)io_uring_op.IORING_OP_READ, (byte)io_uring_op.IORING_OP_READ, (byte)io_uring_op.IORING_OP_READV)
                    from len in Gen.Elements(0u, 100u, 5000u)
                    from off in Gen.Elements(0UL, 100UL, 8100UL)
                    select new SqeSpec(opcode, BufferSelect, 0, 0, 0, FdChoice.File, BufChoice.Area, 0, opcode == (byte)io_uring_op.IORING_OP_READV ? 1u : len, off, 0, 0, bgid)),
                (2, SendFromGroup(bgid)),
                (1, from removed in Gen.Elements(1UL, 8UL) select new SqeSpec(Remove, 0, 0, 0, 0, FdChoice.Negative, BufChoice.Area, 0, 0, 0, 0, 0, bgid, Length: removed)),
                (1, Gen.Constant(new SqeSpec(Provide, 0, 0, 0, 0, FdChoice.Negative, BufChoice.Area, 4096 * 7, 100, 50, 0, 0, bgid, Length: 2))))
            .ArrayOf().Select(a => a.Take(4).ToArray())
        select new[] { new SqeSpec(Provide, 0, 0, 0, 0, FdChoice.Negative, BufChoice.Area, page * 4096, length, firstId, 0, 0, bgid, Length: count) }
            .Concat(rest)
            .Select(Step.Alone)
            .ToArray();

    /// <summary>
    /// A buffer ring and what takes from it: a step that registers a ring for group 1 or 2 (its entries
    /// the workspace's, or IOU_PBUF_RING_MMAP's pages, plain or incremental), then steps of one request
    /// or register call each: READs of the program's file, RECVs of socket B (single or multishot, and
    /// bundles of either) with the SENDs on socket A that feed them (some from the ring), RECVMSGs (single or multishot, their buffers laid out by
    /// <see cref="MessageLayouts"/>), a READ_MULTISHOT of the pipe with the writes that feed it,
    /// PBUF_STATUS, and now and then UNREGISTER_PBUF_RING.
    /// </summary>
    public static Gen<Step[]> RingScenario =>
        from bgid in Gen.Elements((ushort)1, (ushort)2)
        from shape in Gen.Frequency((4, Gen.Constant(RingShape.Plain)), (2, Gen.Constant(RingShape.Incremental)), (1, Gen.Constant(RingShape.Mapped)), (1, Gen.Constant(RingShape.IncrementalMinLeft)))
        from entries in Gen.Elements(1u, 2u, 4u, 8u)
        from rest in Gen.Frequency(
                (4, from len in Gen.Elements(0u, 4u, 100u, 5000u)
                    from off in Gen.Elements(0UL, 100UL, 8100UL)
                    select Step.Alone(new SqeSpec((byte)io_uring_op.IORING_OP_READ, BufferSelect, 0, 0, 0, FdChoice.File, BufChoice.Area, 0, len, off, 0, 0, bgid))),
                (3, from len in Gen.Elements(1u, 30u, 100u, 700u)
                    select Step.Alone(SocketChoices.Send(FdChoice.SocketA, len, 0))),
                (3, from multishot in Gen.Elements(false, false, true)
                    from len in Gen.Elements(0u, 0u, 0u, 8u, 50u)
                    from message in Gen.Elements(false, false, false, true)
                    from lengths in MessageLayouts
                    select Step.Alone(message
                        ? new SqeSpec((byte)io_uring_op.IORING_OP_RECVMSG, BufferSelect, multishot ? SocketChoices.Multishot : (ushort)0, 0, 0, FdChoice.SocketB, BufChoice.Area, 0, len == 0 ? 0u : 1u, 0, 0, 0, bgid, Length: lengths)
                        : SocketChoices.Receive(FdChoice.SocketB, len, 0) with { Flags = BufferSelect, Ioprio = multishot ? SocketChoices.Multishot : (ushort)0, BufIndex = bgid })),

                // A bundle always asks for a length: without one the kernel maps as many buffers as a
                // vector array cached from an earlier request holds, which the program cannot know.
                (2, from multishot in Gen.Elements(false, false, true)
                    from len in Gen.Elements(8u, 20u, 50u, 100u, 700u)
                    select Step.Alone(SocketChoices.Receive(FdChoice.SocketB, len, 0) with
                    {
                        Flags = BufferSelect,
                        Ioprio = (ushort)(SocketChoices.Bundle | (multishot ? SocketChoices.Multishot : 0)),
                        BufIndex = bgid,
                    })),
                (2, SendFromGroup(bgid).Select(Step.Alone)),
                (2, Gen.Constant(Step.Alone(new SqeSpec((byte)io_uring_op.IORING_OP_READ_MULTISHOT, BufferSelect, 0, 0, 0, FdChoice.PipeRead, BufChoice.Null, 0, 0, 0, 0, 0, bgid)))),
                (2, from len in Gen.Elements(1u, 30u, 100u, 700u)
                    select Step.Alone(new SqeSpec((byte)io_uring_op.IORING_OP_WRITE, 0, 0, 0, 0, FdChoice.PipeWrite, BufChoice.Area, 0, len, 0, 0, 0))),
                (1, Gen.Constant(Register(new RegisterSpec(RegisterKind.BufferRingStatus, 1, bgid, false)))),
                (1, Gen.Frequency((3, Gen.Constant(bgid)), (1, Gen.Constant((ushort)3))).Select(g => Register(new RegisterSpec(RegisterKind.UnregisterBufferRing, 1, g, false)))))
            .ArrayOf().Select(a => a.Take(6).ToArray())
        select new[] { Register(new RegisterSpec(RegisterKind.BufferRing, entries, RingVariant(shape, bgid), false)) }.Concat(rest).ToArray();

    /// <summary>
    /// A SEND on socket A of what the group's buffers hold (6.12 on): one buffer, cut to the length where
    /// it is a ring's, or a bundle of as many as the length needs, then the rest.
    /// </summary>
    private static Gen<SqeSpec> SendFromGroup(ushort bgid) =>
        from bundle in Gen.Elements(false, false, true)
        from len in Gen.Elements(0u, 5u, 40u, 700u)
        select SocketChoices.Send(FdChoice.SocketA, len, 0) with { Flags = BufferSelect, Ioprio = bundle ? SocketChoices.Bundle : (ushort)0, BufIndex = bgid };

    /// <summary>
    /// A RECVMSG's msg_namelen and msg_controllen, by which a multishot one lays out each buffer: none,
    /// room that fits the workspace's buffers, room larger than any (-EFAULT at the first receive), and
    /// now and then a header that does not fit an int (-EOVERFLOW: a negative name, a huge control).
    /// </summary>
    private static Gen<ulong> MessageLayouts =>
        Gen.Frequency(
            (6, Gen.Constant(0UL)),
            (6, from name in Gen.Elements(0, 8, 16, 110) from control in Gen.Elements(0u, 0u, 24u, 64u) select SocketChoices.MessageLengths(name, control)),
            (1, Gen.Elements(SocketChoices.MessageLengths(1000, 0), SocketChoices.MessageLengths(0, 5000))),
            (1, Gen.Elements(SocketChoices.MessageLengths(-1, 0), SocketChoices.MessageLengths(0, 0x7ffffff8), SocketChoices.MessageLengths(int.MaxValue - 8, 0))));

    /// <summary>The shapes of a buffer ring's registration (RegisterSpec.Variant's low byte; the group is its second).</summary>
    public enum RingShape : uint
    {
        /// <summary>Entries in the workspace's pages (its first for every group but 2, which has its second).</summary>
        Plain,

        /// <summary>IOU_PBUF_RING_MMAP: the kernel's pages, mapped and filled after the registration.</summary>
        Mapped,

        /// <summary>IOU_PBUF_RING_INC.</summary>
        Incremental,

        /// <summary>IOU_PBUF_RING_INC with min_left 4 (the header's field, or 6.1's reserved word).</summary>
        IncrementalMinLeft,

        /// <summary>An address 8 bytes into the page (-EINVAL).</summary>
        Misaligned,

        /// <summary>Address 0 without MMAP (-EFAULT).</summary>
        NoAddress,

        /// <summary>IOU_PBUF_RING_MMAP with an address too (refused where the address is checked first, ignored after).</summary>
        MappedWithAddress,

        /// <summary>A flag no kernel has (0x4).</summary>
        UnknownFlag,

        /// <summary>min_left 1 without IOU_PBUF_RING_INC.</summary>
        MinLeftAlone,
    }

    /// <summary>Whether the program registers a buffer ring (the workspace's ring pages are then used).</summary>
    public static bool UsesBufferRings(RingProgram p) => p.Steps.Any(step => step.Register is { Kind: RegisterKind.BufferRing });

    public static uint RingVariant(RingShape shape, ushort group) => (uint)shape | ((uint)group << 8);

    public static (RingShape Shape, ushort Group) FromVariant(uint variant) => ((RingShape)(variant & 0xff), (ushort)(variant >> 8));


    private static Step Register(RegisterSpec reg) => new([], true, 0, -1, reg);

    /// <summary>
    /// A buffer call the rules keep from running (<see cref="ProgramGen.BufferCallsAlone"/>): a PROVIDE of
    /// no buffers (-E2BIG at prep) or a REMOVE from group 7, which no program makes (-ENOENT).
    /// </summary>
    public static SqeSpec Harmless(SqeSpec s) => s.Opcode == Provide ? s with { Length = 0 } : s with { BufIndex = 7 };

    public static string Describe(SqeSpec s) => s.Opcode == Provide
        ? $" count {(long)s.Length} group {s.BufIndex} at {s.Buf}+{s.BufOffset} length {s.Len} first id {s.Off}" + (s.OpFlags != 0 ? $" rw_flags {s.OpFlags}" : string.Empty)
        : $" count {(long)s.Length} group {s.BufIndex}" + (s.Len != 0 ? $" len {s.Len}" : string.Empty);
}
