using System.Runtime.InteropServices;
using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// io_uring's kernel side in process. Rings live in native memory laid out as the kernel lays them
/// out (struct io_rings: heads, tails, masks, entries, dropped, flags, overflow, then the CQE array
/// on the next cache line, then the SQ index array), and their offsets are reported through the
/// params, so the client drives it exactly as it drives the live kernel. SQEs are processed on enter.
/// Behaviour follows shared/specs/io_uring-semantics.md; where a live kernel disagrees, the
/// differential properties in conformance/ say so and this file follows the kernel.
/// </summary>
public sealed unsafe class ReferenceEngine : IRingBackend
{
    private const uint CacheLine = 64;
    private readonly Dictionary<int, EngineRing> rings = new();
    private int nextFd = 1000;

    public ReferenceEngine(KernelProfile profile) => Profile = profile;

    public KernelProfile Profile { get; }

    public string Name => $"reference engine ({Profile.Name} profile)";

    public int Setup(uint entries, io_uring_params* p)
    {
        var setupFlags = p->flags;
        if (p->resv[0] != 0 || p->resv[1] != 0 || p->resv[2] != 0)
        {
            return -Errno.EINVAL;
        }

        if ((setupFlags & ~Profile.SetupFlags) != 0)
        {
            return -Errno.EINVAL;
        }

        if (!FlagsConsistent(setupFlags))
        {
            return -Errno.EINVAL;
        }

        var clamp = Has(setupFlags, IoUringSetupFlags.IORING_SETUP_CLAMP);
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
        if (Has(setupFlags, IoUringSetupFlags.IORING_SETUP_CQSIZE))
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

        if ((Has(setupFlags, IoUringSetupFlags.IORING_SETUP_CQE_MIXED) && cq < 2) || (Has(setupFlags, IoUringSetupFlags.IORING_SETUP_SQE_MIXED) && sq < 2))
        {
            return -Errno.EOVERFLOW;
        }

        var ring = new EngineRing(this, setupFlags, sq, cq);
        p->sq_entries = sq;
        p->cq_entries = cq;
        p->features = Profile.Features;
        p->sq_off = ring.SqOffsets;
        p->cq_off = ring.CqOffsets;
        var fd = nextFd++;
        rings[fd] = ring;
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

    public int Enter(int fd, uint toSubmit, uint minComplete, uint flags, void* arg, nuint argSize)
    {
        if (!rings.TryGetValue(fd, out var ring))
        {
            return -Errno.EBADF;
        }

        if ((flags & ~Profile.EnterFlags) != 0)
        {
            return -Errno.EINVAL;
        }

        var submitted = toSubmit > 0 ? ring.SubmitSqes(toSubmit) : 0;
        if ((flags & (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS) != 0)
        {
            ring.FlushOverflow();
        }

        return submitted;
    }

    public int Register(int fd, uint opcode, void* arg, uint nrArgs) =>
        rings.ContainsKey(fd) ? -Errno.EINVAL : -Errno.EBADF;

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
            Constants.IORING_OFF_SQ_RING or Constants.IORING_OFF_CQ_RING or Constants.IORING_OFF_SQES => -Errno.EINVAL,
            _ => -Errno.EINVAL,
        };
    }

    public void Unmap(nint address, nuint length)
    {
        // The memory belongs to the ring and goes with it on close, as the kernel's pages do.
    }

    public int Close(int fd)
    {
        if (!rings.Remove(fd, out var ring))
        {
            return -Errno.EBADF;
        }

        ring.Dispose();
        return 0;
    }

    internal KernelProfile ProfileOf() => Profile;

    /// <summary>One ring's memory and state.</summary>
    private sealed class EngineRing : IDisposable
    {
        // struct io_rings of current kernels, packed (6.1 put heads and tails on their own cache lines).
        private const uint SqHeadOff = 0, SqTailOff = 4, CqHeadOff = 8, CqTailOff = 12, SqMaskOff = 16, CqMaskOff = 20;
        private const uint SqEntriesOff = 24, CqEntriesOff = 28, SqDroppedOff = 32, SqFlagsOff = 36, CqFlagsOff = 40, CqOverflowOff = 44, CqesOff = 64;

        private readonly ReferenceEngine engine;
        private readonly uint flags;
        private readonly uint sqEntries;
        private readonly uint cqEntries;
        private readonly uint sqArrayOff;
        private readonly uint cqeSize;
        private readonly List<(ulong UserData, int Res, uint Flags)> overflow = new();

        // Link followers: the kernel runs a chain's head inline and each next member from task work
        // after the submission loop, first in first out (measured on the host by the differential).
        private readonly Queue<(ChainRun Chain, int Index)> followers = new();

