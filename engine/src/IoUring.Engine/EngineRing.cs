using System.Runtime.InteropServices;
using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// One ring's shared memory and its kernel-side state. The memory is laid out as the kernel lays
/// out struct io_rings (header, CQE array on the next cache line, then the SQ index array) plus a
/// separate SQE array; this part owns the memory, the submission queue and the completion queue.
/// Request handling is in EngineRing.Requests.cs, the opcodes in EngineRing.Operations.cs.
/// </summary>
internal sealed unsafe partial class EngineRing : IDisposable
{
    private const uint CacheLine = 64;

    private readonly ReferenceEngine engine;
    private readonly KernelProfile profile;
    private readonly EngineFaults faults;
    private readonly RingHeader header;
    private readonly uint setupFlags;
    private readonly uint sqEntries;
    private readonly uint cqEntries;
    private readonly uint sqArrayOff;
    private readonly uint cqeSize;
    private readonly int sqeShift;
    private readonly FifoQueue<PendingCqe> overflow;

    // The kernel's cached CQ tail: CQEs are written at it and it is published after each one.
    private uint cqTail;


    public EngineRing(ReferenceEngine engine, KernelProfile profile, EngineFaults faults, uint setupFlags, uint sq, uint cq)
    {
        this.engine = engine;
        this.profile = profile;
        this.faults = faults;
        this.setupFlags = setupFlags;
        header = RingHeader.For(profile.RingHeader);
        sqEntries = sq;
        cqEntries = cq;
        cqeSize = Has(IoUringSetupFlags.IORING_SETUP_CQE32) ? 32u : 16u;
        sqeShift = Has(IoUringSetupFlags.IORING_SETUP_SQE128) ? 7 : 6;
        // The kernel sizes the region as struct_size(rings, cqes, cq) with 16-byte CQEs and doubles
        // the whole of it for CQE32 (rings_size), header included: the SQ array starts after that.
        var cqesEnd = (header.Cqes + (cq * 16)) * (cqeSize / 16);
        sqArrayOff = Has(IoUringSetupFlags.IORING_SETUP_NO_SQARRAY) ? 0 : Align(cqesEnd, CacheLine);
        RingsSize = Align(Has(IoUringSetupFlags.IORING_SETUP_NO_SQARRAY) ? cqesEnd : sqArrayOff + (sq * 4), 4096);
        SqesSize = Align(sq << sqeShift, 4096);
        Rings = ZeroedPages(RingsSize);
        Sqes = ZeroedPages(SqesSize);
        U32(header.SqMask) = sq - 1;
        U32(header.CqMask) = cq - 1;
        U32(header.SqEntries) = sq;
        U32(header.CqEntries) = cq;

        // Pools sized for the worst case of one enter: every SQ slot a request. They never grow after
        // this except the overflow list, which grows to its high-water mark once.
        requests = new Request[sq];
        freeSlots = new int[sq];
        for (var k = (int)sq - 1; k >= 0; k--)
        {
            freeSlots[freeCount++] = k;
        }

        batch = new FifoQueue<int>((int)sq);
        work = new FifoQueue<Work>((int)sq * 2);
        asyncWork = new FifoQueue<int>((int)sq);
        deferList = new FifoQueue<Deferred>(4);
        overflow = new FifoQueue<PendingCqe>((int)cq);
    }

    public byte* Rings { get; }

    public byte* Sqes { get; }

    public nuint RingsSize { get; }

    public nuint SqesSize { get; }

    public io_sqring_offsets SqOffsets => new()
    {
        head = header.SqHead,
        tail = header.SqTail,
        ring_mask = header.SqMask,
        ring_entries = header.SqEntries,
        flags = header.SqFlags,
        dropped = header.SqDropped,
        array = sqArrayOff,
    };

    public io_cqring_offsets CqOffsets => new()
    {
        head = header.CqHead,
        tail = header.CqTail,
        ring_mask = header.CqMask,
        ring_entries = header.CqEntries,
        overflow = header.CqOverflow,
        cqes = header.Cqes,
        flags = header.CqFlags,
    };

    /// <summary>CQEs in the ring (what a wait counts; those held back by overflow are flushed first).</summary>
    public uint ReadyCqes => cqTail - Volatile.Read(ref U32(header.CqHead));

