using FsCheck;
using FsCheck.Fluent;
using IoUring.Bindings;

namespace IoUring.Conformance;

/// <summary>
/// What generated programs do with CLOSE, FILES_UPDATE and FIXED_FD_INSTALL: close the workspace's
/// spare descriptor (<see cref="Workspace.Spare"/>: the program's own descriptors stay open, its digest
/// reads them) or a fixed slot; update slots from a list of the program's file, -1, SKIP and a closed
/// descriptor (<see cref="Workspace.DescriptorList"/>), at an offset or into free slots
/// (IORING_FILE_INDEX_ALLOC); install a fixed slot as a new descriptor, recorded as
/// <see cref="ConnectionChoices.NewDescriptor"/> and closed. No list holds the pipe or a socket: a fixed
/// slot that turned into one would escape the readiness rules, which follow descriptors by name.
/// EPOLL_CTL adds, changes and removes the program's descriptors in its epoll instance's interest list
/// (which no request waits on: an entry there wakes nothing io_uring watches).
/// EPOLL_WAIT (6.15 on) reads that instance's ready events into a buffer of the workspace's
/// (<see cref="Workspace.EpollOut"/>), or waits for one (a level-
/// triggered entry for the pipe, a socket or the eventfd becomes ready when the program writes to it):
/// a waiter on the program's readiness, as a poll is (<see cref="PollChoices.TouchesReadiness"/>).
/// PIPE (6.16 on) makes a pipe into fixed slots 2 and 3, or 3 and 4 (file_index 3 or 4), which no other
/// request names but CLOSE and FILES_UPDATE, and writes their indexes to the area; or, into plain
/// descriptors, to a bad address, which keeps neither (a plain pipe's numbers, written to the area,
/// would be each process's own). Its refused shapes: an fd, an offset, a flag pipe2(2) lacks,
/// O_CLOEXEC with fixed slots, a slot past the table.
/// </summary>
public static class DescriptorChoices
{
    private const byte Close = (byte)io_uring_op.IORING_OP_CLOSE;
    private const byte FilesUpdate = (byte)io_uring_op.IORING_OP_FILES_UPDATE;
    private const byte Install = (byte)io_uring_op.IORING_OP_FIXED_FD_INSTALL;
    private const byte EpollCtl = (byte)io_uring_op.IORING_OP_EPOLL_CTL;
    private const byte Pipe = (byte)io_uring_op.IORING_OP_PIPE;
    private const byte EpollWait = (byte)io_uring_op.IORING_OP_EPOLL_WAIT;
    private const byte FixedFile = (byte)IoUringSqeFlags.IOSQE_FIXED_FILE;

    /// <summary>The opcodes this class draws.</summary>
    public static readonly byte[] Opcodes = [Close, FilesUpdate, Install, EpollCtl, EpollWait, Pipe];

    public static bool IsDescriptorCall(byte opcode) => opcode is Close or FilesUpdate or Install or EpollCtl or EpollWait or Pipe;

    public static bool IsPipe(SqeSpec s) => s.Opcode == Pipe;

    public static bool IsEpollWait(SqeSpec s) => s.Opcode == EpollWait;



    public static bool IsEpollCtl(SqeSpec s) => s.Opcode == EpollCtl;

    /// <summary>An EPOLL_CTL's target: the descriptor choice drawn into <see cref="SqeSpec.Off"/>, named directly.</summary>
    public static SqeSpec EpollTarget(SqeSpec s) => s with { Fd = (FdChoice)s.Off, Flags = 0 };

    public static bool IsDescriptorCall(SqeSpec s) => IsDescriptorCall(s.Opcode);

    public static bool IsFilesUpdate(SqeSpec s) => s.Opcode == FilesUpdate;

    /// <summary>A FIXED_FD_INSTALL: its CQE carries a descriptor number the process chose.</summary>
    public static bool CreatesDescriptor(SqeSpec s) => s.Opcode == Install;

    /// <summary>A request that changes what the fixed file table holds: a CLOSE of a slot, a FILES_UPDATE, a PIPE into slots.</summary>
    public static bool ChangesTable(SqeSpec s) => (s.Opcode is Close or Pipe && s.FileIndex != 0) || s.Opcode == FilesUpdate;

    /// <summary>The program closes its spare descriptor or updates slots from a list: the C export creates them.</summary>
    public static bool UsesDescriptors(RingProgram p) =>
        p.Steps.SelectMany(step => step.Batch).Any(s => s.Fd == FdChoice.Spare || (IsFilesUpdate(s) && s.Buf == BufChoice.Area));

    /// <summary>The program names its epoll instance (as EPOLL_CTL's instance or target): the C export creates it.</summary>
    public static bool UsesEpoll(RingProgram p) =>
        p.Steps.SelectMany(step => step.Batch).Any(s => (IsEpollCtl(s) && (s.Fd == FdChoice.Epoll || (FdChoice)s.Off == FdChoice.Epoll || s.Buf == BufChoice.Area)) || (IsEpollWait(s) && (s.Fd == FdChoice.Epoll || s.Buf == BufChoice.Area)));

