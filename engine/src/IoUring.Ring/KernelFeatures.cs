using IoUring.Bindings;

namespace IoUring.Ring;

/// <summary>
/// What the running kernel's io_uring supports, found by asking it and never from its version string:
/// each setup flag by a setup attempt (with the flags it requires), the feature mask of a plain ring,
/// the opcodes from IORING_REGISTER_PROBE, and, where the kernel has IORING_REGISTER_QUERY (6.18 on),
/// the register opcodes, SQE flags and enter flags it reports. A kernel without the query gets the SQE
/// and enter flags every kernel since 6.0 has, and its register opcodes counted through restrictions.
/// </summary>
public sealed record KernelFeatures
{
    /// <summary>The IORING_SETUP_* flags io_uring_setup accepted, each tried on its own (with the flags it requires).</summary>
    public required uint SetupFlags { get; init; }

    /// <summary>The setup flags the kernel knows (from the query; the accepted ones without it).</summary>
    public required uint KnownSetupFlags { get; init; }

    /// <summary>The IORING_FEAT_* mask a plain ring reports.</summary>
    public required uint Features { get; init; }

    /// <summary>One past the highest opcode the kernel knows (IORING_REGISTER_PROBE's last_op + 1; 0 without the probe).</summary>
    public required uint OpcodeCount { get; init; }

    /// <summary>Bit N set: opcode N is supported (IO_URING_OP_SUPPORTED in the probe).</summary>
    public required UInt128 SupportedOpcodes { get; init; }

    /// <summary>One past the highest register opcode the kernel knows (0 when it could not be found).</summary>
    public required uint RegisterOpcodeCount { get; init; }

    /// <summary>The IOSQE_* flags an SQE may carry.</summary>
    public required uint SqeFlags { get; init; }

    /// <summary>The IORING_ENTER_* flags io_uring_enter accepts.</summary>
    public required uint EnterFlags { get; init; }

    /// <summary>Whether the kernel answers IORING_REGISTER_QUERY.</summary>
    public bool HasQuery => Query is not null;

    /// <summary>The kernel's answer to IO_URING_QUERY_OPCODES, when it has the query.</summary>
    public io_uring_query_opcode? Query { get; init; }

    /// <summary>How many query opcodes the kernel answers (0 without the query).</summary>
    public uint QueryOpcodeCount { get; init; }

    /// <summary>The size the kernel reported for its IO_URING_QUERY_OPCODES answer.</summary>
    public uint QuerySize { get; init; }

    public bool Supports(io_uring_op op) => (uint)op < 128 && (SupportedOpcodes & (UInt128.One << (int)op)) != 0;

    public bool Supports(IoUringSetupFlags flag) => (SetupFlags & (uint)flag) == (uint)flag;

    public bool Supports(IoUringSqeFlags flag) => (SqeFlags & (uint)flag) == (uint)flag;

    public bool Supports(IoUringEnterFlags flag) => (EnterFlags & (uint)flag) == (uint)flag;

    public bool Supports(io_uring_register_op op) => (uint)op < RegisterOpcodeCount;

    public bool Has(IoUringFeatures feature) => (Features & (uint)feature) == (uint)feature;

    /// <summary>Probes the running kernel through syscall(2).</summary>
    public static KernelFeatures Probe() => Probe(new LiveKernel());

    /// <summary>
    /// Probes <paramref name="backend"/>. Throws when a plain ring cannot be set up at all (io_uring
    /// disabled by sysctl kernel.io_uring_disabled, or seccomp).
    /// </summary>
    public static unsafe KernelFeatures Probe(IRingBackend backend)
    {
        uint setup = 0;
        for (var bit = 0; bit < 32; bit++)
        {
            var flag = 1u << bit;
            if (Accepts(backend, flag | Companions(flag)))
            {
                setup |= flag;
            }
        }

        var plain = default(io_uring_params);
        var fd = backend.Setup(4, &plain);
        if (fd < 0)
        {
            throw new InvalidOperationException($"io_uring_setup failed on {backend.Name} ({fd}); is io_uring disabled (sysctl kernel.io_uring_disabled)?");
        }

        try
        {
            var probe = stackalloc byte[16 + (256 * 8)];
            new Span<byte>(probe, 16 + (256 * 8)).Clear();
            var rc = backend.Register(fd, (uint)io_uring_register_op.IORING_REGISTER_PROBE, probe, 256);
            var opLast = rc < 0 ? 0u : (uint)probe[0] + 1;
            UInt128 supported = 0;
            var ops = (io_uring_probe_op*)(probe + 16);
            for (var op = 0; rc >= 0 && op < probe[1] && op < 128; op++)
            {
                if ((ops[op].flags & Constants.IO_URING_OP_SUPPORTED) != 0)
                {
                    supported |= UInt128.One << op;
                }
            }

            // The query works without a ring; a kernel without it refuses the register opcode.
            var (query, queryOps, querySize) = QueryOpcodes(backend);

            // Without the query the register count and the enter flags cannot be asked for safely
            // (probing register opcodes with null arguments runs them); those kernels get the sets every
            // kernel since 6.0 has: IOSQE_* bits 0-6, ENTER GETEVENTS..REGISTERED_RING. Restrictions tell
            // which register opcodes exist: they name one by number and refuse an unknown one (-EINVAL)
            // without running it.
            var registerLast = query?.nr_register_opcodes
                ?? ((setup & (uint)IoUringSetupFlags.IORING_SETUP_R_DISABLED) != 0 ? RegisterOpcodeCountByRestrictions(backend) : 0);
            return new KernelFeatures
            {
                SetupFlags = setup,
                KnownSetupFlags = query is { } q ? (uint)q.ring_setup_flags : setup,
                Features = plain.features,
                OpcodeCount = opLast,
                SupportedOpcodes = supported,
                RegisterOpcodeCount = registerLast,
                SqeFlags = query is { } q2 ? (uint)q2.sqe_flags : 0x7fu,
                EnterFlags = query is { } q3 ? (uint)q3.enter_flags : 0x1fu,
                Query = query,
                QueryOpcodeCount = queryOps,
                QuerySize = querySize,
            };
        }
        finally
        {
            backend.Close(fd);
        }
    }

