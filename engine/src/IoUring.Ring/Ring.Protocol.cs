using IoUring.Bindings;

namespace IoUring.Ring;

/// <summary>
/// The ring modes beyond the plain circular queues: 128-byte SQEs on mixed rings (SQE_MIXED), the
/// non-circular SQ of SQ_REWIND, 32-byte CQEs on mixed rings (CQE_MIXED), and registration.
/// </summary>
public sealed unsafe partial class Ring
{
    public bool SqeMixed => (p.flags & (uint)IoUringSetupFlags.IORING_SETUP_SQE_MIXED) != 0;

    public bool CqeMixed => (p.flags & (uint)IoUringSetupFlags.IORING_SETUP_CQE_MIXED) != 0;

    public bool SqRewind => (p.flags & (uint)IoUringSetupFlags.IORING_SETUP_SQ_REWIND) != 0;

    /// <summary>The SQ index array (null with NO_SQARRAY), for programs that write bad indices on purpose.</summary>
    public uint* SqArray => (p.flags & (uint)IoUringSetupFlags.IORING_SETUP_NO_SQARRAY) != 0 ? null : (uint*)(sqRing + p.sq_off.array);

    /// <summary>
    /// A 128-byte SQE: on an SQE128 ring any SQE; on a mixed ring two consecutive slots. A 128-byte
    /// request may not start in the last physical slot, so there the wrap is padded with a NOP that
    /// posts nothing (CQE_SKIP_SUCCESS), as the kernel expects the application to do. Null when the
    /// SQ has no room.
    /// </summary>
    public io_uring_sqe* GetSqe128()
    {
        if (!SqeMixed)
        {
            return (p.flags & (uint)IoUringSetupFlags.IORING_SETUP_SQE128) != 0 ? GetSqe() : null;
        }

        var last = (sqeTail & (p.sq_entries - 1)) == p.sq_entries - 1;
        var needed = last ? 3u : 2u;
        if (p.sq_entries - (sqeTail - SqHead) < needed)
        {
            return null;
        }

        if (last)
        {
            var pad = GetSqe();
            pad->opcode = (byte)io_uring_op.IORING_OP_NOP;
            pad->flags = (byte)IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS;
        }

        var sqe = GetSqe();
        new Span<byte>((byte*)sqe + 64, 64).Clear();
        sqeTail++;
        return sqe;
    }

    /// <summary>
    /// SQ_REWIND rings read every submission from slot 0: after an enter the next SQE is slot 0 again.
    /// </summary>
    public void Rewind()
    {
        sqeHead = 0;
        sqeTail = 0;
    }

    /// <summary>
    /// The next completion: on a CQE_MIXED ring F_SKIP fillers are passed over (and consumed) and a
    /// 32-byte CQE (F_32) reports two slots; elsewhere one slot per CQE. Advance by <paramref name="slots"/>.
    /// </summary>
    public bool TryNextCqe(out io_uring_cqe* cqe, out uint slots)
    {
        while (TryPeekCqe(out cqe))
        {
            if (CqeMixed && (cqe->flags & Constants.IORING_CQE_F_SKIP) != 0)
            {
                CqAdvance(1);
                continue;
            }

            slots = CqeMixed && (cqe->flags & Constants.IORING_CQE_F_32) != 0 ? 2u : 1u;
            return true;
        }

        slots = 0;
        return false;
    }

    /// <summary>The extra 16 bytes of a 32-byte CQE (CQE32 rings, or F_32 on mixed rings).</summary>
    public static ulong* BigCqe(io_uring_cqe* cqe) => (ulong*)((byte*)cqe + 16);

    /// <summary>IORING_REGISTER_PROBE into <paramref name="probe"/> (16 + 8 × <paramref name="ops"/> zeroed bytes).</summary>
    public int RegisterProbe(io_uring_probe* probe, uint ops) => backend.Register(Fd, (uint)io_uring_register_op.IORING_REGISTER_PROBE, probe, ops);

    /// <summary>IORING_REGISTER_FILES: <paramref name="count"/> descriptors (-1 leaves a slot empty) become the fixed-file table.</summary>
    public int RegisterFiles(int* fds, uint count) => backend.Register(Fd, (uint)io_uring_register_op.IORING_REGISTER_FILES, fds, count);

    /// <summary>IORING_REGISTER_FILES_UPDATE from slot <paramref name="offset"/>; returns how many slots were updated.</summary>
    public int UpdateFiles(uint offset, int* fds, uint count)
    {
        var update = new io_uring_files_update { offset = offset, fds = (ulong)fds };
        return backend.Register(Fd, (uint)io_uring_register_op.IORING_REGISTER_FILES_UPDATE, &update, count);
    }

    public int UnregisterFiles() => backend.Register(Fd, (uint)io_uring_register_op.IORING_UNREGISTER_FILES, null, 0);

    /// <summary>IORING_REGISTER_BUFFERS: <paramref name="count"/> struct iovec (base, length) become the fixed buffers.</summary>
    public int RegisterBuffers(void* iovecs, uint count) => backend.Register(Fd, (uint)io_uring_register_op.IORING_REGISTER_BUFFERS, iovecs, count);

    public int UnregisterBuffers() => backend.Register(Fd, (uint)io_uring_register_op.IORING_UNREGISTER_BUFFERS, null, 0);

    /// <summary>IORING_REGISTER_ENABLE_RINGS: starts a ring created with IORING_SETUP_R_DISABLED.</summary>
    public int EnableRings() => backend.Register(Fd, (uint)io_uring_register_op.IORING_REGISTER_ENABLE_RINGS, null, 0);

    /// <summary>IORING_REGISTER_QUERY: a chain of headers; needs no ring (fd -1).</summary>
    public static int Query(IRingBackend backend, io_uring_query_hdr* chain) => backend.Register(-1, (uint)io_uring_register_op.IORING_REGISTER_QUERY, chain, 0);
}
