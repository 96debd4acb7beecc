namespace IoUring.Engine;

/// <summary>
/// One request as the engine tracks it from its SQE to its CQE: the fields read from the SQE at
/// preparation (the kernel copies them too, so the application may reuse the slot), the request's
/// fail/skip state (the kernel's REQ_F_FAIL, REQ_F_CQE_SKIP, REQ_F_SKIP_LINK_CQES) and its link.
/// Requests live in a per-ring pool, so steady-state submission allocates nothing.
/// </summary>
internal struct Request
{
    public ulong UserData;
    public byte Opcode;

    /// <summary>What the opcode is to the engine, resolved once at preparation.</summary>
    public OpKind Kind;
    public byte SqeFlags;
    public ushort Ioprio;
    public int Fd;

    /// <summary>The descriptor the request works on, resolved at issue (through the fixed table with IOSQE_FIXED_FILE).</summary>
    public int File;
    public ulong Addr;
    public uint Len;
    public ulong Off;
    public uint OpFlags;
    public ushort BufIndex;

    /// <summary>The result to post (set by a failed preparation, or by execution).</summary>
    public int Res;

    /// <summary>REQ_F_FAIL: breaks an IO_LINK chain; the CQE is posted even with CQE_SKIP_SUCCESS.</summary>
    public bool Failed;

    /// <summary>REQ_F_CQE_SKIP: no CQE on success.</summary>
    public bool SkipCqe;

    /// <summary>REQ_F_SKIP_LINK_CQES: this request had CQE_SKIP_SUCCESS and failed, so the followers it cancels post nothing.</summary>
    public bool SkipLinkCqes;

    /// <summary>A 32-byte CQE (NOP with IORING_NOP_CQE32) and its two extra words.</summary>
    public bool Big;
    public ulong Extra1;
    public ulong Extra2;

    /// <summary>REQ_F_FORCE_ASYNC: IOSQE_ASYNC, or submitted while a drain was active; goes to io-wq.</summary>
    public bool ForceAsync;

    /// <summary>REQ_F_IO_DRAIN: waits for everything submitted before it.</summary>
    public bool Drain;

    /// <summary>Executed already (an io-wq completion of a request that ran inline and was retried).</summary>
    public bool Executed;

    /// <summary>Holds a request from its SQE to its CQE (false: a free slot of the pool).</summary>
    public bool Live;

    /// <summary>
    /// TIMEOUT: the completions it waits for (sqe->off; 0, or multishot: a pure timer), the CQ sequence
    /// that completes it, and a multishot timeout's firings left.
    /// </summary>
    public uint TimeoutCount;
    public uint TargetSeq;
    public uint Repeats;

    /// <summary>TIMEOUT: its time in nanoseconds (an interval, or with <see cref="Absolute"/> a point on its clock); TIMEOUT_REMOVE: the new time of an update.</summary>
    public long TimeNs;
    public bool Absolute;

    /// <summary>TIMEOUT: the clock its timer runs on (CLOCK_MONOTONIC, BOOTTIME or REALTIME) and when, on it, it fires.</summary>
    public int Clock;
    public long Deadline;

    /// <summary>
    /// REQ_F_ARM_LTIMEOUT: the next member of this request's chain is a LINK_TIMEOUT, armed when this
    /// request does not complete at once and disarmed (-ECANCELED) when it completes.
    /// </summary>
    public bool ArmsLinkTimeout;

    /// <summary>LINK_TIMEOUT: armed (in the ring's list of linked timeouts), and the request it times.</summary>
    public bool LinkTimeoutArmed;
    public int TimedRequest;

    /// <summary>The last cancellation that matched this request (the kernel's cancel_seq), so ALL and ANY take it once.</summary>
    public uint CancelSeq;

    /// <summary>
    /// POLL_ADD, or a read or write waiting for readiness (<see cref="AsyncPoll"/>): the events it waits
    /// for (with EPOLLONESHOT and EPOLLET), whether it is armed, its task work queued, cancelled; the
    /// duplicate descriptor the engine watches its file through, and the arming's serial number.
    /// <see cref="NeedsPoll"/>: a transfer just found it would wait.
    /// </summary>
    public uint PollEvents;
    public bool PollArmed;
    public bool PollFiring;
    public bool PollCancelled;
    public bool AsyncPoll;
    public bool NeedsPoll;

    /// <summary>REQ_F_POLLED: it waited for readiness once already; not being tried inline again, it goes to io-wq.</summary>
    public bool Polled;
    public int PollFd;
    public int PollOutFd;
    public uint PollSerial;

    /// <summary>An ACCEPT's place in its listener's wait queue (older first): which waiter a wake-up reaches.</summary>
    public uint WaitQueuedAt;

    /// <summary>The events the file had when a single wake-up queued the poll's task work (0: ask again).</summary>
    public uint PollWakeMask;

    /// <summary>The CQE's flags (IORING_CQE_F_SOCK_NONEMPTY after a receive).</summary>
    public uint CqeFlags;

