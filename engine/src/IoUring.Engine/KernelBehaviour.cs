using System.Numerics;
using IoUring.Abi.Model;

namespace IoUring.Engine;

/// <summary>The kernels from <see cref="From"/> (included) up to <see cref="Until"/> (not included); null: no bound.</summary>
public readonly record struct KernelRange(KernelVersion? From, KernelVersion? Until)
{
    /// <summary>No kernel at all (a behaviour the probe looks for that no kernel of the corpus shows).</summary>
    public static readonly KernelRange None = new(new KernelVersion(0, 0), new KernelVersion(0, 0));

    public static KernelRange Before(int major, int minor) => new(null, new KernelVersion(major, minor));

    public static KernelRange Since(int major, int minor) => new(new KernelVersion(major, minor), null);

    public static KernelRange Between(int fromMajor, int fromMinor, int untilMajor, int untilMinor) => new(new KernelVersion(fromMajor, fromMinor), new KernelVersion(untilMajor, untilMinor));

    public bool Contains(KernelVersion v) => (From is not { } from || v >= from) && (Until is not { } until || v < until);

    public override string ToString() => (From, Until) switch
    {
        _ when this == None => "no kernel",
        (null, null) => "every kernel",
        (null, { } until) => $"before {until}",
        ({ } from, null) => $"{from} on",
        ({ } from, { } until) => $"{from} to before {until}",
    };
}

/// <summary>One row of <see cref="KernelBehaviour.Table"/>, whatever the type of its value.</summary>
public interface IKernelBehaviour
{
    /// <summary>The <see cref="KernelProfile"/> property that carries it.</summary>
    string Name { get; }

    /// <summary>What it means, in a sentence.</summary>
    string Meaning { get; }

    /// <summary>How a live kernel is asked for it (by the probe beside the client ring, never by its version).</summary>
    string Probe { get; }

    /// <summary>Where the fact was learnt: a kernel's source, a run under qemu, the host.</summary>
    string Source { get; }

    /// <summary>Each value and the kernels that have it, the first matching range winning.</summary>
    IReadOnlyList<(KernelRange Kernels, string Value)> Values { get; }

    /// <summary>The table's value for <paramref name="version"/>, as text.</summary>
    string ValueFor(KernelVersion version);

    /// <summary>The value <paramref name="profile"/> carries, as text.</summary>
    string ValueOf(KernelProfile profile);

    /// <summary><paramref name="profile"/> with the table's value for <paramref name="version"/>.</summary>
    KernelProfile Apply(KernelProfile profile, KernelVersion version);
}

/// <summary>A behaviour whose value is a <typeparamref name="T"/>: a bug present or not, the stage where a check happens.</summary>
public sealed record KernelBehaviour<T>(
    string Name,
    string Meaning,
    string Probe,
    string Source,
    T Otherwise,
    IReadOnlyList<(KernelRange Kernels, T Value)> Where,
    Func<KernelProfile, T> Get,
    Func<KernelProfile, T, KernelProfile> Set) : IKernelBehaviour
    where T : notnull
{
    public IReadOnlyList<(KernelRange Kernels, string Value)> Values =>
        [.. Where.Select(w => (w.Kernels, Text(w.Value))), (new KernelRange(null, null), Text(Otherwise))];

    public T For(KernelVersion version)
    {
        foreach (var (kernels, value) in Where)
        {
            if (kernels.Contains(version))
            {
                return value;
            }
        }

        return Otherwise;
    }

    public string ValueFor(KernelVersion version) => Text(For(version));

    public string ValueOf(KernelProfile profile) => Text(Get(profile));

    public KernelProfile Apply(KernelProfile profile, KernelVersion version) => Set(profile, For(version));

    private static string Text(T value) => value is bool b ? (b ? "yes" : "no") : value.ToString()!;
}

