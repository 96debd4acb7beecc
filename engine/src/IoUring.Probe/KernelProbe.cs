using System.Diagnostics;
using IoUring.Bindings;
using IoUring.Engine;
using IoUring.Ring;

namespace IoUring.Probe;

/// <summary>
/// Asks a live kernel for its <see cref="KernelProfile"/>: never by its version, always by what it does.
/// It runs only against a kernel (in the conformance agent, on the host under the supervisor or inside
/// a VM); the recorded profiles of the trace corpus, held to the kernel-behaviour table, check it.
/// </summary>
public static class KernelProbe
{
    /// <summary>
    /// Probes a live kernel: what it supports (<see cref="KernelFeatures"/>: setup flags, feature mask,
    /// opcodes, register opcodes, SQE and enter flags), each NOP flag bit, how a failed NOP file lookup is
    /// reported, and every behaviour of the kernel-behaviour table.
    /// </summary>
    public static unsafe KernelProfile Probe(IRingBackend live)
    {
        var features = KernelFeatures.Probe(live);
        var setup = features.SetupFlags;
        var plain = default(io_uring_params);
        var fd = live.Setup(4, &plain);
        if (fd < 0)
        {
            throw new InvalidOperationException($"io_uring_setup failed on the live kernel ({fd}); is io_uring disabled (sysctl kernel.io_uring_disabled)?");
        }

        try
        {
            var nopFlags = AcceptedBits(bit => NopResult(live, bit, 0));

            var lookupPostsZero = (nopFlags & (uint)IoUringNopFlags.IORING_NOP_FILE) != 0 && NopResult(live, (uint)IoUringNopFlags.IORING_NOP_FILE, -1) == 0;
            var kernel = LiveKernel.Release;
            // Register opcodes are run by asking, so only one that fails harmlessly is asked: a kernel that
            // knows MEM_REGION faults copying its descriptor from an unmapped page, one that does not
            // refuses the opcode (a null argument would be -EINVAL on both).
            var hasMemRegion = live.Register(fd, (uint)io_uring_register_op.IORING_REGISTER_MEM_REGION, (void*)0x1000, 1) != -Errno.EINVAL;
            var taskWork = ProbeTaskWork(live);
            var buffersCopiedByIoUring = ProbeBufferIovecsCopiedByIoUring(live, fd);
            var unixStreamInq = ProbeUnixStreamInq(live);
            var zeroCopyMsgTakesFixedBuffer = ProbeZeroCopyMsgTakesFixedBuffer(live);
            var msgRingFlags = AcceptedBits(bit => OneSqe(live, null, sqe =>
            {
                sqe->opcode = (byte)io_uring_op.IORING_OP_MSG_RING;
                sqe->fd = -1;
                sqe->msg_ring_flags = bit;
            }));
            return new KernelProfile($"live {kernel} (probed)", setup, features.KnownSetupFlags, features.Features, features.OpcodeCount, features.SqeFlags, nopFlags, features.EnterFlags, features.RegisterOpcodeCount, features.HasQuery, RingHeaderOf(plain), features.SupportedOpcodes, features.QueryOpcodeCount, features.QuerySize, (setup & (uint)IoUringSetupFlags.IORING_SETUP_CQE_MIXED) != 0 && ProbeMixedOverflowLoss(live), lookupPostsZero)
            {
                RwImport = ProbeRwImport(live),
                FixedBuffers = ProbeFixedBuffers(live),
                HasMemRegion = hasMemRegion,
                RegisterRestrictedOnlyWhenListed = (setup & (uint)IoUringSetupFlags.IORING_SETUP_R_DISABLED) != 0 && ProbeRestriction(live, register: true),
                SqeRestrictedOnlyWhenListed = (setup & (uint)IoUringSetupFlags.IORING_SETUP_R_DISABLED) != 0 && ProbeRestriction(live, register: false),
                QueryAnswers = features.HasQuery ? QueryAnswersOf(live, features.QueryOpcodeCount) : null,
                DrainBySequence = ProbeDrainBySequence(live),
                FailuresPostAtOnce = ProbeFailuresPostAtOnce(live),
                TaskWorkNewestFirst = taskWork.Lifo,
                TaskSubmitIssuesInline = taskWork.AsyncInline,
                FaultingWriteExtendsFile = ProbeFaultingWriteExtendsFile(live),
                ShmemNowait = ProbeShmemNowait(live),
                ShmemReadsInline = ProbeShmemReadsInline(live),
                MixedOverflowWaitSpins = (setup & (uint)IoUringSetupFlags.IORING_SETUP_CQE_MIXED) != 0 && ProbeMixedOverflowWaitSpins(live),
                BufferIovecsCopiedByIoUring = buffersCopiedByIoUring,
                TimeoutFlags = ProbeTimeoutFlags(live),
                CancelFlags = ProbeCancelFlags(live),
                MsgRingFlags = msgRingFlags,
                TimeoutCancelByUserDataOnly = ProbeTimeoutCancelByUserDataOnly(live),
                MultishotCqFull = ProbeMultishotCqFull(live),
                MultishotCqeJumpsBatch = ProbeMultishotCqeJumpsBatch(live, taskWork.Lifo),
                PollRemoveCompletesInline = ProbePollRemoveCompletesInline(live),
                PollUpdateLosesInlineCompletion = ProbePollUpdateLosesInlineCompletion(live),
                PipeNowait = ProbePipeNowait(live),
                NetImport = ProbeNetImport(live),
                UnixStreamInq = unixStreamInq,
                MsgTooManyVectorsIsEmsgsize = ProbeMsgTooManyVectors(live),
                RecvChecksSocketFirst = WithMemfd(fd => ProbeChecksSocketFirst(live, fd, io_uring_op.IORING_OP_RECV)),
                SendChecksSocketFirst = WithMemfd(fd => ProbeChecksSocketFirst(live, fd, io_uring_op.IORING_OP_SEND)),
                SyncCancelTakesOpcode = ProbeSyncCancelTakesOpcode(live, fd),
                AcceptFlags = ProbeAcceptFlags(live),
                AcceptNonEmpty = ProbeAcceptNonEmpty(live),
                InstallOverSlotMovesAllocHint = ProbeInstallOverSlotMovesAllocHint(live),
                AdviseLength64 = ProbeFadvise(live, 0, 4096) == 0,
                FadviseRefusesNegativeOffset = ProbeFadvise(live, ulong.MaxValue, 0) == -Errno.EINVAL,
                FallocateModes = ProbeFallocateModes(live),
                SocketNowait = ProbeSocketNowait(live),
                UnlinkRefusesAddr3 = ProbeUnlinkAddr3(live) == -Errno.EINVAL,
                XattrTakesFixedFile = ProbeOne(live, sqe =>
                {
                    sqe->opcode = (byte)io_uring_op.IORING_OP_FGETXATTR;
                    sqe->flags = (byte)IoUringSqeFlags.IOSQE_FIXED_FILE;
                }) != -Errno.EBADF,
                UringCmdMultishot = WithMemfd(memfd => ProbeOne(live, sqe =>
                {
                    sqe->opcode = (byte)io_uring_op.IORING_OP_URING_CMD;
                    sqe->fd = memfd;
                    sqe->uring_cmd_flags = Constants.IORING_URING_CMD_FIXED;
                    sqe->buf_index = 5;
                }) != -Errno.EFAULT),
                SocketCommands = ProbeSocketCommands(live),
                LegacyBufferRecycledWhileWaiting = ProbeLegacyBufferRecycled(live),
                BufferGroupArray = ProbeBufferGroupArray(live),
                MsgRingSendFdChecksTarget = ProbeMsgRingSendFdChecksTarget(live),
                SendZcFlags = AcceptedBits(bit => OneSqe(live, null, sqe => ZeroCopySend(sqe, io_uring_op.IORING_OP_SEND_ZC, (ushort)bit))),
                ZeroCopyFlagsBeforeNotification = !ProbeZeroCopyNotifies(live),
                ZeroCopyNotificationUserData = OneSqe(live, null, sqe =>
                {
                    ZeroCopySend(sqe, io_uring_op.IORING_OP_SEND_ZC, 0);
                    sqe->addr3 = 5;
                }) != -Errno.EINVAL,
                ZeroCopyMsgTakesFixedBuffer = zeroCopyMsgTakesFixedBuffer,

                // Where the flag is refused, a buffer index past the table is -EFAULT at prep instead.
                ZeroCopyMsgImportsFixedBufferFirst = zeroCopyMsgTakesFixedBuffer && ProbeZeroCopyMsgImportsFixedBufferFirst(live),
                Futex2Flags = 0x83 | (ProbeFutexWake(live, 0x06) != -Errno.EINVAL ? 0x04u : 0) | (ProbeFutexWake(live, 0x0a) != -Errno.EINVAL ? 0x08u : 0),
                FutexCancelByUserDataOnly = ProbeFutexCancelByUserDataOnly(live),
                BufferRingFlags = AcceptedBits(bit => ProbeRegisterBufferRing(live, 0, 1, (ushort)(bit | (uint)io_uring_register_pbuf_ring_flags.IOU_PBUF_RING_MMAP), 0)),
                BufferRingMinLeft = ProbeRegisterBufferRing(live, 0, 1, (ushort)(io_uring_register_pbuf_ring_flags.IOU_PBUF_RING_MMAP | io_uring_register_pbuf_ring_flags.IOU_PBUF_RING_INC), 1) == 0,
                BufferRingChecksAddressFirst = ProbeRegisterBufferRing(live, 0, 3, 0, 0) == -Errno.EFAULT,
                RecvMultishotLength = WithMemfd(memfd => ProbeOne(live, sqe =>
                {
                    sqe->opcode = (byte)io_uring_op.IORING_OP_RECV;
                    sqe->fd = memfd;
                    sqe->flags = (byte)IoUringSqeFlags.IOSQE_BUFFER_SELECT;
                    sqe->ioprio = (ushort)Constants.IORING_RECV_MULTISHOT;
                    sqe->len = 1;
                    sqe->buf_group = 1;
                }) != -Errno.EINVAL),
                RecvMultishotKeepsLength = ProbeRecvMultishotKeepsLength(live),
                RecvMultishotRetriesAlways = ProbeRecvMultishotRetries(live),
                BundleTakesTheBufferItsLengthEndsIn = ProbeBundleTakesTheBufferItsLengthEndsIn(live),
                SendBundleNeedsBuffers = ProbeSendBundleNeedsBuffers(live),
                EventfdSkipKeepsTail = ProbeEventfdSkipKeepsTail(live),
                MsgRingRefusesBigCqeFlag = (msgRingFlags & Constants.IORING_MSG_RING_FLAGS_PASS) != 0 && ProbeMessageToPlainRing(live, Constants.IORING_MSG_RING_FLAGS_PASS, Constants.IORING_CQE_F_32) == -Errno.EINVAL,
            };
        }
        finally
        {
            live.Close(fd);
        }
    }

