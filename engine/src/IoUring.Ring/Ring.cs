using System.Runtime.CompilerServices;
using IoUring.Bindings;

namespace IoUring.Ring;

/// <summary>
/// A submission/completion ring in user space, the role liburing plays in C: it maps the regions the
/// backend describes in io_uring_params and moves heads and tails as the protocol says. It never
/// assumes an offset: every field is found through sq_off/cq_off, which differ between kernels.
/// </summary>
public sealed unsafe partial class Ring : IDisposable
{
    private readonly IRingBackend backend;
    private readonly io_uring_params p;
    private readonly byte* sqRing;
    private readonly byte* cqRing;
    private readonly nuint sqRingSize;
    private readonly nuint cqRingSize;
    private readonly byte* sqes;
    private readonly nuint sqesSize;
    private readonly int sqeShift;
    private readonly int cqeShift;

    // The hot path's view of the shared regions, resolved once from sq_off/cq_off: GetSqe, Flush,
    // TryPeekCqe and CqAdvance run per operation, and re-deriving each address from the params
    // struct costs loads the JIT cannot hoist (the pointer stores in between may alias it).
    // Measured with a backend that completes NOPs and does nothing else (the client's own cost),
    // batch 32: 6.3 ns per NOP before these fields and the constant-size clear in GetSqe, 3.8 after,
    // 3.4 consuming completions with CqReady/CqeAt; the same loop in C with liburing's inline
    // helpers: 3.0 (docs/benchmarks.md has the round trips on the kernel).
    private readonly uint* sqHeadPtr;
    private readonly uint* sqTailPtr;
    private readonly uint* sqArray;
    private readonly uint* cqHeadPtr;
    private readonly uint* cqTailPtr;
    private readonly byte* cqes;
    private readonly uint sqMask;
    private readonly uint cqMask;
    private readonly uint sqEntries;

    // The live kernel, when that is the backend: Submit calls it directly (a sealed class, so the
    // call is non-virtual and inlinable) instead of through the interface.
    private readonly LiveKernel? live;
    private uint sqeHead;
    private uint sqeTail;
    private bool disposed;

    private Ring(IRingBackend backend, int fd, io_uring_params p, byte* sqRing, nuint sqRingSize, byte* cqRing, nuint cqRingSize, byte* sqes, nuint sqesSize)
    {
        this.backend = backend;
        Fd = fd;
        this.p = p;
        this.sqRing = sqRing;
        this.sqRingSize = sqRingSize;
        this.cqRing = cqRing;
        this.cqRingSize = cqRingSize;
        this.sqes = sqes;
        this.sqesSize = sqesSize;
        sqeShift = (p.flags & (uint)IoUringSetupFlags.IORING_SETUP_SQE128) != 0 ? 1 : 0;
        cqeShift = (p.flags & (uint)IoUringSetupFlags.IORING_SETUP_CQE32) != 0 ? 1 : 0;
        sqHeadPtr = (uint*)(sqRing + p.sq_off.head);
        sqTailPtr = (uint*)(sqRing + p.sq_off.tail);
        sqArray = (p.flags & (uint)IoUringSetupFlags.IORING_SETUP_NO_SQARRAY) != 0 ? null : (uint*)(sqRing + p.sq_off.array);
        cqHeadPtr = (uint*)(cqRing + p.cq_off.head);
        cqTailPtr = (uint*)(cqRing + p.cq_off.tail);
        cqes = cqRing + p.cq_off.cqes;
        sqEntries = p.sq_entries;
        sqMask = p.sq_entries - 1;
        cqMask = p.cq_entries - 1;
        live = backend as LiveKernel;
    }

    public int Fd { get; }

    public IRingBackend Backend => backend;

    public io_uring_params Params => p;

