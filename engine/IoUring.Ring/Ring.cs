using IoUring.Bindings;

namespace IoUring.Ring;

/// <summary>
/// A submission/completion ring in user space, the role liburing plays in C: it maps the regions the
/// backend describes in io_uring_params and moves heads and tails as the protocol says. It never
/// assumes an offset: every field is found through sq_off/cq_off, which differ between kernels.
/// </summary>
public sealed unsafe class Ring : IDisposable
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

    public uint SqHead => Volatile.Read(ref *SqField(p.sq_off.head));

    public uint SqTail => Volatile.Read(ref *SqField(p.sq_off.tail));

    public uint SqFlags => Volatile.Read(ref *SqField(p.sq_off.flags));

    public uint SqDropped => Volatile.Read(ref *SqField(p.sq_off.dropped));

    public uint CqHead => Volatile.Read(ref *CqField(p.cq_off.head));

    public uint CqTail => Volatile.Read(ref *CqField(p.cq_off.tail));

    public uint CqOverflow => Volatile.Read(ref *CqField(p.cq_off.overflow));

    /// <summary>SQEs taken with <see cref="GetSqe"/> but not yet handed to the backend.</summary>
    public uint Pending => sqeTail - sqeHead;

    /// <summary>The next free SQE, zeroed, or null when the submission queue is full.</summary>
    public io_uring_sqe* GetSqe()
    {
        if (sqeTail - SqHead >= p.sq_entries)
        {
            return null;
        }

        var sqe = (io_uring_sqe*)(sqes + ((sqeTail & (p.sq_entries - 1)) << (6 + sqeShift)));
        new Span<byte>(sqe, 64 << sqeShift).Clear();
        sqeTail++;
        return sqe;
    }

    /// <summary>Publishes the SQEs taken so far (index array, then tail); returns how many.</summary>
    public uint Flush()
    {
        var n = sqeTail - sqeHead;
        if ((p.flags & (uint)IoUringSetupFlags.IORING_SETUP_NO_SQARRAY) == 0)
        {
            var array = SqField(p.sq_off.array);
            for (var i = sqeHead; i != sqeTail; i++)
            {
                array[i & (p.sq_entries - 1)] = i & (p.sq_entries - 1);
            }
        }

        Volatile.Write(ref *SqField(p.sq_off.tail), sqeTail);
        sqeHead = sqeTail;
        return n;
    }

    /// <summary>Submits what is pending and, with <paramref name="waitFor"/> &gt; 0, waits for that many completions.</summary>
    public int Submit(uint waitFor = 0, uint extraFlags = 0)
    {
        var n = Flush();
        var flags = extraFlags | (waitFor > 0 ? (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS : 0);
        return backend.Enter(Fd, n, waitFor, flags, null, 0);
    }

    /// <summary>The CQE at the head of the completion queue, if any (it stays there until <see cref="CqAdvance"/>).</summary>
    public bool TryPeekCqe(out io_uring_cqe* cqe)
    {
        var head = CqHead;
        if (head == CqTail)
        {
            cqe = null;
            return false;
        }

        cqe = (io_uring_cqe*)(cqRing + p.cq_off.cqes + ((head & (p.cq_entries - 1)) << (4 + cqeShift)));
        return true;
    }

    public void CqAdvance(uint n) => Volatile.Write(ref *CqField(p.cq_off.head), CqHead + n);

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