    /// <summary>
    /// IORING_REGISTER_BUFFERS of one iovec 2^63 bytes long (over a real page, so the base is not what is
    /// refused) on a ring with no buffers: where io_uring copies the iovec itself its 1 GiB limit refuses
    /// it (-EFAULT); the kernel's generic iovec import refuses it first, its length negative as a
    /// ssize_t (-EINVAL). A 32-bit process meets the same import at 2 GiB, which a 64-bit one cannot
    /// show. Either way nothing is pinned or registered.
    /// </summary>
    private static unsafe bool ProbeBufferIovecsCopiedByIoUring(IRingBackend live, int ringFd)
    {
        var page = stackalloc byte[64];
        var iov = new Posix.IoVec { Base = (nint)page, Length = (nuint)1 << 63 };
        return live.Register(ringFd, (uint)io_uring_register_op.IORING_REGISTER_BUFFERS, &iov, 1) == -Errno.EFAULT;
    }

    /// <summary>
    /// Reproduces the lost-CQE case: on a two-slot CQE_MIXED ring one NOP fills slot 0; a 32-byte NOP
    /// then needs the filler in slot 1 and waits in the overflow list; once the filler is consumed,
    /// a NOP queued behind it and the flush must place it in slots 0-1 with its user_data.
    /// </summary>
    private static unsafe bool ProbeMixedOverflowLoss(IRingBackend live)
    {
        if (IoUring.Ring.Ring.Create(live, 1, new io_uring_params { flags = (uint)IoUringSetupFlags.IORING_SETUP_CQE_MIXED }, out var ring) < 0)
        {
            return false;
        }

        using (ring)
        {
            Prep.Nop(ring!.GetSqe(), 1);
            ring.Submit(1);
            ring.CqAdvance(1);
            Prep.Nop(ring.GetSqe(), 2, (uint)IoUringNopFlags.IORING_NOP_CQE32);
            ring.Submit(0, (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS);
            while (ring.TryNextCqe(out _, out var slots))
            {
                ring.CqAdvance(slots);
            }

            // A third NOP joins the overflow list behind it; the enter's GETEVENTS flushes both.
            Prep.Nop(ring.GetSqe(), 3);
            ring.Submit(0, (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS);
            return ring.TryNextCqe(out var cqe, out _) && cqe->user_data != 2;
        }
    }

    /// <summary>
    /// Reproduces the waiting livelock on a helper thread: on a two-slot CQE_MIXED ring one CQE waits in
    /// slot 1 (slot 0 is free), so a 32-byte CQE, which needs two contiguous slots, goes to the overflow
    /// list; the helper then waits for two CQEs with a 20 ms timeout. A sound kernel sleeps and returns
    /// -ETIME; one with the bug spins in the kernel past any timeout. After 300 ms this thread frees it by
    /// consuming the CQ in the shared ring (the head moved to the tail), which lets the overflow flush and
    /// the wait end.
    /// </summary>
    private static unsafe bool ProbeMixedOverflowWaitSpins(IRingBackend live)
    {
        if (IoUring.Ring.Ring.Create(live, 1, new io_uring_params { flags = (uint)IoUringSetupFlags.IORING_SETUP_CQE_MIXED }, out var ring) < 0)
        {
            return false;
        }

        using (ring)
        {
            if (!TrapBigCqeInOverflow(ring!))
            {
                return false;
            }

            var waiter = new Thread(() => WaitWithTimeout(live, ring!, 2, 20_000_000)) { IsBackground = true, Name = "livelock probe" };
            waiter.Start();
            if (waiter.Join(300))
            {
                return false;
            }

            var freeing = Stopwatch.StartNew();
            while (!waiter.Join(1))
            {
                ring!.CqAdvance(ring.CqTail - ring.CqHead);
                if (freeing.Elapsed > TimeSpan.FromSeconds(10))
                {
                    throw new InvalidOperationException("the livelock probe's waiting thread could not be freed by consuming its CQ");
                }
            }

            return true;
        }
    }

    /// <summary>
    /// Leaves a two-slot CQE_MIXED ring with one CQE ready in slot 1, slot 0 free, and a 32-byte NOP's CQE
    /// in the overflow list (it needs two contiguous slots): the state in which a wait for two CQEs spins
    /// on kernels with <see cref="MixedOverflowWaitSpins"/>. False when the ring did not get there.
    /// </summary>
    public static unsafe bool TrapBigCqeInOverflow(IoUring.Ring.Ring ring)
    {
        Prep.Nop(ring.GetSqe(), 1);
        ring.Submit(1);
        ring.CqAdvance(1);
        Prep.Nop(ring.GetSqe(), 2);
        ring.Submit(1);
        Prep.Nop(ring.GetSqe(), 3, (uint)IoUringNopFlags.IORING_NOP_CQE32);
        ring.Submit(1);
        return ring.CqReady == 1 && (ring.SqFlags & (uint)IoUringSqRingFlags.IORING_SQ_CQ_OVERFLOW) != 0;
    }

    /// <summary>An enter that waits for <paramref name="count"/> CQEs for at most <paramref name="nanoseconds"/>.</summary>
    public static unsafe int WaitWithTimeout(IRingBackend live, IoUring.Ring.Ring ring, uint count, long nanoseconds)
    {
        var ts = new __kernel_timespec { tv_sec = nanoseconds / 1_000_000_000, tv_nsec = nanoseconds % 1_000_000_000 };
        var arg = new io_uring_getevents_arg { ts = (ulong)&ts };
        return live.Enter(ring.Fd, 0, count, (uint)(IoUringEnterFlags.IORING_ENTER_GETEVENTS | IoUringEnterFlags.IORING_ENTER_EXT_ARG), &arg, (nuint)sizeof(io_uring_getevents_arg));
    }

    /// <summary>
    /// Restricts a ring to one opcode of the other kind (an SQE opcode when asking about register
    /// opcodes, and the reverse), enables it, and tries the kind asked about: allowed means that kind
    /// is only limited by restrictions that name it.
    /// </summary>
    private static unsafe bool ProbeRestriction(IRingBackend live, bool register)
    {
        var kind = register ? io_uring_register_restriction_op.IORING_RESTRICTION_SQE_OP : io_uring_register_restriction_op.IORING_RESTRICTION_REGISTER_OP;
        var value = register ? (byte)io_uring_op.IORING_OP_NOP : (byte)io_uring_register_op.IORING_REGISTER_PROBE;
        var rc = KernelFeatures.RestrictedRing(live, kind, value, out var ring);
        using (ring)
        {
            if (rc < 0 || ring!.EnableRings() < 0)
            {
                return false;
            }

            if (register)
            {
                var probe = stackalloc byte[16];
                new Span<byte>(probe, 16).Clear();
                return ring.RegisterProbe((io_uring_probe*)probe, 0) != -Errno.EACCES;
            }

            Prep.Nop(ring.GetSqe(), 1);
            ring.Submit(1);
            return ring.TryPeekCqe(out var cqe) && cqe->res != -Errno.EACCES;
        }
    }

    /// <summary>What each query opcode after the first answers (the zero-copy receive and ring-header descriptions are the kernel's own numbers).</summary>
    private static unsafe string[] QueryAnswersOf(IRingBackend live, uint ops)
    {
        var answers = new string[ops];
        answers[0] = string.Empty;
        var data = stackalloc byte[256];
        for (var op = 1u; op < ops; op++)
        {
            var (rc, result, size) = KernelFeatures.Ask(live, op, data, 256);
            answers[op] = rc != 0 ? $"{rc}:" : $"{result}:{Convert.ToHexString(new ReadOnlySpan<byte>(data, (int)Math.Min(size, 256u)))}";
        }

        return answers;
    }

    /// <summary>Waits at most 50 ms for <paramref name="count"/> CQEs: long enough for NOPs, short enough to probe a hang.</summary>
    private static void WaitBriefly(IRingBackend live, IoUring.Ring.Ring ring, uint count) => WaitWithTimeout(live, ring, count, 50_000_000);

    /// <summary>
    /// A NOP and an unknown opcode in one submission: a kernel that batches failures posts the NOP's
    /// CQE first (SQE order); one that posts failures at once posts the unknown opcode's first.
    /// </summary>
    private static unsafe bool ProbeFailuresPostAtOnce(IRingBackend live)
    {
        if (IoUring.Ring.Ring.Create(live, 4, default, out var ring) < 0)
        {
            return false;
        }

        using (ring)
        {
            Prep.Nop(ring!.GetSqe(), 1);
            var bad = ring.GetSqe();
            Prep.Nop(bad, 2);
            bad->opcode = 255;
            ring.Submit();
            return ring.TryPeekCqe(out var cqe) && cqe->user_data == 2;
        }
    }

    /// <summary>A READ of a memfd with RWF_NOWAIT: refused (-EOPNOTSUPP) unless shmem has FMODE_NOWAIT.</summary>
    private static unsafe bool ProbeShmemNowait(IRingBackend live) =>
        WithMemfd(fd =>
        {
            var buffer = stackalloc byte[16];
            var b = (ulong)buffer;
            return OneSqe(live, null, sqe =>
            {
                sqe->opcode = (byte)io_uring_op.IORING_OP_READ;
                sqe->fd = fd;
                sqe->addr = b;
                sqe->len = 16;
                sqe->rw_flags = 8; // RWF_NOWAIT
            }) != -Errno.EOPNOTSUPP;
        });

    /// <summary>
    /// [READ of a memfd, NOP] in one submission, five times: a READ done inline is posted in the batch,
    /// before the NOP, every time; one sent to io-wq is posted after the NOP's batch (at least once in
    /// five: the worker seldom finishes before the submitter's loop ends).
    /// </summary>
    private static unsafe bool ProbeShmemReadsInline(IRingBackend live) =>
        WithMemfd(fd =>
        {
            var buffer = stackalloc byte[16];
            for (var attempt = 0; attempt < 5; attempt++)
            {
                if (IoUring.Ring.Ring.Create(live, 4, default, out var ring) < 0)
                {
                    return false;
                }

                using (ring)
                {
                    var read = ring!.GetSqe();
                    Prep.Read(read, fd, buffer, 16, 0, 1);
                    Prep.Nop(ring.GetSqe(), 2);
                    ring.Submit();
                    WaitBriefly(live, ring, 2);
                    if (!ring.TryPeekCqe(out var first) || first->user_data != 1)
                    {
                        return false;
                    }
                }
            }

            return true;
        });

    /// <summary>Runs a probe on a fresh empty pipe (its read end, its write end), closed after.</summary>
    private static T WithPipe<T>(Func<int, int, T> probe)
    {
        var (read, write) = Posix.Pipe();
        try
        {
            return probe(read, write);
        }
        finally
        {
            Posix.Close(read);
            Posix.Close(write);
        }
    }

    private static bool WithMemfd(Func<int, bool> probe)
    {
        var fd = Posix.memfd_create("io_uring-probe", 0);
        if (fd < 0)
        {
            return false;
        }

        try
        {
            return probe(fd);
        }
        finally
        {
            Posix.Close(fd);
        }
    }

    /// <summary>
    /// A WRITE of 512 bytes from an unmapped address at offset 20000 of an empty memfd: -EFAULT on every
    /// kernel; whether the file is 20000 bytes long afterwards is the question.
    /// </summary>
    private static unsafe bool ProbeFaultingWriteExtendsFile(IRingBackend live) =>
        WithMemfd(fd => OneSqe(live, null, sqe =>
        {
            sqe->opcode = (byte)io_uring_op.IORING_OP_WRITE;
            sqe->fd = fd;
            sqe->addr = 0x1000;
            sqe->len = 512;
            sqe->off = 20000;
        }) == -Errno.EFAULT && Posix.Size(fd) == 20000);

    /// <summary>
    /// Three chains, [NOP 1, NOP 2 with IOSQE_ASYNC], [NOP 3, NOP 4], [NOP 5, NOP 6], in one submission:
    /// the heads complete in the batch (1, 3, 5) and the successors are issued from task work. The
    /// order of the rest tells two things: 6 before 4 means task work runs newest first; 2 in the same
    /// batch as 4 and 6, last, means a successor marked async is issued inline (a kernel that sends it
    /// to io-wq posts it whenever the worker is done). Waits up to 50 ms for all six.
    /// </summary>
    private static unsafe (bool Lifo, bool AsyncInline) ProbeTaskWork(IRingBackend live)
    {
        if (IoUring.Ring.Ring.Create(live, 8, default, out var ring) < 0)
        {
            return (false, false);
        }

        using (ring)
        {
            for (var ud = 1u; ud <= 6; ud++)
            {
                var sqe = ring!.GetSqe();
                Prep.Nop(sqe, ud);
                sqe->flags = ud switch
                {
                    1 or 3 or 5 => (byte)IoUringSqeFlags.IOSQE_IO_LINK,
                    2 => (byte)IoUringSqeFlags.IOSQE_ASYNC,
                    _ => 0,
                };
            }

            ring!.Submit();
            WaitBriefly(live, ring, 6);
            var order = new List<ulong>();
            while (ring.TryNextCqe(out var cqe, out var slots))
            {
                order.Add(cqe->user_data);
                ring.CqAdvance(slots);
            }

            return (order.IndexOf(6) < order.IndexOf(4), order.SequenceEqual<ulong>([1, 3, 5, 6, 4, 2]));
        }
    }

    /// <summary>
    /// A chain of an unknown opcode with IO_LINK and CQE_SKIP_SUCCESS and two NOPs (the head fails at
    /// preparation, the followers are cancelled with their CQEs suppressed), then a NOP with IO_DRAIN:
    /// up to 50 ms for its CQE. A kernel that drains by sequence counts the suppressed CQEs and never
    /// posts it; one that counts requests in flight does.
    /// </summary>
    private static unsafe bool ProbeDrainBySequence(IRingBackend live)
    {
        if (IoUring.Ring.Ring.Create(live, 8, default, out var ring) < 0)
        {
            return false;
        }

        using (ring)
        {
            var head = ring!.GetSqe();
            Prep.Nop(head, 1);
            head->opcode = 255;
            head->flags = (byte)(IoUringSqeFlags.IOSQE_IO_LINK | IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS);
            var follower = ring.GetSqe();
            Prep.Nop(follower, 2);
            follower->flags = (byte)IoUringSqeFlags.IOSQE_IO_LINK;
            Prep.Nop(ring.GetSqe(), 3);
            ring.Submit(0, (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS);
            while (ring.TryNextCqe(out _, out var slots))
            {
                ring.CqAdvance(slots);
            }

            var drain = ring.GetSqe();
            Prep.Nop(drain, 4);
            drain->flags = (byte)IoUringSqeFlags.IOSQE_IO_DRAIN;
            ring.Submit();
            WaitBriefly(live, ring, 1);
            return ring.CqReady == 0;
        }
    }

    /// <summary>
    /// A READV of 1025 vectors (past UIO_MAXIOV) on descriptor -1: a kernel that imports at preparation
    /// refuses the count (-EINVAL), one that imports at issue finds no file first (-EBADF).
    /// </summary>
    private static unsafe RwImportStage ProbeRwImport(IRingBackend live)
    {
        var iov = stackalloc Posix.IoVec[1];
        var res = OneSqe(live, null, sqe =>
        {
            sqe->opcode = (byte)io_uring_op.IORING_OP_READV;
            sqe->fd = -1;
            sqe->addr = (ulong)iov;
            sqe->len = 1025;
        });
        return res == -Errno.EBADF ? RwImportStage.Issue : RwImportStage.Prep;
    }

    /// <summary>
    /// READ_FIXED on descriptor -1: with no buffers registered, -EBADF means the buffer is found at issue
    /// (after the file); -EFAULT at preparation. Then, with one buffer registered and a range outside it,
    /// -EFAULT means the range is checked at preparation too, -EBADF only the index is.
    /// </summary>
    private static unsafe FixedBufferStage ProbeFixedBuffers(IRingBackend live)
    {
        var buffer = stackalloc byte[4096];
        void Sqe(io_uring_sqe* sqe)
        {
            sqe->opcode = (byte)io_uring_op.IORING_OP_READ_FIXED;
            sqe->fd = -1;
            sqe->addr = (ulong)(buffer + 8192);
            sqe->len = 16;
        }

        if (OneSqe(live, null, Sqe) == -Errno.EBADF)
        {
            return FixedBufferStage.Issue;
        }

        var iov = stackalloc Posix.IoVec[1];
        iov[0] = new Posix.IoVec { Base = (nint)buffer, Length = 4096 };
        return OneSqe(live, ring => ring.RegisterBuffers(iov, 1), Sqe) == -Errno.EFAULT ? FixedBufferStage.Prep : FixedBufferStage.LookupAtPrep;
    }

    /// <summary>The result of one SQE on a fresh ring, after an optional registration (setup's error, or int.MinValue when no CQE came).</summary>
    private static unsafe int OneSqe(IRingBackend live, Func<IoUring.Ring.Ring, int>? register, SqeFiller fill, uint setupFlags = 0)
    {
        var rc = IoUring.Ring.Ring.Create(live, 4, new io_uring_params { flags = setupFlags }, out var ring);
        if (rc < 0)
        {
            return rc;
        }

        using (ring)
        {
            if (register is not null && register(ring!) < 0)
            {
                return int.MinValue;
            }

            fill(ring!.GetSqe());
            ring.Submit(1);
            return ring.TryPeekCqe(out var cqe) ? cqe->res : int.MinValue;
        }
    }

    private unsafe delegate void SqeFiller(io_uring_sqe* sqe);

    /// <summary>
    /// A TIMEOUT that never fires (user_data 1), then an ASYNC_CANCEL keyed on the TIMEOUT opcode naming
    /// user_data 2: a kernel that searches timeouts by user_data alone finds nothing (-ENOENT); one that
    /// matches the whole key cancels it (0).
    /// </summary>
    private static unsafe bool ProbeTimeoutCancelByUserDataOnly(IRingBackend live)
    {
        var rc = IoUring.Ring.Ring.Create(live, 4, default, out var ring);
        if (rc < 0)
        {
            return false;
        }

        using (ring)
        {
            var ts = new __kernel_timespec { tv_sec = 1L << 34 };
            var sqe = ring!.GetSqe();
            sqe->opcode = (byte)io_uring_op.IORING_OP_TIMEOUT;
            sqe->fd = -1;
            sqe->addr = (ulong)&ts;
            sqe->len = 1;
            sqe->user_data = 1;
            sqe = ring.GetSqe();
            sqe->opcode = (byte)io_uring_op.IORING_OP_ASYNC_CANCEL;
            sqe->fd = -1;
            sqe->addr = 2;
            sqe->len = (uint)io_uring_op.IORING_OP_TIMEOUT;
            sqe->cancel_flags = (uint)IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_OP;
            sqe->user_data = 3;
            ring.Submit(1);
            while (ring.TryNextCqe(out var cqe, out var slots))
            {
                var (userData, res) = (cqe->user_data, cqe->res);
                ring.CqAdvance(slots);
                if (userData == 3)
                {
                    return res == -Errno.ENOENT;
                }
            }

            return false;
        }
    }

    /// <summary>
    /// A multishot POLL_ADD on an eventfd, on a ring whose CQ has two slots, woken four times (each write
    /// followed by an enter, so its task work runs): the first CQE without IORING_CQE_F_MORE is the third
    /// where a full CQ ends it, the fourth where a non-empty overflow list does, none where it overflows.
    /// </summary>
    private static unsafe MultishotCqFull ProbeMultishotCqFull(IRingBackend live)
    {
        var counter = Posix.Eventfd();
        try
        {
            var flags = new List<uint>();
            WithRing(live, 1, ring =>
            {
                Prep.PollAdd(ring.GetSqe(), counter, 0x001, 1, multishot: true);
                ring.Submit();
                var one = 1UL;
                var iov = new Posix.IoVec { Base = (nint)(&one), Length = 8 };
                for (var k = 0; k < 4; k++)
                {
                    Posix.pwritev2(counter, &iov, 1, -1, 0);
                    ring.Submit(0, (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS);
                }

                flags.AddRange(DrainCqes(ring).Select(c => c.Flags));
            });
            var last = flags.FindIndex(f => (f & Constants.IORING_CQE_F_MORE) == 0);
            return last switch
            {
                2 => MultishotCqFull.StopsWhenFull,
                3 => MultishotCqFull.StopsAfterOverflow,
                _ => MultishotCqFull.Overflows,
            };
        }
        finally
        {
            Posix.Close(counter);
        }
    }

    /// <summary>
    /// A one-shot POLL_ADD (user_data 1) and a multishot one (2) on one eventfd, both woken by one write.
    /// They are armed so that the one-shot's task work runs first whichever order this kernel runs task
    /// work in (<paramref name="newestFirst"/>): its completion is batched when the multishot poll posts.
    /// The multishot CQE first means it went ahead of the batch.
    /// </summary>
    private static unsafe bool ProbeMultishotCqeJumpsBatch(IRingBackend live, bool newestFirst)
    {
        var counter = Posix.Eventfd();
        try
        {
            var order = new List<ulong>();
            WithRing(live, 4, ring =>
            {
                // A wake-up walks the wait queue from the entry armed last; task work then runs in that
                // order, or (newest first) the other way round.
                foreach (var multishot in newestFirst ? [false, true] : new[] { true, false })
                {
                    Prep.PollAdd(ring.GetSqe(), counter, 0x001, multishot ? 2UL : 1UL, multishot);
                    ring.Submit();
                }

                var one = 1UL;
                var iov = new Posix.IoVec { Base = (nint)(&one), Length = 8 };
                Posix.pwritev2(counter, &iov, 1, -1, 0);
                ring.Submit(0, (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS);
                order.AddRange(DrainCqes(ring).Select(c => c.UserData));
            });
            return order.Count > 0 && order[0] == 2;
        }
        finally
        {
            Posix.Close(counter);
        }
    }

    /// <summary>A POLL_ADD on an empty pipe (user_data 1), then a POLL_REMOVE of it (2): the poll's -ECANCELED first means it completed in the removal's batch.</summary>
    private static unsafe bool ProbePollRemoveCompletesInline(IRingBackend live) => WithPipe((read, _) =>
    {
        var order = new List<ulong>();
        WithRing(live, 4, ring =>
        {
            Prep.PollAdd(ring.GetSqe(), read, 0x001, 1);
            ring.Submit();
            Prep.PollRemove(ring.GetSqe(), 1, 2);
            ring.Submit(0, (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS);
            order.AddRange(DrainCqes(ring).Select(c => c.UserData));
        });
        return order.Count > 0 && order[0] == 1;
    });

    /// <summary>A POLLPRI poll on a pipe holding a byte (user_data 1), updated to POLLIN (2), which it has at once: no CQE for the poll means the completion was lost.</summary>
    private static unsafe bool ProbePollUpdateLosesInlineCompletion(IRingBackend live) => WithPipe((read, write) =>
    {
        var seen = new List<ulong>();
        WithRing(live, 4, ring =>
        {
            var one = (byte)1;
            var iov = new Posix.IoVec { Base = (nint)(&one), Length = 1 };
            Posix.pwritev2(write, &iov, 1, -1, 0);
            Prep.PollAdd(ring.GetSqe(), read, 0x002, 1);
            ring.Submit();
            Prep.PollUpdate(ring.GetSqe(), 1, 0x001, 2);
            ring.Submit(0, (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS);
            seen.AddRange(DrainCqes(ring).Select(c => c.UserData));
        });
        return seen.Contains(2UL) && !seen.Contains(1UL);
    });

    /// <summary>A one-byte READ with RWF_NOWAIT of an empty pipe: -EAGAIN where pipes have FMODE_NOWAIT, -EOPNOTSUPP where not.</summary>
    private static unsafe bool ProbePipeNowait(IRingBackend live) => WithPipe((read, _) =>
    {
        var buffer = stackalloc byte[8];
        var b = (ulong)buffer;
        return OneSqe(live, null, sqe =>
        {
            Prep.Read(sqe, read, (void*)b, 1, 0, 1);
            sqe->rw_flags = 8; // RWF_NOWAIT
        }) != -Errno.EOPNOTSUPP;
    });

    /// <summary>A SENDMSG on fd -1 whose msghdr is at a kernel address: -EFAULT where the msghdr is copied at prep, -EBADF where at issue.</summary>
    private static unsafe RwImportStage ProbeNetImport(IRingBackend live) => OneSqe(live, null, sqe =>
    {
        sqe->opcode = (byte)io_uring_op.IORING_OP_SENDMSG;
        sqe->fd = -1;
        sqe->addr = 0xffff_8000_0000_0000;
    }) == -Errno.EFAULT ? RwImportStage.Prep : RwImportStage.Issue;

    /// <summary>A SENDMSG on an AF_UNIX socket of a msghdr with 1025 vectors: -EMSGSIZE where the msghdr copy checks the count, -EINVAL where the iovec import does.</summary>
    private static unsafe bool ProbeMsgTooManyVectors(IRingBackend live) => WithSocketPair((a, _) =>
    {
        var iov = stackalloc Posix.IoVec[1025];
        var msg = new Posix.MsgHdr { Iov = (nint)iov, IovLength = 1025 };
        var address = (ulong)(&msg);
        return OneSqe(live, null, sqe =>
        {
            sqe->opcode = (byte)io_uring_op.IORING_OP_SENDMSG;
            sqe->fd = a;
            sqe->addr = address;
            sqe->len = 1;
        }) == -Errno.EMSGSIZE;
    });

    /// <summary>A SEND bundle of one byte on an AF_UNIX pair without provided buffers: refused at prep (-EINVAL), or sent.</summary>
    private static unsafe bool ProbeSendBundleNeedsBuffers(IRingBackend live) => WithSocketPair((a, _) =>
    {
        var data = stackalloc byte[1];
        var address = (ulong)data;
        return OneSqe(live, null, sqe =>
        {
            sqe->opcode = (byte)io_uring_op.IORING_OP_SEND;
            sqe->fd = a;
            sqe->addr = address;
            sqe->len = 1;
            sqe->ioprio = (ushort)Constants.IORING_RECVSEND_BUNDLE;
        }) == -Errno.EINVAL;
    });

    /// <summary>An ACCEPT on fd -1 with each IORING_ACCEPT_* flag alone: those its prep refuses (-EINVAL, not -EBADF) the kernel does not take.</summary>
    private static unsafe ushort ProbeAcceptFlags(IRingBackend live)
    {
        ushort known = 0;
        for (var flag = (ushort)1; flag <= 4; flag <<= 1)
        {
            var ioprio = flag;
            var res = OneSqe(live, null, sqe =>
            {
                sqe->opcode = (byte)io_uring_op.IORING_OP_ACCEPT;
                sqe->fd = -1;
                sqe->ioprio = ioprio;
            });
            if (res != -Errno.EINVAL)
            {
                known |= flag;
            }
        }

        return known;
    }

    /// <summary>Two connections queued on a loopback TCP listener, then one ACCEPT: does its CQE carry IORING_CQE_F_SOCK_NONEMPTY.</summary>
    private static unsafe bool ProbeAcceptNonEmpty(IRingBackend live)
    {
        var address = stackalloc byte[16];
        var listener = Posix.LoopbackSocket(1, address);
        var clients = new[] { Posix.Socket(2, 1 | 0x80000, 0), Posix.Socket(2, 1 | 0x80000, 0) };
        try
        {
            foreach (var client in clients)
            {
                Posix.Connect(client, address, 16);
            }

            uint flags = 0;
            WithRing(live, 4, ring =>
            {
                var sqe = ring.GetSqe();
                sqe->opcode = (byte)io_uring_op.IORING_OP_ACCEPT;
                sqe->fd = listener;
                sqe->user_data = 1;
                ring.Submit(1);
                foreach (var cqe in DrainCqes(ring))
                {
                    flags = cqe.Flags;
                    Posix.Close(cqe.Res);
                }
            });
            return (flags & Constants.IORING_CQE_F_SOCK_NONEMPTY) != 0;
        }
        finally
        {
            Posix.Close(listener);
            foreach (var client in clients)
            {
                Posix.Close(client);
            }
        }
    }

    /// <summary>
    /// The result of a FADVISE (POSIX_FADV_NORMAL, completed inline) of a memfd at <paramref name="offset"/>
    /// with <paramref name="addr"/> in addr: a 64-bit length where the kernel takes one (0; -EINVAL where
    /// addr must be 0), and a negative offset that some kernels refuse (-EINVAL).
    /// </summary>
    private static unsafe int ProbeFadvise(IRingBackend live, ulong offset, ulong addr)
    {
        var res = int.MinValue;
        WithMemfd(memfd =>
        {
            res = ProbeOne(live, sqe =>
            {
                sqe->opcode = (byte)io_uring_op.IORING_OP_FADVISE;
                sqe->fd = memfd;
                sqe->off = offset;
                sqe->addr = addr;
            });
            return true;
        });
        return res;
    }

    /// <summary>
    /// One provided buffer in group 1, a READ of an empty pipe that selects from it (and waits), then a
    /// REMOVE_BUFFERS of one: 1 when the waiting READ gave its buffer back. The ring's end cancels the READ.
    /// </summary>
    private static unsafe bool ProbeLegacyBufferRecycled(IRingBackend live)
    {
        var (read, write) = Posix.Pipe();
        var buffer = stackalloc byte[64];
        var removed = int.MinValue;
        WithRing(live, 8, ring =>
        {
            ProvideOne(ring.GetSqe(), buffer, group: 1);
            var sqe = ring.GetSqe();
            sqe->opcode = (byte)io_uring_op.IORING_OP_READ;
            sqe->fd = read;
            sqe->flags = (byte)IoUringSqeFlags.IOSQE_BUFFER_SELECT;
            sqe->buf_group = 1;
            sqe->user_data = 2;
            ring.Submit(1);
            RemoveOne(ring.GetSqe(), group: 1);
            ring.Submit(2);
            removed = ResultOf(ring, RemoveUserData);
        });
        Posix.Close(read);
        Posix.Close(write);
        return removed == 1;
    }

    /// <summary>A PROVIDE_BUFFERS of one buffer to group 1, then a REMOVE_BUFFERS of group 0: 0 where groups below 64 all exist.</summary>
    private static unsafe bool ProbeBufferGroupArray(IRingBackend live)
    {
        var buffer = stackalloc byte[64];
        var removed = int.MinValue;
        WithRing(live, 4, ring =>
        {
            ProvideOne(ring.GetSqe(), buffer, group: 1);
            RemoveOne(ring.GetSqe(), group: 0);
            ring.Submit(2);
            removed = ResultOf(ring, RemoveUserData);
        });
        return removed == 0;
    }

    /// <summary>
    /// A MSG_RING SEND_FD of len 1, from a ring with a memfd in slot 0 to a ring created disabled and
    /// without a file table: -EINVAL where len is checked (the target then is not looked at), -ENXIO where
    /// neither is and the install finds no table.
    /// </summary>
    private static unsafe bool ProbeMsgRingSendFdChecksTarget(IRingBackend live) => WithMemfd(memfd =>
    {
        if (IoUring.Ring.Ring.Create(live, 4, new io_uring_params { flags = (uint)IoUringSetupFlags.IORING_SETUP_R_DISABLED }, out var target) < 0)
        {
            return true;
        }

        using (target)
        {
            return OneSqe(live, ring =>
            {
                var fds = stackalloc int[1] { memfd };
                return ring.RegisterFiles(fds, 1);
            }, sqe =>
            {
                sqe->opcode = (byte)io_uring_op.IORING_OP_MSG_RING;
                sqe->fd = target!.Fd;
                sqe->addr = (ulong)io_uring_msg_ring_flags.IORING_MSG_SEND_FD;
                sqe->len = 1;
                sqe->file_index = 1;
            }) == -Errno.EINVAL;
        }
    });

    /// <summary>A MSG_RING DATA message with <paramref name="flags"/> and file_index <paramref name="fileIndex"/> to a plain ring of four entries: the message's result.</summary>
    private static unsafe int ProbeMessageToPlainRing(IRingBackend live, uint flags, uint fileIndex)
    {
        if (IoUring.Ring.Ring.Create(live, 4, default, out var target) < 0)
        {
            return int.MinValue;
        }

        using (target)
        {
            return OneSqe(live, null, sqe =>
            {
                sqe->opcode = (byte)io_uring_op.IORING_OP_MSG_RING;
                sqe->fd = target!.Fd;
                sqe->msg_ring_flags = flags;
                sqe->file_index = fileIndex;
            });
        }
    }

    /// <summary>
    /// A FUTEX_WAKE of none (a count of 0) with <paramref name="flags"/> on an 8-byte aligned word whose
    /// NUMA node word after it is 0: 0 where the flags are known (the key is taken, nothing is woken),
    /// -EINVAL where they are not.
    /// </summary>
    private static unsafe int ProbeFutexWake(IRingBackend live, uint flags)
    {
        var words = stackalloc ulong[1] { 0 };
        return OneSqe(live, null, sqe =>
        {
            sqe->opcode = (byte)io_uring_op.IORING_OP_FUTEX_WAKE;
            sqe->fd = (int)flags;
            sqe->addr = (ulong)words;
            sqe->addr3 = 1;
        });
    }

    /// <summary>
    /// A FUTEX_WAIT (user_data 5) armed on a word that holds its value, then an ASYNC_CANCEL keyed by its
    /// opcode with user_data 99: -ENOENT where the futex list is searched by user_data alone, 1 where the
    /// generic matcher takes the opcode key. The ring's exit cancels the wait if it is still armed.
    /// </summary>
    private static unsafe bool ProbeFutexCancelByUserDataOnly(IRingBackend live)
    {
        var word = stackalloc uint[1] { 7 };
        var res = int.MinValue;
        WithRing(live, 4, ring =>
        {
            var wait = ring.GetSqe();
            wait->opcode = (byte)io_uring_op.IORING_OP_FUTEX_WAIT;
            wait->fd = 0x82;
            wait->addr = (ulong)word;
            wait->off = 7;
            wait->addr3 = uint.MaxValue;
            wait->user_data = 5;
            var cancel = ring.GetSqe();
            cancel->opcode = (byte)io_uring_op.IORING_OP_ASYNC_CANCEL;
            cancel->addr = 99;
            cancel->cancel_flags = (uint)IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_OP;
            cancel->len = (uint)io_uring_op.IORING_OP_FUTEX_WAIT;
            cancel->user_data = 6;

            // One CQE at least: the wait's own comes only where the cancellation took it.
            ring.Submit(1);
            res = ResultOf(ring, 6);
        });
        return res != 1;
    }

    /// <summary>A SEND_ZC or SENDMSG_ZC of fd -1 with <paramref name="flags"/> in ioprio (its file is looked up at issue: -EBADF).</summary>
    private static unsafe void ZeroCopySend(io_uring_sqe* sqe, io_uring_op op, ushort flags)
    {
        sqe->opcode = (byte)op;
        sqe->fd = -1;
        sqe->ioprio = flags;
    }

    /// <summary>A SEND_ZC with an unknown flag (0x40): whether a notification CQE follows its -EINVAL (the flags are checked after the notification is taken).</summary>
    private static unsafe bool ProbeZeroCopyNotifies(IRingBackend live)
    {
        var notified = false;
        WithRing(live, 4, ring =>
        {
            var sqe = ring.GetSqe();
            ZeroCopySend(sqe, io_uring_op.IORING_OP_SEND_ZC, 0x40);
            sqe->user_data = 1;
            ring.Submit(1);
            notified = DrainCqes(ring).Any(c => (c.Flags & Constants.IORING_CQE_F_NOTIF) != 0);
        });
        return notified;
    }

    /// <summary>
    /// A SENDMSG_ZC of fd -1 with IORING_RECVSEND_FIXED_BUF and buffer 0 registered (so a kernel that
    /// checks the index at prep passes it): -EINVAL where the flag is refused for a message, -EBADF where it is taken.
    /// </summary>
    private static unsafe bool ProbeZeroCopyMsgTakesFixedBuffer(IRingBackend live)
    {
        var page = stackalloc byte[64];
        return OneSqe(live, ring =>
        {
            var iov = new Posix.IoVec { Base = (nint)page, Length = 64 };
            return live.Register(ring.Fd, (uint)io_uring_register_op.IORING_REGISTER_BUFFERS, &iov, 1);
        }, sqe => ZeroCopySend(sqe, io_uring_op.IORING_OP_SENDMSG_ZC, (ushort)Constants.IORING_RECVSEND_FIXED_BUF)) != -Errno.EINVAL;
    }

    /// <summary>
    /// A SENDMSG_ZC of a memfd with IORING_RECVSEND_FIXED_BUF and no buffers registered, its msghdr one
    /// vector: -EFAULT where the vectors are imported before the socket is looked at.
    /// </summary>
    private static unsafe bool ProbeZeroCopyMsgImportsFixedBufferFirst(IRingBackend live) => WithMemfd(memfd =>
    {
        var page = stackalloc byte[64];
        var iov = new Posix.IoVec { Base = (nint)page, Length = 64 };
        var msg = new Posix.MsgHdr { Iov = (nint)(&iov), IovLength = 1 };
        var address = (ulong)(&msg);
        return OneSqe(live, null, sqe =>
        {
            ZeroCopySend(sqe, io_uring_op.IORING_OP_SENDMSG_ZC, (ushort)Constants.IORING_RECVSEND_FIXED_BUF);
            sqe->fd = memfd;
            sqe->addr = address;
            sqe->len = 1;
        }) == -Errno.EFAULT;
    });

    private const ulong RemoveUserData = 3;

    /// <summary>A PROVIDE_BUFFERS of one 64-byte buffer to <paramref name="group"/> (user_data 1).</summary>
    private static unsafe void ProvideOne(io_uring_sqe* sqe, byte* buffer, ushort group)
    {
        sqe->opcode = (byte)io_uring_op.IORING_OP_PROVIDE_BUFFERS;
        sqe->fd = 1;
        sqe->addr = (ulong)buffer;
        sqe->len = 64;
        sqe->buf_group = group;
        sqe->user_data = 1;
    }

    /// <summary>A REMOVE_BUFFERS of one buffer of <paramref name="group"/> (user_data <see cref="RemoveUserData"/>).</summary>
    private static unsafe void RemoveOne(io_uring_sqe* sqe, ushort group)
    {
        sqe->opcode = (byte)io_uring_op.IORING_OP_REMOVE_BUFFERS;
        sqe->fd = 1;
        sqe->buf_group = group;
        sqe->user_data = RemoveUserData;
    }

    /// <summary>The result of the CQE with <paramref name="userData"/> among those in the CQ (int.MinValue when none).</summary>
    private static int ResultOf(IoUring.Ring.Ring ring, ulong userData)
    {
        var res = int.MinValue;
        foreach (var cqe in DrainCqes(ring))
        {
            if (cqe.UserData == userData)
            {
                res = cqe.Res;
            }
        }

        return res;
    }

    /// <summary>One SQE, filled by <paramref name="fill"/> (user_data 1), on a fresh ring: its CQE's result.</summary>
    private static unsafe int ProbeOne(IRingBackend live, SqeFill fill)
    {
        var res = int.MinValue;
        WithRing(live, 4, ring =>
        {
            var sqe = ring.GetSqe();
            fill(sqe);
            sqe->user_data = 1;
            ring.Submit(1);
            foreach (var cqe in DrainCqes(ring))
            {
                res = cqe.Res;
            }
        });
        return res;
    }

    private unsafe delegate void SqeFill(io_uring_sqe* sqe);

    /// <summary>An UNLINKAT of fd -1 (a relative name: -EBADF once it runs) whose addr3 is 1.</summary>
    private static unsafe int ProbeUnlinkAddr3(IRingBackend live)
    {
        var name = stackalloc byte[2] { (byte)'x', 0 };
        return ProbeOne(live, sqe =>
        {
            sqe->opcode = (byte)io_uring_op.IORING_OP_UNLINKAT;
            sqe->fd = -1;
            sqe->addr = (ulong)name;
            sqe->addr3 = 1;
        });
    }

    /// <summary>
    /// The socket commands a UDP socket answers: none when SIOCINQ is -EOPNOTSUPP; then TX_TIMESTAMP on a
    /// ring without 32-byte CQEs (-EINVAL where it is known) and GETSOCKNAME of the local address.
    /// </summary>
    private static unsafe uint ProbeSocketCommands(IRingBackend live)
    {
        var udp = Posix.Socket(2, 2, 0); // AF_INET, SOCK_DGRAM
        try
        {
            var address = stackalloc byte[128];
            var length = stackalloc int[1] { 128 };
            int Command(uint op) => ProbeOne(live, sqe =>
            {
                sqe->opcode = (byte)io_uring_op.IORING_OP_URING_CMD;
                sqe->fd = udp;
                sqe->cmd_op = op;
                if (op == 5)
                {
                    sqe->addr = (ulong)address;
                    sqe->addr3 = (ulong)length;
                }
            });

            return Command(0) == -Errno.EOPNOTSUPP ? 0u : Command(4) == -Errno.EOPNOTSUPP ? 4u : Command(5) == -Errno.EOPNOTSUPP ? 5u : KernelProfile.AllSocketCommands;
        }
        finally
        {
            Posix.Close(udp);
        }
    }

    /// <summary>A READ with RWF_NOWAIT of an empty AF_UNIX stream socket: -EOPNOTSUPP where sockets lack FMODE_NOWAIT.</summary>
    private static unsafe bool ProbeSocketNowait(IRingBackend live)
    {
        var (a, b) = Posix.SocketPair(1);
        var buffer = stackalloc byte[16];
        var res = int.MinValue;
        WithRing(live, 4, ring =>
        {
            var sqe = ring.GetSqe();
            sqe->opcode = (byte)io_uring_op.IORING_OP_READ;
            sqe->fd = b;
            sqe->addr = (ulong)buffer;
            sqe->len = 16;
            sqe->rw_flags = 0x8; // RWF_NOWAIT
            sqe->user_data = 1;
            ring.Submit(1);
            foreach (var cqe in DrainCqes(ring))
            {
                res = cqe.Res;
            }
        });
        Posix.Close(a);
        Posix.Close(b);
        return res != -Errno.EOPNOTSUPP;
    }

    /// <summary>
    /// A FALLOCATE of a pipe's read end (not open for writing) with mode 0x80 (FALLOC_FL_WRITE_ZEROES):
    /// -EOPNOTSUPP where the kernel does not know the bit, -EBADF where it does.
    /// </summary>
    private static unsafe uint ProbeFallocateModes(IRingBackend live)
    {
        var (read, write) = Posix.Pipe();
        var res = int.MinValue;
        WithRing(live, 4, ring =>
        {
            var sqe = ring.GetSqe();
            sqe->opcode = (byte)io_uring_op.IORING_OP_FALLOCATE;
            sqe->fd = read;
            sqe->addr = 1;
            sqe->len = 0x80;
            sqe->user_data = 1;
            ring.Submit(1);
            foreach (var cqe in DrainCqes(ring))
            {
                res = cqe.Res;
            }
        });
        Posix.Close(read);
        Posix.Close(write);
        return res == -Errno.EOPNOTSUPP ? 0x7fu : KernelProfile.AllFallocateModes;
    }

    /// <summary>A fixed table [free, memfd, memfd, free]; a SOCKET into slot 2 (occupied), then one into IORING_FILE_INDEX_ALLOC: slot 3 where the replacement moved the hint, slot 0 where it did not.</summary>
    private static unsafe bool ProbeInstallOverSlotMovesAllocHint(IRingBackend live) => WithMemfd(memfd =>
    {
        var allocated = -1;
        WithRing(live, 4, ring =>
        {
            var fds = stackalloc int[4] { -1, memfd, memfd, -1 };
            if (ring.RegisterFiles(fds, 4) < 0)
            {
                return;
            }

            foreach (var slot in new[] { 3u, Constants.IORING_FILE_INDEX_ALLOC })
            {
                var sqe = ring.GetSqe();
                sqe->opcode = (byte)io_uring_op.IORING_OP_SOCKET;
                sqe->fd = 1; // AF_UNIX
                sqe->off = 1; // SOCK_STREAM
                sqe->file_index = slot;
                sqe->user_data = slot;
                ring.Submit(1);
            }

            foreach (var cqe in DrainCqes(ring))
            {
                if (cqe.UserData == Constants.IORING_FILE_INDEX_ALLOC)
                {
                    allocated = cqe.Res;
                }
            }
        });
        return allocated == 3;
    });

    /// <summary>Runs <paramref name="probe"/> with a connected AF_UNIX stream socket pair, closed after.</summary>
    private static T WithSocketPair<T>(Func<int, int, T> probe)
    {
        var (a, b) = Posix.SocketPair(1);
        try
        {
            return probe(a, b);
        }
        finally
        {
            Posix.Close(a);
            Posix.Close(b);
        }
    }

    /// <summary>A RECV or SEND with IORING_RECVSEND_POLL_FIRST of a memfd: -ENOTSOCK where it checks the socket first, -EAGAIN (from io-wq) where it went to wait.</summary>
    private static unsafe bool ProbeChecksSocketFirst(IRingBackend live, int memfd, io_uring_op op)
    {
        var buffer = stackalloc byte[8];
        var address = (ulong)buffer;
        return OneSqe(live, null, sqe =>
        {
            sqe->opcode = (byte)op;
            sqe->fd = memfd;
            sqe->addr = address;
            sqe->len = 1;
            sqe->ioprio = 1;
        }) == -Errno.ENOTSOCK;
    }

    /// <summary>A SYNC_CANCEL of a user_data nothing has, its opcode byte set: -ENOENT where the struct has the opcode key, -EINVAL where that byte is padding.</summary>
    private static unsafe bool ProbeSyncCancelTakesOpcode(IRingBackend live, int ring)
    {
        var sc = new io_uring_sync_cancel_reg { addr = 0x5eed, fd = -1, opcode = 1 };
        return live.Register(ring, (uint)io_uring_register_op.IORING_REGISTER_SYNC_CANCEL, &sc, 1) == -Errno.ENOENT;
    }

    /// <summary>Eight bytes in an AF_UNIX stream socket, then two four-byte RECVs: which CQEs carry IORING_CQE_F_SOCK_NONEMPTY.</summary>
    private static unsafe UnixStreamInq ProbeUnixStreamInq(IRingBackend live) => WithSocketPair((a, b) =>
    {
        var bytes = stackalloc byte[8];
        var iov = new Posix.IoVec { Base = (nint)bytes, Length = 8 };
        var msg = new Posix.MsgHdr { Iov = (nint)(&iov), IovLength = 1 };
        Posix.SendMsg(a, &msg, 0);
        var address = (ulong)bytes;
        var flags = new List<uint>();
        WithRing(live, 4, ring =>
        {
            for (var k = 0; k < 2; k++)
            {
                var sqe = ring.GetSqe();
                sqe->opcode = (byte)io_uring_op.IORING_OP_RECV;
                sqe->fd = b;
                sqe->addr = address;
                sqe->len = 4;
                sqe->user_data = (ulong)k;
                ring.Submit(1, (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS);
            }

            flags.AddRange(DrainCqes(ring).Select(c => c.Flags & Constants.IORING_CQE_F_SOCK_NONEMPTY));
        });
        return flags switch
        {
            [not 0, 0] => UnixStreamInq.WhenQueued,
            [not 0, not 0] => UnixStreamInq.Always,
            _ => UnixStreamInq.Never,
        };
    });

    /// <summary>
    /// IORING_REGISTER_PBUF_RING of group 1 on a fresh ring, its io_uring_buf_reg written byte by byte (6.1's
    /// has a pad where later ones have the flags, and no min_left): the result.
    /// </summary>
    private static unsafe int ProbeRegisterBufferRing(IRingBackend live, ulong address, uint entries, ushort flags, uint minLeft, IoUring.Ring.Ring? on = null)
    {
        var reg = stackalloc byte[40];
        new Span<byte>(reg, 40).Clear();
        *(ulong*)reg = address;
        *(uint*)(reg + 8) = entries;
        *(ushort*)(reg + 12) = 1;
        *(ushort*)(reg + 14) = flags;
        *(uint*)(reg + 16) = minLeft;
        if (on is not null)
        {
            return live.Register(on.Fd, (uint)io_uring_register_op.IORING_REGISTER_PBUF_RING, reg, 1);
        }

        var res = int.MinValue;
        WithRing(live, 4, ring => res = live.Register(ring.Fd, (uint)io_uring_register_op.IORING_REGISTER_PBUF_RING, reg, 1));
        return res;
    }

    /// <summary>
    /// A multishot RECV on a TCP connection (which reports what it still holds) from a buffer ring of one
    /// buffer, 8 bytes queued: whether -ENOBUFS follows its first CQE at once (it received again though
    /// the socket said it was empty).
    /// </summary>
    private static unsafe bool ProbeRecvMultishotRetries(IRingBackend live) => WithTcpPair((a, b) => MultishotReceiveCqes(live, a, b, [16], 8)).Any(c => c.Res == -Errno.ENOBUFS);

    /// <summary>
    /// An eventfd registered with a ring; a NOP posted while IORING_CQ_EVENTFD_DISABLED is set, then, the
    /// flag cleared, a NOP with IOSQE_CQE_SKIP_SUCCESS, whose commit posts nothing: whether that commit
    /// signalled (the skipped commit left the measured tail behind).
    /// </summary>
    private static unsafe bool ProbeEventfdSkipKeepsTail(IRingBackend live)
    {
        var counter = Posix.Eventfd();
        try
        {
            var signalled = false;
            WithRing(live, 4, ring =>
            {
                var fd = counter;
                if (live.Register(ring.Fd, (uint)io_uring_register_op.IORING_REGISTER_EVENTFD, &fd, 1) != 0)
                {
                    return;
                }

                ring.CqFlags |= Constants.IORING_CQ_EVENTFD_DISABLED;
                Prep.Nop(ring.GetSqe(), 1);
                ring.Submit();
                ring.CqFlags &= ~Constants.IORING_CQ_EVENTFD_DISABLED;
                var sqe = ring.GetSqe();
                Prep.Nop(sqe, 2);
                sqe->flags = (byte)IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS;
                ring.Submit();
                signalled = Posix.IsReadable(counter);
            });
            return signalled;
        }
        finally
        {
            Posix.Close(counter);
        }
    }

    /// <summary>A connected pair of TCP sockets on 127.0.0.1 (empty when the loopback interface is down).</summary>
    private static unsafe T WithTcpPair<T>(Func<int, int, T> probe)
    {
        var address = stackalloc byte[16];
        var listener = Posix.LoopbackSocket(1, address);
        var client = Posix.Socket(2, 1 | 0x80000, 0);
        var accepted = -1;
        try
        {
            if (listener >= 0 && client >= 0 && Posix.Connect(client, address, 16) == 0)
            {
                accepted = Posix.Accept4(listener, 0, 0, 0x80000);
            }

            return probe(client, accepted);
        }
        finally
        {
            Posix.Close(accepted);
            Posix.Close(client);
            Posix.Close(listener);
        }
    }

    /// <summary>
    /// A multishot RECV from a buffer ring of an 8-byte and a 64-byte buffer, 20 bytes queued: the second
    /// CQE's 8 bytes where the length the first buffer cut the request to is kept, 12 where it is not.
    /// </summary>
    private static unsafe bool ProbeRecvMultishotKeepsLength(IRingBackend live) => WithSocketPair((a, b) => MultishotReceiveCqes(live, a, b, [8, 64], 20)).Skip(1).FirstOrDefault().Res == 8;

    /// <summary>
    /// A RECV bundle of 16 bytes from a ring of two 8-byte buffers, 40 bytes queued on a TCP pair, a NOP
    /// linked after it: where the length ending in the last buffer counts it as taken, the ring is found
    /// empty and the NOP runs; where not, the bundle goes for the 24 bytes still queued, finds no buffer,
    /// completes with its 16 and fails the link (-ECANCELED). A kernel without bundles refuses the RECV.
    /// </summary>
    private static unsafe bool ProbeBundleTakesTheBufferItsLengthEndsIn(IRingBackend live)
    {
        var cqes = WithTcpPair((a, b) => ReceiveCqes(live, a, b, [8, 8], 40, (ushort)Constants.IORING_RECVSEND_BUNDLE, 16, linkNop: true));
        return !(cqes.Any(c => c.UserData == 1 && c.Res == 16) && cqes.Any(c => c.UserData == 2 && c.Res == -Errno.ECANCELED));
    }

    /// <summary>
    /// The CQEs of a multishot RECV on <paramref name="b"/> with <paramref name="queued"/> bytes sent on
    /// <paramref name="a"/> first, its group a buffer ring of one buffer per length (its tail after them).
    /// </summary>
    private static List<(ulong UserData, int Res, uint Flags)> MultishotReceiveCqes(IRingBackend live, int a, int b, uint[] lengths, int queued) =>
        ReceiveCqes(live, a, b, lengths, queued, (ushort)Constants.IORING_RECV_MULTISHOT, 0, linkNop: false);

    /// <summary>
    /// The CQEs of a RECV (user_data 1) with IORING_RECVSEND_* flags <paramref name="ioprio"/> and
    /// length <paramref name="length"/> on <paramref name="b"/>, <paramref name="queued"/> bytes sent on
    /// <paramref name="a"/> first, its group a buffer ring of one buffer per length (its tail after them),
    /// and a NOP (user_data 2) linked after it when <paramref name="linkNop"/>.
    /// </summary>
    private static unsafe List<(ulong UserData, int Res, uint Flags)> ReceiveCqes(IRingBackend live, int a, int b, uint[] lengths, int queued, ushort ioprio, uint length, bool linkNop)
    {
        var pages = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc(8192, 4096);
        try
        {
            new Span<byte>(pages, 8192).Clear();
            var entries = (io_uring_buf*)pages;
            for (var k = 0; k < lengths.Length; k++)
            {
                entries[k] = new io_uring_buf { addr = (ulong)(pages + 4096 + (k * 512)), len = lengths[k], bid = (ushort)k };
            }

            *(ushort*)(pages + 14) = (ushort)lengths.Length;
            var iov = new Posix.IoVec { Base = (nint)(pages + 6000), Length = (nuint)queued };
            var msg = new Posix.MsgHdr { Iov = (nint)(&iov), IovLength = 1 };
            Posix.SendMsg(a, &msg, 0);
            var cqes = new List<(ulong UserData, int Res, uint Flags)>();
            WithRing(live, 8, ring =>
            {
                if (ProbeRegisterBufferRing(live, (ulong)pages, 2, 0, 0, ring) != 0)
                {
                    return;
                }

                var sqe = ring.GetSqe();
                sqe->opcode = (byte)io_uring_op.IORING_OP_RECV;
                sqe->fd = b;
                sqe->len = length;
                sqe->flags = (byte)(IoUringSqeFlags.IOSQE_BUFFER_SELECT | (linkNop ? IoUringSqeFlags.IOSQE_IO_LINK : 0));
                sqe->ioprio = ioprio;
                sqe->buf_group = 1;
                sqe->user_data = 1;
                if (linkNop)
                {
                    Prep.Nop(ring.GetSqe(), 2);
                }

                ring.Submit(1, (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS);
                cqes = DrainCqes(ring);
            });
            return cqes;
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(pages);
        }
    }

    private static void WithRing(IRingBackend live, uint entries, Action<IoUring.Ring.Ring> body)
    {
        if (IoUring.Ring.Ring.Create(live, entries, default, out var ring) >= 0)
        {
            using (ring)
            {
                body(ring!);
            }
        }
    }

    /// <summary>Every CQE, the overflow list flushed by enters until it is empty.</summary>
    private static unsafe List<(ulong UserData, int Res, uint Flags)> DrainCqes(IoUring.Ring.Ring ring)
    {
        var cqes = new List<(ulong, int, uint)>();
        for (var round = 0; round < 8; round++)
        {
            while (ring.TryNextCqe(out var cqe, out var slots))
            {
                cqes.Add((cqe->user_data, cqe->res, cqe->flags));
                ring.CqAdvance(slots);
            }

            ring.Submit(0, (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS);
        }

        return cqes;
    }

    /// <summary>
    /// The IORING_ASYNC_CANCEL_* bits an ASYNC_CANCEL accepts, one at a time, naming nothing (user_data 0,
    /// fd -1): an unknown bit is -EINVAL at preparation; a known one finds nothing (-ENOENT, 0 for ANY and
    /// ALL) or no file (-EBADF).
    /// </summary>
    private static unsafe uint ProbeCancelFlags(IRingBackend live) => AcceptedBits(bit => OneSqe(live, null, sqe =>
    {
        sqe->opcode = (byte)io_uring_op.IORING_OP_ASYNC_CANCEL;
        sqe->fd = -1;
        sqe->cancel_flags = bit;
    }));

    /// <summary>
    /// The IORING_TIMEOUT_* bits a TIMEOUT accepts, one at a time, each with a null timespec: an unknown
    /// bit is -EINVAL before the timespec is read; a known one gets -EFAULT reading it (or, for
    /// IMMEDIATE_ARG, which takes addr as the time, arms a timer of 0 ns). The two update bits are
    /// TIMEOUT_REMOVE's and refused here on every kernel.
    /// </summary>
    private static unsafe uint ProbeTimeoutFlags(IRingBackend live) => AcceptedBits(bit => OneSqe(live, null, sqe =>
    {
        sqe->opcode = (byte)io_uring_op.IORING_OP_TIMEOUT;
        sqe->fd = -1;
        sqe->len = 1;
        sqe->timeout_flags = bit;
    }));

    /// <summary>The bits among the low eight that a request carrying each alone does not refuse with -EINVAL (what an unknown flag gets).</summary>
    private static uint AcceptedBits(Func<uint, int> resultWith)
    {
        uint accepted = 0;
        for (var bit = 0; bit < 8; bit++)
        {
            if (resultWith(1u << bit) != -Errno.EINVAL)
            {
                accepted |= 1u << bit;
            }
        }

        return accepted;
    }

    private static RingHeaderLayout RingHeaderOf(io_uring_params p) => p.sq_off.tail == 4 ? RingHeaderLayout.Packed : RingHeaderLayout.CacheLineAligned;

    /// <summary>The result of one NOP with <paramref name="nopFlag"/> (on a CQE32 ring for the CQE32 flag).</summary>
    private static unsafe int NopResult(IRingBackend live, uint nopFlag, int fd)
    {
        var cqe32 = nopFlag == (uint)IoUringNopFlags.IORING_NOP_CQE32 ? (uint)IoUringSetupFlags.IORING_SETUP_CQE32 : 0;
        return OneSqe(live, null, sqe =>
        {
            sqe->opcode = (byte)io_uring_op.IORING_OP_NOP;
            sqe->nop_flags = nopFlag;
            sqe->fd = fd;
        }, cqe32);
    }
}