/// <summary>
/// Where kernels differ in ways their UAPI header cannot say: the one table of such facts. The probe
/// asks a live kernel for each (never its version); a snapshot profile takes each from here by the
/// kernel's version; the conformance tests hold every recorded kernel's probed profile to it; the matrix
/// shows it per kernel; docs/engine.md prints it.
/// </summary>
public static class KernelBehaviour
{
    public static readonly IReadOnlyList<IKernelBehaviour> Table =
    [
        new KernelBehaviour<RingHeaderLayout>(
            nameof(KernelProfile.RingHeader),
            "where struct io_rings keeps the SQ and CQ heads and tails: each on its own 64-byte line, or packed from offset 0",
            "the sq_off.tail a plain ring's params report (4: packed)",
            "6.1 io_uring_types.h (struct io_uring's members are ____cacheline_aligned_in_smp); 6.12 packs them",
            RingHeaderLayout.Packed,
            [(KernelRange.Before(6, 12), RingHeaderLayout.CacheLineAligned)],
            p => p.RingHeader,
            (p, v) => p with { RingHeader = v }),
        new KernelBehaviour<RwImportStage>(
            nameof(KernelProfile.RwImport),
            "where READ, WRITE, READV and WRITEV import their user buffer: at issue after the file lookup, or at prep before it",
            "a READV of 1025 vectors on fd -1: -EBADF (issue) or -EINVAL (prep)",
            "measured under qemu (6.1.176, 6.12.107)",
            RwImportStage.Prep,
            [(KernelRange.Before(6, 10), RwImportStage.Issue)],
            p => p.RwImport,
            (p, v) => p with { RwImport = v }),
        new KernelBehaviour<FixedBufferStage>(
            nameof(KernelProfile.FixedBuffers),
            "where READ_FIXED and WRITE_FIXED find their registered buffer and check the range against it",
            "READ_FIXED on fd -1 with no buffer registered (-EBADF: found at issue, -EFAULT: at prep), then with a range outside a registered one",
            "measured under qemu (6.1.176, 6.12.107, 7.2.13) and on the host (6.18.44)",
            FixedBufferStage.Issue,
            [(KernelRange.Before(6, 10), FixedBufferStage.LookupAtPrep), (KernelRange.Between(6, 10, 6, 15), FixedBufferStage.Prep)],
            p => p.FixedBuffers,
            (p, v) => p with { FixedBuffers = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.BufferIovecsCopiedByIoUring),
            "io_uring copies the iovecs of IORING_REGISTER_BUFFERS (BUFFERS2, BUFFERS_UPDATE) itself, so a length meets only its 1 GiB limit (-EFAULT); later kernels read them with the kernel's generic iovec import, which first refuses a length with the sign bit of the process's ssize_t set (-EINVAL): 2 GiB and up for a 32-bit process, 2^63 and up for a 64-bit one",
            "IORING_REGISTER_BUFFERS of one iovec 2^63 bytes long: -EFAULT (copied by io_uring) or -EINVAL (the generic import)",
            "6.1.176 source (io_copy_iov); 6.11 reads them with iovec_from_user; found by the matrix's 32-bit column (a 2 GiB iovec: -EINVAL on 6.12, 7.2, 7.3-rc, -EFAULT on 6.1); probed under qemu (6.1.176, 6.12.117, 7.2.13, 7.3-rc7)",
            false,
            [(KernelRange.Before(6, 11), true)],
            p => p.BufferIovecsCopiedByIoUring,
            (p, v) => p with { BufferIovecsCopiedByIoUring = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.DrainBySequence),
            "a drained request waits until the CQ tail, corrected by cq_extra, equals the number of SQ entries before it, checked at every commit; a tail that went past it, or CQEs a failed skip chain suppressed, leave it waiting until the ring is closed (kernel bugs); later kernels count requests in flight",
            "a failed CQE_SKIP_SUCCESS chain head with two cancelled NOPs, then a NOP with IO_DRAIN: does its CQE come within 50 ms",
            "6.1.176 and 6.12.107 sources (io_drain_req, io_queue_deferred); reproduced under qemu",
            false,
            [(KernelRange.Before(6, 16), true)],
            p => p.DrainBySequence,
            (p, v) => p with { DrainBySequence = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.FailuresPostAtOnce),
            "a failed request (refused at init, failed async prep, an error returned at issue), every io-wq completion, and PROVIDE_BUFFERS and REMOVE_BUFFERS (which complete themselves) are posted on their own, ahead of the inline completions batched in the same submission",
            "the CQE order of a NOP and an unknown opcode submitted together",
            "6.1.176 source (io_req_complete_failed, io_req_complete_post; kbuf.c's __io_req_complete); measured under qemu (the buffer calls found by the soak)",
            false,
            [(KernelRange.Before(6, 10), true)],
            p => p.FailuresPostAtOnce,
            (p, v) => p with { FailuresPostAtOnce = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.TaskWorkNewestFirst),
            "a run of task work takes the items queued since the last run newest first",
            "three two-NOP chains in one submission: the order their successors post",
            "6.1.176 source (tctx_task_work takes the lock-less list without reversing it)",
            false,
            [(KernelRange.Before(6, 10), true)],
            p => p.TaskWorkNewestFirst,
            (p, v) => p with { TaskWorkNewestFirst = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.TaskSubmitIssuesInline),
            "a request issued from task work (a chain successor, a request the drain released) is issued inline even when marked for async execution",
            "the same three chains, one successor with IOSQE_ASYNC: posted last in the same batch, or whenever io-wq is done",
            "6.1.176 source (io_req_task_submit); 6.12 sends it to io-wq",
            false,
            [(KernelRange.Before(6, 10), true)],
            p => p.TaskSubmitIssuesInline,
            (p, v) => p with { TaskSubmitIssuesInline = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.ShmemReadsInline),
            "a READ of a memfd completes inline (a regular file on a filesystem without a block device counts as able to read without blocking); later kernels go by FMODE_NOWAIT and read it from io-wq",
            "the order of a READ of a memfd and a NOP submitted together, five times",
            "6.1.176 source (__io_file_supports_nowait); 6.12 goes by FMODE_NOWAIT, which shmem lacks",
            false,
            [(KernelRange.Before(6, 10), true)],
            p => p.ShmemReadsInline,
            (p, v) => p with { ShmemReadsInline = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.ShmemNowait),
            "a memfd takes RWF_NOWAIT (every kernel of the corpus refuses it with -EOPNOTSUPP)",
            "a READ of a memfd with RWF_NOWAIT",
            "measured on every kernel of the corpus",
            false,
            [],
            p => p.ShmemNowait,
            (p, v) => p with { ShmemNowait = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.FaultingWriteExtendsFile),
            "a WRITE whose buffer faults before one byte is copied still grows a shmem file to the write offset (the page cache's doing, seen through io_uring)",
            "a WRITE of 512 bytes from an unmapped address at offset 20000 of an empty memfd, then the file's size",
            "measured under qemu (6.1 and 6.12 leave the file; 7.2, 7.3-rc grow it) and on the host (6.18.44)",
            false,
            [(KernelRange.Since(6, 13), true)],
            p => p.FaultingWriteExtendsFile,
            (p, v) => p with { FaultingWriteExtendsFile = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.RegisterRestrictedOnlyWhenListed),
            "a restricted ring limits register opcodes only when its restrictions named one",
            "a ring restricted to one SQE opcode, enabled, then a register opcode: allowed or -EACCES",
            "measured under qemu (7.2.13, 7.3-rc7); the host's 6.18.44 limits both kinds whatever was named",
            false,
            [(KernelRange.Since(6, 19), true)],
            p => p.RegisterRestrictedOnlyWhenListed,
            (p, v) => p with { RegisterRestrictedOnlyWhenListed = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.SqeRestrictedOnlyWhenListed),
            "a restricted ring limits SQE opcodes and flags only when its restrictions named one",
            "a ring restricted to one register opcode, enabled, then a NOP: completes or -EACCES",
            "measured under qemu (7.2.13, 7.3-rc7); the host's 6.18.44 limits both kinds whatever was named",
            false,
            [(KernelRange.Since(6, 19), true)],
            p => p.SqeRestrictedOnlyWhenListed,
            (p, v) => p with { SqeRestrictedOnlyWhenListed = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.MixedOverflowLosesBigCqe),
            "kernel bug: on a CQE_MIXED ring, a 32-byte CQE in the overflow list with another completion queued behind it is lost when flushed (the tail advances two slots, nothing is written)",
            "reproduced on a two-slot CQE_MIXED ring",
            "found by the differential on the host (6.18.44); probed the same under qemu (7.2.13, 7.3-rc7); CQE_MIXED came in 6.18",
            false,
            [(KernelRange.Since(6, 18), true)],
            p => p.MixedOverflowLosesBigCqe,
            (p, v) => p with { MixedOverflowLosesBigCqe = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.MixedOverflowWaitSpins),
            "kernel bug: a wait for more CQEs than are ready, on a CQE_MIXED ring whose overflow list holds a 32-byte CQE that does not fit, spins in the kernel and ignores SIGKILL until the CQ head moves",
            "reproduced on a helper thread and freed from another by consuming the CQ",
            "found on the host (6.18.44); probed the same under qemu (7.2.13, 7.3-rc7); CQE_MIXED came in 6.18",
            false,
            [(KernelRange.Since(6, 18), true)],
            p => p.MixedOverflowWaitSpins,
            (p, v) => p with { MixedOverflowWaitSpins = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.TimeoutCancelByUserDataOnly),
            "a cancellation finds an armed timeout, or a poll (without a file key), by its user_data alone (or any, with ANY), whatever other key it names (IORING_ASYNC_CANCEL_OP, USERDATA); later kernels match them as they match any request (io_cancel_req_match)",
            "an ASYNC_CANCEL keyed on the TIMEOUT opcode, naming another user_data, of an armed TIMEOUT: -ENOENT or 0",
            "found by the differential on 6.1.176 under qemu (timeouts, then polls); 6.12.117 matches by the opcode; kernels between were not measured",
            false,
            [(KernelRange.Before(6, 12), true)],
            p => p.TimeoutCancelByUserDataOnly,
            (p, v) => p with { TimeoutCancelByUserDataOnly = v }),
        new KernelBehaviour<MultishotCqFull>(
            nameof(KernelProfile.MultishotCqFull),
            "what a multishot poll does when its next CQE meets a full CQ: post it to the overflow list and stay armed, stop once the overflow list holds anything, or stop when the CQ is full (its last CQE without IORING_CQE_F_MORE)",
            "four wake-ups of a multishot POLL_ADD on an eventfd, on a ring with a two-slot CQ: which CQE first lacks F_MORE",
            "probed on every kernel of the corpus, all stopping at a full CQ (6.1.176 included: its stable updates carry the change); the other two are what the mainline sources before 6.7 and from 6.7 to 6.11 do, for a probe of such a kernel",
            MultishotCqFull.StopsWhenFull,
            [],
            p => p.MultishotCqFull,
            (p, v) => p with { MultishotCqFull = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.MultishotCqeJumpsBatch),
            "a multishot CQE with IORING_CQE_F_MORE goes into the CQ at once, ahead of completions the same task work has batched and into the room they have not yet taken; later kernels flush the batch first",
            "a one-shot and a multishot POLL_ADD on one eventfd, one write, armed so that the one-shot's task work runs first: which CQE comes first",
            "6.1.176 source (io_post_aux_cqe fills the CQE under the completion lock, the batch waits for the end of the task work); 6.12's io_req_post_cqe flushes the batch first; the boundary is the removal of the deferred aux CQE cache, merged for 6.10 as I recall it; found by the soak on 6.1 (a multishot RECV took the room a plain RECV's batched CQE was to fill)",
            false,
            [(KernelRange.Before(6, 10), true)],
            p => p.MultishotCqeJumpsBatch,
            (p, v) => p with { MultishotCqeJumpsBatch = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.PollRemoveCompletesInline),
            "the POLL_ADD a POLL_REMOVE cancels posts its -ECANCELED in the removal's batch, before the removal's own CQE; later kernels post it from task work, after",
            "a POLL_ADD on an empty pipe, then a POLL_REMOVE of it: the order of the two CQEs",
            "the kernel's poll.c (6.1 completes it inline); checked by the differential on each kernel of the corpus",
            false,
            [(KernelRange.Before(6, 12), true)],
            p => p.PollRemoveCompletesInline,
            (p, v) => p with { PollRemoveCompletesInline = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.PollUpdateLosesInlineCompletion),
            "kernel bug: a poll update that finds the file ready at once frees the POLL_ADD without posting its CQE (fixed in 2026's stable kernels)",
            "a POLLPRI poll on a pipe holding data, updated to POLLIN: is there a CQE for the poll",
            "the 2026 stable fix of io_poll_remove's update path; probed on the host and under qemu",
            false,
            [],
            p => p.PollUpdateLosesInlineCompletion,
            (p, v) => p with { PollUpdateLosesInlineCompletion = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.PipeNowait),
            "a pipe has FMODE_NOWAIT: its reads and writes are tried inline and take RWF_NOWAIT; without it RWF_NOWAIT is -EOPNOTSUPP and every transfer of a pipe waits for the pipe's readiness, then runs in io-wq",
            "a READ with RWF_NOWAIT of an empty pipe: -EAGAIN or -EOPNOTSUPP",
            "found by the differential on 6.1.176 under qemu; 6.12.117 and later have it",
            true,
            [(KernelRange.Before(6, 12), false)],
            p => p.PipeNowait,
            (p, v) => p with { PipeNowait = v }),
        new KernelBehaviour<RwImportStage>(
            nameof(KernelProfile.NetImport),
            "where SEND, RECV, SENDMSG and RECVMSG check their buffer and copy their address and msghdr, and CONNECT copies its address: at prep, or at issue after the file lookup (and, for the transfers, the socket check)",
            "a SENDMSG of a msghdr at a kernel address on fd -1: -EFAULT (prep) or -EBADF (issue)",
            "measured under qemu (6.1.176, 6.12.107)",
            RwImportStage.Prep,
            [(KernelRange.Before(6, 10), RwImportStage.Issue)],
            p => p.NetImport,
            (p, v) => p with { NetImport = v }),
        new KernelBehaviour<UnixStreamInq>(
            nameof(KernelProfile.UnixStreamInq),
            "when a receive from an AF_UNIX stream socket posts IORING_CQE_F_SOCK_NONEMPTY: never (the socket does not report msg_inq), or when bytes remain queued",
            "two four-byte RECVs of eight bytes queued in an AF_UNIX stream socket: the flag on the first only, on neither, or on both",
            "measured on the host (6.18) and under qemu (6.1.176, 6.12.107, 7.2, 7.3-rc); the kernels between 6.12 and 6.18 are taken from 6.17, when AF_UNIX gained SO_INQ",
            UnixStreamInq.WhenQueued,
            [(KernelRange.Before(6, 17), UnixStreamInq.Never)],
            p => p.UnixStreamInq,
            (p, v) => p with { UnixStreamInq = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.MsgTooManyVectorsIsEmsgsize),
            "a SENDMSG or RECVMSG whose msghdr has more than UIO_MAXIOV vectors is refused with -EMSGSIZE (the msghdr copy checks the count); before, the iovec import refused it with -EINVAL",
            "a SENDMSG of 1025 vectors on an AF_UNIX socket: -EMSGSIZE or -EINVAL",
            "found by the differential: -EINVAL on 6.1.176 and 6.12 under qemu, -EMSGSIZE on the host's 6.18 and on 7.2 and 7.3-rc (the kernels between 6.12 and 6.18 are taken as 6.12)",
            true,
            [(KernelRange.Before(6, 18), false)],
            p => p.MsgTooManyVectorsIsEmsgsize,
            (p, v) => p with { MsgTooManyVectorsIsEmsgsize = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.RecvChecksSocketFirst),
            "RECV checks that its file is a socket (-ENOTSOCK) before it honours IORING_RECVSEND_POLL_FIRST; before, a RECV with POLL_FIRST of a regular file waited for it, and io-wq gave -EAGAIN",
            "a RECV with POLL_FIRST of a memfd: -ENOTSOCK or -EAGAIN",
            "found by the differential: -EAGAIN on 6.1.176 and 6.12 under qemu, -ENOTSOCK on 7.2 and 7.3-rc",
            true,
            [(KernelRange.Before(7, 0), false)],
            p => p.RecvChecksSocketFirst,
            (p, v) => p with { RecvChecksSocketFirst = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.SendChecksSocketFirst),
            "SEND checks that its file is a socket (-ENOTSOCK) before it honours IORING_RECVSEND_POLL_FIRST; before, a SEND with POLL_FIRST of a regular file waited for it, and io-wq gave -EAGAIN",
            "a SEND with POLL_FIRST of a memfd: -ENOTSOCK or -EAGAIN",
            "found by the differential: -EAGAIN on 6.1.176 under qemu, -ENOTSOCK on 6.12 and later (the kernels between are taken as 6.12, from the 6.10 rework of the socket transfers)",
            true,
            [(KernelRange.Before(6, 10), false)],
            p => p.SendChecksSocketFirst,
            (p, v) => p with { SendChecksSocketFirst = v }),
        new KernelBehaviour<ushort>(
            nameof(KernelProfile.AcceptFlags),
            "the IORING_ACCEPT_* flags ACCEPT takes in ioprio (1 MULTISHOT, 2 DONTWAIT, 4 POLL_FIRST); any other is -EINVAL",
            "an ACCEPT on fd -1 with each flag: -EINVAL (refused at prep) or -EBADF",
            "the kernel's io_accept_prep; DONTWAIT and POLL_FIRST came with 6.10",
            KernelProfile.AllAcceptFlags,
            [(KernelRange.Before(6, 10), (ushort)1)],
            p => p.AcceptFlags,
            (p, v) => p with { AcceptFlags = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.AcceptNonEmpty),
            "an ACCEPT from a TCP listener that holds more connections after it posts IORING_CQE_F_SOCK_NONEMPTY",
            "two connections queued on a loopback TCP listener, one ACCEPT: is the flag set",
            "measured on the host (6.18); accept reports an empty queue from 6.10",
            true,
            [(KernelRange.Before(6, 10), false)],
            p => p.AcceptNonEmpty,
            (p, v) => p with { AcceptNonEmpty = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.InstallOverSlotMovesAllocHint),
            "a socket installed into an occupied fixed slot moves the slot allocator's hint past it (the slot is emptied, then filled); later kernels replace the slot in place and leave the hint",
            "a table [free, file, file, free]: SOCKET into slot 2, then SOCKET with IORING_FILE_INDEX_ALLOC: slot 3 or slot 0",
            "found by the matrix: 6.1.176 under qemu moves it, 6.12.117 and later leave it (the kernels between are taken as 6.1)",
            false,
            [(KernelRange.Before(6, 12), true)],
            p => p.InstallOverSlotMovesAllocHint,
            (p, v) => p with { InstallOverSlotMovesAllocHint = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.AdviseLength64),
            "FADVISE takes a 64-bit length in addr and MADVISE one in off (0: the 32-bit len); before, a non-zero addr or off is -EINVAL",
            "a FADVISE (POSIX_FADV_NORMAL) of a memfd with addr 4096: 0, or -EINVAL",
            "the kernel's advise.c; measured under qemu (6.1 refuses, 6.12 takes it) and on the host (6.18)",
            true,
            [(KernelRange.Before(6, 12), false)],
            p => p.AdviseLength64,
            (p, v) => p with { AdviseLength64 = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.FadviseRefusesNegativeOffset),
            "a FADVISE at a negative offset of a file that is not a pipe is -EINVAL, a failure (the kernel's fadvise checks the offset)",
            "a FADVISE (POSIX_FADV_NORMAL) of a memfd at offset -1: -EINVAL, or 0",
            "found by the soak under qemu: 7.2 and 7.3-rc refuse it, 6.12 and the host's 6.18 take it (7.0 and 7.1 are taken as 7.2)",
            true,
            [(KernelRange.Before(7, 0), false)],
            p => p.FadviseRefusesNegativeOffset,
            (p, v) => p with { FadviseRefusesNegativeOffset = v }),
        new KernelBehaviour<uint>(
            nameof(KernelProfile.FallocateModes),
            "the FALLOC_FL_* bits FALLOCATE knows (0x80 FALLOC_FL_WRITE_ZEROES from 6.17); another bit is -EOPNOTSUPP before the file is asked (a file not open for writing: -EBADF where the bit is known)",
            "a FALLOCATE of a pipe's read end with mode 0x80: -EOPNOTSUPP (unknown) or -EBADF",
            "found by the soak under qemu on 6.1 and 6.12; the host's 6.18 and 7.2 know the bit (FALLOC_FL_WRITE_ZEROES came with 6.17)",
            KernelProfile.AllFallocateModes,
            [(KernelRange.Before(6, 17), 0x7fu)],
            p => p.FallocateModes,
            (p, v) => p with { FallocateModes = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.SocketNowait),
            "a socket has FMODE_NOWAIT: a READ or WRITE of it with RWF_NOWAIT is tried, not refused with -EOPNOTSUPP",
            "a READ with RWF_NOWAIT of an empty AF_UNIX stream socket: -EOPNOTSUPP, or -EAGAIN",
            "found by the soak under qemu on 6.1.176 (a READ of a direct UDP socket); 6.12.117 and later have it (the kernels between are taken as 6.1)",
            true,
            [(KernelRange.Before(6, 12), false)],
            p => p.SocketNowait,
            (p, v) => p with { SocketNowait = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.UnlinkRefusesAddr3),
            "UNLINKAT refuses a non-zero addr3 with -EINVAL at prep",
            "an UNLINKAT of fd -1 whose addr3 is 1: -EINVAL, or -EBADF",
            "read in the kernels' io_uring/fs.c: 7.2 checks addr3, 6.12 does not; the host's 6.18 does not (7.0 and 7.1 are taken as 7.2)",
            true,
            [(KernelRange.Before(7, 0), false)],
            p => p.UnlinkRefusesAddr3,
            (p, v) => p with { UnlinkRefusesAddr3 = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.XattrTakesFixedFile),
            "FGETXATTR and FSETXATTR take IOSQE_FIXED_FILE; before, it is -EBADF at prep, ahead of every other check",
            "an FGETXATTR with IOSQE_FIXED_FILE and a NULL name: -EBADF (refused) or -EFAULT",
            "read in io_uring/xattr.c: 6.12 refuses it, 7.2 takes it; the host's 6.18 takes it (6.13 to 6.17 are taken as 6.18)",
            true,
            [(KernelRange.Before(6, 13), false)],
            p => p.XattrTakesFixedFile,
            (p, v) => p with { XattrTakesFixedFile = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.UringCmdMultishot),
            "URING_CMD takes IORING_URING_CMD_MULTISHOT with provided buffers and leaves a fixed buffer's index to the driver; before, IORING_URING_CMD_FIXED is the only flag and a buffer index past the table is -EFAULT at prep",
            "a URING_CMD of a memfd with IORING_URING_CMD_FIXED and buffer 5, no buffers registered: -EFAULT, or -EOPNOTSUPP (the memfd has no uring_cmd)",
            "read in io_uring/uring_cmd.c: 6.12 checks the index at prep, 7.2 does not and has MULTISHOT; the host's 6.18 is as 7.2 (6.13 to 6.17 are taken as 6.18)",
            true,
            [(KernelRange.Before(6, 13), false)],
            p => p.UringCmdMultishot,
            (p, v) => p with { UringCmdMultishot = v }),
        new KernelBehaviour<uint>(
            nameof(KernelProfile.SocketCommands),
            "how many socket commands of URING_CMD sockets answer (0 SIOCINQ, 1 SIOCOUTQ, 2 GETSOCKOPT, 3 SETSOCKOPT, 4 TX_TIMESTAMP, 5 GETSOCKNAME); 0: sockets have no uring_cmd, every command is -EOPNOTSUPP",
            "SIOCINQ, TX_TIMESTAMP (no 32-byte CQEs: -EINVAL where known) and GETSOCKNAME of a UDP socket",
            "the socket commands came with 6.7, TX_TIMESTAMP with 6.17, GETSOCKNAME with 6.19 (merge logs; 6.1, 6.12 and 7.2 read in their sources, the host's 6.18 probed)",
            KernelProfile.AllSocketCommands,
            [(KernelRange.Before(6, 7), 0u), (KernelRange.Before(6, 17), 4u), (KernelRange.Before(6, 19), 5u)],
            p => p.SocketCommands,
            (p, v) => p with { SocketCommands = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.LegacyBufferRecycledWhileWaiting),
            "a READ holding a legacy provided buffer gives it back when it must wait (poll or io-wq) and selects again later; otherwise it keeps it until it completes",
            "a READ of an empty pipe with IOSQE_BUFFER_SELECT, then a REMOVE_BUFFERS of one: 1 (given back) or 0",
            "read in the kernels' sources: 6.1 recycles in io_arm_poll_handler and io_queue_async, 6.12 does not; the host's 6.18 keeps it (measured; 6.2 to 6.11 are taken as 6.1)",
            false,
            [(KernelRange.Before(6, 12), true)],
            p => p.LegacyBufferRecycledWhileWaiting,
            (p, v) => p with { LegacyBufferRecycledWhileWaiting = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.BufferGroupArray),
            "groups 0 to 63 live in an array made by the first PROVIDE_BUFFERS of one of them: then each exists, and a REMOVE_BUFFERS of one never provided removes 0 (not -ENOENT)",
            "a PROVIDE_BUFFERS of group 1, then a REMOVE_BUFFERS of group 0: 0, or -ENOENT",
            "found by the soak on 6.1 (io_buffer_get_list's io_bl array, BGID_ARRAY); 6.12 keeps groups in an xarray only (6.2 to 6.11 are taken as 6.1)",
            false,
            [(KernelRange.Before(6, 12), true)],
            p => p.BufferGroupArray,
            (p, v) => p with { BufferGroupArray = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.MsgRingSendFdChecksTarget),
            "MSG_RING's IORING_MSG_SEND_FD refuses a non-zero len (-EINVAL) and a disabled target (-EBADFD); before, it checks neither and installs the file in a disabled ring",
            "a SEND_FD of len 1 to a disabled ring without a file table: -EINVAL, or -ENXIO",
            "read in io_uring/msg_ring.c: 6.1 checks neither, 6.12 and 7.2 check both (6.2 to 6.11 are taken as 6.1)",
            true,
            [(KernelRange.Before(6, 12), false)],
            p => p.MsgRingSendFdChecksTarget,
            (p, v) => p with { MsgRingSendFdChecksTarget = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.MsgRingRefusesBigCqeFlag),
            "MSG_RING's DATA with FLAGS_PASS refuses IORING_CQE_F_32 (-EINVAL) for a target ring without 32-byte CQEs; before, the flag is passed on as it is",
            "a DATA message with FLAGS_PASS and IORING_CQE_F_32 to a plain ring: -EINVAL, or 0 (and FLAGS_PASS itself refused: false)",
            "read in io_uring/msg_ring.c: 7.2 checks it, 6.12 does not; the host's 6.18 passes the flag on (measured; 6.19 to 7.1 are taken as 7.2)",
            true,
            [(KernelRange.Before(6, 19), false)],
            p => p.MsgRingRefusesBigCqeFlag,
            (p, v) => p with { MsgRingRefusesBigCqeFlag = v }),
        new KernelBehaviour<uint>(
            nameof(KernelProfile.Futex2Flags),
            "the futex2 flags the futex opcodes take: the size bits and FUTEX2_PRIVATE (0x83), and FUTEX2_NUMA and FUTEX2_MPOL (0x8f)",
            "a FUTEX_WAKE of none with FUTEX2_NUMA, and one with FUTEX2_MPOL: -EINVAL where unknown",
            "read in kernel/futex/futex.h: 6.12 takes 0x83, 7.2 0x8f; NUMA and MPOL came with 6.16 (merge log); the host's 6.18 probed",
            KernelProfile.AllFutex2Flags,
            [(KernelRange.Before(6, 16), 0x83u)],
            p => p.Futex2Flags,
            (p, v) => p with { Futex2Flags = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.FutexCancelByUserDataOnly),
            "a cancellation finds an armed futex wait by its user_data, or any with ANY, ignoring an opcode key; later kernels match it as any request",
            "an ASYNC_CANCEL by opcode (and another user_data) of an armed FUTEX_WAIT: -ENOENT, or 1",
            "read in io_uring/futex.c: 6.12 compares the user_data, 7.2 uses the generic matcher; the host's 6.18 probed (6.13 to 6.17 are taken as 6.18)",
            false,
            [(KernelRange.Before(6, 13), true)],
            p => p.FutexCancelByUserDataOnly,
            (p, v) => p with { FutexCancelByUserDataOnly = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.ZeroCopyFlagsBeforeNotification),
            "a zero-copy send's unknown flags are refused before its notification is taken (one CQE); later, after it (IORING_CQE_F_MORE, then the notification)",
            "a SEND_ZC of fd -1 with an unknown flag: whether a notification CQE follows the -EINVAL",
            "read in io_uring/net.c: 6.1 checks the flags first, 6.12 after io_alloc_notif (6.2 to 6.11 are taken as 6.1)",
            false,
            [(KernelRange.Before(6, 12), true)],
            p => p.ZeroCopyFlagsBeforeNotification,
            (p, v) => p with { ZeroCopyFlagsBeforeNotification = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.ZeroCopyNotificationUserData),
            "a zero-copy send's addr3, when set, is its notification's user_data; before, a non-zero addr3 is -EINVAL",
            "a SEND_ZC of fd -1 with addr3 5: -EINVAL, or -EBADF",
            "read in io_uring/net.c: 6.12 refuses addr3, 7.2 takes it; the host's 6.18 refuses it (measured; 6.19 to 7.1 are taken as 7.2)",
            true,
            [(KernelRange.Before(6, 19), false)],
            p => p.ZeroCopyNotificationUserData,
            (p, v) => p with { ZeroCopyNotificationUserData = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.ZeroCopyMsgTakesFixedBuffer),
            "SENDMSG_ZC takes IORING_RECVSEND_FIXED_BUF (its iovecs inside a registered buffer); before, it is -EINVAL at prep",
            "a SENDMSG_ZC of fd -1 with IORING_RECVSEND_FIXED_BUF: -EINVAL, or -EBADF",
            "read in io_uring/net.c: 6.12 refuses it, 7.2 takes it; the host's 6.18 takes it (measured; 6.13 to 6.17 are taken as 6.18)",
            true,
            [(KernelRange.Before(6, 13), false)],
            p => p.ZeroCopyMsgTakesFixedBuffer,
            (p, v) => p with { ZeroCopyMsgTakesFixedBuffer = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.ZeroCopyMsgImportsFixedBufferFirst),
            "SENDMSG_ZC with a registered buffer imports its vectors before it looks at the socket (-EFAULT on a memfd with no buffers); otherwise the socket comes first (-ENOTSOCK)",
            "a SENDMSG_ZC of a memfd with IORING_RECVSEND_FIXED_BUF and no buffers registered: -EFAULT, or another error",
            "measured on the host's 6.18 (found by the soak); 7.2's io_sendmsg_zc looks at the socket first, and 6.1 and 6.12 refuse the flag at prep (6.13 to 6.17 are taken as 6.18)",
            false,
            [(KernelRange.Before(6, 13), false), (KernelRange.Before(6, 19), true)],
            p => p.ZeroCopyMsgImportsFixedBufferFirst,
            (p, v) => p with { ZeroCopyMsgImportsFixedBufferFirst = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.BufferRingChecksAddressFirst),
            "IORING_REGISTER_PBUF_RING checks the ring's address before its entry count and the group, and refuses an address with IOU_PBUF_RING_MMAP; later kernels make the ring a memory region after those checks and ignore an MMAP ring's address",
            "a ring of 3 entries at address 0: -EFAULT, or -EINVAL",
            "read in io_uring/kbuf.c: 6.1 and 6.12 check the address first, 7.2 registers a region (the region code for buffer rings came with 6.14, merge log); the host's 6.18 probed",
            false,
            [(KernelRange.Before(6, 14), true)],
            p => p.BufferRingChecksAddressFirst,
            (p, v) => p with { BufferRingChecksAddressFirst = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.RecvMultishotLength),
            "a multishot RECV takes sqe->len as a cap on each receive and sqe->optlen as a limit on all its bytes; before, a length is -EINVAL",
            "a multishot RECV of a memfd with IOSQE_BUFFER_SELECT and len 1: -EINVAL, or -ENOTSOCK",
            "read in io_uring/net.c: 7.2 has mshot_len, 6.12 refuses a length (the cap came with 6.15, merge log); the host's 6.18 probed",
            true,
            [(KernelRange.Before(6, 15), false)],
            p => p.RecvMultishotLength,
            (p, v) => p with { RecvMultishotLength = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.RecvMultishotKeepsLength),
            "a multishot RECV never resets the length it asks for after a CQE, so each receive takes at most the smallest buffer selected so far",
            "buffers of 8 and 64 bytes, 20 bytes queued, a multishot RECV: its second CQE 8 bytes, or 12",
            "read in io_uring/net.c: 6.1's io_recv reads the length once and keeps what each selection cut it to; 6.12 resets it after each CQE (kernels between are taken as 6.12)",
            false,
            [(KernelRange.Before(6, 12), true)],
            p => p.RecvMultishotKeepsLength,
            (p, v) => p with { RecvMultishotKeepsLength = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.RecvMultishotRetriesAlways),
            "a multishot RECV receives again at once after each CQE, whatever the socket says it holds; later kernels only while it holds more or cannot say (32 times in a row at most), else they wait",
            "one buffer, 8 bytes queued on an AF_UNIX pair, a multishot RECV: -ENOBUFS after its first CQE where the socket reports what it holds",
            "read in io_uring/net.c: 6.1's io_recv goes back to retry_multishot unconditionally; 6.12's io_recv_finish looks at msg_inq (the check came with 6.8, merge log)",
            false,
            [(KernelRange.Before(6, 8), true)],
            p => p.RecvMultishotRetriesAlways,
            (p, v) => p with { RecvMultishotRetriesAlways = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.BundleTakesTheBufferItsLengthEndsIn),
            "a RECV bundle whose length runs out in the ring's last buffer finds the ring empty, so it does not go back for what the socket still holds (and a multishot one ends); later kernels find it empty only when every buffer was mapped before the length ran out",
            "a bundle of 16 bytes from two 8-byte buffers, 40 bytes queued on a TCP pair, a NOP linked after it: the NOP runs (0), or the bundle's second selection finds no buffer and fails the link (-ECANCELED)",
            "read in io_uring/kbuf.c: 6.12's io_ring_buffers_peek moves its head past the buffer the length ends in, 7.2's and 7.3's do not; measured on the host (6.18) as 7.2 (the kernels between 6.12 and 6.18 are taken as 6.12)",
            false,
            [(KernelRange.Before(6, 18), true)],
            p => p.BundleTakesTheBufferItsLengthEndsIn,
            (p, v) => p with { BundleTakesTheBufferItsLengthEndsIn = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.SendBundleNeedsBuffers),
            "a SEND with IORING_RECVSEND_BUNDLE but without provided buffers is refused at prep; later kernels send the buffer with MSG_WAITALL, post what they sent with IORING_CQE_F_MORE and end with a CQE of 0",
            "a SEND bundle of one byte on an AF_UNIX pair, no IOSQE_BUFFER_SELECT: -EINVAL, or 1 with F_MORE then 0",
            "read in io_uring/net.c: 6.12's io_sendmsg_prep requires REQ_F_BUFFER_SELECT for a bundle, 7.2's and 7.3's do not; measured on the host (6.18) as 7.2 (the kernels between 6.12 and 6.18 are taken as 6.12; kernels without bundles refuse the flag)",
            false,
            [(KernelRange.Before(6, 18), true)],
            p => p.SendBundleNeedsBuffers,
            (p, v) => p with { SendBundleNeedsBuffers = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.EventfdSkipKeepsTail),
            "a commit that signals no registered eventfd (IORING_CQ_EVENTFD_DISABLED, or _ASYNC outside io-wq) leaves the tail the next signal measures from, so a later commit without a new CQE signals; 6.1 and 6.12 move it anyway",
            "an eventfd registered, a NOP posted while disabled, then, enabled, a NOP with IOSQE_CQE_SKIP_SUCCESS: the eventfd's count (1, or 0)",
            "read in io_uring/eventfd.c: 6.12's io_eventfd_flush_signal records the tail before io_eventfd_signal looks at the flag; 7.2's io_eventfd_signal checks the flag and io_eventfd_trigger first (the eventfd clean-up series merged for 6.13)",
            true,
            [(KernelRange.Before(6, 13), false)],
            p => p.EventfdSkipKeepsTail,
            (p, v) => p with { EventfdSkipKeepsTail = v }),
        new KernelBehaviour<bool>(
            nameof(KernelProfile.NopLookupFailurePostsZero),
            "a NOP whose IORING_NOP_FILE or FIXED_BUFFER lookup fails breaks its links but posts 0, not the errno (kernels before the 2026 fix of that error path)",
            "a NOP with IORING_NOP_FILE on fd -1",
            "the 2026 fix of the lookup error path; 7.2 and 7.3-rc have it, 6.1 and 6.12 lack the flags",
            false,
            [],
            p => p.NopLookupFailurePostsZero,
            (p, v) => p with { NopLookupFailurePostsZero = v }),
    ];