    /// <summary>Sets up a ring: 0 and the ring, or -errno from setup or mapping (nothing is left open then).</summary>
    public static int Create(IRingBackend backend, uint entries, io_uring_params setup, out Ring? ring)
    {
        ring = null;
        var fd = backend.Setup(entries, &setup);
        if (fd < 0)
        {
            return fd;
        }

        var p = setup;
        var noSqArray = (p.flags & (uint)IoUringSetupFlags.IORING_SETUP_NO_SQARRAY) != 0;
        var sqRingSize = (nuint)(noSqArray ? p.sq_off.flags + 4 : p.sq_off.array + (p.sq_entries * 4));
        var cqeSize = (p.flags & (uint)IoUringSetupFlags.IORING_SETUP_CQE32) != 0 ? 32u : 16u;
        var cqRingSize = (nuint)(p.cq_off.cqes + (p.cq_entries * cqeSize));
        var single = (p.features & (uint)IoUringFeatures.IORING_FEAT_SINGLE_MMAP) != 0;
        if (single)
        {
            sqRingSize = cqRingSize = Math.Max(sqRingSize, cqRingSize);
        }

        var sq = backend.Map(fd, Constants.IORING_OFF_SQ_RING, sqRingSize);
        if (sq < 0)
        {
            backend.Close(fd);
            return (int)sq;
        }

        var cq = single ? sq : backend.Map(fd, Constants.IORING_OFF_CQ_RING, cqRingSize);
        if (cq < 0)
        {
            backend.Unmap(sq, sqRingSize);
            backend.Close(fd);
            return (int)cq;
        }

        var sqeSize = (p.flags & (uint)IoUringSetupFlags.IORING_SETUP_SQE128) != 0 ? 128u : 64u;
        var sqesSize = (nuint)(p.sq_entries * sqeSize);
        var sqesAddress = backend.Map(fd, Constants.IORING_OFF_SQES, sqesSize);
        if (sqesAddress < 0)
        {
            if (!single)
            {
                backend.Unmap(cq, cqRingSize);
            }

            backend.Unmap(sq, sqRingSize);
            backend.Close(fd);
            return (int)sqesAddress;
        }

        ring = new Ring(backend, fd, p, (byte*)sq, sqRingSize, (byte*)cq, cqRingSize, (byte*)sqesAddress, sqesSize);
        return 0;
    }

    private uint* SqField(uint offset) => (uint*)(sqRing + offset);

    private uint* CqField(uint offset) => (uint*)(cqRing + offset);

    public uint SqHead => Volatile.Read(ref *sqHeadPtr);

    public uint SqTail => Volatile.Read(ref *sqTailPtr);

    public uint SqFlags => Volatile.Read(ref *SqField(p.sq_off.flags));

    public uint SqDropped => Volatile.Read(ref *SqField(p.sq_off.dropped));

    public uint CqHead => Volatile.Read(ref *cqHeadPtr);

    public uint CqTail => Volatile.Read(ref *cqTailPtr);

    public uint CqOverflow => Volatile.Read(ref *CqField(p.cq_off.overflow));

    /// <summary>The CQ ring's flags word, the one the application writes (IORING_CQ_EVENTFD_DISABLED).</summary>
    public uint CqFlags
    {
        get => Volatile.Read(ref *CqField(p.cq_off.flags));
        set => Volatile.Write(ref *CqField(p.cq_off.flags), value);
    }

    /// <summary>SQEs taken with <see cref="GetSqe"/> but not yet handed to the backend.</summary>
    public uint Pending => sqeTail - sqeHead;

    /// <summary>The next free SQE, zeroed, or null when the submission queue is full.</summary>
    public io_uring_sqe* GetSqe()
    {
        var tail = sqeTail;
        if (tail - Volatile.Read(ref *sqHeadPtr) >= sqEntries)
        {
            return null;
        }

        var sqe = sqes + ((nuint)(tail & sqMask) << (6 + sqeShift));

        // A constant size lets the JIT unroll the clear into one or two vector stores; a variable
        // one (64 << sqeShift) is a call into the general memset path: 1-1.5 ns more per SQE.
        if (sqeShift == 0)
        {
            Unsafe.InitBlockUnaligned(sqe, 0, 64);
        }
        else
        {
            Unsafe.InitBlockUnaligned(sqe, 0, 128);
        }

        sqeTail = tail + 1;
        return (io_uring_sqe*)sqe;
    }

