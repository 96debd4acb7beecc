using System.Runtime.InteropServices;
using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// What an application registers with a ring: fixed files (the engine holds a dup of each, as the
/// kernel holds a file reference, so closing the original does not unregister it), fixed buffers,
/// restrictions on a ring created R_DISABLED, and a memory region. Errnos and their order follow the
/// kernel's io_uring_register; the differential properties hold them to the host.
/// </summary>
internal sealed unsafe partial class EngineRing
{
    private const int MaxFixedFiles = 1 << 20;
    private const int MaxRegBuffers = 1 << 14;
    private const ulong MaxBufferLength = 1UL << 30;
    private const ulong PageSize = 4096;

    // The kernel's IORING_MAP_OFF_PARAM_REGION: where a kernel-allocated region is mmap'ed.
    public const ulong ParamRegionOffset = 0x20000000;

    /// <summary>IORING_OFF_MMAP_MASK: the bits of an mmap offset that say what is mapped (a buffer ring's group is below them).</summary>
    public const ulong MmapOffsetMask = 0xf8000000;

    private int[]? fixedFiles;

    // Where the search for a free slot starts (the kernel's alloc_hint): the table's start after it is
    // registered, a slot just emptied, or the slot after one just filled.
    private int fileAllocHint;
    private (ulong Address, ulong Length)[]? buffers;
    private bool disabled;
    private bool restrictionsRegistered;
    private bool restricted;

    // Whether the registered restrictions named any register opcode, any SQE opcode or flag (newer
    // kernels limit only the kinds a restriction set names).
    private bool registerOpsListed;
    private bool sqeOpsListed;
    private UInt128 allowedRegisterOps;
    private readonly ulong[] allowedSqeOps = new ulong[4];
    private byte sqeFlagsAllowed;
    private byte sqeFlagsRequired;
    private byte* region;
    private nuint regionSize;
    private bool regionIsKernelMemory;

    public bool Disabled => disabled;

    /// <summary>The registered wait-argument area (a region registered with IORING_MEM_REGION_REG_WAIT_ARG).</summary>
    public byte* WaitArgs { get; private set; }

    public nuint WaitArgsSize { get; private set; }

    public byte* Region => regionIsKernelMemory ? region : null;

    public nuint RegionSize => regionSize;

    public void Disable() => disabled = true;

    /// <summary>io_uring_register on this ring. Returns the result the kernel would.</summary>
    public int Register(uint opcode, void* arg, uint nrArgs)
    {
        // An opcode the kernel does not know is refused by the syscall itself, before restrictions (6.12 under qemu).
        if ((profile.RegisterOpLast != 0 && opcode >= profile.RegisterOpLast) || (opcode == (uint)io_uring_register_op.IORING_REGISTER_MEM_REGION && !profile.HasMemRegion))
        {
            return -Errno.EINVAL;
        }

        if (restricted && (registerOpsListed || !profile.RegisterRestrictedOnlyWhenListed) && (opcode >= 128 || (allowedRegisterOps & (UInt128.One << (int)opcode)) == 0))
        {
            return -Errno.EACCES;
        }

        return opcode switch
        {
            (uint)io_uring_register_op.IORING_REGISTER_PROBE => ProbeAndQuery.Probe(profile, arg, nrArgs),
            (uint)io_uring_register_op.IORING_REGISTER_QUERY when profile.HasQuery => ProbeAndQuery.Query(profile, arg, nrArgs, engine.ReportUnmodelled),
            (uint)io_uring_register_op.IORING_REGISTER_FILES => arg == null ? -Errno.EFAULT : RegisterFiles((int*)arg, nrArgs),
            (uint)io_uring_register_op.IORING_UNREGISTER_FILES => arg != null || nrArgs != 0 ? -Errno.EINVAL : UnregisterFiles(),
            (uint)io_uring_register_op.IORING_REGISTER_FILES_UPDATE => UpdateFiles(arg, nrArgs),
            (uint)io_uring_register_op.IORING_REGISTER_BUFFERS => RegisterBuffers((Posix.IoVec*)arg, nrArgs),
            (uint)io_uring_register_op.IORING_UNREGISTER_BUFFERS => arg != null || nrArgs != 0 ? -Errno.EINVAL : UnregisterBuffers(),
            (uint)io_uring_register_op.IORING_REGISTER_RESTRICTIONS => RegisterRestrictions(arg, nrArgs),
            (uint)io_uring_register_op.IORING_REGISTER_ENABLE_RINGS => arg != null || nrArgs != 0 ? -Errno.EINVAL : EnableRings(),
            (uint)io_uring_register_op.IORING_REGISTER_MEM_REGION => arg == null || nrArgs != 1 ? -Errno.EINVAL : RegisterMemRegion((ulong)arg),
            (uint)io_uring_register_op.IORING_REGISTER_SYNC_CANCEL => SyncCancel(arg, nrArgs),
            (uint)io_uring_register_op.IORING_REGISTER_PBUF_RING => RegisterBufferRing((ulong)arg, nrArgs),
            (uint)io_uring_register_op.IORING_UNREGISTER_PBUF_RING => UnregisterBufferRing((ulong)arg, nrArgs),
            (uint)io_uring_register_op.IORING_REGISTER_PBUF_STATUS => BufferRingStatus((ulong)arg, nrArgs),
            (uint)io_uring_register_op.IORING_REGISTER_EVENTFD => RegisterEventfd(arg, nrArgs, asyncOnly: false),
            (uint)io_uring_register_op.IORING_REGISTER_EVENTFD_ASYNC => RegisterEventfd(arg, nrArgs, asyncOnly: true),
            (uint)io_uring_register_op.IORING_UNREGISTER_EVENTFD => UnregisterEventfd(arg, nrArgs),

            // Known opcodes the engine does not model yet (personality, ...): refused, not faked.
            _ when profile.RegisterOpLast == 0 || opcode < profile.RegisterOpLast => UnmodelledRegister(opcode),
            _ => -Errno.EINVAL,
        };
    }

