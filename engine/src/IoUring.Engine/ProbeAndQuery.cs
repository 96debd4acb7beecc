using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>IORING_REGISTER_PROBE and IORING_REGISTER_QUERY as a profile's kernel answers them.</summary>
internal static unsafe class ProbeAndQuery
{
    private const int MaxProbeOps = 256;

    // The kernel's on-stack query buffer (IO_MAX_QUERY_SIZE) and entry limit (IO_MAX_QUERY_ENTRIES).
    private const int MaxQuerySize = 512;
    private const int MaxQueryEntries = 1000;

    public static int Probe(KernelProfile profile, void* arg, uint nrArgs)
    {
        if (nrArgs > MaxProbeOps)
        {
            return -Errno.EINVAL;
        }

        var size = 16 + (nrArgs * 8);
        var buffer = stackalloc byte[16 + (MaxProbeOps * 8)];
        if (Posix.CopyFromUser(buffer, (ulong)arg, size) != 0)
        {
            return -Errno.EFAULT;
        }

        // The buffer must come zeroed: a non-zero byte means the caller passed something else.
        if (new Span<byte>(buffer, (int)size).IndexOfAnyExcept((byte)0) >= 0)
        {
            return -Errno.EINVAL;
        }

        var probe = (io_uring_probe*)buffer;
        probe->last_op = (byte)(profile.OpLast - 1);
        probe->ops_len = (byte)Math.Min(nrArgs, profile.OpLast);
        var ops = (io_uring_probe_op*)(buffer + 16);
        for (var i = 0; i < probe->ops_len; i++)
        {
            ops[i].op = (byte)i;
            if (i < 128 && (profile.SupportedOps & (UInt128.One << i)) != 0)
            {
                ops[i].flags = (ushort)Constants.IO_URING_OP_SUPPORTED;
            }
        }

        return Posix.CopyToUser((ulong)arg, buffer, size);
    }

    /// <summary>A chain of query headers; per-entry errors go in each header's result, the call returns 0.</summary>
    public static int Query(KernelProfile profile, void* arg, uint nrArgs, Action<string> unmodelled)
    {
        if (nrArgs != 0)
        {
            return -Errno.EINVAL;
        }

        var entry = stackalloc byte[MaxQuerySize];
        var next = (ulong)arg;
        for (var n = 0; next != 0; n++)
        {
            if (n >= MaxQueryEntries)
            {
                return -Errno.ERANGE;
            }

            var rc = QueryEntry(profile, next, entry, out next, unmodelled);
            if (rc != 0)
            {
                return rc;
            }
        }

        return 0;
    }

    private static int QueryEntry(KernelProfile profile, ulong userHeader, byte* entry, out ulong next, Action<string> unmodelled)
    {
        next = 0;
        io_uring_query_hdr hdr;
        if (Posix.CopyFromUser(&hdr, userHeader, (nuint)sizeof(io_uring_query_hdr)) != 0)
        {
            return -Errno.EFAULT;
        }

        var userSize = hdr.size;
        var size = Math.Min(hdr.size, MaxQuerySize);
        var result = -Errno.EINVAL;
        uint written = 0;
        new Span<byte>(entry, MaxQuerySize).Clear();
        if (hdr.query_op >= profile.QueryOps)
        {
            result = -Errno.EOPNOTSUPP;
        }
        else if (hdr.__resv[0] != 0 || hdr.__resv[1] != 0 || hdr.__resv[2] != 0 || hdr.result != 0 || size == 0)
        {
            result = -Errno.EINVAL;
        }
        else
        {
            if (Posix.CopyFromUser(entry, hdr.query_data, size) != 0)
            {
                return -Errno.EFAULT;
            }

            (result, written) = hdr.query_op switch
            {
                Constants.IO_URING_QUERY_OPCODES => (0, Opcodes(profile, entry)),

                // The others describe the kernel's zero-copy receive and ring headers: its answers, as probed.
                _ when profile.QueryAnswers is { } answers && hdr.query_op < answers.Length => Answer(answers[hdr.query_op], entry),
                _ => NotKnown(hdr.query_op, unmodelled),
            };
        }

        hdr.result = result;
        hdr.size = Math.Min(userSize, written);
        if (hdr.size > 0 && Posix.CopyToUser(hdr.query_data, entry, hdr.size) != 0)
        {
            return -Errno.EFAULT;
        }

        if (Posix.CopyToUser(userHeader, &hdr, (nuint)sizeof(io_uring_query_hdr)) != 0)
        {
            return -Errno.EFAULT;
        }

        next = hdr.next_entry;
        return 0;
    }

    /// <summary>
    /// A query a snapshot profile has no probed answer for (zero-copy receive, ring headers): the kernel
    /// would describe hardware and features the engine does not model, so the engine says so rather than
    /// let -EOPNOTSUPP pass for the kernel's answer.
    /// </summary>
    private static (int Result, uint Written) NotKnown(uint queryOp, Action<string> unmodelled)
    {
        unmodelled($"IORING_REGISTER_QUERY of query opcode {queryOp} (zero-copy receive and ring headers: no probed answer)");
        return (-Errno.EOPNOTSUPP, 0u);
    }

    /// <summary>A probed answer, "result:hex", into the entry: its result and how many bytes it holds.</summary>
    private static (int Result, uint Written) Answer(string answer, byte* entry)
    {
        var colon = answer.IndexOf(':', StringComparison.Ordinal);
        var result = colon > 0 && int.TryParse(answer.AsSpan(0, colon), out var r) ? r : -Errno.EOPNOTSUPP;
        var bytes = Convert.FromHexString(answer.AsSpan(colon + 1));
        var n = Math.Min(bytes.Length, MaxQuerySize);
        bytes.AsSpan(0, n).CopyTo(new Span<byte>(entry, MaxQuerySize));
        return (result, result == 0 ? (uint)n : 0);
    }

    private static uint Opcodes(KernelProfile profile, byte* entry)
    {
        var q = (io_uring_query_opcode*)entry;
        q->nr_request_opcodes = profile.OpLast;
        q->nr_register_opcodes = profile.RegisterOpLast;
        q->feature_flags = profile.Features;
        q->ring_setup_flags = profile.KnownSetupFlags;
        q->enter_flags = profile.EnterFlags;
        q->sqe_flags = profile.SqeFlags;
        if (profile.QueryOpcodeSize >= 48)
        {
            q->nr_query_opcodes = profile.QueryOps;
        }

        return profile.QueryOpcodeSize;
    }
}