    /// <summary>Publishes the SQEs taken so far (index array, then tail); returns how many.</summary>
    public uint Flush()
    {
        var head = sqeHead;
        var tail = sqeTail;

        // The index array is rewritten on every flush, not set up once as identity the way liburing
        // does it: callers (the conformance runner) write bad indices into it on purpose, and those
        // must not outlive the submission they were written for.
        var array = sqArray;
        if (array != null)
        {
            var mask = sqMask;
            for (var i = head; i != tail; i++)
            {
                array[i & mask] = i & mask;
            }
        }

        Volatile.Write(ref *sqTailPtr, tail);
        sqeHead = tail;
        return tail - head;
    }

    /// <summary>Submits what is pending and, with <paramref name="waitFor"/> &gt; 0, waits for that many completions.</summary>
    public int Submit(uint waitFor = 0, uint extraFlags = 0)
    {
        var n = Flush();
        var flags = extraFlags | (waitFor > 0 ? (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS : 0);
        return live is not null ? live.Enter(Fd, n, waitFor, flags, null, 0) : EnterBackend(n, waitFor, flags);
    }

    // Not inlined: with dynamic PGO the interface call would be devirtualized and the other
    // backend's Enter (the engine's is large) inlined into every caller's loop next to the live
    // kernel's syscall, costing the live path registers and stack for code it never runs.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int EnterBackend(uint n, uint waitFor, uint flags) => backend.Enter(Fd, n, waitFor, flags, null, 0);

    /// <summary>The CQE at the head of the completion queue, if any (it stays there until <see cref="CqAdvance"/>).</summary>
    public bool TryPeekCqe(out io_uring_cqe* cqe)
    {
        var head = Volatile.Read(ref *cqHeadPtr);
        if (head == Volatile.Read(ref *cqTailPtr))
        {
            cqe = null;
            return false;
        }

        cqe = (io_uring_cqe*)(cqes + ((nuint)(head & cqMask) << (4 + cqeShift)));
        return true;
    }

    public void CqAdvance(uint n) => Volatile.Write(ref *cqHeadPtr, Volatile.Read(ref *cqHeadPtr) + n);

    /// <summary>
    /// CQ slots filled and not yet consumed (liburing's io_uring_cq_ready). With <see cref="CqeAt"/>
    /// and one <see cref="CqAdvance"/> for the lot, a batch of completions is consumed as liburing's
    /// io_uring_for_each_cqe + io_uring_cq_advance do it: the tail read once, the head written once.
    /// </summary>
    public uint CqReady => Volatile.Read(ref *cqTailPtr) - Volatile.Read(ref *cqHeadPtr);

    /// <summary>The CQE in the slot <paramref name="offset"/> places after the head; valid while <paramref name="offset"/> &lt; <see cref="CqReady"/>.</summary>
    /// <remarks>
    /// The head is read plainly: only the application writes it, and the acquire that orders the
    /// CQE reads after the kernel's writes is CqReady's read of the tail. A volatile read here would
    /// be a barrier in every iteration of the caller's loop, keeping the JIT from hoisting the
    /// head, mask and array base out of it.
    /// </remarks>
    public io_uring_cqe* CqeAt(uint offset) =>
        (io_uring_cqe*)(cqes + ((nuint)((*cqHeadPtr + offset) & cqMask) << (4 + cqeShift)));

    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        backend.Unmap((nint)sqes, sqesSize);
        if (cqRing != sqRing)
        {
            backend.Unmap((nint)cqRing, cqRingSize);
        }

        backend.Unmap((nint)sqRing, sqRingSize);
        backend.Close(Fd);
    }
}