    /// <summary>
    /// What poll(2) on the ring reports (io_uring_poll): writable (POLLOUT | POLLWRNORM) while the SQ
    /// has room, readable (POLLIN | POLLRDNORM) while CQEs are ready or held in the overflow list.
    /// </summary>
    public short PollEvents =>
        (short)((U32(header.SqTail) - Volatile.Read(ref U32(header.SqHead)) < sqEntries ? 0x004 | 0x100 : 0)
            | (ReadyCqes > 0 || overflow.Count > 0 ? 0x001 | 0x040 : 0));

    /// <summary>The CQ's size: a wait never asks for more.</summary>
    public uint CqEntries => cqEntries;

    private bool Has(IoUringSetupFlags flag) => (setupFlags & (uint)flag) != 0;

    private static uint Align(uint v, uint a) => (v + a - 1) & ~(a - 1);

    // Large rings (up to 32768 entries: megabytes) come as anonymous mappings, zero pages the kernel
    // fills only where they are touched, as the kernel's own ring pages are; small ones from the heap.
    private const nuint MappedFrom = 64 * 1024;

    private static byte* ZeroedPages(nuint size)
    {
        if (size >= MappedFrom)
        {
            var address = Posix.Mmap(0, size, 3, MapFlags.Private | MapFlags.Anonymous, -1, 0);
            if (address > 0)
            {
                return (byte*)address;
            }
        }

        var memory = (byte*)NativeMemory.AlignedAlloc(size, 4096);
        new Span<byte>(memory, (int)size).Clear();
        return memory;
    }

    private static void FreePages(byte* memory, nuint size)
    {
        if (size >= MappedFrom && Posix.Munmap((nint)memory, size) == 0)
        {
            return;
        }

        NativeMemory.AlignedFree(memory);
    }

    private ref uint U32(uint offset) => ref *(uint*)(Rings + offset);

    /// <summary>
    /// Consumes up to <paramref name="toSubmit"/> SQ entries and runs what they ask, through every
    /// completion and the task work it causes; returns the number of SQ slots consumed.
    /// </summary>
    public int Submit(uint toSubmit)
    {
        var rewind = Has(IoUringSetupFlags.IORING_SETUP_SQ_REWIND);
        var noArray = Has(IoUringSetupFlags.IORING_SETUP_NO_SQARRAY);
        var mixed = Has(IoUringSetupFlags.IORING_SETUP_SQE_MIXED);

        // SQ_REWIND: the queue is not circular; every submission starts at slot 0 and the tail is not read.
        var head = rewind ? 0u : U32(header.SqHead);
        var available = rewind ? sqEntries : Volatile.Read(ref U32(header.SqTail)) - head;
        var left = Math.Min(Math.Min(toSubmit, available), sqEntries);
        var submitted = 0;
        BeginSubmission();
        while (left > 0)
        {
            var index = noArray ? head & (sqEntries - 1) : ((uint*)(Rings + sqArrayOff))[head & (sqEntries - 1)];
            head++;
            cachedSqHead++;
            if (index >= sqEntries)
            {
                // Consumed, counted in sq_dropped, not submitted, and the submission stops.
                Dropped();
                left--;
                break;
            }

            var sqe = (io_uring_sqe*)(Sqes + (index << sqeShift));
            left--;
            if (PlainNop(sqe))
            {
                QueuePlainNop(sqe);
                submitted++;
                continue;
            }

            var slotsLeft = left;
            var r = Prepare(sqe, index, ref slotsLeft, ref head);

            // The submit count counts slots: a 128-byte SQE on a mixed ring counts two.
            submitted += (int)(1 + left - slotsLeft);
            left = slotsLeft;
            if (!SubmitOne(r) && !Has(IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL))
            {
                break;
            }
        }

        EndSubmission();
        if (!rewind)
        {
            Volatile.Write(ref U32(header.SqHead), head);
        }

        return submitted;
    }

    /// <summary>
    /// Posts a completion, or keeps it in the overflow list (FEAT_NODROP) when the CQ has no room or
    /// older completions are already waiting there, so order is kept.
    /// </summary>
    private void Post(in PendingCqe cqe)
    {
        if (overflow.Count > 0 || !TryWrite(cqe))
        {
            overflow.Enqueue(cqe);
            U32(header.SqFlags) |= (uint)IoUringSqRingFlags.IORING_SQ_CQ_OVERFLOW;
        }
    }

