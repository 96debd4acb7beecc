using System.Runtime.InteropServices;
using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// io_uring's kernel side in process, behind the same <see cref="IRingBackend"/> as the live kernel.
/// Rings live in native memory laid out as the kernel lays them out and their offsets are reported
/// through the params, so the client drives it exactly as it drives the kernel. SQEs are processed
/// on enter. Behaviour follows docs/engine.md; where a live kernel disagrees, the
/// differential properties in conformance/ say so and the engine follows the kernel.
/// </summary>
public sealed unsafe class ReferenceEngine : IRingBackend
{
    private readonly Dictionary<int, EngineRing> rings = new();

    // The ring the last enter went to: an application enters the same ring over and over, and a
    // dictionary lookup per enter is a measurable share of a NOP round trip.
    private int lastEnteredFd = -1;
    private EngineRing? lastEntered;
    private readonly EngineFaults faults;
    // Ring numbers of the engine's own: above any descriptor limit (fs.nr_open is 2^20 by default), so no
    // real descriptor of the process has one. Numbered from 1000, they met the descriptors of programs
    // replayed side by side: an eventfd numbered 1000 was taken for a ring.
    private int nextFd = 1 << 30;

    public ReferenceEngine(KernelProfile profile, EngineFaults faults = EngineFaults.None)
    {
        Profile = profile;
        this.faults = faults;
    }

    public KernelProfile Profile { get; }

    /// <summary>
    /// Gives each new ring its descriptor. By default the engine numbers rings itself; a host that
    /// puts the engine under a real process (the preload library) reserves a real descriptor, so ring
    /// numbers never collide with the files the process opens.
    /// </summary>
    public Func<int>? Descriptors { get; init; }

    /// <summary>
    /// Told, in words, of each thing a program asked for that the kernel has and the engine does not
    /// model (an opcode it refuses with -EOPNOTSUPP, a setup flag it accepts without its machinery), so
    /// a failure can be put down to the engine's coverage rather than to a wrong result.
    /// </summary>
    public Action<string>? Unmodelled { get; init; }

    /// <summary>
    /// Runs a wait of the engine's for a file's wake-up with whatever serialises calls into the engine
    /// released (the native host's lock), so another thread's call can run meanwhile: a send on another
    /// ring that wakes this wait. Null: the wait runs as it is.
    /// </summary>
    public Action<Action>? Blocking { get; init; }

    // IORING_ENTER_NO_IOWAIT (1U << 7): a wait not counted as iowait (7.x).
    private const uint EnterNoIowait = 1u << 7;

    /// <summary>Setup flags the profile's kernel accepts whose machinery the engine lacks: no SQ poll thread, no user-provided ring memory.</summary>
    public const uint UnmodelledSetupFlags = (uint)(IoUringSetupFlags.IORING_SETUP_SQPOLL | IoUringSetupFlags.IORING_SETUP_NO_MMAP);

    internal void ReportUnmodelled(string what) => Unmodelled?.Invoke(what);

    internal void Block(Action wait)
    {
        if (Blocking is { } blocking)
        {
            blocking(wait);
        }
        else
        {
            wait();
        }
    }

    /// <summary>
    /// Whether the engine executes <paramref name="opcode"/> for this profile. An opcode the kernel
    /// knows and the engine does not is refused with -EOPNOTSUPP, never faked, so its results are not
    /// the kernel's.
    /// </summary>
    public static bool Executes(byte opcode, KernelProfile profile) => Operations.Of(opcode, profile).Kind != OpKind.Unsupported;

    /// <summary>Every opcode the engine executes on some kernel (a proposal's opcode aside), in order.</summary>
    public static IReadOnlyList<byte> ModelledOpcodes { get; } = [.. Enumerable.Range(0, 256).Where(op => Operations.Of((byte)op).Kind != OpKind.Unsupported).Select(op => (byte)op)];

    public string Name => $"reference engine ({Profile.Name})";

    public int Setup(uint entries, io_uring_params* user)
    {
        // The kernel copies the params in and back out (copy_from_user, copy_to_user): a bad pointer is
        // -EFAULT, and a ring whose params cannot be written back is torn down again.
        io_uring_params copy;
        if (Posix.CopyFromUser(&copy, (ulong)user, (nuint)sizeof(io_uring_params)) < 0)
        {
            return -Errno.EFAULT;
        }

        var fd = Setup(entries, &copy, out var ring);
        if (fd >= 0 && Posix.CopyToUser((ulong)user, &copy, (nuint)sizeof(io_uring_params)) < 0)
        {
            Forget(fd);
            ring!.Dispose();
            return -Errno.EFAULT;
        }

        return fd;
    }

