using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Conformance;

/// <summary>What a run of a program showed, and how many CQEs each step had ready (see <see cref="Runner"/>).</summary>
public sealed record ProgramTrace(List<string> Lines, uint[] Ready);

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
/// ready as the <paramref name="ready"/> hint says (the engine's count; the wait has a 2 s timeout
/// recorded as such, so a kernel that posts fewer is seen, not hung on), reaps everything, and
/// records that step's CQEs sorted.
/// </para>
/// </summary>
public static unsafe class Runner
{
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(2);

    /// <summary>The trace lines of one run (live kernels should pass the engine's ready counts).</summary>
    public static List<string> Trace(IRingBackend backend, RingProgram program, IReadOnlyList<uint>? ready = null) => Run(backend, program, ready).Lines;

    public static ProgramTrace Run(IRingBackend backend, RingProgram program, IReadOnlyList<uint>? ready = null)
    {
        var trace = new List<string>();
        // Two settle points per step: leftovers, then the batch.
        var readyCounts = new uint[program.Steps.Length * 2];
        using var ws = new Workspace();
        var setup = new io_uring_params { flags = program.SetupFlags, cq_entries = program.CqEntries };
        var rc = IoUring.Ring.Ring.Create(backend, program.Entries, setup, out var ring);
        trace.Add($"setup {rc}");
        if (rc < 0)
        {
            return new ProgramTrace(trace, readyCounts);
        }

        using (ring)
        {
            var p = ring!.Params;
            trace.Add($"params sq {p.sq_entries} cq {p.cq_entries} features 0x{p.features:x} sq_off {p.sq_off.head}/{p.sq_off.tail}/{p.sq_off.ring_mask}/{p.sq_off.ring_entries}/{p.sq_off.flags}/{p.sq_off.dropped}/{p.sq_off.array} cq_off {p.cq_off.head}/{p.cq_off.tail}/{p.cq_off.ring_mask}/{p.cq_off.ring_entries}/{p.cq_off.overflow}/{p.cq_off.cqes}/{p.cq_off.flags}");
            var cqe32 = (p.flags & (uint)IoUringSetupFlags.IORING_SETUP_CQE32) != 0;

            // Waits until as many CQ slots are ready as the engine had at this point, then reaps them
            // all, sorted; a wait that times out is recorded.
            List<string> Settle(int phase)
            {
                var prefix = new List<string>();
                if (ready is not null && phase < ready.Count && ring.CqTail - ring.CqHead < ready[phase])
                {
                    var waited = Wait(backend, ring, ready[phase]);
                    if (waited < 0 && ring.CqTail - ring.CqHead < ready[phase])
                    {
                        prefix.Add($"settle-timeout({waited})");
                    }
                }

                readyCounts[phase] = ring.CqTail - ring.CqHead;
                return prefix.Concat(Reap(ring, cqe32, uint.MaxValue).Order(StringComparer.Ordinal)).ToList();
            }
            var pending = new List<SqeSpec>();
            var drainSeen = false;
            for (var stepIndex = 0; stepIndex < program.Steps.Length; stepIndex++)
            {
                var step = program.Steps[stepIndex];
                // After an IO_DRAIN every request may take the drain's slow path through io-wq.
                drainSeen |= pending.Concat(step.Batch).Any(s => (s.Flags & (byte)IoUringSqeFlags.IOSQE_IO_DRAIN) != 0);
                // A dropped SQ index can leave a chain open at the end of the submission: io-wq runs it.
                var mayBeAsync = drainSeen || step.BadIndexAt >= 0 || pending.Concat(step.Batch).Any(MayCompleteFromIoWq);
                var line = new System.Text.StringBuilder();
                if (mayBeAsync)
                {
                    line.Append($"drained [{string.Join(" ", Drain(ring, cqe32))}] ");
                }

                // SQEs a stopped submission left behind run concurrently with the new batch if both go to
                // io-wq, and together could post more CQEs than the CQ holds, in an order no contract
                // fixes: they are submitted and settled first, as a phase of their own.
                if (mayBeAsync && !ring.SqRewind && ring.SqTail != ring.SqHead)
                {
                    var leftovers = backend.Enter(ring.Fd, ring.SqTail - ring.SqHead, 0, 0, null, 0);
                    pending.RemoveRange(0, Math.Max(0, pending.Count - (int)(ring.SqTail - ring.SqHead)));
                    line.Append($"leftovers {leftovers} [{string.Join(" ", Settle(2 * stepIndex))}] ");
                }

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
                    Fill(sqe, s, ws, queued);
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

                var cqes = mayBeAsync ? Settle((2 * stepIndex) + 1) : Reap(ring, cqe32, step.Reap);
                line.Append($"queued {queued} enter {enter} cqes [{string.Join(" ", cqes)}] sq {ring.SqHead}/{ring.SqTail} cq {ring.CqHead}/{ring.CqTail} sqflags 0x{ring.SqFlags & (uint)IoUringSqRingFlags.IORING_SQ_CQ_OVERFLOW:x} overflow {ring.CqOverflow} dropped {ring.SqDropped} {ws.Digest()}");
                if (step.Register is { } reg)
                {
                    line.Append(' ').Append(reg.IsQuery ? Query(backend, reg) : Probe(ring, reg));
                }

                trace.Add(line.ToString());
            }
        }

        return new ProgramTrace(trace, readyCounts);
    }