        public EngineRing(ReferenceEngine engine, uint flags, uint sq, uint cq)
        {
            this.engine = engine;
            this.flags = flags;
            sqEntries = sq;
            cqEntries = cq;
            cqeSize = Has(flags, IoUringSetupFlags.IORING_SETUP_CQE32) ? 32u : 16u;
            var cqesEnd = CqesOff + (cq * cqeSize);
            sqArrayOff = Has(flags, IoUringSetupFlags.IORING_SETUP_NO_SQARRAY) ? 0 : Align(cqesEnd, CacheLine);
            RingsSize = Align(Has(flags, IoUringSetupFlags.IORING_SETUP_NO_SQARRAY) ? cqesEnd : sqArrayOff + (sq * 4), 4096);
            SqesSize = Align(sq * (Has(flags, IoUringSetupFlags.IORING_SETUP_SQE128) ? 128u : 64u), 4096);
            Rings = (byte*)NativeMemory.AlignedAlloc(RingsSize, 4096);
            Sqes = (byte*)NativeMemory.AlignedAlloc(SqesSize, 4096);
            new Span<byte>(Rings, (int)RingsSize).Clear();
            new Span<byte>(Sqes, (int)SqesSize).Clear();
            U32(SqMaskOff) = sq - 1;
            U32(CqMaskOff) = cq - 1;
            U32(SqEntriesOff) = sq;
            U32(CqEntriesOff) = cq;
        }

        public byte* Rings { get; }

        public byte* Sqes { get; }

        public nuint RingsSize { get; }

        public nuint SqesSize { get; }

        public io_sqring_offsets SqOffsets => new()
        {
            head = SqHeadOff,
            tail = SqTailOff,
            ring_mask = SqMaskOff,
            ring_entries = SqEntriesOff,
            flags = SqFlagsOff,
            dropped = SqDroppedOff,
            array = sqArrayOff,
        };

        public io_cqring_offsets CqOffsets => new()
        {
            head = CqHeadOff,
            tail = CqTailOff,
            ring_mask = CqMaskOff,
            ring_entries = CqEntriesOff,
            overflow = CqOverflowOff,
            cqes = CqesOff,
            flags = CqFlagsOff,
        };

        private static uint Align(uint v, uint a) => (v + a - 1) & ~(a - 1);

        private ref uint U32(uint offset) => ref *(uint*)(Rings + offset);

        private KernelProfile Profile => engine.Profile;

        /// <summary>Consumes up to <paramref name="toSubmit"/> SQEs; returns how many were submitted.</summary>
        public int SubmitSqes(uint toSubmit)
        {
            var head = U32(SqHeadOff);
            var tail = Volatile.Read(ref U32(SqTailOff));
            var available = tail - head;
            var n = Math.Min(Math.Min(toSubmit, available), sqEntries);
            var submitted = 0;
            var chain = new List<Request>();
            var chainFailed = false;
            var submitAll = Has(flags, IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL);
            for (uint i = 0; i < n; i++)
            {
                var index = Has(flags, IoUringSetupFlags.IORING_SETUP_NO_SQARRAY) ? head & (sqEntries - 1) : ((uint*)(Rings + sqArrayOff))[head & (sqEntries - 1)];
                head++;
                if (index >= sqEntries)
                {
                    U32(SqDroppedOff)++;
                    break;
                }

                var sqe = (io_uring_sqe*)(Sqes + (index << (Has(flags, IoUringSetupFlags.IORING_SETUP_SQE128) ? 7 : 6)));
                var req = Prepare(sqe);
                submitted++;
                var linked = (req.Flags & (uint)(IoUringSqeFlags.IOSQE_IO_LINK | IoUringSqeFlags.IOSQE_IO_HARDLINK)) != 0;
                chain.Add(req);
                chainFailed |= req.PrepError != 0;

                // Like the kernel: a chain is assembled to its end even when a member failed
                // preparation (the link flags are honoured on a refused SQE too), then run or failed whole.
                if (linked)
                {
                    continue;
                }

                if (chainFailed)
                {
                    FailChain(chain);
                }
                else
                {
                    RunChain(chain);
                }

                chain.Clear();
                chainFailed = false;

                // Only an SQE that ends a chain and itself failed preparation stops the submission.
                if (req.PrepError != 0 && !submitAll)
                {
                    break;
                }
            }

            // A link flag on the last SQE of a submission: the kernel punts the open chain.
            if (chain.Count > 0)
            {
                if (chainFailed)
                {
                    FailChain(chain);
                }
                else
                {
                    RunChain(chain);
                }
            }

            while (followers.Count > 0)
            {
                var (run, index) = followers.Dequeue();
                Step(run, index);
            }

            Volatile.Write(ref U32(SqHeadOff), head);
            return submitted;
        }

        private sealed record Request(ulong UserData, byte Opcode, uint Flags, int PrepError, uint NopFlags, int Injected);

        private Request Prepare(io_uring_sqe* sqe)
        {
            var knownSqeFlags = Profile.SqeFlags;
            int error = 0;
            if (sqe->opcode >= Profile.OpLast)
            {
                error = -Errno.EINVAL;
            }
            else if ((sqe->flags & ~knownSqeFlags) != 0)
            {
                error = -Errno.EINVAL;
            }
            else if (sqe->opcode == (byte)io_uring_op.IORING_OP_NOP)
            {
                if ((sqe->flags & (uint)IoUringSqeFlags.IOSQE_BUFFER_SELECT) != 0)
                {
                    error = -Errno.EOPNOTSUPP;
                }
                else if (sqe->ioprio != 0)
                {
                    error = -Errno.EINVAL;
                }
                else if ((sqe->nop_flags & ~Profile.NopFlags) != 0)
                {
                    error = -Errno.EINVAL;
                }
            }
            else
            {
                // Only NOP is executed by this engine so far; other opcodes are refused loudly, not faked.
                error = -Errno.EOPNOTSUPP;
            }

            return new Request(sqe->user_data, sqe->opcode, sqe->flags, error, sqe->nop_flags, (int)sqe->len);
        }