    private int Setup(uint entries, io_uring_params* p, out EngineRing? created)
    {
        created = null;
        var flags = p->flags;
        if (p->resv[0] != 0 || p->resv[1] != 0 || p->resv[2] != 0)
        {
            return -Errno.EINVAL;
        }

        if ((flags & ~Profile.SetupFlags) != 0 || !FlagsConsistent(flags))
        {
            // A flag the kernel knows but a probed profile could not try (it needs arguments the probe
            // does not give) is refused for want of knowledge, not because the kernel would refuse it.
            if ((flags & Profile.KnownSetupFlags & ~Profile.SetupFlags) is var untried and not 0)
            {
                ReportUnmodelled($"setup flags {(IoUringSetupFlags)untried} (known to the kernel, not tried by the probe)");
            }

            return -Errno.EINVAL;
        }

        var clamp = Has(flags, IoUringSetupFlags.IORING_SETUP_CLAMP);
        if (entries == 0)
        {
            return -Errno.EINVAL;
        }

        if (entries > 32768)
        {
            if (!clamp)
            {
                return -Errno.EINVAL;
            }

            entries = 32768;
        }

        var sq = RoundUp(entries);
        uint cq;
        if (Has(flags, IoUringSetupFlags.IORING_SETUP_CQSIZE))
        {
            if (p->cq_entries == 0)
            {
                return -Errno.EINVAL;
            }

            cq = p->cq_entries;
            if (cq > 65536)
            {
                if (!clamp)
                {
                    return -Errno.EINVAL;
                }

                cq = 65536;
            }

            cq = RoundUp(cq);
            if (cq < sq)
            {
                return -Errno.EINVAL;
            }
        }
        else
        {
            cq = 2 * sq;
        }

        if ((Has(flags, IoUringSetupFlags.IORING_SETUP_CQE_MIXED) && cq < 2) || (Has(flags, IoUringSetupFlags.IORING_SETUP_SQE_MIXED) && sq < 2))
        {
            return -Errno.EOVERFLOW;
        }

        // io_sq_offload_create: the ring to share io-wq with must be an open descriptor (-ENXIO) of an
        // io_uring instance (-EINVAL); liburing's shared-wq passes 0 and -1.
        if (Has(flags, IoUringSetupFlags.IORING_SETUP_ATTACH_WQ) && !rings.ContainsKey((int)p->wq_fd))
        {
            return Posix.IsOpen((int)p->wq_fd) ? -Errno.EINVAL : -Errno.ENXIO;
        }

        if ((flags & UnmodelledSetupFlags) != 0)
        {
            ReportUnmodelled($"setup flags {(IoUringSetupFlags)(flags & UnmodelledSetupFlags)}");
        }

        var ring = new EngineRing(this, Profile, faults, flags, sq, cq);
        if (Has(flags, IoUringSetupFlags.IORING_SETUP_R_DISABLED))
        {
            ring.Disable();
        }

        p->sq_entries = sq;
        p->cq_entries = cq;
        p->features = Profile.Features;
        p->sq_off = ring.SqOffsets;
        p->cq_off = ring.CqOffsets;
        var fd = Descriptors?.Invoke() ?? nextFd++;
        if (fd < 0)
        {
            ring.Dispose();
            return fd;
        }

        rings[fd] = ring;
        created = ring;
        return fd;
    }

    private static bool Has(uint flags, IoUringSetupFlags f) => (flags & (uint)f) != 0;

