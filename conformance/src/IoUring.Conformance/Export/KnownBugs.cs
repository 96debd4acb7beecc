using IoUring.Bindings;
using IoUring.Engine;

namespace IoUring.Conformance;

/// <summary>
/// A kernel bug the suite found, as a program that shows it: <see cref="Behaviour"/> names the row of
/// <see cref="KernelBehaviour.Table"/> that says which kernels have it; the C reproducer checks the
/// program against the engine given a correct kernel's profile, so it fails exactly where the bug is.
/// </summary>
public sealed record KnownBug(
    string Name,
    string Behaviour,
    string Title,
    string WhatHappens,
    string WhatShouldHappen,
    string KernelCode,
    bool CanHang,
    RingProgram Program)
{
    public IKernelBehaviour Row => KernelBehaviour.Table.Single(b => b.Name == Behaviour);

    /// <summary>The kernels the table's row marks as having the bug ("6.18 on").</summary>
    public string AffectedKernels => string.Join(", ", Row.Values.Where(v => v.Value == "yes").Select(v => v.Kernels.ToString()));

    /// <summary>The reproducer, expecting what <paramref name="correct"/> (a profile without any of the known bugs) does.</summary>
    public CReproducer Reproducer(KernelProfile correct) => CReproducer.FromEngine(
        Title,
        [
            WhatHappens,
            $"What should happen: {WhatShouldHappen}",
            $"Kernels with the bug: {AffectedKernels} (the kernel-behaviour table's row {Behaviour}). Kernel code: {KernelCode}.",
            CanHang
                ? "On an affected kernel a thread of this program spins in the kernel, deaf to signals, until the watchdog thread frees it after 5 s by consuming the CQ: run it in a VM, or where one spinning core for 5 s harms nothing."
                : "It cannot hang: a wait that finds nothing gives up after 2 s.",
            "The checks expect what a correct kernel does (the conformance suite's reference engine, with the kernel's bugs switched off); io_uring_params are not checked: their offsets and features differ between correct kernels.",
        ],
        Program,
        correct,
        pollMixedWaits: false) with
    { CheckParams = false };

    /// <summary>A profile that has none of the known bugs: <paramref name="profile"/> with every bug row of the table off.</summary>
    public static KernelProfile WithoutBugs(KernelProfile profile) => profile with
    {
        DrainBySequence = false,
        MixedOverflowLosesBigCqe = false,
        MixedOverflowWaitSpins = false,
        NopLookupFailurePostsZero = false,
    };
}

/// <summary>Every kernel bug the suite has found, one program each (conformance/reproducers holds their C files and reports).</summary>
public static class KnownBugs
{
    private const byte Link = (byte)IoUringSqeFlags.IOSQE_IO_LINK;
    private const byte Drain = (byte)IoUringSqeFlags.IOSQE_IO_DRAIN;
    private const byte SkipSuccess = (byte)IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS;
    private const uint CqeMixed = (uint)IoUringSetupFlags.IORING_SETUP_CQE_MIXED;
    private const uint Disabled = (uint)IoUringSetupFlags.IORING_SETUP_R_DISABLED;
    private const uint Cqe32 = (uint)IoUringNopFlags.IORING_NOP_CQE32;

    private static SqeSpec Nop(ulong userData, byte flags = 0, uint nopFlags = 0) =>
        new((byte)io_uring_op.IORING_OP_NOP, flags, 0, nopFlags, 0, FdChoice.File, BufChoice.Area, 0, 0, nopFlags == Cqe32 ? 0x5eedUL : 0, 0, userData);

    private static Step Batch(uint reap, params SqeSpec[] sqes) => new(sqes, true, reap, -1, null);

    private static Step Register(RegisterKind kind, uint variant = 0) => new([], true, 0, -1, new RegisterSpec(kind, 1, variant, false));

