using IoUring.Bindings;

namespace IoUring.Conformance;

/// <summary>
/// What generated programs do with the program's AF_UNIX stream socket pair: SEND and RECV of the stream
/// buffer, SENDMSG and RECVMSG of a msghdr whose vectors are in it, and SHUTDOWN. The program alone
/// decides what a socket holds (its own sends, issued in their own submission), so what a receive gets,
/// and when, is never the scheduler's choice (<see cref="ProgramGen.ReadinessOnTime"/>).
/// </summary>
public static class SocketChoices
{
    public const uint Peek = 0x2;
    public const uint DontWait = 0x40;
    public const uint WaitAll = 0x100;
    public const uint NoSignal = 0x4000;

    public const ushort PollFirst = 1;
    public const ushort Multishot = 2;
    public const ushort Bundle = 16;

    /// <summary>
    /// The bytes a program may send in all: far below what an AF_UNIX stream socket takes before a send
    /// would wait, which depends on the kernel's accounting of its buffers (the engine's sends run on the
    /// host's kernel, the program's on another).
    /// </summary>
    public const uint SendBudget = 24 * 1024;

    /// <summary>msg_flags: none, MSG_DONTWAIT (-EAGAIN instead of waiting), MSG_WAITALL (waits for all of it), MSG_PEEK, MSG_NOSIGNAL (io_uring adds it to sends anyway) and two of them.</summary>
    public static readonly uint[] MsgFlags = [0, 0, 0, 0, DontWait, DontWait, WaitAll, WaitAll, Peek, NoSignal, WaitAll | DontWait, Peek | DontWait];

    /// <summary>
    /// ioprio, which carries IORING_RECVSEND_*: none, POLL_FIRST, multishot (refused without provided
    /// buffers), a bundle (without provided buffers a RECV receives as usual, a SEND is refused on 6.12
    /// and sent with a CQE more later, and kernels before bundles refuse both) and a bit no kernel knows.
    /// </summary>
    public static readonly ushort[] Ioprios = [0, 0, 0, 0, 0, PollFirst, PollFirst, Multishot, Bundle, 0x8];

    /// <summary>SEND and RECV: bytes of the stream buffer.</summary>
    public static readonly uint[] Lengths = [0, 1, 100, 700, 700, 4096, 5000];

    /// <summary>SENDMSG and RECVMSG: the msghdr's vector count (UIO_MAXIOV + 1: -EMSGSIZE).</summary>
    public static readonly uint[] VectorCounts = [0, 1, 1, 2, 4, 8, 1025];

    /// <summary>SHUTDOWN's how: SHUT_RD, SHUT_WR, SHUT_RDWR and one that is none of them.</summary>
    public static readonly uint[] Hows = [0, 1, 1, 2, 3];

    /// <summary>A plain SEND of <paramref name="length"/> bytes of the stream buffer from <paramref name="offset"/>.</summary>
    public static SqeSpec Send(FdChoice fd, uint length, int offset) =>
        new((byte)io_uring_op.IORING_OP_SEND, 0, 0, 0, 0, fd, BufChoice.Area, offset, length, 0, 0, 0);

    /// <summary>A plain RECV of up to <paramref name="length"/> bytes into the stream buffer at <paramref name="offset"/>.</summary>
    public static SqeSpec Receive(FdChoice fd, uint length, int offset) =>
        new((byte)io_uring_op.IORING_OP_RECV, 0, 0, 0, 0, fd, BufChoice.Area, offset, length, 0, 0, 0);

    public static bool IsTransfer(SqeSpec s) => IsTransfer(s.Opcode);

    public static bool IsTransfer(byte opcode) => opcode is (byte)io_uring_op.IORING_OP_SEND or (byte)io_uring_op.IORING_OP_RECV
        or (byte)io_uring_op.IORING_OP_SENDMSG or (byte)io_uring_op.IORING_OP_RECVMSG;

    /// <summary>The opcodes this class draws: the transfers and SHUTDOWN.</summary>
    public static bool IsSocketOpcode(byte opcode) => IsTransfer(opcode) || opcode == (byte)io_uring_op.IORING_OP_SHUTDOWN;

    public static bool IsMessage(SqeSpec s) => s.Opcode is (byte)io_uring_op.IORING_OP_SENDMSG or (byte)io_uring_op.IORING_OP_RECVMSG;

    /// <summary>A SENDMSG's or RECVMSG's msg_namelen (<see cref="SqeSpec.Length"/>'s low word; the name pointer stays NULL).</summary>
    public static int NameLength(SqeSpec s) => (int)(uint)s.Length;

    /// <summary>A SENDMSG's or RECVMSG's msg_controllen (<see cref="SqeSpec.Length"/>'s high word; the control pointer stays NULL).</summary>
    public static uint ControlLength(SqeSpec s) => (uint)(s.Length >> 32);

    /// <summary>A message's name and control lengths as <see cref="SqeSpec.Length"/> holds them.</summary>
    public static ulong MessageLengths(int nameLength, uint controlLength) => (uint)nameLength | ((ulong)controlLength << 32);

    public static bool IsSend(SqeSpec s) => s.Opcode is (byte)io_uring_op.IORING_OP_SEND or (byte)io_uring_op.IORING_OP_SENDMSG;

    public static bool IsShutdown(SqeSpec s) => s.Opcode == (byte)io_uring_op.IORING_OP_SHUTDOWN;

    public static bool IsSocket(FdChoice fd) => fd is FdChoice.SocketA or FdChoice.SocketB;

    /// <summary>The bytes a send of the program may move (0 for anything else).</summary>
    public static uint SendBytes(SqeSpec s) => !IsSend(s) || !IsSocket(s.Fd) ? 0
        : IsMessage(s) ? (uint)Math.Min(s.Len, Workspace.MsgVectors) * Workspace.MsgVectorLength
        : s.Len;
}
