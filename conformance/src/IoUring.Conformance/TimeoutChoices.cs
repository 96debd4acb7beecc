using IoUring.Bindings;

namespace IoUring.Conformance;

/// <summary>When a generated timeout's timer fires.</summary>
public enum TimerFires
{
    /// <summary>At once: a time of 0 or a few nanoseconds, or an absolute time long past.</summary>
    Now,

    /// <summary>Not within any run: hundreds of years away, on every clock.</summary>
    Never,

    /// <summary>The time is refused (-EFAULT, -EINVAL): no timer.</summary>
    Refused,
}

/// <summary>
/// The times a generated TIMEOUT (and a TIMEOUT_REMOVE's update) carries, and when each fires. Time makes
/// traces nondeterministic when it is allowed to matter, so a program's timers either fire at once or
/// never: nothing in between, on any clock, relative or absolute. Which of its eight times an SQE takes
/// is its <see cref="SqeSpec.BufOffset"/> / 4096; with <see cref="SqeSpec.Buf"/> other than the area the
/// pointer itself is bad.
/// </summary>
public static class TimeoutChoices
{
    private const long FarAway = 1L << 34; // about 544 years: past the end of every run, on every clock.

    /// <summary>
    /// The __kernel_timespec values (seconds, nanoseconds) the workspace holds, by choice. The negative
    /// tv_nsec is refused by a 64-bit process's kernel; a 32-bit process's keeps only its low 32 bits
    /// (get_timespec64), which makes it a valid 4.29 s, so its seconds are far away: without them an
    /// absolute timer at 4.29 s would fire or not by how long the machine had been up.
    /// </summary>
    public static readonly (long Sec, long Nsec)[] Times =
    [
        (0, 0), (0, 1), (FarAway, 0), (FarAway, 999_999_999), (-1, 0), (FarAway, -1), (0, 2), (FarAway, 0),
    ];

    /// <summary>With IORING_TIMEOUT_IMMEDIATE_ARG the time is the address word itself, in nanoseconds, by choice.</summary>
    public static readonly ulong[] Immediate =
    [
        0, 1, 1UL << 62, 1UL << 62, 1UL << 63, ulong.MaxValue, 2, 1UL << 62,
    ];

    public const uint Immediately = (uint)IoUringTimeoutFlags.IORING_TIMEOUT_IMMEDIATE_ARG;
    public const uint Multishot = (uint)IoUringTimeoutFlags.IORING_TIMEOUT_MULTISHOT;
    public const uint Update = (uint)IoUringTimeoutFlags.IORING_TIMEOUT_UPDATE;
    public const uint LinkUpdate = (uint)IoUringTimeoutFlags.IORING_LINK_TIMEOUT_UPDATE;

    public static int Choice(SqeSpec s) => (s.BufOffset / 4096) % Times.Length;

    /// <summary>The value of the time word (addr for TIMEOUT, addr2 for TIMEOUT_REMOVE): a pointer into the workspace, or the nanoseconds themselves.</summary>
    public static ulong Word(SqeSpec s, Workspace ws) => (s.OpFlags & Immediately) != 0
        ? Immediate[Choice(s)]
        : s.Buf switch
        {
            BufChoice.Area => ws.TimeAddress(Choice(s)),
            BufChoice.Null => 0,
            BufChoice.Unmapped => Workspace.UnmappedAddress,
            _ => Workspace.KernelAddress,
        };

    /// <summary>When the time of <paramref name="s"/> fires (on a kernel that takes its flags; one that does not refuses the SQE, which changes nothing here).</summary>
    public static TimerFires When(SqeSpec s)
    {
        if ((s.OpFlags & Immediately) != 0)
        {
            var ns = (long)Immediate[Choice(s)];
            return ns < 0 ? TimerFires.Refused : ns < FarAway ? TimerFires.Now : TimerFires.Never;
        }

        if (s.Buf != BufChoice.Area)
        {
            return TimerFires.Refused;
        }

        var (sec, nsec) = Times[Choice(s)];
        return sec < 0 || nsec < 0 ? TimerFires.Refused : sec >= FarAway ? TimerFires.Never : TimerFires.Now;
    }

    public static bool IsTimeout(SqeSpec s) => s.Opcode == (byte)io_uring_op.IORING_OP_TIMEOUT;

    public static bool IsRemove(SqeSpec s) => s.Opcode == (byte)io_uring_op.IORING_OP_TIMEOUT_REMOVE;

    public static bool IsLinkTimeout(SqeSpec s) => s.Opcode == (byte)io_uring_op.IORING_OP_LINK_TIMEOUT;

    /// <summary>TIMEOUT or LINK_TIMEOUT: the SQE carries a time at addr.</summary>
    public static bool CarriesTime(SqeSpec s) => IsTimeout(s) || IsLinkTimeout(s);

    public static bool IsCancel(SqeSpec s) => s.Opcode == (byte)io_uring_op.IORING_OP_ASYNC_CANCEL;

    /// <summary>A request that names another by user_data (<see cref="SqeSpec.Names"/>): TIMEOUT_REMOVE, and ASYNC_CANCEL keyed on user_data alone.</summary>
    public static bool NamesByUserData(SqeSpec s) => IsRemove(s) || (IsCancel(s) && (s.OpFlags & (CancelAny | CancelFd | CancelOp)) == 0);

    /// <summary>
    /// A removal or cancellation that may find a TIMEOUT by its user_data on some kernel: 6.1 searches its
    /// timeout list by user_data whatever file or opcode key the cancellation also names
    /// (KernelProfile.TimeoutCancelByUserDataOnly); only ANY does not look at it.
    /// </summary>
    public static bool MayNameByUserData(SqeSpec s) => IsRemove(s) || (IsCancel(s) && (s.OpFlags & CancelAny) == 0);

    /// <summary>An ASYNC_CANCEL that may match more than the request it names: ANY, an opcode key, or ALL (a file key matches no timeout).</summary>
    public static bool CancelsBroadly(SqeSpec s) => IsCancel(s) && (s.OpFlags & CancelFd) == 0 && (s.OpFlags & (CancelAny | CancelOp | CancelAll)) != 0;

    public const uint CancelAll = (uint)IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ALL;
    public const uint CancelFd = (uint)IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_FD;
    public const uint CancelAny = (uint)IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ANY;
    public const uint CancelOp = (uint)IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_OP;

    /// <summary>A TIMEOUT_REMOVE that gives its timeout a new time (IORING_TIMEOUT_UPDATE without the linked-timeout bit).</summary>
    public static bool IsUpdate(SqeSpec s) => IsRemove(s) && (s.OpFlags & (Update | LinkUpdate)) == Update;

    /// <summary>A TIMEOUT waiting for a count of completions (sqe->off), not a pure timer.</summary>
    public static bool Counts(SqeSpec s) => IsTimeout(s) && s.Off != 0 && (s.OpFlags & Multishot) == 0;

    /// <summary>A request whose timer fires at once completes in its own time, after the enter that armed it, like io-wq work.</summary>
    public static bool FiresLate(SqeSpec s) => (CarriesTime(s) || IsUpdate(s)) && When(s) == TimerFires.Now;
}