    private int UnmodelledRegister(uint opcode)
    {
        engine.ReportUnmodelled($"register opcode {(io_uring_register_op)opcode}");
        return -Errno.EOPNOTSUPP;
    }

    private int RegisterFiles(int* fds, uint count)
    {
        if (fixedFiles != null)
        {
            return -Errno.EBUSY;
        }

        if (count == 0)
        {
            return -Errno.EINVAL;
        }

        if (count > MaxFixedFiles)
        {
            return -Errno.EMFILE;
        }

        var table = new int[count];
        Array.Fill(table, -1);
        for (var i = 0; i < count; i++)
        {
            int fd = -1;
            // A null array is copied from like any other (-EFAULT): sparse tables are FILES2's business.
            if (Posix.CopyFromUser(&fd, (ulong)(fds + i), sizeof(int)) != 0)
            {
                CloseAll(table);
                return -Errno.EFAULT;
            }

            // -1 leaves the slot empty.
            if (fd == -1)
            {
                continue;
            }

            var held = Posix.Dup(fd);
            if (held < 0 || engine.IsRing(fd))
            {
                // Ring descriptors may not be registered (and bad ones do not exist): -EBADF.
                if (held >= 0)
                {
                    Posix.Close(held);
                }

                CloseAll(table);
                return -Errno.EBADF;
            }

            table[i] = held;
        }

        fixedFiles = table;
        fileAllocHint = 0;
        return 0;
    }

    private static void CloseAll(int[] table)
    {
        foreach (var fd in table)
        {
            if (fd >= 0)
            {
                Posix.Close(fd);
            }
        }
    }

    private int UnregisterFiles()
    {
        if (fixedFiles == null)
        {
            return -Errno.ENXIO;
        }

        CloseAll(fixedFiles);
        fixedFiles = null;
        return 0;
    }

    private int UpdateFiles(void* arg, uint count)
    {
        if (count == 0)
        {
            return -Errno.EINVAL;
        }

        io_uring_files_update up;
        if (Posix.CopyFromUser(&up, (ulong)arg, (nuint)sizeof(io_uring_files_update)) != 0)
        {
            return -Errno.EFAULT;
        }

        return up.resv != 0 ? -Errno.EINVAL : UpdateFiles(up.offset, up.fds, count);
    }