    /// <summary>
    /// A ring created disabled with one restriction registered: the registration's result (setup's
    /// error, and no ring, when the kernel has no R_DISABLED). The caller disposes the ring.
    /// </summary>
    public static unsafe int RestrictedRing(IRingBackend backend, io_uring_register_restriction_op kind, byte value, out Ring? ring)
    {
        var rc = Ring.Create(backend, 4, new io_uring_params { flags = (uint)IoUringSetupFlags.IORING_SETUP_R_DISABLED }, out ring);
        if (rc < 0)
        {
            return rc;
        }

        var entry = default(io_uring_restriction);
        entry.opcode = (ushort)kind;
        entry.register_op = value;
        return backend.Register(ring!.Fd, (uint)io_uring_register_op.IORING_REGISTER_RESTRICTIONS, &entry, 1);
    }

    /// <summary>
    /// One IORING_REGISTER_QUERY: the syscall's result, the header's result, and the size the kernel
    /// wrote back. <paramref name="data"/> is cleared first.
    /// </summary>
    public static unsafe (int Rc, int Result, uint Size) Ask(IRingBackend backend, uint queryOp, void* data, uint size)
    {
        new Span<byte>(data, (int)size).Clear();
        var hdr = default(io_uring_query_hdr);
        hdr.query_op = queryOp;
        hdr.query_data = (ulong)data;
        hdr.size = size;
        var rc = backend.Register(-1, (uint)io_uring_register_op.IORING_REGISTER_QUERY, &hdr, 0);
        return (rc, hdr.result, hdr.size);
    }

    /// <summary>The flags a setup flag cannot be given without.</summary>
    private static uint Companions(uint flag) => (IoUringSetupFlags)flag switch
    {
        IoUringSetupFlags.IORING_SETUP_SQ_AFF => (uint)IoUringSetupFlags.IORING_SETUP_SQPOLL,
        IoUringSetupFlags.IORING_SETUP_TASKRUN_FLAG => (uint)IoUringSetupFlags.IORING_SETUP_COOP_TASKRUN,
        IoUringSetupFlags.IORING_SETUP_DEFER_TASKRUN => (uint)IoUringSetupFlags.IORING_SETUP_SINGLE_ISSUER,
        IoUringSetupFlags.IORING_SETUP_REGISTERED_FD_ONLY => (uint)IoUringSetupFlags.IORING_SETUP_NO_MMAP,
        IoUringSetupFlags.IORING_SETUP_HYBRID_IOPOLL => (uint)IoUringSetupFlags.IORING_SETUP_IOPOLL,
        IoUringSetupFlags.IORING_SETUP_SQ_REWIND => (uint)IoUringSetupFlags.IORING_SETUP_NO_SQARRAY,
        _ => 0,
    };

    private static unsafe bool Accepts(IRingBackend backend, uint flags)
    {
        if ((flags & (uint)IoUringSetupFlags.IORING_SETUP_ATTACH_WQ) != 0)
        {
            return false; // needs another ring's fd; not probed
        }

        var p = default(io_uring_params);
        p.flags = flags;
        p.cq_entries = 8;
        var fd = backend.Setup(4, &p);
        if (fd >= 0)
        {
            backend.Close(fd);
            return true;
        }

        return false;
    }

    private static unsafe (io_uring_query_opcode? Data, uint Ops, uint Size) QueryOpcodes(IRingBackend backend)
    {
        var data = default(io_uring_query_opcode);
        var (rc, result, size) = Ask(backend, Constants.IO_URING_QUERY_OPCODES, &data, (uint)sizeof(io_uring_query_opcode));
        if (rc != 0 || result != 0)
        {
            return (null, 0, 0);
        }

        // Query opcodes are dense: the first one refused with -EOPNOTSUPP is the count.
        var scratch = stackalloc byte[256];
        uint ops = 1;
        while (ops < 64 && Ask(backend, ops, scratch, 256).Result != -Errno.EOPNOTSUPP)
        {
            ops++;
        }

        return (data, ops, size);
    }

    /// <summary>Binary search for the first register opcode a restriction refuses as unknown.</summary>
    private static uint RegisterOpcodeCountByRestrictions(IRingBackend backend)
    {
        bool Known(uint op)
        {
            var rc = RestrictedRing(backend, io_uring_register_restriction_op.IORING_RESTRICTION_REGISTER_OP, (byte)op, out var ring);
            ring?.Dispose();
            return rc == 0;
        }

        if (!Known(0))
        {
            return 0;
        }

        if (Known(255))
        {
            return 256;
        }

        uint known = 0, unknown = 255;
        while (unknown - known > 1)
        {
            var mid = (known + unknown) / 2;
            if (Known(mid))
            {
                known = mid;
            }
            else
            {
                unknown = mid;
            }
        }

        return unknown;
    }
}
