using IoUring.Bindings;

namespace IoUring.Conformance;

/// <summary>
/// What generated programs do with readiness: POLL_ADD and POLL_REMOVE, and reads and writes of the
/// program's pipe and eventfd. Readiness is caused by the program alone (its own writes to the pipe and
/// the eventfd, from SQEs issued in their own submission), so whether and when a poll fires is decided by
/// the program, never by the scheduler (<see cref="ProgramGen.ReadinessOnTime"/>).
/// </summary>
public static class PollChoices
{
    public const uint In = 0x001;
    public const uint Pri = 0x002;
    public const uint Out = 0x004;
    public const uint RdNorm = 0x040;
    public const uint RdHup = 0x2000;
    public const uint Exclusive = 1u << 28;
    public const uint Oneshot = 1u << 30;

    public const uint AddMulti = Constants.IORING_POLL_ADD_MULTI;
    public const uint UpdateEvents = Constants.IORING_POLL_UPDATE_EVENTS;
    public const uint UpdateUserData = Constants.IORING_POLL_UPDATE_USER_DATA;
    public const uint AddLevel = Constants.IORING_POLL_ADD_LEVEL;

    /// <summary>PIPE_BUF: a write to a pipe of at most this many bytes is atomic.</summary>
    public const uint PipeAtomicBytes = 4096;

    /// <summary>The user_data an update gives a poll: no generated request has it.</summary>
    public const ulong UpdatedUserData = 77_777;

    /// <summary>poll32_events: input, output, both, priority (never on a pipe), the normal-data bits, hang-up, and the behaviour bits a request may set itself.</summary>
    public static readonly uint[] Events =
    [
        In, In, In, Out, In | Out, Pri, In | RdNorm, RdHup, 0, In | Oneshot, In | Exclusive,
    ];

    /// <summary>POLL_ADD's len: one-shot, multishot, LEVEL (refused from user space) and a bit no kernel knows.</summary>
    public static readonly uint[] AddFlags = [0, 0, 0, AddMulti, AddMulti, AddMulti, AddLevel, 0x10];

    /// <summary>POLL_REMOVE's len: removal, each update, both, MULTI alone (meaningless, refused) and a bit no kernel knows.</summary>
    public static readonly uint[] RemoveFlags =
    [
        0, 0, 0, UpdateEvents, UpdateEvents, UpdateEvents | UpdateUserData, UpdateUserData, UpdateEvents | AddMulti, AddMulti, 0x10,
    ];

    public static bool IsAdd(SqeSpec s) => s.Opcode == (byte)io_uring_op.IORING_OP_POLL_ADD;

    public static bool IsRemove(SqeSpec s) => s.Opcode == (byte)io_uring_op.IORING_OP_POLL_REMOVE;

    public static bool IsPoll(SqeSpec s) => IsAdd(s) || IsRemove(s);

    public static bool IsMultishot(SqeSpec s) => IsAdd(s) && (s.Len & AddMulti) != 0;

    /// <summary>Whether the SQE uses the program's pipe, eventfd or sockets (a poll of any file counts: it may be on them after an update).</summary>
    public static bool TouchesReadiness(SqeSpec s) =>
        IsPoll(s) || s.Fd is FdChoice.Epoll or FdChoice.PipeRead or FdChoice.PipeWrite or FdChoice.EventFd or FdChoice.SocketA or FdChoice.SocketB
            or FdChoice.Listener or FdChoice.Udp or FdChoice.DirectSlot;
}