    /// <summary>
    /// __io_register_rsrc_update of the file table (IORING_REGISTER_FILES_UPDATE and the FILES_UPDATE
    /// opcode): <paramref name="count"/> descriptors read from <paramref name="fds"/> into the slots from
    /// <paramref name="offset"/> on (-1 empties a slot, IORING_REGISTER_FILES_SKIP leaves it). The slots
    /// done, or the error that stopped the first.
    /// </summary>
    private int UpdateFiles(uint offset, ulong fds, uint count)
    {
        if (offset + count < offset)
        {
            return -Errno.EOVERFLOW;
        }

        if (fixedFiles == null)
        {
            return -Errno.ENXIO;
        }

        if ((ulong)offset + count > (ulong)fixedFiles.Length)
        {
            return -Errno.EINVAL;
        }

        var done = 0;
        var error = 0;
        for (; done < count; done++)
        {
            int fd;
            if (Posix.CopyFromUser(&fd, fds + ((ulong)done * sizeof(int)), sizeof(int)) != 0)
            {
                error = -Errno.EFAULT;
                break;
            }

            if (fd == Constants.IORING_REGISTER_FILES_SKIP)
            {
                continue;
            }

            var slot = (int)offset + done;
            if (fixedFiles[slot] >= 0)
            {
                Posix.Close(fixedFiles[slot]);
                fixedFiles[slot] = -1;
                fileAllocHint = slot;
            }

            if (fd != -1)
            {
                var held = engine.IsRing(fd) ? -1 : Posix.Dup(fd);
                if (held < 0)
                {
                    error = -Errno.EBADF;
                    break;
                }

                fixedFiles[slot] = held;
                fileAllocHint = slot + 1;
            }
        }

        return done > 0 ? done : error;
    }

    private int RegisterBuffers(Posix.IoVec* iovs, uint count)
    {
        if (buffers != null)
        {
            return -Errno.EBUSY;
        }

        if (count == 0 || count > MaxRegBuffers)
        {
            return -Errno.EINVAL;
        }

        var table = new (ulong, ulong)[count];
        for (var i = 0; i < count; i++)
        {
            Posix.IoVec iov = default;
            if (iovs != null && Posix.CopyFromUser(&iov, (ulong)(iovs + i), (nuint)sizeof(Posix.IoVec)) != 0)
            {
                return -Errno.EFAULT;
            }

            var address = (ulong)iov.Base;
            var length = (ulong)iov.Length;

            // From 6.11 the kernel's generic iovec import reads the iovec, and it refuses a length whose
            // sign bit is set in the process's ssize_t before io_uring sees the iovec (so before the
            // null-base and 1 GiB checks below). A 32-bit process's iovec length is 32 bits: the engine,
            // a 64-bit process, reads the program's iovec at its own layout, where any length past
            // int.MaxValue stands for one the 32-bit program passed with bit 31 set (it cannot pass more).
            if (iovs != null && !profile.BufferIovecsCopiedByIoUring && length > (profile.CompatProcess ? (ulong)int.MaxValue : long.MaxValue))
            {
                return -Errno.EINVAL;
            }

            if (address == 0)
            {
                if (length != 0)
                {
                    return -Errno.EFAULT;
                }

                continue; // a sparse slot
            }

            if (length > MaxBufferLength)
            {
                return -Errno.EFAULT;
            }

            if (address + length < address)
            {
                return -Errno.EOVERFLOW;
            }

            // The kernel pins every page for writing: one it cannot fault in, or a read-only one, is -EFAULT.
            if (!Posix.Pinnable(address, length))
            {
                return -Errno.EFAULT;
            }

            table[i] = (address, length);
        }

        buffers = table;
        return 0;
    }

    private int UnregisterBuffers()
    {
        if (buffers == null)
        {
            return -Errno.ENXIO;
        }

        buffers = null;
        return 0;
    }