        /// <summary>
        /// A chain with a member that failed preparation: the head gets its own error (else -ECANCELED)
        /// at once; each follower, from the follower queue, its own preparation error (else
        /// -ECANCELED). A head with CQE_SKIP_SUCCESS posts its CQE and suppresses every follower's.
        /// </summary>
        private void FailChain(List<Request> chain) => Step(new ChainRun { Members = chain.ToList(), PrepFailed = true }, 0);

        private sealed class ChainRun
        {
            public required List<Request> Members { get; init; }

            public bool Cancelled { get; set; }

            public bool SuppressCancelled { get; set; }

            public bool PrepFailed { get; init; }
        }

        private void RunChain(List<Request> chain) => Step(new ChainRun { Members = chain.ToList() }, 0);

        /// <summary>Runs (or cancels) one member of a chain and queues the next one.</summary>
        private void Step(ChainRun run, int index)
        {
            var r = run.Members[index];

            // A failed or cancelled chain's remaining members are completed together, in one pass
            // over the link list, as the kernel's io_fail_links does.
            if (index > 0 && (run.PrepFailed || run.Cancelled))
            {
                if (!run.SuppressCancelled)
                {
                    foreach (var rest in run.Members.Skip(index))
                    {
                        Post(rest.UserData, run.PrepFailed && rest.PrepError != 0 ? rest.PrepError : -Errno.ECANCELED, 0);
                    }
                }

                return;
            }

            if (run.PrepFailed)
            {
                if (index == 0)
                {
                    run.SuppressCancelled = (r.Flags & (uint)IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS) != 0;
                }

                if (index == 0 || !run.SuppressCancelled)
                {
                    Post(r.UserData, r.PrepError != 0 ? r.PrepError : -Errno.ECANCELED, 0);
                }
            }
            else if (run.Cancelled)
            {
                if (!run.SuppressCancelled)
                {
                    Post(r.UserData, -Errno.ECANCELED, 0);
                }
            }
            else
            {
                var res = Execute(r);
                var skip = (r.Flags & (uint)IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS) != 0;
                if (res < 0 || !skip)
                {
                    Post(r.UserData, res, 0);
                }

                if (res < 0 && (r.Flags & (uint)IoUringSqeFlags.IOSQE_IO_HARDLINK) == 0 && (r.Flags & (uint)IoUringSqeFlags.IOSQE_IO_LINK) != 0)
                {
                    run.Cancelled = true;
                    run.SuppressCancelled = skip;
                }
            }

            if (index + 1 < run.Members.Count)
            {
                followers.Enqueue((run, index + 1));
            }
        }

        private int Execute(Request r)
        {
            if ((r.NopFlags & (uint)IoUringNopFlags.IORING_NOP_INJECT_RESULT) != 0)
            {
                return r.Injected;
            }

            return 0;
        }

        private void Post(ulong userData, int res, uint cqeFlags)
        {
            var head = Volatile.Read(ref U32(CqHeadOff));
            var tail = U32(CqTailOff);
            if (overflow.Count > 0 || tail - head >= cqEntries)
            {
                // FEAT_NODROP: the kernel keeps it, in order, and says so in the SQ flags.
                overflow.Add((userData, res, cqeFlags));
                U32(SqFlagsOff) |= (uint)IoUringSqRingFlags.IORING_SQ_CQ_OVERFLOW;
                return;
            }

            WriteCqe(tail, userData, res, cqeFlags);
        }

        private void WriteCqe(uint tail, ulong userData, int res, uint cqeFlags)
        {
            var cqe = (io_uring_cqe*)(Rings + CqesOff + ((tail & (cqEntries - 1)) * cqeSize));
            cqe->user_data = userData;
            cqe->res = res;
            cqe->flags = cqeFlags;
            Volatile.Write(ref U32(CqTailOff), tail + 1);
        }

        /// <summary>Moves kept completions into the CQ, as many as fit; the flag clears when none are left.</summary>
        public void FlushOverflow()
        {
            while (overflow.Count > 0)
            {
                var head = Volatile.Read(ref U32(CqHeadOff));
                var tail = U32(CqTailOff);
                if (tail - head >= cqEntries)
                {
                    break;
                }

                var (ud, res, f) = overflow[0];
                overflow.RemoveAt(0);
                WriteCqe(tail, ud, res, f);
            }

            if (overflow.Count == 0)
            {
                U32(SqFlagsOff) &= ~(uint)IoUringSqRingFlags.IORING_SQ_CQ_OVERFLOW;
            }
        }

        public void Dispose()
        {
            NativeMemory.AlignedFree(Rings);
            NativeMemory.AlignedFree(Sqes);
        }
    }
}
