using System.Runtime.CompilerServices;
using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Conformance;

/// <summary>
/// One fact of the C layout: what the generated bindings say (<paramref name="Bindings"/>) and what the
/// running kernel showed it expects (<paramref name="Kernel"/>; -1 when it showed nothing usable).
/// </summary>
public sealed record LayoutFact(string Name, long Bindings, long Kernel)
{
    public bool Equal => Bindings == Kernel;

    public override string ToString() => $"{Name}: bindings {Bindings}, kernel {Kernel}{(Equal ? string.Empty : " DIFFERENT")}";
}

/// <summary>
/// Checks, on a live kernel, that the structures the client shares with it are laid out as the kernel
/// expects them, using only what the kernel itself reveals: the argument size it accepts (it refuses
/// any other with -EINVAL), the values it reads back from an SQE and writes into a CQE at the offsets
/// and strides the bindings give, the probe it writes, and the mmap offsets at which it maps the rings.
/// A 64-bit process on any architecture must see the bindings' x86_64 layout: the UAPI is meant to be
/// the same, and this is where a VM of another architecture shows it is.
/// </summary>
public static unsafe class LayoutCheck
{
    public static IReadOnlyList<LayoutFact> Run(IRingBackend kernel)
    {
        var facts = new List<LayoutFact>();
        facts.AddRange(RoundTrip(kernel, cqe32: false));
        facts.AddRange(RoundTrip(kernel, cqe32: true));
        facts.Add(new LayoutFact("sizeof(struct io_uring_getevents_arg) accepted by io_uring_enter(IORING_ENTER_EXT_ARG)", sizeof(io_uring_getevents_arg), AcceptedGeteventsSize(kernel)));
        facts.Add(new LayoutFact("offset of io_uring_probe.ops[1].op as IORING_REGISTER_PROBE writes it", sizeof(io_uring_probe) + sizeof(io_uring_probe_op), ProbeSecondOpOffset(kernel)));
        return facts;
    }

    /// <summary>
    /// Two NOPs written through the bindings, their CQEs read through them: the kernel must read each
    /// SQE's user_data at the bindings' offset and SQE stride (64, or the 128 of SQE128 rings is not
    /// used here), and write each CQE at the CQE stride (16, or 32 with CQE32). The ring itself is
    /// mapped at the bindings' IORING_OFF_* offsets, or setup would have failed.
    /// </summary>
    private static List<LayoutFact> RoundTrip(IRingBackend kernel, bool cqe32)
    {
        var name = cqe32 ? "CQE32 ring" : "ring";
        var setup = new io_uring_params { flags = cqe32 ? (uint)IoUringSetupFlags.IORING_SETUP_CQE32 : 0 };
        var rc = IoUring.Ring.Ring.Create(kernel, 4, setup, out var ring);
        if (rc < 0 || ring is null)
        {
            return [new LayoutFact($"{name}: io_uring_setup and mmap at IORING_OFF_SQ_RING/CQ_RING/SQES", 0, rc)];
        }

        using (ring)
        {
            ulong[] markers = [0x5157_0000_0000_0001, 0x5157_0000_0000_0002];
            foreach (var marker in markers)
            {
                var sqe = ring.GetSqe();
                Unsafe.InitBlockUnaligned(sqe, 0, (uint)sizeof(io_uring_sqe));
                sqe->opcode = (byte)io_uring_op.IORING_OP_NOP;
                sqe->user_data = marker;
            }

            var submitted = ring.Submit(2);
            var seen = new List<ulong>();
            for (uint i = 0; i < ring.CqReady; i++)
            {
                seen.Add(ring.CqeAt(i)->user_data);
            }

            ring.CqAdvance(ring.CqReady);
            var stride = cqe32 ? 32 : sizeof(io_uring_cqe);
            return
            [
                new LayoutFact($"{name}: NOPs submitted (io_uring_sqe stride {sizeof(io_uring_sqe)})", 2, submitted),
                new LayoutFact($"{name}: second CQE's user_data (io_uring_sqe.user_data at offset 32, CQE stride {stride})", (long)markers[1], seen.Count > 1 ? (long)seen[1] : -1),
            ];
        }
    }

    /// <summary>The one argument size in 8..64 (step 8) the kernel takes for the extended wait argument.</summary>
    private static long AcceptedGeteventsSize(IRingBackend kernel)
    {
        var rc = IoUring.Ring.Ring.Create(kernel, 4, default, out var ring);
        if (rc < 0 || ring is null)
        {
            return rc;
        }

        using (ring)
        {
            var accepted = new List<long>();
            var buffer = stackalloc byte[64];
            var ts = new __kernel_timespec();
            for (var size = 8; size <= 64; size += 8)
            {
                Unsafe.InitBlockUnaligned(buffer, 0, 64);
                // A zero timeout: the wait returns at once (-ETIME, or 0 with nothing to wait for).
                ((io_uring_getevents_arg*)buffer)->ts = (ulong)&ts;
                var r = kernel.Enter(ring.Fd, 0, 1, (uint)(IoUringEnterFlags.IORING_ENTER_GETEVENTS | IoUringEnterFlags.IORING_ENTER_EXT_ARG), buffer, (nuint)size);
                if (r != -Errno.EINVAL)
                {
                    accepted.Add(size);
                }
            }

            return accepted.Count == 1 ? accepted[0] : -1;
        }
    }

    /// <summary>Where the kernel put opcode 1 in the probe it wrote: the probe header's size plus one io_uring_probe_op.</summary>
    private static long ProbeSecondOpOffset(IRingBackend kernel)
    {
        var rc = IoUring.Ring.Ring.Create(kernel, 4, default, out var ring);
        if (rc < 0 || ring is null)
        {
            return rc;
        }

        using (ring)
        {
            const int Ops = 4;
            var bytes = new byte[256];
            fixed (byte* buffer = bytes)
            {
                var r = kernel.Register(ring.Fd, (uint)io_uring_register_op.IORING_REGISTER_PROBE, buffer, Ops);
                if (r < 0)
                {
                    return r;
                }

                // ops[k].op == k for every k the kernel filled: the first offset where 1, 2 and 3 follow
                // one another at one stride is ops[1].op (the flags bytes hold 1s too, never that run).
                for (var offset = 1; offset < 128; offset++)
                {
                    for (var stride = 2; stride <= 32; stride++)
                    {
                        if (bytes[offset] == 1 && bytes[offset + stride] == 2 && bytes[offset + (2 * stride)] == 3)
                        {
                            return offset;
                        }
                    }
                }

                return -1;
            }
        }
    }
}
