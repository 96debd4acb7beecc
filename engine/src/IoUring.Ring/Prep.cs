using IoUring.Bindings;

namespace IoUring.Ring;

/// <summary>
/// Fills SQEs for the opcodes the project exercises, as liburing's io_uring_prep_* do. The SQE is
/// expected zeroed (Ring.GetSqe returns it so); only the fields the opcode reads are written.
/// </summary>
public static unsafe class Prep
{
    public static void Nop(io_uring_sqe* sqe, ulong userData, uint nopFlags = 0, int injectResult = 0)
    {
        sqe->opcode = (byte)io_uring_op.IORING_OP_NOP;
        sqe->fd = -1;
        sqe->nop_flags = nopFlags;
        sqe->len = unchecked((uint)injectResult);
        sqe->user_data = userData;
    }

    /// <summary>A NOP in a 128-byte SQE (get it with Ring.GetSqe128).</summary>
    public static void Nop128(io_uring_sqe* sqe, ulong userData)
    {
        sqe->opcode = (byte)io_uring_op.IORING_OP_NOP128;
        sqe->fd = -1;
        sqe->user_data = userData;
    }

    public static void Read(io_uring_sqe* sqe, int fd, void* buffer, uint length, ulong offset, ulong userData) =>
        Rw(sqe, io_uring_op.IORING_OP_READ, fd, (ulong)buffer, length, offset, userData);

    public static void Write(io_uring_sqe* sqe, int fd, void* buffer, uint length, ulong offset, ulong userData) =>
        Rw(sqe, io_uring_op.IORING_OP_WRITE, fd, (ulong)buffer, length, offset, userData);

    /// <summary>READV: <paramref name="iovecs"/> points at <paramref name="count"/> struct iovec.</summary>
    public static void Readv(io_uring_sqe* sqe, int fd, void* iovecs, uint count, ulong offset, ulong userData) =>
        Rw(sqe, io_uring_op.IORING_OP_READV, fd, (ulong)iovecs, count, offset, userData);

    public static void Writev(io_uring_sqe* sqe, int fd, void* iovecs, uint count, ulong offset, ulong userData) =>
        Rw(sqe, io_uring_op.IORING_OP_WRITEV, fd, (ulong)iovecs, count, offset, userData);

    /// <summary>READ_FIXED: the range must lie inside registered buffer <paramref name="bufferIndex"/>.</summary>
    public static void ReadFixed(io_uring_sqe* sqe, int fd, void* buffer, uint length, ulong offset, ushort bufferIndex, ulong userData)
    {
        Rw(sqe, io_uring_op.IORING_OP_READ_FIXED, fd, (ulong)buffer, length, offset, userData);
        sqe->buf_index = bufferIndex;
    }

    public static void WriteFixed(io_uring_sqe* sqe, int fd, void* buffer, uint length, ulong offset, ushort bufferIndex, ulong userData)
    {
        Rw(sqe, io_uring_op.IORING_OP_WRITE_FIXED, fd, (ulong)buffer, length, offset, userData);
        sqe->buf_index = bufferIndex;
    }

    public static void Fsync(io_uring_sqe* sqe, int fd, uint fsyncFlags, ulong userData)
    {
        sqe->opcode = (byte)io_uring_op.IORING_OP_FSYNC;
        sqe->fd = fd;
        sqe->fsync_flags = fsyncFlags;
        sqe->user_data = userData;
    }

    /// <summary>POLL_ADD: <paramref name="events"/> are poll(2)'s (POLLIN ...); <paramref name="multishot"/> sets IORING_POLL_ADD_MULTI.</summary>
    public static void PollAdd(io_uring_sqe* sqe, int fd, uint events, ulong userData, bool multishot = false)
    {
        sqe->opcode = (byte)io_uring_op.IORING_OP_POLL_ADD;
        sqe->fd = fd;
        sqe->poll32_events = events;
        sqe->len = multishot ? Constants.IORING_POLL_ADD_MULTI : 0;
        sqe->user_data = userData;
    }

    /// <summary>POLL_REMOVE of the poll whose user_data is <paramref name="target"/>.</summary>
    public static void PollRemove(io_uring_sqe* sqe, ulong target, ulong userData)
    {
        sqe->opcode = (byte)io_uring_op.IORING_OP_POLL_REMOVE;
        sqe->fd = -1;
        sqe->addr = target;
        sqe->user_data = userData;
    }

    /// <summary>POLL_REMOVE as an update: new events (IORING_POLL_UPDATE_EVENTS) and, when given, a new user_data (IORING_POLL_UPDATE_USER_DATA).</summary>
    public static void PollUpdate(io_uring_sqe* sqe, ulong target, uint events, ulong userData, ulong? newUserData = null, bool multishot = false)
    {
        PollRemove(sqe, target, userData);
        sqe->poll32_events = events;
        sqe->len = Constants.IORING_POLL_UPDATE_EVENTS | (newUserData is null ? 0 : Constants.IORING_POLL_UPDATE_USER_DATA) | (multishot ? Constants.IORING_POLL_ADD_MULTI : 0);
        sqe->off = newUserData ?? 0;
    }

    private static void Rw(io_uring_sqe* sqe, io_uring_op op, int fd, ulong address, uint length, ulong offset, ulong userData)
    {
        sqe->opcode = (byte)op;
        sqe->fd = fd;
        sqe->addr = address;
        sqe->len = length;
        sqe->off = offset;
        sqe->user_data = userData;
    }
}