    private bool TryWrite(in PendingCqe c, bool lose = false)
    {
        var head = Volatile.Read(ref U32(header.CqHead));
        var used = cqTail - head;
        var free = used >= cqEntries ? 0 : cqEntries - used;
        var mixedBig = c.Big && Has(IoUringSetupFlags.IORING_SETUP_CQE_MIXED);
        var slots = mixedBig ? 2u : 1u;
        var offset = cqTail & (cqEntries - 1);
        if (mixedBig && offset == cqEntries - 1 && !faults.HasFlag(EngineFaults.NoSkipFiller))
        {
            // A 32-byte CQE never wraps: a filler CQE takes the last slot and it starts at slot 0.
            // The filler is posted whenever the last slot is free, even if the big CQE then has to
            // wait in the overflow list (measured on 6.18).
            if (free < 1)
            {
                return false;
            }

            WriteSlot(offset, 0, 0, Constants.IORING_CQE_F_SKIP, false, 0, 0);
            cqTail++;
            Volatile.Write(ref U32(header.CqTail), cqTail);
            free--;
            offset = 0;
        }

        if (free < slots)
        {
            return false;
        }

        var flags = mixedBig ? c.Flags | Constants.IORING_CQE_F_32 : c.Flags;
        if (!(lose && mixedBig))
        {
            WriteSlot(offset, c.UserData, c.Res, flags, c.Big && (mixedBig || cqeSize == 32), c.Extra1, c.Extra2);
        }

        cqTail += slots;
        Volatile.Write(ref U32(header.CqTail), cqTail);
        return true;
    }

    private void WriteSlot(uint slot, ulong userData, int res, uint flags, bool big, ulong extra1, ulong extra2)
    {
        var cqe = (io_uring_cqe*)(Rings + header.Cqes + (slot * cqeSize));
        cqe->user_data = userData;
        cqe->res = res;
        cqe->flags = flags;
        if (cqeSize == 32 || big)
        {
            // On a mixed ring the second half is the next slot (slot 0 after the last one only when
            // the NoSkipFiller fault lets a big CQE wrap).
            var words = cqeSize == 32 ? (ulong*)((byte*)cqe + 16) : (ulong*)(Rings + header.Cqes + (((slot + 1) & (cqEntries - 1)) * cqeSize));
            words[0] = big ? extra1 : 0;
            words[1] = big ? extra2 : 0;
        }
    }

    /// <summary>Moves held-back completions into the CQ, as many as fit, in order; the flag clears when none are left.</summary>
    public void FlushOverflow()
    {
        if (overflow.Count == 0)
        {
            return;
        }

        // The 6.18 bug (KernelProfile.MixedOverflowLosesBigCqe) shows when the flush cannot take the
        // whole list, a completion staying queued behind what it writes: the big CQEs' slots are then
        // skipped unwritten. A flush that empties the list writes them (liburing's nop32-overflow:
        // four 32-byte CQEs flushed into an emptied eight-slot ring arrive whole on 6.18.44).
        var lose = profile.MixedOverflowLosesBigCqe && !OverflowFitsWhole();

        while (overflow.Count > 0 && TryWrite(overflow.Peek(), lose))
        {
            overflow.Dequeue();
        }

        if (overflow.Count == 0)
        {
            U32(header.SqFlags) &= ~(uint)IoUringSqRingFlags.IORING_SQ_CQ_OVERFLOW;
        }

        // The flush commits the CQ like any posting: a drain waiting for these CQEs may go now, and
        // what it released runs before enter returns.
        Committed();
        RunTaskWork();
    }

    /// <summary>Whether the CQ has room for every completion in the overflow list, fillers included, as <see cref="TryWrite"/> would place them.</summary>
    private bool OverflowFitsWhole()
    {
        var tail = cqTail;
        var free = cqEntries - (tail - Volatile.Read(ref U32(header.CqHead)));
        for (var k = 0; k < overflow.Count; k++)
        {
            var mixedBig = overflow.At(k).Big && Has(IoUringSetupFlags.IORING_SETUP_CQE_MIXED);
            if (mixedBig && (tail & (cqEntries - 1)) == cqEntries - 1 && !faults.HasFlag(EngineFaults.NoSkipFiller))
            {
                if (free < 1)
                {
                    return false;
                }

                free--;
                tail++;
            }

            var slots = mixedBig ? 2u : 1u;
            if (free < slots)
            {
                return false;
            }

            free -= slots;
            tail += slots;
        }

        return true;
    }

    /// <summary>Disposed: the ring was closed (perhaps by another thread while this one waited outside the engine's lock).</summary>
    public bool Closed { get; private set; }

    public void Dispose()
    {
        Closed = true;
        ReleaseResources();
        FreePages(Rings, RingsSize);
        FreePages(Sqes, SqesSize);
    }
}