    public static readonly IReadOnlyList<KnownBug> All =
    [
        new(
            "cqe-mixed-overflow-loses-big-cqe",
            nameof(KernelProfile.MixedOverflowLosesBigCqe),
            "A 32-byte CQE flushed from the overflow list of a CQE_MIXED ring is lost when another CQE is queued behind it",
            "What happens: on a CQE_MIXED ring of two CQ slots, a NOP's CQE fills slot 0 and is read; a NOP with IORING_NOP_CQE32 then needs a filler in slot 1 and two contiguous slots after it, so its CQE waits in the overflow list. A third NOP's CQE joins the list behind it, and the enter's GETEVENTS flushes the list: the CQ tail moves two slots for the 32-byte CQE, but nothing is written there, so the application reads the stale CQE of the first NOP instead.",
            "the flush writes the 32-byte CQE (user_data 101, F_32, its two extra words) into slots 0-1, and the third NOP's CQE stays in the overflow list until there is room.",
            "the overflow flush of a mixed ring (io_cqring_overflow_flush and the 32-byte CQE copy it makes), io_uring/io_uring.c",
            false,
            new RingProgram(1, CqeMixed, 0,
            [
                Batch(1, Nop(1)),
                Batch(12, Nop(101, nopFlags: Cqe32)),
                Batch(12, Nop(201)),
            ])),
        new(
            "cqe-mixed-overflow-wait-spins",
            nameof(KernelProfile.MixedOverflowWaitSpins),
            "A wait on a CQE_MIXED ring whose overflow list holds a 32-byte CQE that does not fit spins in the kernel, deaf to SIGKILL and to its own timeout",
            "What happens: on a CQE_MIXED ring of two CQ slots, one CQE waits in slot 1 and slot 0 is free, so a 32-byte CQE, which needs two contiguous slots, goes to the overflow list. A wait for one more CQE than is ready, with a 1 ms timeout (a registered wait argument), then never sleeps and never returns: the waiting loop retries the flush, which cannot make room, and goes round again, ignoring the timeout and SIGKILL, until another thread moves the CQ head.",
            "the wait sleeps, and returns -ETIME after 1 ms with the CQ as it was.",
            "io_cqring_wait and its overflow flush on a CQE_MIXED ring, io_uring/io_uring.c",
            true,
            new RingProgram(1, CqeMixed | Disabled, 0,
            [
                Register(RegisterKind.MemRegion, 8),
                Register(RegisterKind.EnableRings),
                Batch(1, Nop(201)),
                Batch(0, Nop(301)),
                Batch(0, Nop(401, nopFlags: Cqe32)) with { RegWait = 0 },
            ])),
        new(
            "drain-after-failed-skip-chain",
            nameof(KernelProfile.DrainBySequence),
            "A drained request waits until the ring is closed after a failed chain whose head had CQE_SKIP_SUCCESS",
            "What happens: a chain of an unknown opcode with IOSQE_IO_LINK and IOSQE_CQE_SKIP_SUCCESS and two NOPs fails at the head (-EINVAL); the two NOPs are cancelled and, inheriting the skip, post nothing. A NOP with IOSQE_IO_DRAIN submitted next waits for the CQ tail to reach the number of SQ entries before it (3), but only one CQE was posted and nothing accounts for the two suppressed ones: the drained NOP never completes.",
            "the drained NOP completes at once (nothing is in flight), with result 0.",
            "io_drain_req, req_need_defer and io_queue_deferred (the drain by exact sequence, before 6.16), io_uring/io_uring.c",
            false,
            new RingProgram(8, 0, 0,
            [
                Batch(12, new SqeSpec(255, Link | SkipSuccess, 0, 0, 0, FdChoice.File, BufChoice.Area, 0, 0, 0, 0, 1), Nop(2, Link), Nop(3)),
                Batch(12, Nop(101, Drain)),
            ])),
        new(
            "drain-after-tail-passed",
            nameof(KernelProfile.DrainBySequence),
            "A drained request waits until the ring is closed once the CQ tail has passed its sequence",
            "What happens: one submission holds a NOP, a NOP with IOSQE_IO_DRAIN and an SQ entry whose index names no SQE. The drained NOP is deferred until the CQ tail, corrected by cq_extra, equals the number of SQ entries before it (1). The bad entry is then dropped, and cq_extra goes down by one for it. When the first NOP's CQE is committed the tail is 1, already past the corrected sequence of 0, and a tail never comes back: the drained NOP never completes.",
            "the drained NOP completes after the first one, with result 0; the dropped entry shows in the SQ's dropped counter.",
            "req_need_defer and io_queue_deferred (an exact comparison of the tail with the sequence, before 6.16), io_uring/io_uring.c",
            false,
            new RingProgram(8, 0, 0,
            [
                new Step([Nop(1), Nop(2, Drain), Nop(3)], true, 12, 2, null),
            ])),
    ];
}