    /// <summary>One SQE of a descriptor call, its fields drawn by what the opcode makes of them.</summary>
    public static Gen<SqeSpec> Sqe(byte opcode, Gen<byte> flags) => opcode switch
    {
        Close => from f in flags
                 from target in Gen.Frequency(
                     (4, Gen.Constant((FdChoice.Spare, 0u))),
                     (5, Gen.Elements(1u, 2u, 3u, 4u, 4u).Select(slot => (FdChoice.None, slot))),
                     (1, Gen.Elements(5u, Constants.IORING_FILE_INDEX_ALLOC).Select(slot => (FdChoice.None, slot))),
                     (1, Gen.Elements((FdChoice.Closed, 0u), (FdChoice.Negative, 0u), (FdChoice.Spare, 2u))))
                 from len in Gen.Frequency((9, Gen.Constant(0u)), (1, Gen.Constant(1u)))
                 select new SqeSpec(Close, f, 0, 0, 0, target.Item1, BufChoice.Area, 0, len, 0, 0, 0, FileIndex: target.Item2),
        FilesUpdate => from f in flags
                       from off in Gen.Elements(0ul, 0ul, 1ul, 3ul, Constants.IORING_FILE_INDEX_ALLOC, Constants.IORING_FILE_INDEX_ALLOC, 0xffff_fffeul)
                       from count in Gen.Elements(0u, 1u, 2u, 4u, 4u)
                       from buf in Gen.Frequency((8, Gen.Constant(BufChoice.Area)), (1, Gen.Constant(BufChoice.Null)), (1, Gen.Constant(BufChoice.Unmapped)))
                       from start in Gen.Choose(0, 4)
                       select new SqeSpec(FilesUpdate, f, 0, 0, 0, FdChoice.Negative, buf, start, count, off, 0, 0),
        EpollCtl => from f in flags
                    from epfd in Gen.Frequency((8, Gen.Constant(FdChoice.Epoll)), (1, Gen.Constant(FdChoice.File)), (1, Gen.Constant(FdChoice.Closed)))
                    from op in Gen.Elements(1u, 1u, 2u, 3u, 3u, 0u) // EPOLL_CTL_ADD, DEL, MOD, and none
                    from target in Gen.Elements(FdChoice.PipeRead, FdChoice.PipeRead, FdChoice.SocketB, FdChoice.EventFd, FdChoice.File, FdChoice.Epoll, FdChoice.Closed)
                    from buf in Gen.Frequency((8, Gen.Constant(BufChoice.Area)), (1, Gen.Constant(BufChoice.Null)), (1, Gen.Constant(BufChoice.Unmapped)))
                    from ev in Gen.Elements(0, 0, 0, 1)
                    select new SqeSpec(EpollCtl, f, 0, 0, 0, epfd, buf, ev, op, (ulong)target, 0, 0),
        EpollWait => from f in flags
                     from epfd in Gen.Frequency((10, Gen.Constant(FdChoice.Epoll)), (1, Gen.Constant(FdChoice.File)), (1, Gen.Constant(FdChoice.Closed)))
                     from buf in Gen.Frequency((10, Gen.Constant(BufChoice.Area)), (1, Gen.Constant(BufChoice.Null)), (1, Gen.Constant(BufChoice.Unmapped)))
                     from max in Gen.Frequency((10, Gen.Elements(1u, 2u, 8u)), (1, Gen.Constant(0u)))
                     from off in Gen.Frequency((12, Gen.Constant(0ul)), (1, Gen.Constant(1ul)))
                     from waitFlags in Gen.Frequency((12, Gen.Constant(0u)), (1, Gen.Constant(1u)))
                     select new SqeSpec(EpollWait, f, 0, 0, 0, epfd, buf, 0, max, off, waitFlags, 0),
        Pipe => from f in flags
                from slot in Gen.Frequency((8, Gen.Elements(3u, 4u)), (2, Gen.Constant(0u)), (1, Gen.Constant(100u)))
                from pipeFlags in Gen.Frequency((10, Gen.Elements(0u, 0u, 0x800u)), (1, Gen.Elements(0x80000u, 0x1u))) // O_NONBLOCK; O_CLOEXEC (refused with slots), a flag pipe2 lacks
                from at in slot == 0 ? Gen.Elements(BufChoice.Null, BufChoice.Unmapped) : Gen.Frequency((10, Gen.Constant(BufChoice.Area)), (1, Gen.Constant(BufChoice.Null)))
                from page in Gen.Choose(0, 7)
                from fd in Gen.Frequency((12, Gen.Constant(FdChoice.None)), (1, Gen.Constant(FdChoice.File)))
                from off in Gen.Frequency((12, Gen.Constant(0ul)), (1, Gen.Constant(1ul)))
                select new SqeSpec(Pipe, (byte)(f & ~FixedFile), 0, 0, 0, fd, at, page * 4096, 0, off, pipeFlags, 0, FileIndex: slot),
        _ => from f in flags
             from fixedFile in Gen.Frequency((6, Gen.Constant(FixedFile)), (1, Gen.Constant((byte)0)))
             from fd in Gen.Elements(FdChoice.File, FdChoice.File, FdChoice.DirectSlot, FdChoice.Closed)
             from installFlags in Gen.Elements(0u, 0u, Constants.IORING_FIXED_FD_NO_CLOEXEC, 2u)
             select new SqeSpec(Install, (byte)((f & ~FixedFile) | fixedFile), 0, 0, 0, fd, BufChoice.Area, 0, 0, 0, installFlags, 0),
    };

