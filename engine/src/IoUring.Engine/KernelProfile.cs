using System.Diagnostics;
using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>How a kernel lays out the header of its shared ring region (struct io_rings).</summary>
public enum RingHeaderLayout
{
    /// <summary>Heads, tails, masks, entries, dropped and flags packed from offset 0 (the host's 6.18, 7.x).</summary>
    Packed,

    /// <summary>6.1: sq and cq head and tail each on their own 64-byte line (struct io_uring was cacheline aligned).</summary>
    CacheLineAligned,
}

/// <summary>Where READ, WRITE, READV and WRITEV import their user buffer (access_ok, the iovec array).</summary>
public enum RwImportStage
{
    /// <summary>At preparation: a bad buffer fails the SQE there, before its file is looked up (6.12 on).</summary>
    Prep,

    /// <summary>At issue, after the file lookup (6.1 under qemu).</summary>
    Issue,
}

/// <summary>Where READ_FIXED and WRITE_FIXED find their registered buffer and check the range against it.</summary>
public enum FixedBufferStage
{
    /// <summary>Both at issue, after the file lookup (6.18, 7.x).</summary>
    Issue,

    /// <summary>Both at preparation: a missing buffer or a range outside it is -EFAULT there (6.12 under qemu).</summary>
    Prep,

    /// <summary>The index is checked against the table at preparation, the range at issue after the file (6.1 under qemu).</summary>
    LookupAtPrep,
}