    /// <summary>
    /// The profile of the kernel whose snapshot this is: what it knows (opcodes, setup, feature, SQE, NOP
    /// and enter flags, register opcodes, query) read from its own header as the compiler saw it, how it
    /// behaves from <see cref="Table"/> by its version.
    /// <para>
    /// <paramref name="target"/> is the process ABI the profile is for (a triple of
    /// <see cref="AbiSnapshot.Targets"/>; null: the snapshot's first, x86_64). Macro values and the size of
    /// io_uring_query_opcode are per target in a snapshot; a 32-bit process on a 64-bit kernel
    /// (i686-linux-gnu) is held to what its own compiler saw, and its profile is a compat process's
    /// (<see cref="KernelProfile.CompatProcess"/>: the kernel applies a 32-bit process's rules to its
    /// iovecs). The proposed IORING_OP_MMAP's layout is not taken from it: the engine reads that
    /// descriptor from its own memory, so it stays the layout of the process the engine runs in.
    /// </para>
    /// </summary>
    public static KernelProfile FromSnapshot(AbiSnapshot snapshot, string? target = null)
    {
        var index = target is null ? 0 : snapshot.Targets.ToList().IndexOf(target);
        if (index < 0)
        {
            throw new InvalidDataException($"{snapshot.Kernel}: the ABI snapshot has no target {target} (it has {string.Join(", ", snapshot.Targets)})");
        }

        var macros = snapshot.Macros.ToDictionary(m => m.Name, m => m.Value[index]);
        var enumerators = snapshot.Enums.SelectMany(e => e.Enumerators).GroupBy(e => e.Name).ToDictionary(g => g.Key, g => g.First().Value);
        uint Or(string prefix) => (uint)macros.Where(m => m.Key.StartsWith(prefix, StringComparison.Ordinal)).Aggregate(BigInteger.Zero, (a, m) => a | m.Value);
        uint Value(string name) => enumerators.TryGetValue(name, out var v) ? (uint)v : macros.TryGetValue(name, out var m) ? (uint)m : 0;

        var opLast = Value("IORING_OP_LAST");
        var sqeFlags = enumerators.Where(e => e.Key.StartsWith("IOSQE_", StringComparison.Ordinal) && e.Key.EndsWith("_BIT", StringComparison.Ordinal))
            .Aggregate(0u, (a, e) => a | (1u << (int)e.Value));
        var hasQuery = enumerators.ContainsKey("IORING_REGISTER_QUERY");
        var queryOps = hasQuery ? (uint)snapshot.Enums.Where(e => e.Enumerators.Any(x => x.Name == "IO_URING_QUERY_OPCODES")).SelectMany(e => e.Enumerators).Count(x => !x.Name.StartsWith("__", StringComparison.Ordinal)) : 0;
        var queryRecord = snapshot.Records.FirstOrDefault(r => r.Name == "io_uring_query_opcode");
        var supported = opLast >= 128 ? UInt128.MaxValue : (UInt128.One << (int)opLast) - 1;
        var setup = Or("IORING_SETUP_");
        // A NOP accepts exactly the IORING_NOP_* flags its header defines: before 6.10 there are none, and
        // any non-zero nop_flags is refused.
        var profile = new KernelProfile(
            index == 0 ? $"{snapshot.Kernel} (snapshot)" : $"{snapshot.Kernel} (snapshot, {snapshot.Targets[index]})",
            setup,
            setup,
            Or("IORING_FEAT_"),
            opLast,
            sqeFlags,
            Or("IORING_NOP_"),
            Or("IORING_ENTER_"),
            Value("IORING_REGISTER_LAST"),
            hasQuery,
            RingHeaderLayout.Packed,
            supported,
            queryOps,
            queryRecord is null ? 0 : (uint)queryRecord.Size[index],
            false,
            false,
            MmapLayout.FromSnapshot(snapshot))
        {
            HasMemRegion = enumerators.ContainsKey("IORING_REGISTER_MEM_REGION"),
            CompatProcess = CTarget.All.FirstOrDefault(t => t.Triple == snapshot.Targets[index]) is { Ilp32: true },

            // TIMEOUT takes the IORING_TIMEOUT_* bits its header defines, less the two that only
            // TIMEOUT_REMOVE takes.
            TimeoutFlags = Or("IORING_TIMEOUT_") & ~(uint)(Bindings.IoUringTimeoutFlags.IORING_TIMEOUT_UPDATE | Bindings.IoUringTimeoutFlags.IORING_LINK_TIMEOUT_UPDATE),
            CancelFlags = Or("IORING_ASYNC_CANCEL_"),
            MsgRingFlags = Or("IORING_MSG_RING_"),
            SendZcFlags = Value("IORING_RECVSEND_POLL_FIRST") | Value("IORING_RECVSEND_FIXED_BUF") | Value("IORING_SEND_ZC_REPORT_USAGE") | Value("IORING_SEND_VECTORIZED"),
            BufferRingFlags = Value("IOU_PBUF_RING_MMAP") | Value("IOU_PBUF_RING_INC"),
            BufferRingMinLeft = snapshot.Records.FirstOrDefault(r => r.Name == "io_uring_buf_reg") is { } bufReg && bufReg.Fields.Any(f => f.Name == "min_left"),
            SyncCancelTakesOpcode = snapshot.Records.FirstOrDefault(r => r.Name == "io_uring_sync_cancel_reg") is { } syncCancel && syncCancel.Fields.Any(f => f.Name == "opcode"),
        };

        var version = KernelVersion.Parse(snapshot.Kernel);
        return Table.Aggregate(profile, (p, behaviour) => behaviour.Apply(p, version));
    }

    /// <summary>Every behaviour where <paramref name="probed"/> differs from the table's value for <paramref name="version"/>.</summary>
    public static IEnumerable<(IKernelBehaviour Behaviour, string Table, string Probed)> Disagreements(KernelProfile probed, KernelVersion version) =>
        Table.Select(b => (Behaviour: b, Table: b.ValueFor(version), Probed: b.ValueOf(probed))).Where(x => x.Table != x.Probed);
}
