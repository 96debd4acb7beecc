using IoUring.Bindings;
using IoUring.Ring;
using IoUringRegister = IoUring.Bindings.io_uring_register_op;

namespace IoUring.Conformance;

/// <summary>What a run of a program showed, and how many CQEs each settle point had ready (see <see cref="Runner"/>).</summary>
public sealed record RunResult(ProgramTrace Trace, uint[] Ready);

/// <summary>
/// How the runner must treat the kernel it drives. <see cref="Ready"/>: for a live kernel, the CQ slots
/// the engine had ready at each settle point (the pacing); <see cref="MixedOverflowWaitSpins"/>: the
/// kernel is known to spin in a wait on a CQE_MIXED ring whose overflow list holds a 32-byte CQE that
/// does not fit (KernelProfile.MixedOverflowWaitSpins), so the runner never makes such a wait.
/// </summary>
public sealed record RunOptions(IReadOnlyList<uint>? Ready = null, bool MixedOverflowWaitSpins = false)
{
    public static readonly RunOptions None = new();
}

/// <summary>
/// Runs a program on a backend and records everything the client can observe: setup's result and
/// params, and per step each enter's return, each reaped CQE (user_data, res, flags, big_cqe), the
/// ring counters and flags, digests of the file and buffer memory, and register results.
/// <para>
/// Nondeterminism, named: (1) a chain left open at the end of a submission is punted to io-wq, so the
/// runner ends every submission's last SQE outside a chain. (2) Requests that may complete from io-wq
/// (FSYNC, IOSQE_ASYNC, file reads and writes, and everything from the first IO_DRAIN on) complete at a
/// time and in an order no contract fixes: a step that submits one starts with an empty CQ (the
/// runner reaps and flushes first, and records what it reaped), waits until as many CQ slots are
/// ready as the <see cref="RunOptions.Ready"/> hint says (the engine's count; the wait has a 2 s timeout
/// recorded as such, so a kernel that posts fewer is seen, not hung on), reaps everything, and
/// records that step's CQEs sorted.
/// </para>
/// <para>
/// Host safety: on a kernel whose wait spins deaf to signals when a 32-byte CQE is stuck in the overflow
/// list of a CQE_MIXED ring, the settle wait polls (a non-waiting GETEVENTS enter, which flushes, then a
/// short sleep) instead of sleeping in the kernel, and a registered wait that would find such a CQE is
/// not made (the step records wait-skipped). Both backends do the same, so traces stay comparable.
/// </para>
/// </summary>
public static unsafe class Runner
{
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(2);

    /// <summary>In a settle point's ready count (<see cref="RunResult.Ready"/>): completions were waiting in the overflow list too.</summary>
    public const uint OverflowWaiting = 0x8000_0000;

    /// <summary>In a settle point's ready count: the ring had signalled the program's notification eventfd (<see cref="Workspace.Notifier"/>).</summary>
    public const uint Notified = 0x4000_0000;

    /// <summary>The slot count of a settle point's ready count, without its flags.</summary>
    public static uint ReadySlots(uint ready) => ready & ~(OverflowWaiting | Notified);