    /// <summary>
    /// FSYNC always goes to io-wq; IOSQE_ASYNC sends anything there; a read that comes up short on a
    /// regular file is retried there; shmem (the memfd) takes no non-blocking buffered writes, so
    /// writes go there too.
    /// </summary>
    public static bool MayCompleteFromIoWq(SqeSpec s) =>
        (s.Flags & (byte)IoUringSqeFlags.IOSQE_ASYNC) != 0
        || s.Opcode is (byte)io_uring_op.IORING_OP_FSYNC or (byte)io_uring_op.IORING_OP_READ or (byte)io_uring_op.IORING_OP_READV
            or (byte)io_uring_op.IORING_OP_WRITE or (byte)io_uring_op.IORING_OP_WRITEV;

    private static void Fill(io_uring_sqe* sqe, SqeSpec s, Workspace ws, int slot)
    {
        sqe->opcode = s.Opcode;
        sqe->flags = s.Flags;
        sqe->ioprio = s.Ioprio;
        sqe->user_data = s.UserData;
        sqe->fd = s.Fd switch
        {
            FdChoice.File => ws.Fd,
            FdChoice.Negative => -1,
            _ => Workspace.ClosedFd,
        };
        if (s.Opcode is (byte)io_uring_op.IORING_OP_NOP or (byte)io_uring_op.IORING_OP_NOP128 or 255 || s.Opcode >= 64)
        {
            sqe->nop_flags = s.NopFlags;
            sqe->len = unchecked((uint)s.Inject);

            // The big-CQE words a NOP CQE32 echoes: plain numbers, not addresses.
            sqe->off = s.Off;
            sqe->addr = (ulong)s.BufOffset + 1;
            if (s.Fd != FdChoice.File && (s.NopFlags & (uint)IoUringNopFlags.IORING_NOP_FILE) == 0)
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

        var vectored = s.Opcode is (byte)io_uring_op.IORING_OP_READV or (byte)io_uring_op.IORING_OP_WRITEV;
        sqe->addr = s.Buf switch
        {
            BufChoice.Area => vectored ? ws.IovecArray(slot, s.BufOffset, (int)s.Len) : (ulong)(ws.Area + s.BufOffset),
            BufChoice.Null => 0,
            BufChoice.Unmapped => Workspace.UnmappedAddress,
            _ => Workspace.KernelAddress,
        };

        // A plain read or write stays inside the area: the length is cut to what is left after the offset.
        sqe->len = vectored || s.Buf != BufChoice.Area ? s.Len : Math.Min(s.Len, (uint)(Workspace.AreaBytes - s.BufOffset));
        sqe->off = s.Off;
        sqe->rw_flags = s.OpFlags;
    }

    private static List<string> Reap(IoUring.Ring.Ring ring, bool cqe32, uint max)
    {
        var cqes = new List<string>();
        for (var i = 0u; i < max && ring.TryNextCqe(out var cqe, out var slots); i++)
        {
            var text = $"{cqe->user_data}:{cqe->res}:{cqe->flags}";
            if (cqe32 || slots == 2)
            {
                var big = IoUring.Ring.Ring.BigCqe(cqe);
                text += $":{big[0]}:{big[1]}";
            }

            cqes.Add(text);
            ring.CqAdvance(slots);
        }

        return cqes;
    }

    /// <summary>Reaps every CQE and flushes held-back ones until the CQ and the overflow list are empty.</summary>
    private static List<string> Drain(IoUring.Ring.Ring ring, bool cqe32)
    {
        var all = new List<string>();
        for (var round = 0; round < 64; round++)
        {
            all.AddRange(Reap(ring, cqe32, uint.MaxValue));
            if ((ring.SqFlags & (uint)IoUringSqRingFlags.IORING_SQ_CQ_OVERFLOW) == 0)
            {
                break;
            }

            ring.Backend.Enter(ring.Fd, 0, 0, (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS, null, 0);
        }

        return all;
    }

    private static int Wait(IRingBackend backend, IoUring.Ring.Ring ring, uint count)
    {
        var ts = new __kernel_timespec { tv_sec = (long)SettleTimeout.TotalSeconds };
        var arg = new io_uring_getevents_arg { ts = (ulong)&ts };
        var flags = (uint)(IoUringEnterFlags.IORING_ENTER_GETEVENTS | IoUringEnterFlags.IORING_ENTER_EXT_ARG);
        // min_complete counts every CQE in the ring, not new ones.
        return backend.Enter(ring.Fd, 0, count, flags, &arg, (nuint)sizeof(io_uring_getevents_arg));
    }

    private static string Probe(IoUring.Ring.Ring ring, RegisterSpec reg)
    {
        var buffer = stackalloc byte[16 + (300 * 8)];
        new Span<byte>(buffer, 16 + (300 * 8)).Clear();
        if (reg.Dirty)
        {
            buffer[20] = 1;
        }

        var rc = ring.RegisterProbe((io_uring_probe*)buffer, reg.Arg);
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
        hdr.query_op = reg.Arg;
        hdr.query_data = (ulong)data;
        hdr.size = reg.Size;
        if (reg.Dirty)
        {
            hdr.__resv[1] = 1;
        }

        var rc = IoUring.Ring.Ring.Query(backend, &hdr);
        return $"query {rc} result {hdr.result} size {hdr.size} data {Convert.ToHexString(new ReadOnlySpan<byte>(data, (int)Math.Min(hdr.size, 64u)))}";
    }
}