    /// <summary>SEND: the length of its address (sqe->addr2). A MSG_WAITALL transfer: the bytes earlier issues moved.</summary>
    public ushort AddrLen;
    public int DoneIo;

    /// <summary>
    /// SOCKET and ACCEPT: the fixed slot for the new socket (sqe->file_index: slot + 1, or
    /// IORING_FILE_INDEX_ALLOC; 0 for a plain descriptor). BIND and CONNECT: the address as copied and
    /// its length (sqe->addr2); CONNECT: a connection was started (-EINPROGRESS) and is being waited for.
    /// </summary>
    public uint FileSlot;
    public byte[]? Address;
    public int AddressLength;
    public bool InProgress;

    /// <summary>
    /// The path calls (OPENAT, STATX, MKDIRAT ...): the path names as the kernel's getname copied them at
    /// prep, NUL-terminated (the second one: RENAMEAT's and LINKAT's new name, SYMLINKAT's link), and
    /// OPENAT's and OPENAT2's open_how.
    /// </summary>
    public byte[]? Path;
    public byte[]? Path2;
    public Ring.Posix.OpenHow How;

    /// <summary>
    /// sqe->addr3 and sqe->splice_fd_in as the preps that read them keep them: SPLICE's and TEE's input
    /// descriptor, the xattr calls' path, URING_CMD's optval and optlen; <see cref="Value"/> SETXATTR's value as copied at prep.
    /// </summary>
    public ulong Addr3;
    public int FdIn;
    public byte[]? Value;

    /// <summary>READV_FIXED and WRITEV_FIXED: the iovec array as copied at prep, each checked against the registered buffer at issue.</summary>
    public Ring.Posix.IoVec[]? Vectors;

    /// <summary>A request with IOSQE_BUFFER_SELECT holds a provided buffer: where, how long, its id.</summary>
    public bool BufferSelected;
    public (ulong Address, uint Length, ushort Id) Selected;

    /// <summary>
    /// The buffer came from a buffer ring (not a legacy group), and whether the ring's head has moved past
    /// it yet: at selection from io-wq or for a file without a poll method, otherwise when the request
    /// completes (a request that waits leaves it in the ring).
    /// </summary>
    public bool FromRing;
    public bool BufferCommitted;

    /// <summary>
    /// A receive into provided buffers: the length each selection asks for (a multishot RECV's after a
    /// CQE is posted: sqe->len where the kernel takes it as a cap, else 0, the buffer's; a RECVMSG's at
    /// every selection: its one vector's length), what is left of a multishot RECV's total limit
    /// (sqe->optlen, 0: none), and the CQEs it posted in a row without a requeue (MULTISHOT_MAX_RETRY).
    /// </summary>
    public uint MultishotLength;
    public uint MultishotTotal;
    public int MultishotLoops;

    /// <summary>
    /// A RECV bundle: what the socket said it still held after the last receive (msg_inq; -1 when it
    /// cannot say, 0 before the first), whether this receive adds to the CQE of the one before (the
    /// kernel's IORING_RECV_RETRY), that CQE's flags, kept for it, and whether a multishot bundle took
    /// its whole length (IORING_RECV_MSHOT_CAP: no going back for more, requeued after its CQE), and
    /// whether a selection emptied the group since its last CQE (REQ_F_BL_EMPTY: the bundle ends there)
    /// or was cut short (IORING_RECV_PARTIAL_MAP: no going back for more).
    /// </summary>
    public int BundleQueued;
    public bool BundleAppending;
    public uint BundleFirstFlags;
    public bool BundleCapped;
    public bool BundleEmptied;
    public bool BundlePartial;

    /// <summary>SENDMSG and RECVMSG: the msghdr and vectors as the kernel copied them (at prep, or at the first issue before 6.10).</summary>
    public NetMessage? Message;

    /// <summary>
    /// An armed FUTEX_WAITV: claimed by the first wake of one of its words (its completion queued as task
    /// work), and which words a wake has taken off their wait queues since (the others stay queued until
    /// the completion runs, and a later wake of theirs still counts them).
    /// </summary>
    public bool FutexClaimed;
    public UInt128 FutexWoken;

    /// <summary>A zero-copy send's notification: its request slot plus one (0: none), completed from task work once this request is freed.</summary>
    public int Notification;

    /// <summary>The next member of its chain, or -1.</summary>
    public int Next;

    public readonly bool Hardlink => (SqeFlags & (byte)Bindings.IoUringSqeFlags.IOSQE_IO_HARDLINK) != 0;

    public readonly bool Linked => (SqeFlags & (byte)(Bindings.IoUringSqeFlags.IOSQE_IO_LINK | Bindings.IoUringSqeFlags.IOSQE_IO_HARDLINK)) != 0;