    public static RunResult Run(IRingBackend backend, RingProgram program, RunOptions? options = null)
    {
        options ??= RunOptions.None;
        var ready = options.Ready;
        var steps = new List<StepTrace>(program.Steps.Length);
        // Two settle points per step: leftovers, then the batch.
        var readyCounts = new uint[program.Steps.Length * 2];
        using var ws = new Workspace();
        var setup = new io_uring_params { flags = program.SetupFlags, cq_entries = program.CqEntries };
        var rc = IoUring.Ring.Ring.Create(backend, program.Entries, setup, out var ring);
        if (rc < 0)
        {
            return new RunResult(new ProgramTrace(rc, null, []), readyCounts);
        }

        using (ring)
        {
            var p = ring!.Params;
            var parameters = new ParamsTrace(
                p.sq_entries,
                p.cq_entries,
                p.features,
                [p.sq_off.head, p.sq_off.tail, p.sq_off.ring_mask, p.sq_off.ring_entries, p.sq_off.flags, p.sq_off.dropped, p.sq_off.array],
                [p.cq_off.head, p.cq_off.tail, p.cq_off.ring_mask, p.cq_off.ring_entries, p.cq_off.overflow, p.cq_off.cqes, p.cq_off.flags]);
            var cqe32 = (p.flags & (uint)IoUringSetupFlags.IORING_SETUP_CQE32) != 0;
            var creators = DescriptorCreators(program);

            // Waits until as many CQ slots are ready as the engine had at this point, then reaps them
            // all, sorted; a wait that times out is recorded. Where the engine had completions in the
            // overflow list too (a full CQ), it also waits for the kernel's overflow flag: an io-wq
            // completion that overflows fills no slot, and would otherwise come after the step.
            SettledCqes Settle(int phase)
            {
                int? timeout = null;
                var want = ready is not null && phase < ready.Count ? ReadySlots(ready[phase]) : 0;
                if (ring.CqTail - ring.CqHead < want)
                {
                    var waited = Wait(backend, ring, want, options);
                    if (waited < 0 && ring.CqTail - ring.CqHead < want)
                    {
                        timeout = waited;
                    }
                }

                if (ready is not null && phase < ready.Count && (ready[phase] & OverflowWaiting) != 0)
                {
                    var until = DateTime.UtcNow + SettleTimeout;
                    while ((ring.SqFlags & (uint)IoUringSqRingFlags.IORING_SQ_CQ_OVERFLOW) == 0 && DateTime.UtcNow < until)
                    {
                        Thread.Sleep(1);
                    }
                }

                // A signal of the notification eventfd from io-wq comes just after the CQE it is for.
                if (ready is not null && phase < ready.Count && (ready[phase] & Notified) != 0)
                {
                    ws.WaitNotified(SettleTimeout);
                }

                readyCounts[phase] = (ring.CqTail - ring.CqHead) | ((ring.SqFlags & (uint)IoUringSqRingFlags.IORING_SQ_CQ_OVERFLOW) != 0 ? OverflowWaiting : 0) | (ws.Notified ? Notified : 0);
                var cqes = Reap(ring, cqe32, uint.MaxValue, creators);
                cqes.Sort(CqeTrace.CompareText);
                return new SettledCqes(cqes.ToArray(), timeout);
            }

            var pending = new List<SqeSpec>();
            var drainSeen = false;
            uint? badPosition = null;
            for (var stepIndex = 0; stepIndex < program.Steps.Length; stepIndex++)
            {
                var step = program.Steps[stepIndex];
                // After an IO_DRAIN every request may take the drain's slow path through io-wq.
                drainSeen |= pending.Concat(step.Batch).Any(s => (s.Flags & (byte)IoUringSqeFlags.IOSQE_IO_DRAIN) != 0);
                // A dropped SQ index can leave a chain open at the end of the submission: io-wq runs it.
                // That includes an entry an earlier step spoiled that is still waiting in the SQ.
                var badPending = badPosition is { } b && b - ring.SqHead < ring.SqTail - ring.SqHead;
                var mayBeAsync = drainSeen || step.BadIndexAt >= 0 || badPending || pending.Concat(step.Batch).Any(MayCompleteLate);
                CqeTrace[]? drained = mayBeAsync ? Drain(ring, cqe32, creators).ToArray() : null;

                // SQEs a stopped submission left behind run concurrently with the new batch if both go to
                // io-wq, and together could post more CQEs than the CQ holds, in an order no contract
                // fixes: they are submitted and settled first, as a phase of their own.
                int? leftovers = null;
                SettledCqes? leftoverCqes = null;
                if (mayBeAsync && !ring.SqRewind && ring.SqTail != ring.SqHead)
                {
                    leftovers = backend.Enter(ring.Fd, ring.SqTail - ring.SqHead, 0, 0, null, 0);
                    pending.RemoveRange(0, Math.Max(0, pending.Count - (int)(ring.SqTail - ring.SqHead)));
                    leftoverCqes = Settle(2 * stepIndex);
                }

                var register = step.Register is { } reg ? Register(backend, ring, ws, reg) : null;

                var queued = 0;
                io_uring_sqe* last = null;
                var firstSlot = ring.SqRewind ? 0u : ring.SqTail;
                var positions = new List<uint>();
                foreach (var s in step.Batch)
                {
                    var big = s.Opcode == (byte)io_uring_op.IORING_OP_NOP128 && (ring.SqeMixed || (p.flags & (uint)IoUringSetupFlags.IORING_SETUP_SQE128) != 0);
                    var before = ring.Pending;
                    var sqe = big ? ring.GetSqe128() : ring.GetSqe();
                    if (sqe == null)
                    {
                        break;
                    }

                    positions.Add(firstSlot + before);
                    Fill(sqe, s, ws, queued, ring.Fd);
                    pending.Add(s);
                    last = sqe;
                    queued++;
                }

                if (last != null)
                {
                    last->flags &= unchecked((byte)~(IoUringSqeFlags.IOSQE_IO_LINK | IoUringSqeFlags.IOSQE_IO_HARDLINK));
                }

                ring.Flush();
                if (step.BadIndexAt >= 0 && step.BadIndexAt < positions.Count && ring.SqArray != null)
                {
                    ring.SqArray[positions[step.BadIndexAt] & (p.sq_entries - 1)] = p.sq_entries + 5;
                    badPosition = positions[step.BadIndexAt];
                }

                // to_submit covers everything pending (SQEs left by a stopped submission included), so a
                // submission always ends at the last queued SQE, whose chain is closed above.
                var toSubmit = ring.SqRewind ? ring.Pending + (uint)queued : ring.SqTail - ring.SqHead;
                var enter = backend.Enter(ring.Fd, toSubmit, 0, step.GetEvents ? (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS : 0, null, 0);
                if (ring.SqRewind)
                {
                    ring.Rewind();
                    pending.Clear();
                }
                else
                {
                    // What the kernel did not consume stays pending for the next step.
                    var left = (int)(ring.SqTail - ring.SqHead);
                    pending.RemoveRange(0, Math.Max(0, pending.Count - left));
                }

                var cqes = mayBeAsync ? Settle((2 * stepIndex) + 1) : new SettledCqes(Reap(ring, cqe32, step.Reap, creators).ToArray());
                var registeredWait = step.RegWait >= 0 ? RegisteredWait(backend, ring, ws, step.RegWait, options) : null;
                steps.Add(new StepTrace
                {
                    Drained = drained,
                    Leftovers = leftovers,
                    LeftoverCqes = leftoverCqes,
                    Register = register,
                    Queued = queued,
                    Enter = enter,
                    Cqes = cqes.Cqes,
                    SettleTimeout = cqes.Timeout,
                    SqHead = ring.SqHead,
                    SqTail = ring.SqTail,
                    CqHead = ring.CqHead,
                    CqTail = ring.CqTail,
                    SqFlags = ring.SqFlags & (uint)IoUringSqRingFlags.IORING_SQ_CQ_OVERFLOW,
                    Overflow = ring.CqOverflow,
                    Dropped = ring.SqDropped,
                    RegisteredWait = registeredWait,
                    Digest = ws.Digest(),
                });
            }

            return new RunResult(new ProgramTrace(rc, parameters, steps.ToArray()), readyCounts);
        }
    }

    /// <summary>
    /// Whether a request may complete after the enter that submits it, in its own time. From io-wq:
    /// FSYNC and the other file calls always go there (FADVISE but for three advices); IOSQE_ASYNC sends anything there; a read that comes up short on a
    /// regular file is retried there; shmem (the memfd) takes no non-blocking buffered writes, so
    /// writes go there too. By a timer: a TIMEOUT whose time is up at once, or an update that gives
    /// one such a time (<see cref="TimeoutChoices.FiresLate"/>).
    /// </summary>
    public static bool MayCompleteLate(SqeSpec s) =>
        (s.Flags & (byte)IoUringSqeFlags.IOSQE_ASYNC) != 0
        || TimeoutChoices.FiresLate(s)
        || SocketChoices.IsTransfer(s) || SocketChoices.IsShutdown(s)
        || s.Opcode is (byte)io_uring_op.IORING_OP_CONNECT or (byte)io_uring_op.IORING_OP_ACCEPT
        || FileCallChoices.IsFileCall(s) || PathChoices.IsPathCall(s) || SpliceChoices.IsSpliceCall(s)
        || s.Opcode is (byte)io_uring_op.IORING_OP_FSYNC or (byte)io_uring_op.IORING_OP_READ or (byte)io_uring_op.IORING_OP_READV
            or (byte)io_uring_op.IORING_OP_WRITE or (byte)io_uring_op.IORING_OP_WRITEV
            or (byte)io_uring_op.IORING_OP_READ_FIXED or (byte)io_uring_op.IORING_OP_WRITE_FIXED;

    /// <summary>
    /// The descriptor an SQE names (<paramref name="fds"/>: the program's files). Through the fixed table
    /// (IOSQE_FIXED_FILE, or a NOP's IORING_NOP_FIXED_FILE) the fd is an index: slot 0 holds the program's
    /// file when files are registered, 1 may be empty, 5 is past a small table.
    /// </summary>
    public static int Descriptor(SqeSpec s, ProgramFds fds)
    {
        var nop = s.Opcode is (byte)io_uring_op.IORING_OP_NOP or (byte)io_uring_op.IORING_OP_NOP128;
        var fixedFile = (s.Flags & (byte)IoUringSqeFlags.IOSQE_FIXED_FILE) != 0 || (nop && (s.NopFlags & (uint)IoUringNopFlags.IORING_NOP_FIXED_FILE) != 0);
        return (s.Fd, fixedFile) switch
        {
            (FdChoice.File, false) => fds.File,
            (FdChoice.PipeRead, false) => fds.PipeRead,
            (FdChoice.PipeWrite, false) => fds.PipeWrite,
            (FdChoice.EventFd, false) => fds.EventFd,
            (FdChoice.SocketA, false) => fds.SocketA,
            (FdChoice.SocketB, false) => fds.SocketB,
            (FdChoice.Listener, false) => fds.Listener,
            (FdChoice.Udp, false) => fds.Udp,
            (FdChoice.Spare, false) => fds.Spare,
            (FdChoice.Epoll, false) => fds.Epoll,
            (FdChoice.Directory, false) => fds.Directory,
            (FdChoice.SplicePipeRead, false) => fds.SplicePipeRead,
            (FdChoice.SplicePipeWrite, false) => fds.SplicePipeWrite,
            (FdChoice.TeePipeRead, false) => fds.TeePipeRead,
            (FdChoice.TeePipeWrite, false) => fds.TeePipeWrite,
            (FdChoice.None, _) => 0,
            (FdChoice.DirectSlot, true) => 1,
            (FdChoice.File, true) => 0,
            (FdChoice.Negative, true) => 1, // slot 1 (also a fixed-table index, never descriptor 1)
            (FdChoice.Negative, false) => -1,
            (_, true) => 5,
            _ => Workspace.ClosedFd,
        };
    }

    /// <summary>SQEs filled the way a NOP is (flags, an injected result, the words a 32-byte CQE echoes): NOP, NOP128, and opcodes no kernel of the corpus has.</summary>
    public static bool FilledAsNop(SqeSpec s) =>
        s.Opcode is (byte)io_uring_op.IORING_OP_NOP or (byte)io_uring_op.IORING_OP_NOP128 or 255 || s.Opcode >= 64;

    /// <summary>A transfer's len: a plain read or write of the area is cut to what is left after its offset; vectors and other buffers keep theirs.</summary>
    public static uint TransferLength(SqeSpec s) =>
        s.Opcode is (byte)io_uring_op.IORING_OP_READV or (byte)io_uring_op.IORING_OP_WRITEV || s.Buf != BufChoice.Area
            ? s.Len
            : UsesStream(s) ? Math.Min(s.Len, (uint)(Workspace.StreamBytes - StreamOffset(s)))
            : Math.Min(s.Len, (uint)(Workspace.AreaBytes - s.BufOffset));

    /// <summary>
    /// A plain read or write of the program's pipe or eventfd, a SEND or RECV: its buffer is the
    /// workspace's stream buffer, not the area.
    /// </summary>
    public static bool UsesStream(SqeSpec s) =>
        (s.Fd is FdChoice.PipeRead or FdChoice.PipeWrite or FdChoice.EventFd && s.Opcode is (byte)io_uring_op.IORING_OP_READ or (byte)io_uring_op.IORING_OP_WRITE)
        || s.Opcode is (byte)io_uring_op.IORING_OP_SEND or (byte)io_uring_op.IORING_OP_RECV;

    public static int StreamOffset(SqeSpec s) => s.BufOffset % (Workspace.StreamBytes / 2);

    private static void Fill(io_uring_sqe* sqe, SqeSpec s, Workspace ws, int slot, int ringFd)
    {
        sqe->opcode = s.Opcode;
        sqe->flags = s.Flags;
        sqe->ioprio = s.Ioprio;
        sqe->user_data = s.UserData;
        sqe->buf_index = s.BufIndex;

        sqe->fd = Descriptor(s, ws.Fds);
        if (FilledAsNop(s))
        {
            sqe->nop_flags = s.NopFlags;
            sqe->len = unchecked((uint)s.Inject);

            // The big-CQE words a NOP CQE32 echoes: plain numbers, not addresses.
            sqe->off = s.Off;
            sqe->addr = (ulong)s.BufOffset + 1;
            if ((s.NopFlags & (uint)IoUringNopFlags.IORING_NOP_FILE) == 0)
            {
                sqe->fd = -1;
            }

            return;
        }

        if (s.Opcode == (byte)io_uring_op.IORING_OP_FSYNC)
        {
            sqe->fsync_flags = s.OpFlags;
            return;
        }

        // SYNC_FILE_RANGE, FALLOCATE, FTRUNCATE, FADVISE: the offset in off, a 64-bit length in addr;
        // MADVISE: the address in addr, a 64-bit length in off. The len and the flags word as drawn.
        // CLOSE: the descriptor in fd or a slot + 1 in file_index; FILES_UPDATE: the first slot (or
        // IORING_FILE_INDEX_ALLOC) in off, the count in len, the slot's descriptor list at addr;
        // FIXED_FD_INSTALL: the fixed slot in fd, its flags.
        if (DescriptorChoices.IsDescriptorCall(s))
        {
            sqe->file_index = s.FileIndex;
            sqe->off = s.Off;
            sqe->len = s.Len;
            sqe->install_fd_flags = s.OpFlags;
            if (DescriptorChoices.IsFilesUpdate(s))
            {
                sqe->addr = s.Buf == BufChoice.Area ? ws.DescriptorList(slot, DescriptorChoices.ListStart(s)) : Address(s.Buf);
            }

            // PIPE: where the two descriptors or slot indexes go, at addr; EPOLL_WAIT: its events, in
            // the workspace's own buffer (Workspace.EpollOut).
            if (DescriptorChoices.IsPipe(s))
            {
                sqe->addr = s.Buf == BufChoice.Area ? (ulong)(ws.Area + s.BufOffset) : Address(s.Buf);
            }

            if (DescriptorChoices.IsEpollWait(s))
            {
                sqe->addr = s.Buf == BufChoice.Area ? (ulong)ws.EpollOut : Address(s.Buf);
            }

            // EPOLL_CTL: the operation in len, the target descriptor in off (drawn as a descriptor
            // choice), an event of the workspace's at addr.
            if (DescriptorChoices.IsEpollCtl(s))
            {
                sqe->off = (ulong)Descriptor(DescriptorChoices.EpollTarget(s), ws.Fds);
                sqe->addr = s.Buf == BufChoice.Area ? ws.EpollEvent(s.BufOffset) : Address(s.Buf);
            }

            return;
        }

        if (PathChoices.IsPathCall(s))
        {
            FillPathCall(sqe, s, ws);
            return;
        }

        // SPLICE and TEE: the input in splice_fd_in, its offset in splice_off_in (addr), the output's in off.
        if (SpliceChoices.IsSpliceCall(s))
        {
            sqe->splice_fd_in = Descriptor(SpliceChoices.InputSqe(s), ws.Fds);
            sqe->splice_off_in = s.Length;
            sqe->off = s.Off;
            sqe->len = s.Len;
            sqe->splice_flags = s.OpFlags;
            return;
        }

        // PROVIDE_BUFFERS and REMOVE_BUFFERS: the count in fd, the group in buf_group (which is
        // buf_index), PROVIDE's first buffer at addr, each len bytes, ids from off.
        if (BufferChoices.IsBufferCall(s))
        {
            sqe->fd = (int)s.Length;
            sqe->addr = s.Opcode == (byte)io_uring_op.IORING_OP_PROVIDE_BUFFERS ? (s.Buf == BufChoice.Area ? (ulong)(ws.Area + s.BufOffset) : Address(s.Buf)) : 0;
            sqe->len = s.Len;
            sqe->off = s.Off;
            sqe->rw_flags = s.OpFlags;
            return;
        }

        if (MessageAndWaitChoices.IsCall(s))
        {
            FillMessageOrWait(sqe, s, ws, slot, ringFd);
            return;
        }

        if (FileCallChoices.IsFileCall(s))
        {
            var address = s.Buf == BufChoice.Area ? (ulong)(ws.Area + s.BufOffset) : Address(s.Buf);
            (sqe->off, sqe->addr) = FileCallChoices.IsMadvise(s) ? (s.Length, address) : (s.Off, s.Length);
            sqe->len = s.Len;
            sqe->rw_flags = s.OpFlags;
            return;
        }

        // POLL_ADD: the events, its flags in len, addr 0 (anything else is refused); POLL_REMOVE: the
        // user_data it names in addr, an update's new user_data in off and new events.
        if (PollChoices.IsPoll(s))
        {
            sqe->poll32_events = s.OpFlags;
            sqe->len = s.Len;
            sqe->off = s.Off;
            sqe->addr = PollChoices.IsRemove(s) ? s.Names : s.Buf == BufChoice.Area ? 0 : Workspace.UnmappedAddress;
            return;
        }

        // SOCKET: the domain in fd, the type in off, the protocol in len. BIND and CONNECT: an address of
        // the workspace's, its length in addr2. LISTEN: the backlog in len. ACCEPT: the peer address and
        // its length's pointer (addr, addr2), IORING_ACCEPT_* in ioprio, the new socket's flags.
        if (ConnectionChoices.IsConnectionOpcode(s.Opcode))
        {
            FillConnection(sqe, s, ws);
            return;
        }

        // SHUTDOWN: how in len. SENDMSG and RECVMSG: a msghdr of the workspace's (len 1, as liburing
        // fills it; its name and control lengths in Length); SEND and RECV: the stream buffer. Their flags: msg_flags, and IORING_RECVSEND_* in ioprio.
        if (SocketChoices.IsShutdown(s))
        {
            sqe->len = s.Len;
            return;
        }

        if (SocketChoices.IsMessage(s))
        {
            sqe->addr = s.Buf == BufChoice.Area ? ws.MsgHdr(slot, StreamOffset(s), s.Len, SocketChoices.NameLength(s), SocketChoices.ControlLength(s)) : Address(s.Buf);
            sqe->len = 1;
            sqe->msg_flags = s.OpFlags;
            return;
        }

        // TIMEOUT and LINK_TIMEOUT: the time at addr, the count in off; TIMEOUT_REMOVE: the user_data it names in addr,
        // an update's time in addr2 (which is off).
        // ASYNC_CANCEL: the user_data it names in addr, the file key in fd, the opcode key in len.
        if (TimeoutChoices.IsCancel(s))
        {
            sqe->addr = s.Names;
            sqe->len = s.Len;
            sqe->off = s.Off;
            sqe->cancel_flags = s.OpFlags;
            return;
        }

        if (TimeoutChoices.CarriesTime(s) || TimeoutChoices.IsRemove(s))
        {
            var time = TimeoutChoices.Word(s, ws);
            sqe->addr = TimeoutChoices.CarriesTime(s) ? time : s.Names;
            sqe->off = TimeoutChoices.CarriesTime(s) ? s.Off : time;
            sqe->len = s.Len;
            sqe->timeout_flags = s.OpFlags;
            return;
        }

        var vectored = s.Opcode is (byte)io_uring_op.IORING_OP_READV or (byte)io_uring_op.IORING_OP_WRITEV;
        sqe->addr = s.Buf switch
        {
            BufChoice.Area when UsesStream(s) => (ulong)(ws.Stream + StreamOffset(s)),
            BufChoice.Area => vectored ? ws.IovecArray(slot, s.BufOffset, (int)s.Len) : (ulong)(ws.Area + s.BufOffset),
            _ => Address(s.Buf),
        };

        sqe->len = TransferLength(s);
        sqe->off = s.Off;
        sqe->rw_flags = s.OpFlags;
    }

    /// <summary>A path call as <see cref="PathChoices"/> lays its fields out; open flags in the process's own numbers.</summary>
    private static void FillPathCall(io_uring_sqe* sqe, SqeSpec s, Workspace ws)
    {
        // The attribute calls: the name at addr, the value at addr2, its size in len, the flags in
        // xattr_flags, GETXATTR's and SETXATTR's path at addr3.
        if (PathChoices.IsXattr(s))
        {
            sqe->addr = s.Buf == BufChoice.Area ? ws.XattrName(s.BufOffset) : Address(s.Buf);
            sqe->addr2 = (BufChoice)s.Off == BufChoice.Area ? (ulong)(ws.Area + s.Domain) : Address((BufChoice)s.Off);
            sqe->len = s.Len;
            sqe->xattr_flags = s.OpFlags;
            sqe->addr3 = PathChoices.XattrByPath(s) ? ws.XattrPath((int)s.Length) : 0;
            return;
        }

        sqe->addr = s.Buf == BufChoice.Area ? ws.Name(s.BufOffset) : Address(s.Buf);
        sqe->len = s.Len;
        sqe->rw_flags = s.OpFlags;
        sqe->file_index = s.FileIndex;
        var second = (BufChoice)s.Off;
        switch (s.Opcode)
        {
            case (byte)io_uring_op.IORING_OP_OPENAT:
                sqe->open_flags = (uint)PathChoices.NativeOpenFlags(s.OpFlags);
                break;
            case (byte)io_uring_op.IORING_OP_OPENAT2:
                sqe->addr2 = second == BufChoice.Area ? ws.How((int)s.Length) : Address(second);
                break;
            case (byte)io_uring_op.IORING_OP_STATX:
                sqe->addr2 = second == BufChoice.Area ? (ulong)ws.StatxBuffer : Address(second);
                break;
            default:
                if (PathChoices.HasSecondName(s))
                {
                    sqe->addr2 = ws.Name((int)s.Length);
                }

                if (PathChoices.HasSecondDirectory(s))
                {
                    sqe->len = (uint)Descriptor(s with { Fd = (FdChoice)s.Len, Flags = 0 }, ws.Fds);
                }

                break;
        }
    }

    private static void FillConnection(io_uring_sqe* sqe, SqeSpec s, Workspace ws)
    {
        sqe->file_index = s.FileIndex;
        sqe->len = s.Len;
        switch (s.Opcode)
        {
            case (byte)io_uring_op.IORING_OP_SOCKET:
                sqe->fd = s.Domain;
                sqe->off = s.Off;
                break;
            case (byte)io_uring_op.IORING_OP_ACCEPT:
                *(int*)(ws.Addresses + ConnectionChoices.PeerAddressLength) = 128;
                sqe->addr = s.Buf == BufChoice.Area ? (ulong)(ws.Addresses + ConnectionChoices.PeerAddress) : Address(s.Buf);
                sqe->addr2 = s.Buf == BufChoice.Null ? 0 : (ulong)(ws.Addresses + ConnectionChoices.PeerAddressLength);
                sqe->accept_flags = s.OpFlags;
                break;
            case (byte)io_uring_op.IORING_OP_BIND or (byte)io_uring_op.IORING_OP_CONNECT:
                sqe->addr = s.Buf == BufChoice.Area ? (ulong)(ws.Addresses + s.BufOffset) : Address(s.Buf);
                sqe->addr2 = s.Off;
                break;
        }
    }

    /// <summary>
    /// The user_data of a program's SQEs that create a plain descriptor (SOCKET, ACCEPT, FIXED_FD_INSTALL): their CQEs
    /// carry a number the process chose, recorded as <see cref="ConnectionChoices.NewDescriptor"/>.
    /// </summary>
    public static HashSet<ulong> DescriptorCreators(RingProgram program) =>
        [.. program.Steps.SelectMany(step => step.Batch).Where(s => ConnectionChoices.CreatesDescriptor(s) || DescriptorChoices.CreatesDescriptor(s) || PathChoices.CreatesDescriptor(s)).Select(s => s.UserData)];

    /// <summary>The address a bad buffer choice stands for.</summary>
    /// <summary>
    /// MSG_RING: the target (the ring itself) in fd, the command in addr, the CQE's user_data in off and
    /// res in len, its flags, the CQE flags it passes in file_index. FUTEX_WAIT and FUTEX_WAKE: the futex2
    /// flags in fd, the word (of the workspace's futex memory) in addr, the value or count in off, the mask
    /// in addr3; FUTEX_WAITV: a futex_waitv array in addr, its count in len. WAITID: the idtype in len, the
    /// id in fd, the options in file_index, the siginfo (the workspace's) in addr2. SEND_ZC: the stream
    /// buffer; SENDMSG_ZC: a msghdr of the workspace's; the notification's user_data in addr3.
    /// </summary>
    private static void FillMessageOrWait(io_uring_sqe* sqe, SqeSpec s, Workspace ws, int slot, int ringFd)
    {
        var fixedFile = (s.Flags & (byte)IoUringSqeFlags.IOSQE_FIXED_FILE) != 0;
        switch ((io_uring_op)s.Opcode)
        {
            case io_uring_op.IORING_OP_MSG_RING:
                sqe->fd = s.Fd == FdChoice.Ring && !fixedFile ? ringFd : Descriptor(s, ws.Fds);
                sqe->addr = s.Length;
                sqe->off = s.Off;
                sqe->len = s.Len;
                sqe->msg_ring_flags = s.OpFlags;
                sqe->file_index = s.FileIndex;
                break;
            case io_uring_op.IORING_OP_FUTEX_WAIT or io_uring_op.IORING_OP_FUTEX_WAKE:
                sqe->fd = (int)s.OpFlags;
                sqe->addr = s.Buf == BufChoice.Area ? (ulong)(ws.Futex + s.BufOffset) : Address(s.Buf);
                sqe->off = s.Off;
                sqe->addr3 = s.Length;
                sqe->len = s.Len;
                break;
            case io_uring_op.IORING_OP_FUTEX_WAITV:
                sqe->fd = 0;
                sqe->addr = s.Buf == BufChoice.Area ? ws.FutexWaitvArray(s.BufOffset) : Address(s.Buf);
                sqe->len = s.Len;
                break;
            case io_uring_op.IORING_OP_WAITID:
                sqe->fd = s.Fd == FdChoice.File ? Descriptor(s, ws.Fds) : s.Domain;
                sqe->len = s.Len;
                sqe->file_index = s.FileIndex;
                sqe->off = s.Buf == BufChoice.Area ? ws.Siginfo : Address(s.Buf);
                break;
            default:
                sqe->addr = s.Buf != BufChoice.Area ? Address(s.Buf)
                    : s.Opcode == (byte)io_uring_op.IORING_OP_SENDMSG_ZC ? ws.MsgHdr(slot, 0, 1)
                    : (ulong)ws.Stream;
                sqe->len = s.Opcode == (byte)io_uring_op.IORING_OP_SENDMSG_ZC ? 1 : s.Len;
                sqe->addr3 = s.Length;
                break;
        }
    }

    private static ulong Address(BufChoice buf) => buf switch
    {
        BufChoice.Null => 0,
        BufChoice.Unmapped => Workspace.UnmappedAddress,
        _ => Workspace.KernelAddress,
    };

    /// <summary>Up to <paramref name="max"/> CQEs, the CQ head advanced past them (F_SKIP fillers are passed over by the client).</summary>
    /// <param name="creators">User data whose CQEs carry a new descriptor: closed, and recorded as <see cref="ConnectionChoices.NewDescriptor"/>.</param>
    internal static List<CqeTrace> Reap(IoUring.Ring.Ring ring, bool cqe32, uint max, HashSet<ulong>? creators = null)
    {
        var cqes = new List<CqeTrace>();
        for (var i = 0u; i < max && ring.TryNextCqe(out var cqe, out var slots); i++)
        {
            if (creators is not null && cqe->res >= 0 && creators.Contains(cqe->user_data))
            {
                IoUring.Ring.Posix.Close(cqe->res);
                cqe->res = ConnectionChoices.NewDescriptor;
            }

            if (cqe32 || slots == 2)
            {
                var big = IoUring.Ring.Ring.BigCqe(cqe);
                cqes.Add(new CqeTrace(cqe->user_data, cqe->res, cqe->flags, true, big[0], big[1]));
            }
            else
            {
                cqes.Add(new CqeTrace(cqe->user_data, cqe->res, cqe->flags));
            }

            ring.CqAdvance(slots);
        }

        return cqes;
    }

    /// <summary>Reaps every CQE and flushes held-back ones until the CQ and the overflow list are empty.</summary>
    private static List<CqeTrace> Drain(IoUring.Ring.Ring ring, bool cqe32, HashSet<ulong> creators)
    {
        var all = new List<CqeTrace>();
        for (var round = 0; round < 64; round++)
        {
            all.AddRange(Reap(ring, cqe32, uint.MaxValue, creators));
            if ((ring.SqFlags & (uint)IoUringSqRingFlags.IORING_SQ_CQ_OVERFLOW) == 0)
            {
                break;
            }

            ring.Backend.Enter(ring.Fd, 0, 0, (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS, null, 0);
        }

        return all;
    }

    /// <summary>
    /// Waits (up to the settle timeout) until <paramref name="count"/> CQ slots are ready: in the kernel,
    /// or, where a wait can spin deaf to signals (<see cref="RunOptions.MixedOverflowWaitSpins"/>) on a
    /// CQE_MIXED ring, by polling with non-waiting enters that flush the overflow list. -ETIME on timeout.
    /// </summary>
    internal static int Wait(IRingBackend backend, IoUring.Ring.Ring ring, uint count, RunOptions options)
    {
        if (options.MixedOverflowWaitSpins && ring.CqeMixed)
        {
            var started = Environment.TickCount64;
            while (true)
            {
                var rc = backend.Enter(ring.Fd, 0, 0, (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS, null, 0);
                if (rc < 0 || ring.CqTail - ring.CqHead >= count)
                {
                    return rc;
                }

                if (Environment.TickCount64 - started > (long)SettleTimeout.TotalMilliseconds)
                {
                    return -Errno.ETIME;
                }

                Thread.Sleep(1);
            }
        }

        var ts = new __kernel_timespec { tv_sec = (long)SettleTimeout.TotalSeconds };
        var arg = new io_uring_getevents_arg { ts = (ulong)&ts };
        var flags = (uint)(IoUringEnterFlags.IORING_ENTER_GETEVENTS | IoUringEnterFlags.IORING_ENTER_EXT_ARG);
        // min_complete counts every CQE in the ring, not new ones.
        return backend.Enter(ring.Fd, 0, count, flags, &arg, (nuint)sizeof(io_uring_getevents_arg));
    }

    /// <summary>Makes one register call and describes its result (and what it wrote back).</summary>
    private static string Register(IRingBackend backend, IoUring.Ring.Ring ring, Workspace ws, RegisterSpec reg) => reg.Kind switch
    {
        RegisterKind.Probe => Probe(ring, reg),
        RegisterKind.Query => Query(backend, reg),
        RegisterKind.Files => Files(ring, ws, reg),
        RegisterKind.UnregisterFiles => $"unregister-files {Call(ring, IoUringRegister.IORING_UNREGISTER_FILES, reg.Dirty ? ws.Area : null, 0)}",
        RegisterKind.FilesUpdate => FilesUpdate(ring, ws, reg),
        RegisterKind.Buffers => Buffers(ring, ws, reg),
        RegisterKind.UnregisterBuffers => $"unregister-buffers {Call(ring, IoUringRegister.IORING_UNREGISTER_BUFFERS, null, reg.Dirty ? 1u : 0)}",
        RegisterKind.Restrictions => Restrictions(ring, reg),
        RegisterKind.EnableRings => $"enable-rings {Call(ring, IoUringRegister.IORING_REGISTER_ENABLE_RINGS, null, reg.Dirty ? 1u : 0)}",
        RegisterKind.SyncCancel => SyncCancel(ring, ws, reg),
        RegisterKind.BufferRing => BufferRing(backend, ring, ws, reg),
        RegisterKind.UnregisterBufferRing => UnregisterBufferRing(ring, reg),
        RegisterKind.BufferRingStatus => BufferRingStatus(ring, reg),
        RegisterKind.Eventfd => Eventfd(ring, ws, reg),
        RegisterKind.UnregisterEventfd => $"unregister-eventfd {Call(ring, IoUringRegister.IORING_UNREGISTER_EVENTFD, reg.Dirty ? ws.Area : null, reg.Count)}",
        RegisterKind.EventfdDisabled => EventfdDisabled(ring, reg),
        _ => MemRegion(backend, ring, ws, reg),
    };

    /// <summary>
    /// An enter that waits through a registered wait argument (EXT_ARG_REG): the argument is an offset
    /// into the wait-argument region, which the program may have registered over the buffer area
    /// (MemRegion variant 8). 0: a 1 ms timeout for one more CQE than ready (-ETIME); 1: no timeout,
    /// nothing to wait for; 2: a misaligned offset; 3: an offset past the region; 4: unknown wait
    /// flags; 5: the wrong argument size. Where the kernel's wait spins on a stuck 32-byte CQE of a
    /// CQE_MIXED ring, a wait that would find one is not made: the overflow list is flushed first, and
    /// if it still holds something the result is "skipped".
    /// </summary>
    private static string RegisteredWait(IRingBackend backend, IoUring.Ring.Ring ring, Workspace ws, int variant, RunOptions options)
    {
        var offset = variant switch { 1 => 64u, 2 => 4u, 3 => 8192u, _ => 0u };
        if (offset + (uint)sizeof(io_uring_reg_wait) <= Workspace.AreaBytes)
        {
            var w = (io_uring_reg_wait*)(ws.Area + offset);
            *w = default;
            w->flags = variant switch { 0 => Constants.IORING_REG_WAIT_TS, 4 => 2u, _ => 0u };
            w->ts.tv_nsec = 1_000_000;
        }

        var flags = (uint)(IoUringEnterFlags.IORING_ENTER_GETEVENTS | IoUringEnterFlags.IORING_ENTER_EXT_ARG | IoUringEnterFlags.IORING_ENTER_EXT_ARG_REG);
        var min = variant == 1 ? 0u : ring.CqTail - ring.CqHead + 1;
        if (min > 0 && options.MixedOverflowWaitSpins && ring.CqeMixed && Overflowing(ring))
        {
            backend.Enter(ring.Fd, 0, 0, (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS, null, 0);
            if (Overflowing(ring))
            {
                return "skipped";
            }

            min = ring.CqTail - ring.CqHead + 1;
        }

        return backend.Enter(ring.Fd, 0, min, flags, (void*)offset, variant == 5 ? 24u : (nuint)sizeof(io_uring_reg_wait)).ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    private static bool Overflowing(IoUring.Ring.Ring ring) => (ring.SqFlags & (uint)IoUringSqRingFlags.IORING_SQ_CQ_OVERFLOW) != 0;

    private static int Call(IoUring.Ring.Ring ring, IoUringRegister op, void* arg, uint nrArgs) => ring.Backend.Register(ring.Fd, (uint)op, arg, nrArgs);

    private static int Call(IoUring.Ring.Ring ring, uint op, void* arg, uint nrArgs) => ring.Backend.Register(ring.Fd, op, arg, nrArgs);

    private static string Files(IoUring.Ring.Ring ring, Workspace ws, RegisterSpec reg)
    {
        // Variant 0: the file, an empty slot, the file again...; 1: a null array (a sparse table);
        // 2: a closed descriptor among them; 3: an unreadable array.
        var fds = stackalloc int[8];
        for (var i = 0; i < 8; i++)
        {
            fds[i] = i == 1 ? -1 : ws.Fd;
        }

        if (reg.Variant == 2)
        {
            fds[Math.Min(2, (int)Math.Max(reg.Count, 1) - 1)] = Workspace.ClosedFd;
        }

        void* arg = reg.Variant switch
        {
            1 => null,
            3 => (void*)Workspace.UnmappedAddress,
            _ => fds,
        };
        return $"files {Call(ring, IoUringRegister.IORING_REGISTER_FILES, arg, reg.Count)}";
    }

    /// <summary>The keys a program's IORING_REGISTER_SYNC_CANCEL uses (<see cref="SyncCancelKey"/>).</summary>
    public const int SyncCancelKeys = 6;

    /// <summary>
    /// A sync cancellation's key by variant: 0 the user_data of the program's first SQE (1), 1 that of the
    /// second step's first (101), 2 ANY, 3 ALL on the pipe's read end, 4 ALL on the POLL_ADD opcode, 5 socket
    /// B's descriptor. Its timeout is zero, so a match still running in io-wq ends the wait at once (-ETIME).
    /// </summary>
    public static (ulong UserData, uint Flags, FdChoice Fd, byte Opcode) SyncCancelKey(uint variant) => variant switch
    {
        0 => (1, 0, FdChoice.Negative, 0),
        1 => (101, 0, FdChoice.Negative, 0),
        2 => (0, TimeoutChoices.CancelAny, FdChoice.Negative, 0),
        3 => (0, TimeoutChoices.CancelAll | TimeoutChoices.CancelFd, FdChoice.PipeRead, 0),
        4 => (0, TimeoutChoices.CancelAll | TimeoutChoices.CancelOp, FdChoice.Negative, (byte)io_uring_op.IORING_OP_POLL_ADD),
        _ => (0, TimeoutChoices.CancelFd, FdChoice.SocketB, 0),
    };

    /// <summary>IORING_REGISTER_SYNC_CANCEL with the key of <see cref="SyncCancelKey"/>; dirty sets a padding byte.</summary>
    private static string SyncCancel(IoUring.Ring.Ring ring, Workspace ws, RegisterSpec reg)
    {
        var (userData, flags, fd, opcode) = SyncCancelKey(reg.Variant);
        var sc = new io_uring_sync_cancel_reg
        {
            addr = userData,
            flags = flags,
            fd = fd switch { FdChoice.PipeRead => ws.PipeRead, FdChoice.SocketB => ws.SocketB, _ => -1 },
            opcode = opcode,
        };
        if (reg.Dirty)
        {
            ((byte*)&sc.pad)[3] = 1;
        }

        return $"sync-cancel {Call(ring, IoUringRegister.IORING_REGISTER_SYNC_CANCEL, &sc, reg.Count)}";
    }

    private static string FilesUpdate(IoUring.Ring.Ring ring, Workspace ws, RegisterSpec reg)
    {
        // Slots from offset Variant % 2: the file, "skip", empty, and a closed descriptor when dirty.
        var fds = stackalloc int[4] { ws.Fd, IoUring.Bindings.Constants.IORING_REGISTER_FILES_SKIP, -1, reg.Dirty ? Workspace.ClosedFd : ws.Fd };
        var up = new io_uring_files_update { offset = reg.Variant % 2, fds = reg.Variant == 3 ? Workspace.UnmappedAddress : (ulong)fds, resv = reg.Variant == 2 ? 1u : 0 };
        return $"files-update {Call(ring, IoUringRegister.IORING_REGISTER_FILES_UPDATE, &up, reg.Count)}";
    }

    private static string Buffers(IoUring.Ring.Ring ring, Workspace ws, RegisterSpec reg)
    {
        // Variant 0: four 8 KiB buffers over the area; 1: a null base with a length; 2: sparse
        // (null, 0) slots between; 3: unmapped memory. Dirty: a buffer over 1 GiB.
        var iovs = stackalloc nint[8];
        for (var i = 0; i < 4; i++)
        {
            iovs[2 * i] = (nint)(ws.Area + (i * 8192));
            iovs[(2 * i) + 1] = 8192;
        }

        switch (reg.Variant)
        {
            case 1:
                iovs[0] = 0;
                break;
            case 2:
                iovs[2] = 0;
                iovs[3] = 0;
                break;
            case 3:
                iovs[0] = (nint)Workspace.UnmappedAddress;
                break;
        }

        if (reg.Dirty)
        {
            iovs[1] = unchecked((nint)(1L << 31));
        }

        return $"buffers {Call(ring, IoUringRegister.IORING_REGISTER_BUFFERS, iovs, reg.Count)}";
    }

    // IORING_REGISTER_PBUF_RING, IORING_UNREGISTER_PBUF_RING and IORING_REGISTER_PBUF_STATUS by number: 6.1's header has no PBUF_STATUS.
    private const uint RegisterBufferRingOp = 22;
    private const uint UnregisterBufferRingOp = 23;
    private const uint BufferRingStatusOp = 26;

    /// <summary>The lengths of the buffers a ring is filled with (1 KiB apart in the area), and the id of the first (each next one more).</summary>
    public static readonly uint[] RingBufferLengths = [64, 16, 200, 1000];

    public const ushort RingFirstBufferId = 40;

    /// <summary>
    /// IORING_REGISTER_PBUF_RING (count: ring_entries; the shape and group from the variant, see
    /// <see cref="BufferChoices.RingShape"/>; dirty: a reserved byte set), its io_uring_buf_reg written
    /// byte by byte (6.1's has a pad for the flags and no min_left). Before the call the workspace's page
    /// gets up to four entries and its tail; an MMAP ring the kernel took is mapped, given the same, and unmapped.
    /// </summary>
    private static string BufferRing(IRingBackend backend, IoUring.Ring.Ring ring, Workspace ws, RegisterSpec reg)
    {
        var (shape, group) = BufferChoices.FromVariant(reg.Variant);
        var page = ws.BufferRingPage(group);
        var mapped = shape is BufferChoices.RingShape.Mapped or BufferChoices.RingShape.MappedWithAddress;
        if (!mapped)
        {
            FillBufferRing(page, ws, reg.Count);
        }

        var arg = stackalloc byte[40];
        new Span<byte>(arg, 40).Clear();
        *(ulong*)arg = shape switch
        {
            BufferChoices.RingShape.Mapped or BufferChoices.RingShape.NoAddress => 0,
            BufferChoices.RingShape.Misaligned => (ulong)(page + 8),
            _ => (ulong)page,
        };
        *(uint*)(arg + 8) = reg.Count;
        *(ushort*)(arg + 12) = group;
        *(ushort*)(arg + 14) = shape switch
        {
            BufferChoices.RingShape.Mapped or BufferChoices.RingShape.MappedWithAddress => (ushort)io_uring_register_pbuf_ring_flags.IOU_PBUF_RING_MMAP,
            BufferChoices.RingShape.Incremental or BufferChoices.RingShape.IncrementalMinLeft => (ushort)io_uring_register_pbuf_ring_flags.IOU_PBUF_RING_INC,
            BufferChoices.RingShape.UnknownFlag => 4,
            _ => 0,
        };
        *(uint*)(arg + 16) = shape switch { BufferChoices.RingShape.IncrementalMinLeft => 4u, BufferChoices.RingShape.MinLeftAlone => 1u, _ => 0u };
        if (reg.Dirty)
        {
            arg[24] = 1;
        }

        var rc = backend.Register(ring.Fd, RegisterBufferRingOp, arg, 1);
        var text = $"buffer-ring {rc}";
        if (rc == 0 && mapped)
        {
            var offset = IoUring.Bindings.Constants.IORING_OFF_PBUF_RING | ((ulong)group << (int)IoUring.Bindings.Constants.IORING_OFF_PBUF_SHIFT);
            var map = backend.Map(ring.Fd, offset, 4096);
            if (map < 0)
            {
                return text + $" map {map}";
            }

            FillBufferRing((byte*)map, ws, reg.Count);
            backend.Unmap(map, 4096);
            text += " map ok";
        }

        return text;
    }

    /// <summary>Up to four entries (fewer for a smaller ring), each a buffer of the area, and the tail after them.</summary>
    private static void FillBufferRing(byte* page, Workspace ws, uint entries)
    {
        var count = (int)Math.Min(Math.Max(entries, 1u), (uint)RingBufferLengths.Length);
        for (var k = 0; k < count; k++)
        {
            var entry = page + (k * 16);
            *(ulong*)entry = (ulong)(ws.Area + Workspace.RingBufferOffset + (k * 1024));
            *(uint*)(entry + 8) = RingBufferLengths[k];
            *(ushort*)(entry + 12) = (ushort)(RingFirstBufferId + k);
        }

        Volatile.Write(ref *(ushort*)(page + 14), (ushort)count);
    }

    /// <summary>IORING_UNREGISTER_PBUF_RING of the variant's group, nr_args the count; dirty: the flags set.</summary>
    private static string UnregisterBufferRing(IoUring.Ring.Ring ring, RegisterSpec reg)
    {
        var arg = stackalloc byte[40];
        new Span<byte>(arg, 40).Clear();
        *(ushort*)(arg + 12) = (ushort)reg.Variant;
        arg[14] = reg.Dirty ? (byte)1 : (byte)0;
        return $"unregister-buffer-ring {Call(ring, UnregisterBufferRingOp, arg, reg.Count)}";
    }

    /// <summary>IORING_REGISTER_PBUF_STATUS of the variant's group, nr_args the count; dirty: a reserved word set. The head it reports.</summary>
    private static string BufferRingStatus(IoUring.Ring.Ring ring, RegisterSpec reg)
    {
        var arg = stackalloc uint[10];
        new Span<uint>(arg, 10).Clear();
        arg[0] = reg.Variant;
        arg[9] = reg.Dirty ? 1u : 0u;
        var rc = Call(ring, BufferRingStatusOp, arg, reg.Count);
        return rc == 0 ? $"buffer-ring-status 0 head {arg[1]}" : $"buffer-ring-status {rc}";
    }

    /// <summary>The variants of <see cref="Eventfd"/>, the two that register the notifier drawn most.</summary>
    public static readonly uint[] EventfdVariants = [0, 0, 0, 1, 1, 2, 3, 4, 5];

    /// <summary>
    /// IORING_REGISTER_EVENTFD (variant 1: _ASYNC) of the workspace's notifier; 2: the descriptor at an
    /// unmapped address; 3: a closed descriptor; 4: the program's file, no eventfd; 5: the ring's own
    /// descriptor. nr_args is the count.
    /// </summary>
    private static string Eventfd(IoUring.Ring.Ring ring, Workspace ws, RegisterSpec reg)
    {
        var fd = reg.Variant switch { 3 => Workspace.ClosedFd, 4 => ws.Fd, 5 => ring.Fd, _ => ws.Notifier };
        var op = reg.Variant == 1 ? IoUringRegister.IORING_REGISTER_EVENTFD_ASYNC : IoUringRegister.IORING_REGISTER_EVENTFD;
        return $"eventfd {Call(ring, op, reg.Variant == 2 ? (void*)Workspace.UnmappedAddress : &fd, reg.Count)}";
    }

    /// <summary>IORING_CQ_EVENTFD_DISABLED set (variant 1) or cleared in the CQ ring's flags, which the application owns; the flags after.</summary>
    private static string EventfdDisabled(IoUring.Ring.Ring ring, RegisterSpec reg)
    {
        ring.CqFlags = reg.Variant == 1 ? ring.CqFlags | Constants.IORING_CQ_EVENTFD_DISABLED : ring.CqFlags & ~Constants.IORING_CQ_EVENTFD_DISABLED;
        return $"cq-flags 0x{ring.CqFlags:x}";
    }

    private static string Restrictions(IoUring.Ring.Ring ring, RegisterSpec reg)
    {
        var entries = reg.Restrictions ?? [];
        var array = stackalloc io_uring_restriction[Math.Max(entries.Length, 1)];
        for (var i = 0; i < entries.Length; i++)
        {
            array[i] = default;
            array[i].opcode = entries[i].Opcode;
            array[i].register_op = entries[i].Value;
        }

        return $"restrictions {Call(ring, IoUringRegister.IORING_REGISTER_RESTRICTIONS, array, (uint)entries.Length)}";
    }

    private static string MemRegion(IRingBackend backend, IoUring.Ring.Ring ring, Workspace ws, RegisterSpec reg)
    {
        // 0: kernel memory, one page; 1: the user's own memory (two pages of the area); 2: the user
        // flag without an address; 3: an unaligned size; 4: a reserved word set; 5: a wait-argument
        // region of kernel memory; 6: an id set; 7: nr_args 2; 8: the area's two pages as the
        // wait-argument region (used by registered waits).
        var rd = new io_uring_region_desc { size = reg.Variant == 3 ? 100u : 4096u };
        switch (reg.Variant)
        {
            case 1 or 8:
                rd.user_addr = (ulong)ws.Area;
                rd.size = 8192;
                rd.flags = IoUring.Bindings.Constants.IORING_MEM_REGION_TYPE_USER;
                break;
            case 2:
                rd.flags = IoUring.Bindings.Constants.IORING_MEM_REGION_TYPE_USER;
                break;
            case 4:
                rd.__resv[2] = 1;
                break;
            case 6:
                rd.id = 3;
                break;
        }

        var mr = new io_uring_mem_region_reg { region_uptr = (ulong)&rd, flags = reg.Variant is 5 or 8 ? IoUring.Bindings.Constants.IORING_MEM_REGION_REG_WAIT_ARG : 0 };
        var rc = Call(ring, IoUringRegister.IORING_REGISTER_MEM_REGION, &mr, reg.Variant == 7 ? 2u : 1u);
        var text = $"mem-region {rc} offset 0x{rd.mmap_offset:x}";
        if (rc == 0 && rd.mmap_offset != 0)
        {
            // A kernel-allocated region is mapped at the offset it reported: zeroed, and writable.
            var map = backend.Map(ring.Fd, rd.mmap_offset, (nuint)rd.size);
            if (map < 0)
            {
                return text + $" map {map}";
            }

            var bytes = (byte*)map;
            var zero = new ReadOnlySpan<byte>(bytes, (int)rd.size).IndexOfAnyExcept((byte)0) < 0;
            bytes[0] = 0x5a;
            text += $" map ok zeroed {zero} wrote {bytes[0]}";
            backend.Unmap(map, (nuint)rd.size);
        }

        return text;
    }

    private static string Probe(IoUring.Ring.Ring ring, RegisterSpec reg)
    {
        var buffer = stackalloc byte[16 + (300 * 8)];
        new Span<byte>(buffer, 16 + (300 * 8)).Clear();
        if (reg.Dirty)
        {
            buffer[20] = 1;
        }

        var rc = ring.RegisterProbe((io_uring_probe*)buffer, reg.Count);
        if (rc < 0)
        {
            return $"probe {rc}";
        }

        var probe = (io_uring_probe*)buffer;
        var ops = (io_uring_probe_op*)(buffer + 16);
        var supported = new System.Text.StringBuilder();
        for (var i = 0; i < probe->ops_len; i++)
        {
            supported.Append((ops[i].flags & Constants.IO_URING_OP_SUPPORTED) != 0 ? '1' : '0');
        }

        return $"probe {rc} last_op {probe->last_op} ops_len {probe->ops_len} supported {supported}";
    }

    private static string Query(IRingBackend backend, RegisterSpec reg)
    {
        var data = stackalloc byte[64];
        new Span<byte>(data, 64).Clear();
        var hdr = default(io_uring_query_hdr);
        hdr.query_op = reg.Count;
        hdr.query_data = (ulong)data;
        hdr.size = reg.Variant;
        if (reg.Dirty)
        {
            hdr.__resv[1] = 1;
        }

        var rc = IoUring.Ring.Ring.Query(backend, &hdr);
        return $"query {rc} result {hdr.result} size {hdr.size} data {Convert.ToHexString(new ReadOnlySpan<byte>(data, (int)Math.Min(hdr.size, 64u)))}";
    }
}