    private static bool FlagsConsistent(uint f)
    {
        bool H(IoUringSetupFlags x) => Has(f, x);
        return !(H(IoUringSetupFlags.IORING_SETUP_SQ_REWIND) && (H(IoUringSetupFlags.IORING_SETUP_SQPOLL) || !H(IoUringSetupFlags.IORING_SETUP_NO_SQARRAY)))
            && !(H(IoUringSetupFlags.IORING_SETUP_REGISTERED_FD_ONLY) && !H(IoUringSetupFlags.IORING_SETUP_NO_MMAP))
            && !(H(IoUringSetupFlags.IORING_SETUP_SQPOLL) && (H(IoUringSetupFlags.IORING_SETUP_COOP_TASKRUN) || H(IoUringSetupFlags.IORING_SETUP_TASKRUN_FLAG) || H(IoUringSetupFlags.IORING_SETUP_DEFER_TASKRUN)))
            && !(H(IoUringSetupFlags.IORING_SETUP_TASKRUN_FLAG) && !H(IoUringSetupFlags.IORING_SETUP_COOP_TASKRUN) && !H(IoUringSetupFlags.IORING_SETUP_DEFER_TASKRUN))
            && !(H(IoUringSetupFlags.IORING_SETUP_HYBRID_IOPOLL) && !H(IoUringSetupFlags.IORING_SETUP_IOPOLL))
            && !(H(IoUringSetupFlags.IORING_SETUP_DEFER_TASKRUN) && !H(IoUringSetupFlags.IORING_SETUP_SINGLE_ISSUER))
            && !(H(IoUringSetupFlags.IORING_SETUP_CQE32) && H(IoUringSetupFlags.IORING_SETUP_CQE_MIXED))
            && !(H(IoUringSetupFlags.IORING_SETUP_SQE128) && H(IoUringSetupFlags.IORING_SETUP_SQE_MIXED))
            && !(H(IoUringSetupFlags.IORING_SETUP_SQ_AFF) && !H(IoUringSetupFlags.IORING_SETUP_SQPOLL));
    }

    private static uint RoundUp(uint v)
    {
        var r = 1u;
        while (r < v)
        {
            r <<= 1;
        }

        return r;
    }

    // How long a wait with no timeout waits for a file's wake-up before the engine answers as a timeout
    // would (the kernel waits for ever; a program that means to be woken is woken well within it).
    private const int UnboundedPollWaitMs = 5000;

    // A timer further away than this (an hour) is one the programs mean never to fire: no wait sleeps for it.
    private const long TimerHorizonNs = 3600L * 1_000_000_000;