    /// <summary>The kernel's req_set_fail: failure clears CQE_SKIP and turns it into "skip the cancelled followers' CQEs".</summary>
    public void SetFail()
    {
        Failed = true;
        if (SkipCqe)
        {
            SkipCqe = false;
            SkipLinkCqes = true;
        }
    }

    public void Fail(int res)
    {
        SetFail();

        // A socket transfer that fails after moving bytes (MSG_WAITALL) posts what it moved (io_sendrecv_fail).
        Res = DoneIo > 0 ? DoneIo : res;
        Big = false;
    }
}

/// <summary>What a task-work item does when the queue reaches it.</summary>
internal enum WorkKind : byte
{
    /// <summary>Issue a chain member whose predecessor completed (io_req_task_submit).</summary>
    Issue,

    /// <summary>Complete a request executed earlier (a NOP with IORING_NOP_TW: io_req_task_complete).</summary>
    Complete,

    /// <summary>Complete a request io-wq finished: as <see cref="Complete"/>, but the flush that posts it counts as io-wq's for an eventfd registered with _ASYNC.</summary>
    WorkerCompleted,

    /// <summary>Complete every remaining member of a broken chain, in one pass (io_req_tw_fail_links).</summary>
    FailLinks,

    /// <summary>Complete a request cancelled with the result it carries, as a failure (io_req_task_cancel).</summary>
    Cancel,

    /// <summary>A TIMEOUT whose timer fired (io_timeout_complete): a multishot one posts and is armed again.</summary>
    TimerFired,

    /// <summary>A LINK_TIMEOUT whose timer fired (io_req_task_link_timeout): it cancels the request it timed.</summary>
    LinkTimerFired,

    /// <summary>A poll's file woke it, or it was cancelled (io_poll_task_func, io_apoll_task_func).</summary>
    PollFired,

    /// <summary>A FUTEX_WAITV a wake claimed: its words leave their queues, it completes with the highest index woken (io_futexv_complete).</summary>
    FutexWoken,
}

internal readonly record struct Work(WorkKind Kind, int Request, bool IgnoreCqes);

/// <summary>(DrainBySequence) an entry of the kernel's defer list: a chain head and the CQ sequence it waits for.</summary>
internal readonly record struct Deferred(int Request, uint Seq);

/// <summary>A completion waiting for CQ space (FEAT_NODROP overflow list).</summary>
internal readonly record struct PendingCqe(ulong UserData, int Res, uint Flags, bool Big, ulong Extra1, ulong Extra2);

/// <summary>
/// A first-in first-out queue over an array that grows to its high-water mark once, then never allocates.
/// Its capacity is a power of two, so positions wrap with a mask rather than a division (the queue is on
/// every request's path: the batch, task work, io-wq).
/// </summary>
internal sealed class FifoQueue<T>
    where T : struct
{
    private T[] items;
    private int mask;
    private int head;
    private int count;

    public FifoQueue(int capacity)
    {
        items = new T[(int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(4, capacity))];
        mask = items.Length - 1;
    }

    public int Count => count;

    public void Clear()
    {
        head = 0;
        count = 0;
    }

    public void Enqueue(in T item)
    {
        if (count == items.Length)
        {
            var larger = new T[items.Length * 2];
            for (var i = 0; i < count; i++)
            {
                larger[i] = items[(head + i) & mask];
            }

            items = larger;
            mask = items.Length - 1;
            head = 0;
        }

        items[(head + count) & mask] = item;
        count++;
    }

    public ref readonly T Peek() => ref items[head];

    /// <summary>The item <paramref name="k"/> places from the front.</summary>
    public T At(int k) => items[(head + k) & mask];

    /// <summary>Removes the <paramref name="n"/> items at the front.</summary>
    public void Drop(int n)
    {
        head = (head + n) & mask;
        count -= n;
    }

    public T Dequeue()
    {
        var item = items[head];
        head = (head + 1) & mask;
        count--;
        return item;
    }
}

/// <summary>A SENDMSG's or RECVMSG's msghdr and vectors, copied from the caller's memory once, as the kernel keeps them.</summary>
internal sealed class NetMessage(IoUring.Ring.Posix.MsgHdr header, IoUring.Ring.Posix.IoVec[] vectors)
{
    public IoUring.Ring.Posix.MsgHdr Header { get; } = header;

    public IoUring.Ring.Posix.IoVec[] Vectors { get; } = vectors;

    /// <summary>A multishot RECVMSG's buffer layout (empty otherwise).</summary>
    public MultishotLayout Layout { get; init; }
}

/// <summary>
/// How a multishot RECVMSG lays out each provided buffer: io_uring_recvmsg_out, then room for the name
/// and for the control data as long as the caller's msghdr says, then the payload.
/// </summary>
internal readonly record struct MultishotLayout(int NameLength, int ControlLength)
{
    public static readonly int OutSize = System.Runtime.CompilerServices.Unsafe.SizeOf<IoUring.Bindings.io_uring_recvmsg_out>();

    public int HeaderLength => OutSize + NameLength + ControlLength;
}
