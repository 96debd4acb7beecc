using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// What one kernel knows: the setup flags it accepts, its feature mask, its opcodes, SQE flags, NOP
/// flags and enter flags. A profile is learnt from a live kernel by asking it (setup, probe), never by
/// its version number.
/// </summary>
public sealed record KernelProfile(string Name, uint SetupFlags, uint Features, uint OpLast, uint SqeFlags, uint NopFlags, uint EnterFlags)
{
    /// <summary>
    /// Probes a live kernel: each setup flag alone (with the companions it requires), the feature mask
    /// of a plain ring, the opcode count from IORING_REGISTER_PROBE, and each NOP flag bit.
    /// </summary>
    public static unsafe KernelProfile Probe(IRingBackend live)
    {
        uint setup = 0;
        for (var bit = 0; bit < 32; bit++)
        {
            var flag = 1u << bit;
            if (Accepts(live, flag | Companions(flag)))
            {
                setup |= flag;
            }
        }

        var plain = default(io_uring_params);
        var fd = live.Setup(4, &plain);
        if (fd < 0)
        {
            throw new InvalidOperationException($"io_uring_setup failed on the live kernel ({fd}); is io_uring disabled (kernel.io_uring_disabled)?");
        }

        try
        {
            var probe = stackalloc byte[16 + (256 * 8)];
            new Span<byte>(probe, 16 + (256 * 8)).Clear();
            var rc = live.Register(fd, (uint)io_uring_register_op.IORING_REGISTER_PROBE, probe, 256);
            var opLast = rc < 0 ? 0u : (uint)probe[0] + 1;

            // A NOP flag the kernel does not know fails the NOP with -EINVAL.
            uint nopFlags = 0;
            for (var bit = 0; bit < 8; bit++)
            {
                if (NopFlagAccepted(live, 1u << bit))
                {
                    nopFlags |= 1u << bit;
                }
            }

            return new KernelProfile("host", setup, plain.features, opLast, 0x7f, nopFlags, 0xff);
        }
        finally
        {
            live.Close(fd);
        }
    }

    private static uint Companions(uint flag) => (IoUringSetupFlags)flag switch
    {
        IoUringSetupFlags.IORING_SETUP_SQ_AFF => (uint)IoUringSetupFlags.IORING_SETUP_SQPOLL,
        IoUringSetupFlags.IORING_SETUP_TASKRUN_FLAG => (uint)IoUringSetupFlags.IORING_SETUP_COOP_TASKRUN,
        IoUringSetupFlags.IORING_SETUP_DEFER_TASKRUN => (uint)IoUringSetupFlags.IORING_SETUP_SINGLE_ISSUER,
        IoUringSetupFlags.IORING_SETUP_REGISTERED_FD_ONLY => (uint)IoUringSetupFlags.IORING_SETUP_NO_MMAP,
        IoUringSetupFlags.IORING_SETUP_HYBRID_IOPOLL => (uint)IoUringSetupFlags.IORING_SETUP_IOPOLL,
        IoUringSetupFlags.IORING_SETUP_SQ_REWIND => (uint)IoUringSetupFlags.IORING_SETUP_NO_SQARRAY,
        IoUringSetupFlags.IORING_SETUP_ATTACH_WQ => 0,
        _ => 0,
    };

    private static unsafe bool Accepts(IRingBackend live, uint flags)
    {
        var p = default(io_uring_params);
        p.flags = flags;
        p.cq_entries = 8;
        if ((flags & (uint)IoUringSetupFlags.IORING_SETUP_ATTACH_WQ) != 0)
        {
            return false; // needs another ring's fd; not probed
        }

        var fd = live.Setup(4, &p);
        if (fd >= 0)
        {
            live.Close(fd);
            return true;
        }

        return false;
    }

    private static unsafe bool NopFlagAccepted(IRingBackend live, uint nopFlag)
    {
        var cqe32 = nopFlag == (uint)IoUringNopFlags.IORING_NOP_CQE32 ? (uint)IoUringSetupFlags.IORING_SETUP_CQE32 : 0;
        var rc = IoUring.Ring.Ring.Create(live, 4, new io_uring_params { flags = cqe32 }, out var ring);
        if (rc < 0)
        {
            return false;
        }

        using (ring)
        {
            var sqe = ring!.GetSqe();
            sqe->opcode = (byte)io_uring_op.IORING_OP_NOP;
            sqe->nop_flags = nopFlag;
            sqe->fd = -1;
            ring.Submit();
            ring.Submit(0, (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS);
            return ring.TryPeekCqe(out var cqe) && cqe->res != -Errno.EINVAL;
        }
    }
}