    public int Enter(int fd, uint toSubmit, uint minComplete, uint flags, void* arg, nuint argSize)
    {
        var ring = fd == lastEnteredFd ? lastEntered : null;
        if (ring is null)
        {
            if (!rings.TryGetValue(fd, out ring))
            {
                return -Errno.EBADF;
            }

            (lastEnteredFd, lastEntered) = (fd, ring);
        }

        if ((flags & ~Profile.EnterFlags) != 0)
        {
            return -Errno.EINVAL;
        }

        if (ring.Disabled)
        {
            return -Errno.EBADFD;
        }

        // Wake-ups of armed polls by writes made outside the engine (the program's own write(2)) ran
        // their task work when those system calls returned, before this enter.
        ring.RunPollWakes();
        var submitted = toSubmit > 0 ? ring.Submit(toSubmit) : 0;

        // Timers that expired since the ring was last entered fire now (the kernel's task work runs
        // before the enter returns, whatever it does next).
        ring.RunTimers();

        // A short submission returns at once: no wait argument is read, no overflow flushed.
        if (submitted != toSubmit || (flags & (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS) == 0)
        {
            return submitted;
        }

        // io_get_ext_arg comes before the wait (and its overflow flush): a bad argument changes nothing.
        var waitArgument = ExtArg(ring, flags, (ulong)arg, argSize, out var waitNs, out var minWait);
        if (waitArgument < 0)
        {
            return submitted > 0 ? submitted : waitArgument;
        }

        // The min-wait timeout (wait that long for min_complete, then return with any CQE at all) and the
        // scheduler's iowait accounting a wait skips with NO_IOWAIT are not modelled: the engine's waits
        // end on min_complete or the timeout alone, and are never counted as iowait.
        if (minWait)
        {
            ReportUnmodelled("a wait with a min-wait timeout (min_wait_usec)");
        }

        if ((flags & EnterNoIowait) != 0)
        {
            ReportUnmodelled("IORING_ENTER_NO_IOWAIT (the kernel's iowait accounting of waits)");
        }

        ring.FlushOverflow();

        // What the engine runs has completed by now except armed timeouts and polls, so a wait that is not
        // yet satisfied can only be helped by a timer or a file's wake-up: the engine sleeps until the next
        // timer when it comes before the wait's own timeout, and fires it (with polls armed it waits on
        // their files meanwhile); failing that it sleeps out the wait's timeout. A wait with no timeout that
        // no timer can satisfy would sleep for ever on the kernel (until another thread submits, which the
        // engine does not model): the engine answers at once as a timeout does, or with polls armed after
        // waiting a bounded time for a wake-up.
        // The count is clamped to the CQ's size, and a wait that ends with CQEs in the ring returns 0
        // whatever ended it (-ETIME only on an empty CQ).
        var want = Math.Min(minComplete, ring.CqEntries);
        var waitEnds = waitNs < 0 ? long.MaxValue : Posix.ClockNs(Posix.ClockMonotonic) + waitNs;
        long? pollsGiveUp = null; // read from the clock only when a wait on polls starts (not on every enter)
        while (ring.ReadyCqes < want)
        {
            // The next timer, when it comes before the wait ends; one beyond the horizon never ends a wait.
            var now = Posix.ClockNs(Posix.ClockMonotonic);
            var until = ring.NextTimerIn() is { } due && due <= TimerHorizonNs && now + due <= waitEnds ? now + due : waitEnds;
            if (ring.PollsArmed)
            {
                // A file's wake-up can end the wait too (another thread's write): the engine waits on its
                // epoll set until the next timer or the wait's end, or without either a bounded time.
                pollsGiveUp ??= now + (UnboundedPollWaitMs * 1_000_000L);
                var limit = until == long.MaxValue ? pollsGiveUp.Value : until;
                ring.RunPollWakes((int)Math.Clamp((limit - now + 999_999) / 1_000_000, 0, int.MaxValue));
                if (ring.Closed)
                {
                    return -Errno.EBADF; // another thread closed the ring while this one waited
                }

                ring.RunTimers();
                ring.FlushOverflow();
                var after = Posix.ClockNs(Posix.ClockMonotonic);
                if (after >= waitEnds || (until == long.MaxValue && after >= pollsGiveUp.Value))
                {
                    break;
                }

                continue;
            }

            if (until == long.MaxValue)
            {
                // With other rings in the engine, another thread may message this one (MSG_RING): the
                // wait sleeps on that for a bounded time, as a wait on polls does.
                if (rings.Count < 2)
                {
                    break;
                }

                pollsGiveUp ??= now + (UnboundedPollWaitMs * 1_000_000L);
                ring.WaitForMessage((int)Math.Clamp((pollsGiveUp.Value - now + 999_999) / 1_000_000, 0, int.MaxValue));
                if (ring.Closed)
                {
                    return -Errno.EBADF;
                }

                ring.RunTimers();
                ring.FlushOverflow();
                if (Posix.ClockNs(Posix.ClockMonotonic) >= pollsGiveUp.Value)
                {
                    break;
                }

                continue;
            }

            Posix.SleepUntil(Posix.ClockMonotonic, until);
            if (until == waitEnds)
            {
                break;
            }

            ring.RunTimers();
            ring.FlushOverflow();
        }

        if (ring.ReadyCqes < want)
        {
            return submitted > 0 ? submitted : ring.ReadyCqes == 0 ? -Errno.ETIME : 0;
        }

        return submitted;
    }

    /// <summary>
    /// The wait argument of an enter with GETEVENTS (io_get_ext_arg): without EXT_ARG a sigmask
    /// pointer (not read: the engine never sleeps); with it a struct io_uring_getevents_arg, or with
    /// EXT_ARG_REG an offset into the registered wait-argument region.
    /// </summary>
    /// <para>
    /// <paramref name="waitNs"/>: how long the wait may last, in nanoseconds from now (-1: no timeout).
    /// The engine reads it only to decide whether a timer it holds fires before the wait ends; a timeout
    /// it cannot read counts as none.
    /// </para>
    private static int ExtArg(EngineRing ring, uint flags, ulong arg, nuint argSize, out long waitNs, out bool minWait)
    {
        waitNs = -1;
        minWait = false;
        if ((flags & (uint)IoUringEnterFlags.IORING_ENTER_EXT_ARG) == 0)
        {
            return 0;
        }

        var absolute = (flags & (uint)IoUringEnterFlags.IORING_ENTER_ABS_TIMER) != 0;

        if ((flags & (uint)IoUringEnterFlags.IORING_ENTER_EXT_ARG_REG) != 0)
        {
            if (argSize != (nuint)sizeof(io_uring_reg_wait))
            {
                return -Errno.EINVAL;
            }

            // The offset must be long-aligned and the whole entry inside the area (a missing area has size 0).
            if (arg % 8 != 0 || arg + (ulong)sizeof(io_uring_reg_wait) > ring.WaitArgsSize || arg + (ulong)sizeof(io_uring_reg_wait) < arg)
            {
                return -Errno.EFAULT;
            }

            var w = (io_uring_reg_wait*)(ring.WaitArgs + arg);
            minWait = w->min_wait_usec != 0;
            if ((w->flags & Constants.IORING_REG_WAIT_TS) != 0)
            {
                waitNs = WaitNs(w->ts, absolute);
            }

            return (w->flags & ~Constants.IORING_REG_WAIT_TS) != 0 ? -Errno.EINVAL : 0;
        }

        if (argSize != (nuint)sizeof(io_uring_getevents_arg))
        {
            return -Errno.EINVAL;
        }

        io_uring_getevents_arg copy;
        var rc = Posix.CopyFromUser(&copy, arg, (nuint)sizeof(io_uring_getevents_arg));
        minWait = rc == 0 && copy.min_wait_usec != 0;
        __kernel_timespec ts;
        if (rc == 0 && copy.ts != 0 && Posix.CopyFromUser(&ts, copy.ts, (nuint)sizeof(__kernel_timespec)) == 0)
        {
            waitNs = WaitNs(ts, absolute);
        }

        return rc;
    }

    /// <summary>A wait's timeout as nanoseconds from now (an absolute one on CLOCK_MONOTONIC, the default wait clock).</summary>
    private static long WaitNs(__kernel_timespec ts, bool absolute)
    {
        var ns = EngineRing.Ktime(ts);
        return absolute ? Math.Max(0, ns - Posix.ClockNs(Posix.ClockMonotonic)) : Math.Max(0, ns);
    }

    public int Register(int fd, uint opcode, void* arg, uint nrArgs)
    {
        // fd -1 is a "blind" registration that needs no ring: only the query is one here; every
        // other opcode is -EINVAL then (measured on 6.1 and 6.12 under qemu, which lack the query too).
        if (fd == -1)
        {
            if (opcode == (uint)io_uring_register_op.IORING_REGISTER_QUERY && Profile.HasQuery)
            {
                return ProbeAndQuery.Query(Profile, arg, nrArgs, ReportUnmodelled);
            }

            // Later kernels take more opcodes without a ring (per-task restrictions, ring messages);
            // the engine has none of them, so one the kernel knows is named, then refused.
            if (opcode < Profile.RegisterOpLast)
            {
                ReportUnmodelled($"register opcode {(io_uring_register_op)opcode} without a ring (fd -1)");
            }

            return -Errno.EINVAL;
        }

        if (!rings.TryGetValue(fd, out var ring))
        {
            return -Errno.EBADF;
        }

        if (Profile.RegisterOpLast != 0 && opcode >= Profile.RegisterOpLast)
        {
            return -Errno.EINVAL;
        }

        return ring.Register(opcode, arg, nrArgs);
    }

    /// <summary>Whether <paramref name="fd"/> is one of this engine's rings (those may not be registered as files).</summary>
    internal bool IsRing(int fd) => rings.ContainsKey(fd);

    public nint Map(int fd, ulong offset, nuint length)
    {
        if (!rings.TryGetValue(fd, out var ring))
        {
            return -Errno.EBADF;
        }

        return offset switch
        {
            Constants.IORING_OFF_SQ_RING or Constants.IORING_OFF_CQ_RING when length <= ring.RingsSize => (nint)ring.Rings,
            Constants.IORING_OFF_SQES when length <= ring.SqesSize => (nint)ring.Sqes,
            EngineRing.ParamRegionOffset when ring.Region != null && length <= ring.RegionSize => (nint)ring.Region,

            // A buffer ring of IOU_PBUF_RING_MMAP: the group in the bits from IORING_OFF_PBUF_SHIFT.
            _ when (offset & EngineRing.MmapOffsetMask) == Constants.IORING_OFF_PBUF_RING
                && ring.BufferRingPages((ushort)((offset & ~EngineRing.MmapOffsetMask) >> Constants.IORING_OFF_PBUF_SHIFT)) is { } pages
                && length <= pages.Size => pages.Memory,
            _ => -Errno.EINVAL,
        };
    }

    public void Unmap(nint address, nuint length)
    {
        // The memory belongs to the ring and goes with it on close, as the kernel's pages do.
    }

    /// <summary>poll(2)'s revents for a ring, or -EBADF when <paramref name="fd"/> is not one.</summary>
    public int Poll(int fd) => rings.TryGetValue(fd, out var ring) ? ring.PollEvents : -Errno.EBADF;

    public int Close(int fd)
    {
        if (!rings.TryGetValue(fd, out var ring))
        {
            return -Errno.EBADF;
        }

        Forget(fd);
        ring.Dispose();
        return 0;
    }

    /// <summary>The engine ring whose descriptor <paramref name="fd"/> is, if any (a MSG_RING's target).</summary>
    internal EngineRing? RingAt(int fd) => rings.TryGetValue(fd, out var ring) ? ring : null;

    private void Forget(int fd)
    {
        rings.Remove(fd);
        if (lastEnteredFd == fd)
        {
            lastEnteredFd = -1;
            lastEntered = null;
        }
    }
}