/// <summary>
/// What one kernel knows and how it behaves where kernels differ. A profile comes either from a live
/// kernel, by asking it (setup, probe, query: never by its version number), or from a kernel's ABI
/// snapshot plus the small behaviour table in <see cref="KernelBehaviour"/>.
/// </summary>
/// <param name="Name">Where the profile came from ("host 6.18.44 (probed)", "7.2 (snapshot)").</param>
/// <param name="SetupFlags">IORING_SETUP_* bits io_uring_setup accepts (each with its required companions).</param>
/// <param name="KnownSetupFlags">IORING_SETUP_* bits the kernel knows (the query's answer; NO_MMAP and ATTACH_WQ need arguments the probe does not give).</param>
/// <param name="Features">The IORING_FEAT_* mask the kernel reports.</param>
/// <param name="OpLast">IORING_OP_LAST: opcodes at or above it fail with -EINVAL.</param>
/// <param name="SqeFlags">IOSQE_* bits the kernel knows.</param>
/// <param name="NopFlags">IORING_NOP_* bits a NOP accepts (0 before 6.10: any bit is refused).</param>
/// <param name="EnterFlags">IORING_ENTER_* bits io_uring_enter accepts.</param>
/// <param name="RegisterOpLast">IORING_REGISTER_LAST (0: not known, the kernel has no query).</param>
/// <param name="HasQuery">IORING_REGISTER_QUERY exists (works with fd -1).</param>
/// <param name="RingHeader">The io_rings header layout.</param>
/// <param name="SupportedOps">Bit n: opcode n is supported (IO_URING_OP_SUPPORTED in the probe).</param>
/// <param name="QueryOps">Number of query opcodes (__IO_URING_QUERY_MAX); 0 without the query.</param>
/// <param name="QueryOpcodeSize">Size of struct io_uring_query_opcode as this kernel fills it.</param>
/// <param name="MixedOverflowLosesBigCqe">
/// Kernel bug (found by the differential on 6.18.44): a 32-byte CQE that went to the overflow list of a
/// CQE_MIXED ring is lost when flushed: the tail advances two slots and nothing is written there.
/// Probed by reproducing it, so a fixed kernel loses the quirk.
/// </param>
/// <param name="Mmap">The proposed IORING_OP_MMAP, for a proposal profile (null for released kernels).</param>
/// <param name="NopLookupFailurePostsZero">
/// A NOP whose FILE or FIXED_BUFFER lookup fails still fails (links break) but posts result 0, not the
/// errno (kernels before the 2026 fix).
/// </param>
/// <param name="RwImport">Where plain and vectored reads and writes import their buffers.</param>
/// <param name="FixedBuffers">Where fixed reads and writes find their registered buffer.</param>
/// <param name="HasMemRegion">IORING_REGISTER_MEM_REGION exists (6.13 on); before it the opcode is unknown (-EINVAL).</param>
/// <param name="RegisterRestrictedOnlyWhenListed">A restricted ring limits register opcodes only if its restrictions named one (7.2 under qemu); before, any restriction set limited them.</param>
/// <param name="SqeRestrictedOnlyWhenListed">Likewise for SQE opcodes and flags.</param>
/// <param name="DrainBySequence">
/// Before 6.16 a drained request waits until the CQ tail, corrected by cq_extra (a dropped SQ entry
/// owes no CQE), equals the number of SQEs before it; the defer list is checked at every commit. Two
/// kernel bugs follow from the exact comparison, and the engine has both by modelling it: a batch that
/// carries the tail past the sequence leaves the request, and everything deferred behind it, waiting
/// until the ring is closed; and CQEs suppressed with a failed CQE_SKIP_SUCCESS chain are counted but
/// never posted, with the same result. 6.16 and later count requests in flight instead. Probed by the
/// second bug.
/// </param>
/// <param name="FailuresPostAtOnce">
/// 6.1: a failed request (refused at init, failed async prep, an error returned at issue), every
/// io-wq completion, and PROVIDE_BUFFERS and REMOVE_BUFFERS (which complete themselves) are posted on
/// their own (io_req_complete_post), ahead of the inline completions batched in the same submission;
/// later kernels batch failures (io_req_defer_failed) and these two, and complete io-wq work through task
/// work. Probed by the order of a NOP and an unknown opcode submitted together.
/// </param>
/// <param name="TaskWorkNewestFirst">
/// 6.1: a run of task work takes the items queued since the last run newest first (the lock-less list
/// is not reversed); later kernels run them in the order they were queued. Probed by the order of
/// chain successors.
/// </param>
/// <param name="TaskSubmitIssuesInline">
/// 6.1: a request issued from task work (a chain successor, a request the drain released) is issued
/// inline even when marked for async execution; later kernels send such a request to io-wq. Probed by
/// the order of chain successors, one of them IOSQE_ASYNC.
/// </param>
/// <param name="ShmemNowait">
/// A memfd (shmem) has FMODE_NOWAIT: RWF_NOWAIT is accepted on it (no kernel of the corpus; each refuses
/// it with -EOPNOTSUPP). Probed with a READ carrying RWF_NOWAIT.
/// </param>
/// <param name="ShmemReadsInline">
/// 6.1: io_uring counts a regular file on a filesystem with no block device (tmpfs, so a memfd) as able
/// to read without blocking, so a READ of a memfd completes inline in the submission's batch; later
/// kernels go by FMODE_NOWAIT and send it to io-wq. Writes go to io-wq everywhere. Probed by the order of
/// a READ and a NOP submitted together, five times (the worker seldom beats the submitter's batch).
/// </param>
/// <param name="FaultingWriteExtendsFile">
/// A WRITE whose buffer faults before one byte is copied still grows a shmem file to the write offset
/// (the host's 6.18, 7.2, 7.3-rc); 6.1 and 6.12 leave the file as it was. Not io_uring's doing but the
/// page cache's, seen through io_uring: probed with a WRITE from an unmapped address past the end of a memfd.
/// </param>
/// <param name="MixedOverflowWaitSpins">
/// Kernel bug (found on the host's 6.18.44): a wait for more CQEs than are ready, on a CQE_MIXED ring
/// whose overflow list holds a 32-byte CQE that does not fit, spins in io_cqring_wait without ever
/// checking for signals (the overflow bit sends it round the loop before the signal check): the thread
/// ignores SIGKILL and keeps a CPU busy until someone frees CQ space by moving the CQ head. Probed by
/// reproducing it on a helper thread and freeing it from another; runners never make such a wait on
/// such a kernel (they poll instead).
/// </param>
/// <param name="BufferIovecsCopiedByIoUring">
/// Before 6.11 io_uring copies the iovecs of IORING_REGISTER_BUFFERS (and BUFFERS2, BUFFERS_UPDATE)
/// itself (io_copy_iov), so a length meets only its own checks: over 1 GiB is -EFAULT. From 6.11 the
/// kernel's generic iovec import (iovec_from_user) reads them, and refuses a length with the sign bit of
/// the process's ssize_t set with -EINVAL before io_uring looks at the iovec: 2 GiB and up for a 32-bit
/// process (<paramref name="CompatProcess"/>), 2^63 and up for a 64-bit one. Probed by a 64-bit
/// registration of one iovec 2^63 bytes long.
/// </param>
/// <param name="CompatProcess">
/// Not a kernel behaviour but the process the engine stands for: a 32-bit one (i686, arm) on a 64-bit
/// kernel, whose system calls go through the compat path and whose iovec lengths are 32 bits. Set by
/// <see cref="KernelBehaviour.FromSnapshot"/> for a 32-bit target; a probed profile is a 64-bit process's.
/// The engine itself always runs as a 64-bit process and reads the program's iovecs at its own layout;
/// this says which process's rules to apply to what it reads.
/// </param>
/// <param name="TimeoutFlags">
/// The IORING_TIMEOUT_* bits IORING_OP_TIMEOUT accepts (ABS, the clocks and ETIME_SUCCESS everywhere;
/// MULTISHOT from 6.4; IMMEDIATE_ARG from 7.0); any other bit is -EINVAL. A snapshot profile takes the
/// bits its header defines, the probe asks the kernel one bit at a time. Profiles recorded before the
/// engine had timeouts carry the bits every kernel of the corpus has.
/// </param>
/// <param name="CancelFlags">
/// The IORING_ASYNC_CANCEL_* bits IORING_OP_ASYNC_CANCEL accepts (ALL, FD, ANY, FD_FIXED, USERDATA and
/// OP in every kernel of the corpus); any other bit is -EINVAL. From the header, or asked bit by bit.
/// </param>
/// <param name="MsgRingFlags">
/// The IORING_MSG_RING_* bits MSG_RING accepts at prep: CQE_SKIP, and FLAGS_PASS where the kernel has it
/// (not 6.1); any other bit is -EINVAL. From the header, or asked bit by bit (a MSG_RING of fd -1: -EINVAL
/// at prep, or -EBADF at issue).
/// </param>
/// <param name="TimeoutCancelByUserDataOnly">
/// 6.1: a cancellation (ASYNC_CANCEL, a linked timeout's) finds an armed timeout by its user_data alone,
/// or any timeout with ANY, whatever other key it names; later kernels match timeouts by the whole key,
/// as any other request. Probed with an ASYNC_CANCEL keyed on the TIMEOUT opcode.
/// </param>
/// <param name="MultishotCqFull">
/// What a multishot poll does when its CQE meets a full CQ: every kernel of the corpus (6.1.176 too)
/// ends the request when the CQ is full or the overflow list is not empty, its last CQE without
/// IORING_CQE_F_MORE; mainline before 6.7 posted it anyway (to the overflow list) and stayed armed, and
/// 6.7 to 6.11 ended it only once the overflow list held anything. Probed with four wake-ups of a
/// multishot poll on a two-slot CQ.
/// </param>
/// <param name="PollRemoveCompletesInline">
/// The POLL_ADD a POLL_REMOVE cancels completes in the removal's own batch, before the removal's CQE
/// (6.1: io_req_task_complete called inline); later kernels complete it from task work, after. Probed
/// by the order of the two CQEs.
/// </param>
/// <param name="PollUpdateLosesInlineCompletion">
/// Kernel bug (fixed in 2026's stable kernels): a poll update that finds the file ready at once frees the
/// poll request without a CQE. Probed with an update of a POLLPRI poll on a pipe holding data to POLLIN.
/// </param>
/// <param name="PipeNowait">
/// A pipe has FMODE_NOWAIT: io_uring tries its reads and writes inline and takes RWF_NOWAIT on them. 6.1
/// has not: RWF_NOWAIT is -EOPNOTSUPP, and every transfer of a pipe first waits for the pipe's readiness
/// (the kernel's async poll), then goes to io-wq, where its position is checked and it runs. Probed with
/// a READ carrying RWF_NOWAIT of an empty pipe.
/// </param>
/// <param name="NetImport">
/// Where SEND, RECV, SENDMSG and RECVMSG check their buffer and copy their address and msghdr: at prep
/// (6.10 on, with the rest of the request's async data), or at issue after the file lookup and the
/// socket check (and when a chain member or a punted request is prepared for async execution). Probed with
/// a SENDMSG whose msghdr is at a kernel address on fd -1: -EFAULT (prep) or -EBADF (issue).
/// </param>
/// <param name="UnixStreamInq">
/// Whether a receive from an AF_UNIX stream socket tells io_uring what it left queued (msg_inq), so its
/// CQE carries IORING_CQE_F_SOCK_NONEMPTY: from the kernels where AF_UNIX answers msg_get_inq (6.17's
/// SO_INQ work). Probed with two four-byte RECVs of eight queued bytes.
/// </param>
/// <param name="MsgTooManyVectorsIsEmsgsize">
/// A msghdr of more than UIO_MAXIOV vectors is refused with -EMSGSIZE (the msghdr copy checks the count,
/// as sendmsg(2) does); before, the iovec import refused it with -EINVAL. Probed with a SENDMSG of 1025 vectors.
/// </param>
/// <param name="RecvChecksSocketFirst">
/// RECV checks that its file is a socket before it honours IORING_RECVSEND_POLL_FIRST, as the other
/// socket transfers do; before, a RECV with POLL_FIRST of a file that is not a socket went to wait for
/// it (a regular file, which cannot be polled: -EAGAIN from io-wq). Probed with such a RECV of a memfd.
/// Its default is the older behaviour, the host's 6.18 included, so a profile recorded before it was
/// probed reads as that kernel had it.
/// </param>
/// <param name="SendChecksSocketFirst">
/// As <paramref name="RecvChecksSocketFirst"/>, for SEND: 6.1 honoured POLL_FIRST before the socket check.
/// Probed with a SEND with POLL_FIRST of a memfd.
/// </param>
/// <param name="SyncCancelTakesOpcode">
/// struct io_uring_sync_cancel_reg has the opcode key (byte 32) in this kernel's header; where it has
/// padding there (6.1, though its ASYNC_CANCEL takes IORING_ASYNC_CANCEL_OP), a key with an opcode is
/// -EINVAL. Read from the header; probed with a SYNC_CANCEL whose opcode byte is set.
/// </param>
/// <param name="AcceptFlags">
/// The IORING_ACCEPT_* flags ACCEPT takes in ioprio: MULTISHOT everywhere, DONTWAIT and POLL_FIRST from
/// 6.10; any other is -EINVAL. Probed with an ACCEPT on fd -1 per flag: -EINVAL (refused at prep) or -EBADF.
/// </param>
/// <param name="AcceptNonEmpty">
/// An ACCEPT from a TCP listener that still holds connections after it posts IORING_CQE_F_SOCK_NONEMPTY
/// (6.10, when accept learnt to report an empty queue). Probed with two connections queued on a loopback
/// listener and one ACCEPT.
/// </param>
/// <param name="InstallOverSlotMovesAllocHint">
/// A socket installed into an occupied fixed slot (SOCKET or ACCEPT with file_index) moves the slot
/// allocator's hint past that slot, as installing into an empty one does (6.1); later kernels (6.12 on)
/// leave the hint where it was. Probed on a table of [free, file,
/// file, free]: a SOCKET into slot 2, then one with IORING_FILE_INDEX_ALLOC: slot 3 or slot 0.
/// </param>
/// <param name="AdviseLength64">
/// FADVISE takes a 64-bit length in addr and MADVISE one in off (each falling back to the 32-bit len when
/// that word is 0); before, a non-zero addr (FADVISE) or off (MADVISE) is -EINVAL. Probed with a FADVISE
/// of a memfd whose addr is 4096: 0 or -EINVAL.
/// </param>
/// <param name="FadviseRefusesNegativeOffset">
/// A FADVISE of a file that is not a pipe at a negative offset is -EINVAL, a failure: the kernel's
/// fadvise checks the offset (found by the soak on 7.2 and 7.3-rc; 6.12 and the host's 6.18, whose
/// fadvise64(2) the engine calls, take it). A pipe is still -ESPIPE. Probed with a FADVISE of a memfd at offset -1.
/// </param>
/// <param name="FallocateModes">
/// The FALLOC_FL_* bits the kernel's fallocate knows (0x7f; FALLOC_FL_WRITE_ZEROES, 0x80, from 6.17): a
/// mode with another bit is -EOPNOTSUPP before the file is asked anything, so a file not open for
/// writing answers -EOPNOTSUPP there and -EBADF where the bit is known (found by the soak on 6.1 and
/// 6.12; the engine's fallocate(2) is the host's). Probed with a FALLOCATE of a pipe's read end with mode 0x80.
/// </param>
/// <param name="SocketNowait">
/// A socket has FMODE_NOWAIT, which a READ or WRITE with RWF_NOWAIT needs (otherwise -EOPNOTSUPP, before
/// the socket's own refusal of a position): 6.12 on; 6.1's sockets lack it (found by the soak on 6.1, a
/// READ with RWF_NOWAIT of a direct UDP socket). Probed with such a READ of an AF_UNIX stream socket.
/// </param>
/// <param name="UnlinkRefusesAddr3">
/// UNLINKAT refuses a non-zero addr3 (and the word after it) with -EINVAL at prep (7.2 and 7.3-rc); 6.1,
/// 6.12 and the host's 6.18 leave them unread. Probed with an UNLINKAT of fd -1 whose addr3 is 1: -EINVAL or -EBADF.
/// </param>
/// <param name="XattrTakesFixedFile">
/// FGETXATTR and FSETXATTR take IOSQE_FIXED_FILE (the host's 6.18 on); 6.1 and 6.12 refuse it with -EBADF
/// ahead of every other check of the prep, as GETXATTR and SETXATTR still do. Probed with an FGETXATTR
/// with IOSQE_FIXED_FILE and a NULL name: -EBADF (refused) or -EFAULT (the name is copied first).
/// </param>
/// <param name="UringCmdMultishot">
/// URING_CMD (and URING_CMD128) takes IORING_URING_CMD_MULTISHOT with provided buffers, and leaves a
/// fixed buffer's index to the driver; before (6.1, 6.12) the only flag is IORING_URING_CMD_FIXED, whose
/// index past the registered buffers is -EFAULT at prep. Probed with a URING_CMD of a memfd with
/// IORING_URING_CMD_FIXED and buffer 5 on a ring without buffers: -EFAULT, or the memfd's -EOPNOTSUPP.
/// </param>
/// <param name="SocketCommands">
/// How many of the socket commands of URING_CMD the kernel's sockets answer (SIOCINQ, SIOCOUTQ,
/// GETSOCKOPT, SETSOCKOPT from 6.7, TX_TIMESTAMP from 6.17, GETSOCKNAME from 6.19): 0 where sockets have
/// no uring_cmd at all, so every command is -EOPNOTSUPP. Probed with SIOCINQ, TX_TIMESTAMP (on a ring
/// without 32-byte CQEs: -EINVAL where known) and GETSOCKNAME of a UDP socket.
/// </param>
/// <param name="LegacyBufferRecycledWhileWaiting">
/// A READ holding a legacy provided buffer gives it back to its group when it must wait (a poll armed, or
/// a punt to io-wq) and selects again when it is issued next (6.1; not after part of the transfer was
/// done); 6.12 on, it keeps the buffer until it completes. Probed with a READ of an empty pipe with
/// IOSQE_BUFFER_SELECT, then a REMOVE_BUFFERS of one: 1 (given back) or 0.
/// </param>
/// <param name="BufferGroupArray">
/// 6.1 keeps groups 0 to 63 in an array made by the first PROVIDE_BUFFERS of one of them: from then on
/// each of them exists, empty, so a REMOVE_BUFFERS of one never provided removes 0 rather than answering
/// -ENOENT; later kernels keep only the groups made. Probed with a PROVIDE_BUFFERS of group 1 and a
/// REMOVE_BUFFERS of group 0.
/// </param>
/// <param name="MsgRingSendFdChecksTarget">
/// MSG_RING's IORING_MSG_SEND_FD refuses a non-zero len (-EINVAL) and a disabled target (-EBADFD); 6.1
/// checks neither, and installs the file in a ring created IORING_SETUP_R_DISABLED. Probed with a SEND_FD
/// of len 1 to a disabled ring without a file table: -EINVAL, or -ENXIO (the table is missing).
/// </param>
/// <param name="MsgRingRefusesBigCqeFlag">
/// MSG_RING's DATA with IORING_MSG_RING_FLAGS_PASS refuses IORING_CQE_F_32 (-EINVAL) for a target ring that
/// has neither CQE32 nor CQE_MIXED (7.2, 7.3-rc); the host's 6.18 passes the flag on as it is. Probed with
/// such a message to a plain ring: -EINVAL, or 0.
/// </param>
/// <param name="Futex2Flags">
/// The futex2 flags FUTEX_WAIT, FUTEX_WAKE and FUTEX_WAITV take (in the SQE's fd, or each futex_waitv):
/// the size bits and FUTEX2_PRIVATE (6.12), and FUTEX2_NUMA and FUTEX2_MPOL from 6.16. Probed with a
/// FUTEX_WAKE of none with each of the two: -EINVAL where unknown.
/// </param>
/// <param name="FutexCancelByUserDataOnly">
/// 6.12 finds an armed futex wait for a cancellation by its user_data, or any with ANY, and looks at no
/// opcode key; later kernels match it as any request. Probed with an ASYNC_CANCEL of an armed FUTEX_WAIT
/// by its opcode and another user_data: -ENOENT, or 1.
/// </param>
/// <param name="SendZcFlags">
/// The IORING_RECVSEND_* and IORING_SEND_* bits SEND_ZC and SENDMSG_ZC take in ioprio: POLL_FIRST,
/// FIXED_BUF and ZC_REPORT_USAGE, and IORING_SEND_VECTORIZED where the header defines it (7.2 on). From
/// the header, or asked bit by bit (a SEND_ZC of fd -1: -EINVAL, or -EBADF).
/// </param>
/// <param name="ZeroCopyFlagsBeforeNotification">
/// 6.1 checks a zero-copy send's flags before it takes the notification, so unknown flags post one CQE;
/// later kernels check them after, and the refusal carries IORING_CQE_F_MORE and a notification follows.
/// Probed with a SEND_ZC of an unknown flag: whether a notification follows.
/// </param>
/// <param name="ZeroCopyNotificationUserData">
/// A zero-copy send's addr3, when set, is its notification's user_data (7.2 and 7.3-rc); before (the
/// host's 6.18 too), a non-zero addr3 is -EINVAL. Probed with a SEND_ZC of fd -1 with addr3 5: -EINVAL, or -EBADF.
/// </param>
/// <param name="ZeroCopyMsgTakesFixedBuffer">
/// SENDMSG_ZC takes IORING_RECVSEND_FIXED_BUF, its iovecs then inside a registered buffer (the host's 6.18
/// on); before (6.1, 6.12), it is -EINVAL at prep. Probed with a SENDMSG_ZC of fd -1 with the flag: -EINVAL, or -EBADF.
/// </param>
/// <param name="ZeroCopyMsgImportsFixedBufferFirst">
/// The host's 6.18 imports a SENDMSG_ZC's vectors from its registered buffer before it looks at the
/// socket, so a message outside the registered buffers is -EFAULT even on a descriptor that is no socket;
/// 7.2 looks at the socket first (-ENOTSOCK). Probed with a SENDMSG_ZC of a memfd with
/// IORING_RECVSEND_FIXED_BUF and no buffers registered: -EFAULT, or another error.
/// </param>
/// <param name="BufferRingFlags">
/// The IOU_PBUF_RING_* flags IORING_REGISTER_PBUF_RING takes: MMAP and INC where the header defines them
/// (6.12 on; 6.1's struct has a pad there that must be 0). From the header, or asked bit by bit (a ring
/// of one entry registered with IOU_PBUF_RING_MMAP and the bit: 0, or -EINVAL).
/// </param>
/// <param name="BufferRingMinLeft">
/// io_uring_buf_reg has min_left: an incremental ring retires a buffer once fewer than that many bytes are
/// left of it. From the header (the field), or asked (an incremental ring registered with min_left 1: 0, or -EINVAL).
/// </param>
/// <param name="BufferRingChecksAddressFirst">
/// IORING_REGISTER_PBUF_RING checks the ring's address before its entry count and whether the group
/// exists (6.1, 6.12), and refuses an address with IOU_PBUF_RING_MMAP; later kernels register the ring
/// as a memory region, after those checks, and ignore the address of an MMAP ring. Probed with a ring
/// of 3 entries at address 0: -EFAULT, or -EINVAL.
/// </param>
/// <param name="RecvMultishotLength">
/// A multishot RECV takes sqe->len as a cap on each receive and sqe->optlen as a limit on the bytes of
/// all its CQEs; before, a length is -EINVAL. Probed with a multishot RECV of a memfd with len 1:
/// -EINVAL, or -ENOTSOCK.
/// </param>
/// <param name="RecvMultishotKeepsLength">
/// 6.1's multishot RECV never resets the length it asks for after a CQE, so each receive takes at most
/// the smallest buffer selected so far; later kernels ask for the whole next buffer. Probed with two
/// buffers of 8 and 64 bytes and 20 bytes queued: the second CQE's 8 bytes, or 12.
/// </param>
/// <param name="RecvMultishotRetriesAlways">
/// 6.1's multishot RECV receives again at once after each CQE, until the socket has nothing (then it
/// waits), the ring is empty (-ENOBUFS) or the CQ is full; later kernels receive again only while the
/// socket says it holds more, or cannot say (MULTISHOT_MAX_RETRY times in a row at most), and otherwise
/// wait, so an empty ring ends the request only when more data comes. Probed on an AF_UNIX pair with one
/// buffer and 8 bytes queued: whether -ENOBUFS follows the first CQE where the socket reports what it holds.
/// </param>
/// <param name="BundleTakesTheBufferItsLengthEndsIn">
/// 6.12's RECV bundle selection counts the buffer its length runs out in as taken when it asks whether
/// the ring is now empty, so a bundle that ends in the ring's last buffer finds the ring empty: it does
/// not go back for more of what the socket holds, and a multishot one ends; later kernels find the ring
/// empty only when every buffer available was mapped before the length ran out. Probed with a bundle of
/// 16 bytes from two 8-byte buffers, 40 bytes queued on a TCP pair, a NOP linked: the NOP runs, or is
/// cancelled by the second selection's -ENOBUFS.
/// </param>
/// <param name="SendBundleNeedsBuffers">
/// 6.12's SEND prep refuses IORING_RECVSEND_BUNDLE without IOSQE_BUFFER_SELECT (-EINVAL); later kernels
/// send the caller's buffer with MSG_WAITALL and, as the bundle is a multishot request, post what they
/// sent with IORING_CQE_F_MORE and a final CQE of 0. Probed with a SEND bundle of one byte on an AF_UNIX
/// pair: -EINVAL, or not.
/// </param>
/// <param name="MultishotCqeJumpsBatch">
/// A multishot request's CQE with IORING_CQE_F_MORE is written to the CQ at once, ahead of the
/// completions the same run of task work (or submission) has batched so far, and finds the room they
/// have not taken yet; later kernels flush the batch first. Probed with a one-shot and a multishot
/// POLL_ADD on one eventfd, armed so the one-shot's task work runs first: which CQE comes first.
/// </param>
/// <param name="EventfdSkipKeepsTail">
/// A commit that signals no registered eventfd (IORING_CQ_EVENTFD_DISABLED set, or an eventfd
/// registered with _ASYNC outside io-wq) leaves the CQ tail the next signal measures from where it was,
/// so a later commit without a new CQE still signals; 6.1 and 6.12 move it even then. Probed with a NOP
/// posted while disabled, then, enabled, a NOP with IOSQE_CQE_SKIP_SUCCESS: a count of 1, or 0.
/// </param>
/// <param name="QueryAnswers">Per query opcode, what the kernel answered a 256-byte request with: "result:hex" (index 0, the opcode table, is computed from the profile instead).</param>
public sealed record KernelProfile(
    string Name,
    uint SetupFlags,
    uint KnownSetupFlags,
    uint Features,
    uint OpLast,
    uint SqeFlags,
    uint NopFlags,
    uint EnterFlags,
    uint RegisterOpLast,
    bool HasQuery,
    RingHeaderLayout RingHeader,
    UInt128 SupportedOps,
    uint QueryOps,
    uint QueryOpcodeSize,
    bool MixedOverflowLosesBigCqe,
    bool NopLookupFailurePostsZero,
    MmapLayout? Mmap = null,
    RwImportStage RwImport = RwImportStage.Prep,
    FixedBufferStage FixedBuffers = FixedBufferStage.Issue,
    bool HasMemRegion = true,
    bool RegisterRestrictedOnlyWhenListed = false,
    bool SqeRestrictedOnlyWhenListed = false,
    string[]? QueryAnswers = null,
    bool DrainBySequence = false,
    bool FailuresPostAtOnce = false,
    bool TaskWorkNewestFirst = false,
    bool TaskSubmitIssuesInline = false,
    bool ShmemNowait = false,
    bool ShmemReadsInline = false,
    bool FaultingWriteExtendsFile = false,
    bool MixedOverflowWaitSpins = false,
    bool BufferIovecsCopiedByIoUring = false,
    bool CompatProcess = false,
    uint TimeoutFlags = KernelProfile.CommonTimeoutFlags,
    uint CancelFlags = KernelProfile.CommonCancelFlags,
    uint MsgRingFlags = KernelProfile.AllMsgRingFlags,
    bool TimeoutCancelByUserDataOnly = false,
    MultishotCqFull MultishotCqFull = MultishotCqFull.StopsWhenFull,
    bool PollRemoveCompletesInline = false,
    bool PollUpdateLosesInlineCompletion = false,
    bool PipeNowait = true,
    RwImportStage NetImport = RwImportStage.Prep,
    UnixStreamInq UnixStreamInq = UnixStreamInq.WhenQueued,
    bool MsgTooManyVectorsIsEmsgsize = true,
    bool RecvChecksSocketFirst = false,
    bool SendChecksSocketFirst = true,
    bool SyncCancelTakesOpcode = true,
    ushort AcceptFlags = KernelProfile.AllAcceptFlags,
    bool AcceptNonEmpty = true,
    bool InstallOverSlotMovesAllocHint = false,
    bool AdviseLength64 = true,
    bool FadviseRefusesNegativeOffset = true,
    uint FallocateModes = KernelProfile.AllFallocateModes,
    bool SocketNowait = true,
    bool UnlinkRefusesAddr3 = true,
    bool XattrTakesFixedFile = true,
    bool UringCmdMultishot = true,
    uint SocketCommands = KernelProfile.AllSocketCommands,
    bool LegacyBufferRecycledWhileWaiting = false,
    bool BufferGroupArray = false,
    bool MsgRingSendFdChecksTarget = true,
    bool MsgRingRefusesBigCqeFlag = true,
    uint Futex2Flags = KernelProfile.AllFutex2Flags,
    bool FutexCancelByUserDataOnly = false,
    uint SendZcFlags = KernelProfile.AllSendZcFlags,
    bool ZeroCopyFlagsBeforeNotification = false,
    bool ZeroCopyNotificationUserData = true,
    bool ZeroCopyMsgTakesFixedBuffer = true,
    bool ZeroCopyMsgImportsFixedBufferFirst = false,
    uint BufferRingFlags = KernelProfile.AllBufferRingFlags,
    bool BufferRingMinLeft = true,
    bool BufferRingChecksAddressFirst = false,
    bool RecvMultishotLength = true,
    bool RecvMultishotKeepsLength = false,
    bool RecvMultishotRetriesAlways = false,
    bool BundleTakesTheBufferItsLengthEndsIn = false,
    bool SendBundleNeedsBuffers = false,
    bool EventfdSkipKeepsTail = true,
    bool MultishotCqeJumpsBatch = false)
{
    /// <summary>IORING_RECVSEND_POLL_FIRST, IORING_RECVSEND_FIXED_BUF, IORING_SEND_ZC_REPORT_USAGE and IORING_SEND_VECTORIZED.</summary>
    public const uint AllSendZcFlags = Constants.IORING_RECVSEND_POLL_FIRST | Constants.IORING_RECVSEND_FIXED_BUF | Constants.IORING_SEND_ZC_REPORT_USAGE | Constants.IORING_SEND_VECTORIZED;

    /// <summary>IOU_PBUF_RING_MMAP and IOU_PBUF_RING_INC.</summary>
    public const uint AllBufferRingFlags = (uint)(io_uring_register_pbuf_ring_flags.IOU_PBUF_RING_MMAP | io_uring_register_pbuf_ring_flags.IOU_PBUF_RING_INC);

    /// <summary>FUTEX2_SIZE_U8 to U64, FUTEX2_NUMA, FUTEX2_MPOL and FUTEX2_PRIVATE.</summary>
    public const uint AllFutex2Flags = 0x8f;

    /// <summary>IORING_MSG_RING_CQE_SKIP and IORING_MSG_RING_FLAGS_PASS.</summary>
    public const uint AllMsgRingFlags = Constants.IORING_MSG_RING_CQE_SKIP | Constants.IORING_MSG_RING_FLAGS_PASS;

    /// <summary>SOCKET_URING_OP_SIOCINQ, SIOCOUTQ, GETSOCKOPT, SETSOCKOPT, TX_TIMESTAMP and GETSOCKNAME.</summary>
    public const uint AllSocketCommands = 6;

    /// <summary>FALLOC_FL_KEEP_SIZE, PUNCH_HOLE, NO_HIDE_STALE, COLLAPSE_RANGE, ZERO_RANGE, INSERT_RANGE, UNSHARE_RANGE and WRITE_ZEROES.</summary>
    public const uint AllFallocateModes = 0xff;

    /// <summary>IORING_ACCEPT_MULTISHOT, IORING_ACCEPT_DONTWAIT and IORING_ACCEPT_POLL_FIRST.</summary>
    public const ushort AllAcceptFlags = (ushort)(Constants.IORING_ACCEPT_MULTISHOT | Constants.IORING_ACCEPT_DONTWAIT | Constants.IORING_ACCEPT_POLL_FIRST);

    /// <summary>The cancellation flags of every kernel of the corpus.</summary>
    public const uint CommonCancelFlags = (uint)(IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ALL | IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_FD
        | IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ANY | IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_FD_FIXED
        | IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_USERDATA | IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_OP);

    /// <summary>The timeout flags of every kernel of the corpus: ABS, BOOTTIME, REALTIME, ETIME_SUCCESS.</summary>
    public const uint CommonTimeoutFlags = (uint)(IoUringTimeoutFlags.IORING_TIMEOUT_ABS | IoUringTimeoutFlags.IORING_TIMEOUT_BOOTTIME
        | IoUringTimeoutFlags.IORING_TIMEOUT_REALTIME | IoUringTimeoutFlags.IORING_TIMEOUT_ETIME_SUCCESS);

    public bool Has(IoUringSetupFlags flag) => (SetupFlags & (uint)flag) != 0;

    public bool Has(IoUringNopFlags flag) => (NopFlags & (uint)flag) != 0;
}

/// <summary>What a multishot request does when its next CQE meets a full CQ (<see cref="KernelProfile.MultishotCqFull"/>).</summary>
public enum MultishotCqFull
{
    /// <summary>Posts it to the overflow list and stays armed.</summary>
    Overflows,

    /// <summary>Posts it (overflowing) while the overflow list is empty; ends the request once it is not.</summary>
    StopsAfterOverflow,

    /// <summary>Ends the request when the CQ is full or the overflow list is not empty: its last CQE carries no IORING_CQE_F_MORE.</summary>
    StopsWhenFull,
}

/// <summary>When a receive from an AF_UNIX stream socket posts IORING_CQE_F_SOCK_NONEMPTY (<see cref="KernelProfile.UnixStreamInq"/>).</summary>
public enum UnixStreamInq
{
    /// <summary>Never: the socket does not report what it holds.</summary>
    Never,

    /// <summary>When bytes remain queued after the receive.</summary>
    WhenQueued,

    /// <summary>On every receive, whatever remains.</summary>
    Always,
}
