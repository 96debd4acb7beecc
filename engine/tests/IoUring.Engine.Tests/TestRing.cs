using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>One completion as the application reads it.</summary>
internal readonly record struct Completion(ulong UserData, int Res, uint Flags)
{
    public override string ToString() => $"({UserData}, {Res}, 0x{Flags:x})";
}

/// <summary>A ring on a fresh engine, and the few steps the feature tests take on it.</summary>
internal sealed unsafe class TestRing : IDisposable
{
    private TestRing(ReferenceEngine engine, Ring.Ring ring)
    {
        Engine = engine;
        Ring = ring;
    }

    public ReferenceEngine Engine { get; }

    public Ring.Ring Ring { get; }

    /// <summary>A ring of <paramref name="entries"/> SQ entries (and <paramref name="cqEntries"/> CQ entries when given) on the profile's engine.</summary>
    public static TestRing Create(KernelProfile profile, uint entries, IoUringSetupFlags flags = 0, uint cqEntries = 0, EngineFaults faults = EngineFaults.None)
    {
        var engine = new ReferenceEngine(profile, faults);
        var setup = new io_uring_params { flags = (uint)flags | (cqEntries > 0 ? (uint)IoUringSetupFlags.IORING_SETUP_CQSIZE : 0), cq_entries = cqEntries };
        var rc = IoUring.Ring.Ring.Create(engine, entries, setup, out var ring);
        Assert.True(rc == 0, $"io_uring_setup({entries}, flags 0x{setup.flags:x}) on the engine returned {rc}");
        return new TestRing(engine, ring!);
    }

    /// <summary>A second ring on the same engine (a MSG_RING's target).</summary>
    public TestRing Beside(uint entries, IoUringSetupFlags flags = 0)
    {
        var rc = IoUring.Ring.Ring.Create(Engine, entries, new io_uring_params { flags = (uint)flags }, out var ring);
        Assert.True(rc == 0, $"io_uring_setup({entries}, flags 0x{(uint)flags:x}) beside the first ring returned {rc}");
        return new TestRing(Engine, ring!);
    }

    /// <summary>Queues a NOP; a non-zero <paramref name="inject"/> makes it complete with that result (IORING_NOP_INJECT_RESULT).</summary>
    public void Nop(ulong userData, IoUringSqeFlags sqeFlags = 0, int inject = 0, IoUringNopFlags nopFlags = 0)
    {
        var sqe = Ring.GetSqe();
        Assert.True(sqe != null, "the SQ is full");
        Prep.Nop(sqe, userData, (uint)nopFlags | (inject != 0 ? (uint)IoUringNopFlags.IORING_NOP_INJECT_RESULT : 0), inject);
        sqe->flags = (byte)sqeFlags;
    }

    /// <summary>
    /// Queues a TIMEOUT: after <paramref name="count"/> completions (0: a pure timer) or when
    /// <paramref name="time"/> has passed, whichever comes first; with <paramref name="linked"/> a
    /// LINK_TIMEOUT of the request queued before it. The timespec lives in the ring object,
    /// so it outlives the submission that reads it.
    /// </summary>
    public void Timeout(ulong userData, TimeSpan time, uint count = 0, IoUringTimeoutFlags flags = 0, IoUringSqeFlags sqeFlags = 0, bool linked = false)
    {
        var sqe = Ring.GetSqe();
        Assert.True(sqe != null, "the SQ is full");
        *sqe = default;
        sqe->opcode = (byte)(linked ? io_uring_op.IORING_OP_LINK_TIMEOUT : io_uring_op.IORING_OP_TIMEOUT);
        sqe->user_data = userData;
        sqe->fd = -1;
        sqe->addr = Timespec(time);
        sqe->len = 1;
        sqe->off = count;
        sqe->timeout_flags = (uint)flags;
        sqe->flags = (byte)sqeFlags;
    }