    private int RegisterRestrictions(void* arg, uint count)
    {
        if (!disabled)
        {
            return -Errno.EBADFD;
        }

        if (restrictionsRegistered)
        {
            return -Errno.EBUSY;
        }

        var max = 4 + profile.OpLast + (profile.RegisterOpLast == 0 ? 64 : profile.RegisterOpLast);
        if (arg == null || count > max)
        {
            return -Errno.EINVAL;
        }

        var size = count * (uint)sizeof(io_uring_restriction);
        var copy = stackalloc io_uring_restriction[(int)Math.Max(count, 1)];
        if (Posix.CopyFromUser(copy, (ulong)arg, size) != 0)
        {
            return -Errno.EFAULT;
        }

        UInt128 registerOps = 0;
        var sqeOps = stackalloc ulong[4];
        new Span<ulong>(sqeOps, 4).Clear();
        byte allowed = 0, required = 0;
        for (var i = 0; i < count; i++)
        {
            var r = copy[i];
            switch ((uint)r.opcode)
            {
                case (uint)io_uring_register_restriction_op.IORING_RESTRICTION_REGISTER_OP when profile.RegisterOpLast == 0 || r.register_op < profile.RegisterOpLast:
                    registerOps |= UInt128.One << r.register_op;
                    break;
                case (uint)io_uring_register_restriction_op.IORING_RESTRICTION_SQE_OP when r.sqe_op < profile.OpLast:
                    sqeOps[r.sqe_op >> 6] |= 1UL << (r.sqe_op & 63);
                    break;
                case (uint)io_uring_register_restriction_op.IORING_RESTRICTION_SQE_FLAGS_ALLOWED:
                    allowed = r.sqe_flags;
                    break;
                case (uint)io_uring_register_restriction_op.IORING_RESTRICTION_SQE_FLAGS_REQUIRED:
                    required = r.sqe_flags;
                    break;
                default:
                    // Any bad entry clears what was parsed; the ring stays unrestricted.
                    return -Errno.EINVAL;
            }
        }

        allowedRegisterOps = registerOps;

        // Where restrictions limit only the kinds they name, an empty set names both: nothing is
        // allowed (7.2 and 7.3-rc under qemu; the kernel's io_parse_restrictions marks both kinds
        // registered when nr_args is 0).
        registerOpsListed = count == 0;
        sqeOpsListed = count == 0;
        for (var i = 0; i < count; i++)
        {
            registerOpsListed |= copy[i].opcode == (ushort)io_uring_register_restriction_op.IORING_RESTRICTION_REGISTER_OP;
            sqeOpsListed |= copy[i].opcode != (ushort)io_uring_register_restriction_op.IORING_RESTRICTION_REGISTER_OP;
        }

        new Span<ulong>(sqeOps, 4).CopyTo(allowedSqeOps);
        sqeFlagsAllowed = allowed;
        sqeFlagsRequired = required;
        restrictionsRegistered = true;
        return 0;
    }

    private int EnableRings()
    {
        if (!disabled)
        {
            return -Errno.EBADFD;
        }

        restricted = restrictionsRegistered;
        disabled = false;
        return 0;
    }

    /// <summary>io_check_restriction: the opcode must be allowed and the SQE flags within allowed + required, required all present.</summary>
    private bool RestrictionAllows(byte opcode, byte sqeFlags) =>
        !restricted
        || (!sqeOpsListed && profile.SqeRestrictedOnlyWhenListed)
        || ((allowedSqeOps[opcode >> 6] & (1UL << (opcode & 63))) != 0
            && (sqeFlags & sqeFlagsRequired) == sqeFlagsRequired
            && (sqeFlags & ~(sqeFlagsAllowed | sqeFlagsRequired)) == 0);

    private int RegisterMemRegion(ulong userReg)
    {
        io_uring_mem_region_reg reg;
        if (Posix.CopyFromUser(&reg, userReg, (nuint)sizeof(io_uring_mem_region_reg)) != 0)
        {
            return -Errno.EFAULT;
        }

        if (region != null)
        {
            return -Errno.EBUSY;
        }

        if (reg.__resv[0] != 0 || reg.__resv[1] != 0)
        {
            return -Errno.EINVAL;
        }

        if ((reg.flags & ~(ulong)Constants.IORING_MEM_REGION_REG_WAIT_ARG) != 0)
        {
            return -Errno.EINVAL;
        }

        io_uring_region_desc rd;
        if (Posix.CopyFromUser(&rd, reg.region_uptr, (nuint)sizeof(io_uring_region_desc)) != 0)
        {
            return -Errno.EFAULT;
        }

        // Waiters are not synchronised with a region appearing: a wait-argument region needs a disabled ring.
        if ((reg.flags & Constants.IORING_MEM_REGION_REG_WAIT_ARG) != 0 && !disabled)
        {
            return -Errno.EINVAL;
        }

        var check = ValidateRegion(rd);
        if (check != 0)
        {
            return check;
        }

        var user = (rd.flags & Constants.IORING_MEM_REGION_TYPE_USER) != 0;
        if (user)
        {
            if (!Posix.Pinnable(rd.user_addr, rd.size))
            {
                return -Errno.EFAULT;
            }

            region = (byte*)rd.user_addr;
        }
        else
        {
            region = (byte*)NativeMemory.AlignedAlloc((nuint)rd.size, (nuint)PageSize);
            new Span<byte>(region, (int)rd.size).Clear();
            rd.mmap_offset = ParamRegionOffset;
        }

        regionSize = (nuint)rd.size;
        regionIsKernelMemory = !user;
        if ((reg.flags & Constants.IORING_MEM_REGION_REG_WAIT_ARG) != 0)
        {
            WaitArgs = region;
            WaitArgsSize = regionSize;
        }

        if (Posix.CopyToUser(reg.region_uptr, &rd, (nuint)sizeof(io_uring_region_desc)) != 0)
        {
            FreeRegion();
            return -Errno.EFAULT;
        }

        return 0;
    }