    /// <summary>
    /// The epoll instance watching the pipe (level-triggered, EPOLLIN, or EPOLLIN | EPOLLEXCLUSIVE), an
    /// EPOLL_WAIT that finds it empty and waits, a write to the pipe that wakes it, then perhaps a second
    /// EPOLL_WAIT that finds the data still there, or a read that takes it and an EPOLL_WAIT that waits.
    /// </summary>
    public static Gen<Step[]> EpollScenario =>
        from exclusive in Gen.Elements(0, 0, 1)
        from max in Gen.Elements(1u, 4u)
        from then in Gen.Elements(0, 1, 2)
        select new[]
        {
            Step.Alone(new SqeSpec(EpollCtl, 0, 0, 0, 0, FdChoice.Epoll, BufChoice.Area, exclusive, 1, (ulong)FdChoice.PipeRead, 0, 0)),
            Step.Alone(EpollWaitSqe(max)),
            Step.Alone(new SqeSpec((byte)io_uring_op.IORING_OP_WRITE, 0, 0, 0, 0, FdChoice.PipeWrite, BufChoice.Area, 0, 16, 0, 0, 0)),
            then switch
            {
                1 => Step.Alone(EpollWaitSqe(max)),
                2 => Step.Alone(new SqeSpec((byte)io_uring_op.IORING_OP_READ, 0, 0, 0, 0, FdChoice.PipeRead, BufChoice.Area, 0, 16, 0, 0, 0)),
                _ => null,
            },
            then == 2 ? Step.Alone(EpollWaitSqe(max)) : null,
        }.OfType<Step>().ToArray();

    private static SqeSpec EpollWaitSqe(uint max) => new(EpollWait, 0, 0, 0, 0, FdChoice.Epoll, BufChoice.Area, 0, max, 0, 0, 0);


    /// <summary>
    /// A pipe made into fixed slots, which random draws rarely do (the table must be registered first):
    /// files registered (8 slots), a PIPE into slots 2 and 3 or 3 and 4, then perhaps a PIPE over them
    /// again or a CLOSE of one of them.
    /// </summary>
    public static Gen<Step[]> PipeScenario =>
        from slot in Gen.Elements(3u, 4u)
        from pipeFlags in Gen.Elements(0u, 0x800u)
        from then in Gen.Elements(0, 1, 2)
        select new[]
        {
            new Step([PipeSqe(slot, pipeFlags, 0)], true, 12, -1, new RegisterSpec(RegisterKind.Files, 8, 0, false)),
            then switch
            {
                1 => Step.Alone(PipeSqe(7 - slot, 0, 4096)),
                2 => Step.Alone(new SqeSpec(Close, 0, 0, 0, 0, FdChoice.None, BufChoice.Area, 0, 0, 0, 0, 0, FileIndex: slot)),
                _ => null,
            },
        }.OfType<Step>().ToArray();

    private static SqeSpec PipeSqe(uint slot, uint pipeFlags, int at) => new(Pipe, 0, 0, 0, 0, FdChoice.None, BufChoice.Area, at, 0, 0, pipeFlags, 0, FileIndex: slot);

    /// <summary>A FILES_UPDATE's descriptor list: the slot's list of the workspace, from its start (BufOffset), or a bad address.</summary>
    public static int ListStart(SqeSpec s) => s.BufOffset;

    public static string Describe(SqeSpec s) => s.Opcode switch
    {
        Close => $" fd {s.Fd} file_index {s.FileIndex}" + (s.Len != 0 ? $" len {s.Len}" : string.Empty),
        FilesUpdate => $" off 0x{s.Off:x} count {s.Len} list {s.Buf}+{s.BufOffset}",
        EpollCtl => $" epfd {s.Fd} op {s.Len} target {(FdChoice)s.Off} event {s.Buf}+{s.BufOffset}",
        EpollWait => $" epfd {s.Fd} events {s.Buf} max {s.Len}" + (s.Off != 0 ? $" off {s.Off}" : string.Empty) + (s.OpFlags != 0 ? $" flags 0x{s.OpFlags:x}" : string.Empty),
        Pipe => $" fd {s.Fd} fds {s.Buf}+{s.BufOffset} file_index {s.FileIndex} flags 0x{s.OpFlags:x}" + (s.Off != 0 ? $" off {s.Off}" : string.Empty),
        _ => $" fd {s.Fd} flags 0x{s.OpFlags:x}",
    };
}