    /// <summary>Queues a TIMEOUT_REMOVE of the timeout <paramref name="target"/>; with <paramref name="update"/>, gives it that time instead (a linked timeout's, with <paramref name="linked"/>).</summary>
    public void TimeoutRemove(ulong userData, ulong target, TimeSpan? update = null, bool linked = false)
    {
        var sqe = Ring.GetSqe();
        Assert.True(sqe != null, "the SQ is full");
        *sqe = default;
        sqe->opcode = (byte)io_uring_op.IORING_OP_TIMEOUT_REMOVE;
        sqe->user_data = userData;
        sqe->fd = -1;
        sqe->addr = target;
        if (update is { } time)
        {
            sqe->off = Timespec(time);
            sqe->timeout_flags = (uint)(IoUringTimeoutFlags.IORING_TIMEOUT_UPDATE | (linked ? IoUringTimeoutFlags.IORING_LINK_TIMEOUT_UPDATE : 0));
        }
    }

    /// <summary>Queues an ASYNC_CANCEL keyed on <paramref name="target"/> (user_data), or as <paramref name="flags"/> say (a file key in <paramref name="fd"/>, an opcode key in <paramref name="opcode"/>).</summary>
    public void AsyncCancel(ulong userData, ulong target, IoUringAsyncCancelFlags flags = 0, int fd = -1, byte opcode = 0)
    {
        var sqe = Ring.GetSqe();
        Assert.True(sqe != null, "the SQ is full");
        *sqe = default;
        sqe->opcode = (byte)io_uring_op.IORING_OP_ASYNC_CANCEL;
        sqe->user_data = userData;
        sqe->fd = fd;
        sqe->addr = target;
        sqe->len = opcode;
        sqe->cancel_flags = (uint)flags;
    }

    private const int TimespecSlots = 16;
    private readonly __kernel_timespec* timespecs = (__kernel_timespec*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(TimespecSlots, (nuint)sizeof(__kernel_timespec));
    private int timespecsUsed;

    private ulong Timespec(TimeSpan time)
    {
        var ts = &timespecs[timespecsUsed++ % TimespecSlots];
        ts->tv_sec = (long)time.TotalSeconds;
        ts->tv_nsec = (long)(time.Ticks % TimeSpan.TicksPerSecond) * 100;
        return (ulong)ts;
    }

    /// <summary>
    /// Queues one SQE of <paramref name="op"/> with its fields as given (<paramref name="opFlags"/>: the
    /// op's 32-bit flags word, rw_flags and its union members), for opcodes the helpers above do not fill.
    /// Returns the SQE, for the fields beyond these.
    /// </summary>
    public io_uring_sqe* Sqe(io_uring_op op, int fd, ulong userData, ulong off = 0, ulong addr = 0, uint len = 0, uint opFlags = 0, uint fileIndex = 0, IoUringSqeFlags flags = 0)
    {
        var sqe = Ring.GetSqe();
        Assert.True(sqe != null, "the SQ is full");
        *sqe = default;
        sqe->opcode = (byte)op;
        sqe->fd = fd;
        sqe->off = off;
        sqe->addr = addr;
        sqe->len = len;
        sqe->rw_flags = opFlags;
        sqe->file_index = fileIndex;
        sqe->user_data = userData;
        sqe->flags = (byte)flags;
        return sqe;
    }

    /// <summary>Submits what is queued and waits for <paramref name="waitFor"/> completions; returns what io_uring_enter returned.</summary>
    public int Submit(uint waitFor = 0) => Ring.Submit(waitFor);

    /// <summary>Every completion in the CQ, in order, consumed (a CQE_MIXED ring's fillers are passed over).</summary>
    public List<Completion> Reap()
    {
        var list = new List<Completion>();
        while (Ring.TryNextCqe(out var cqe, out var slots))
        {
            list.Add(new Completion(cqe->user_data, cqe->res, cqe->flags));
            Ring.CqAdvance(slots);
        }

        return list;
    }

    /// <summary>The (user_data, res) pairs of <see cref="Reap"/>.</summary>
    public List<(ulong UserData, int Res)> Results() => Reap().Select(c => (c.UserData, c.Res)).ToList();

    public void Dispose()
    {
        Ring.Dispose();
        System.Runtime.InteropServices.NativeMemory.Free(timespecs);
    }
}