    private static int ValidateRegion(in io_uring_region_desc rd)
    {
        if (rd.__resv[0] != 0 || rd.__resv[1] != 0 || rd.__resv[2] != 0 || rd.__resv[3] != 0)
        {
            return -Errno.EINVAL;
        }

        if ((rd.flags & ~Constants.IORING_MEM_REGION_TYPE_USER) != 0)
        {
            return -Errno.EINVAL;
        }

        // user_addr is set if and only if the memory is the user's.
        if (((rd.flags & Constants.IORING_MEM_REGION_TYPE_USER) != 0) != (rd.user_addr != 0))
        {
            return -Errno.EFAULT;
        }

        if (rd.size == 0 || rd.mmap_offset != 0 || rd.id != 0)
        {
            return -Errno.EINVAL;
        }

        if ((rd.size / PageSize) > int.MaxValue)
        {
            return -Errno.E2BIG;
        }

        if (((rd.user_addr | rd.size) & (PageSize - 1)) != 0)
        {
            return -Errno.EINVAL;
        }

        return rd.user_addr + rd.size < rd.user_addr ? -Errno.EOVERFLOW : 0;
    }

    private void FreeRegion()
    {
        if (regionIsKernelMemory && region != null)
        {
            NativeMemory.AlignedFree(region);
        }

        region = null;
        regionSize = 0;
        regionIsKernelMemory = false;
        WaitArgs = null;
        WaitArgsSize = 0;
    }

    /// <summary>
    /// io_fixed_fd_install: a new socket (<paramref name="fd"/>, the engine's own) into slot
    /// <paramref name="slot"/> - 1, replacing what is there, or with IORING_FILE_INDEX_ALLOC into the
    /// first free slot from the hint on (then from the start). The result: 0, the allocated slot, or
    /// -ENFILE (no table or no free slot to allocate), -ENXIO (no table), -EINVAL (past the table); on
    /// failure the socket is closed.
    /// </summary>
    private int InstallFixedFile(int fd, uint slot)
    {
        var alloc = slot == Constants.IORING_FILE_INDEX_ALLOC;
        var index = alloc ? FreeFixedSlot() : (long)slot - 1;
        var error = index < 0 ? (int)index : fixedFiles == null ? -Errno.ENXIO : index >= fixedFiles.Length ? -Errno.EINVAL : 0;
        if (error != 0)
        {
            Posix.Close(fd);
            return error;
        }

        var at = (int)index;
        var replaced = fixedFiles![at] >= 0;
        if (replaced)
        {
            Posix.Close(fixedFiles[at]);
        }

        fixedFiles[at] = fd;
        if (!replaced || profile.InstallOverSlotMovesAllocHint)
        {
            fileAllocHint = at + 1;
        }

        return alloc ? at : 0;
    }

    /// <summary>io_file_bitmap_get: the first free slot from the hint to the table's end, then from its start up to the hint; -ENFILE when none (or no table).</summary>
    private int FreeFixedSlot()
    {
        if (fixedFiles == null)
        {
            return -Errno.ENFILE;
        }

        var end = fixedFiles.Length;
        while (true)
        {
            for (var k = fileAllocHint; k < end; k++)
            {
                if (fixedFiles[k] < 0)
                {
                    return k;
                }
            }

            if (fileAllocHint == 0)
            {
                return -Errno.ENFILE;
            }

            end = fileAllocHint;
            fileAllocHint = 0;
        }
    }

    /// <summary>The descriptor behind a fixed-file index, or -1.</summary>
    private int FixedFile(int index) => fixedFiles != null && index >= 0 && index < fixedFiles.Length ? fixedFiles[index] : -1;

    /// <summary>The registered buffer at <paramref name="index"/>, if any.</summary>
    private bool FixedBuffer(ushort index, out ulong address, out ulong length)
    {
        // A sparse slot (registered as null, 0) is no buffer.
        if (buffers != null && index < buffers.Length && buffers[index].Address != 0)
        {
            (address, length) = buffers[index];
            return true;
        }

        address = length = 0;
        return false;
    }

    private void ReleaseResources()
    {
        ReleasePolls();
        if (fixedFiles != null)
        {
            CloseAll(fixedFiles);
            fixedFiles = null;
        }

        buffers = null;
        ReleaseBufferRings();
        ReleaseEventfd();
        FreeRegion();
        if (messageWake >= 0)
        {
            Posix.Close(messageWake);
            messageWake = -1;
        }
    }
}
