using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// Provided buffers of the ring kind: IORING_REGISTER_PBUF_RING makes a group whose buffers are the
/// entries of a ring the application writes (16 bytes each, the tail in the first entry's last two
/// bytes) and the kernel reads from its own head; IORING_UNREGISTER_PBUF_RING drops it and
/// IORING_REGISTER_PBUF_STATUS reports the head. A selection reads the entry at the head and leaves it
/// there until the request is done with it: the head moves at selection only from io-wq or for a file
/// without a poll method, otherwise when the request completes, so one that must wait leaves the buffer
/// to the next selection. An incremental ring (IOU_PBUF_RING_INC) moves past a buffer only once it is
/// used up: until then the kernel writes the rest of it back into its entry and the CQE says
/// IORING_CQE_F_BUF_MORE.
/// </summary>
internal sealed unsafe partial class EngineRing
{
    private const int BufferRingEntryBytes = 16;
    private const uint MaxBufferRingEntries = 1 << 15;

    private sealed class BufferRing
    {
        /// <summary>Where the entries are: the application's pages, or <see cref="Owned"/> for an MMAP ring.</summary>
        public ulong Address;
        public byte* Owned;
        public nuint OwnedSize;
        public uint Mask;

        /// <summary>The kernel's u16 head: how many entries it has moved past, never masked.</summary>
        public ushort Head;
        public bool Incremental;

        /// <summary>min_left less one (0 when min_left is 0 or 1): an incremental buffer with more than this left stays.</summary>
        public uint MinLeftSubOne;
    }

    private Dictionary<ushort, BufferRing>? bufferRings;

    // An MMAP ring's pages stay until the ring closes: the application may still have them mapped.
    private List<(nint Memory, nuint Size)>? retiredRingPages;

    /// <summary>The pages of the MMAP ring of <paramref name="group"/> (mmap at IORING_OFF_PBUF_RING | group &lt;&lt; 16), or null.</summary>
    internal (nint Memory, nuint Size)? BufferRingPages(ushort group) =>
        bufferRings != null && bufferRings.TryGetValue(group, out var ring) && ring.Owned != null ? ((nint)ring.Owned, ring.OwnedSize) : null;

    private static bool IsPowerOfTwo(uint v) => v != 0 && (v & (v - 1)) == 0;

    /// <summary>io_register_pbuf_ring, its checks in the order of this kernel (<see cref="KernelProfile.BufferRingChecksAddressFirst"/>).</summary>
    private int RegisterBufferRing(ulong arg, uint nrArgs)
    {
        if (arg == 0 || nrArgs != 1)
        {
            return -Errno.EINVAL;
        }

        io_uring_buf_reg reg;
        if (Posix.CopyFromUser(&reg, arg, (nuint)sizeof(io_uring_buf_reg)) != 0)
        {
            return -Errno.EFAULT;
        }

        // 6.1's struct has a pad where later ones have the flags, and resv[3] of u64 where they have
        // min_left and resv[5].
        var bytes = (byte*)&reg;
        var minLeft = profile.BufferRingMinLeft ? *(uint*)(bytes + 16) : 0;
        if (ReservedSet(bytes))
        {
            return -Errno.EINVAL;
        }

        var flags = reg.flags;
        if ((flags & ~profile.BufferRingFlags) != 0)
        {
            return -Errno.EINVAL;
        }

        var mmap = (flags & (uint)io_uring_register_pbuf_ring_flags.IOU_PBUF_RING_MMAP) != 0;
        var incremental = (flags & (uint)io_uring_register_pbuf_ring_flags.IOU_PBUF_RING_INC) != 0;
        var address = reg.ring_addr;
        int check;
        if (profile.BufferRingChecksAddressFirst && (check = BufferRingAddressFaults(address, mmap, true)) != 0)
        {
            return check;
        }

        if (!IsPowerOfTwo(reg.ring_entries) || reg.ring_entries > MaxBufferRingEntries)
        {
            return -Errno.EINVAL;
        }

        if (minLeft != 0 && !incremental)
        {
            return -Errno.EINVAL;
        }

        var group = reg.bgid;
        groupArrayMade |= profile.BufferGroupArray && group < GroupArrayLength;
        if (bufferRings?.ContainsKey(group) == true || (bufferGroups != null && bufferGroups.TryGetValue(group, out var legacy) && legacy.Count > 0))
        {
            return -Errno.EEXIST;
        }

        // An empty legacy group gives way to the ring (later kernels drop it even when a check below fails).
        bufferGroups?.Remove(group);
        var size = (nuint)reg.ring_entries * BufferRingEntryBytes;
        if (!profile.BufferRingChecksAddressFirst && (check = BufferRingAddressFaults(address, mmap, false)) != 0)
        {
            return check;
        }

        var ring = new BufferRing { Mask = reg.ring_entries - 1, Incremental = incremental, MinLeftSubOne = minLeft == 0 ? 0 : minLeft - 1 };
        if (mmap)
        {
            ring.OwnedSize = (size + (nuint)PageSize - 1) & ~(nuint)(PageSize - 1);
            ring.Owned = ZeroedPages(ring.OwnedSize);
            ring.Address = (ulong)ring.Owned;
        }
        else
        {
            // The pages are pinned: all of them must be mapped now.
            if (address + size < address)
            {
                return -Errno.EOVERFLOW;
            }

            if (!Posix.Readable(address, size))
            {
                return -Errno.EFAULT;
            }

            ring.Address = address;
        }

        (bufferRings ??= [])[group] = ring;
        return 0;
    }

    /// <summary>io_uring_buf_reg's reserved bytes: resv[5] after min_left, or 6.1's resv[3].</summary>
    private bool ReservedSet(byte* reg)
    {
        var from = profile.BufferRingMinLeft ? 20 : 16;
        return new ReadOnlySpan<byte>(reg + from, 40 - from).IndexOfAnyExcept((byte)0) >= 0;
    }

    /// <summary>
    /// The ring address's checks: a ring the application provides needs an address (-EFAULT) on a page
    /// boundary (-EINVAL); an MMAP ring's is refused where the address is checked first, ignored after.
    /// </summary>
    private static int BufferRingAddressFaults(ulong address, bool mmap, bool checkedFirst) =>
        mmap ? (checkedFirst && address != 0 ? -Errno.EINVAL : 0)
        : address == 0 ? -Errno.EFAULT
        : (address & (ulong)(PageSize - 1)) != 0 ? -Errno.EINVAL
        : 0;

    /// <summary>io_unregister_pbuf_ring: only bgid counts; no group: -ENOENT, a legacy group: -EINVAL.</summary>
    private int UnregisterBufferRing(ulong arg, uint nrArgs)
    {
        if (arg == 0 || nrArgs != 1)
        {
            return -Errno.EINVAL;
        }

        io_uring_buf_reg reg;
        if (Posix.CopyFromUser(&reg, arg, (nuint)sizeof(io_uring_buf_reg)) != 0)
        {
            return -Errno.EFAULT;
        }

        // min_left is not looked at; the flags (6.1's pad) and the reserved words are.
        if (ReservedSet((byte*)&reg) || reg.flags != 0)
        {
            return -Errno.EINVAL;
        }

        var group = reg.bgid;
        if (bufferRings == null || !bufferRings.Remove(group, out var ring))
        {
            return IsLegacyGroup(group) ? -Errno.EINVAL : -Errno.ENOENT;
        }

        if (ring.Owned != null)
        {
            (retiredRingPages ??= []).Add(((nint)ring.Owned, ring.OwnedSize));
        }

        return 0;
    }

    /// <summary>A group of the legacy kind exists (6.1's array makes every group below 64 one once it exists).</summary>
    private bool IsLegacyGroup(ushort group) =>
        (bufferGroups?.ContainsKey(group) ?? false) || (groupArrayMade && group < GroupArrayLength && bufferRings?.ContainsKey(group) != true);

    /// <summary>io_register_pbuf_status: the head of a ring group (no group: -ENOENT, a legacy group: -EINVAL).</summary>
    private int BufferRingStatus(ulong arg, uint nrArgs)
    {
        if (arg == 0 || nrArgs != 1)
        {
            return -Errno.EINVAL;
        }

        io_uring_buf_status status;
        if (Posix.CopyFromUser(&status, arg, (nuint)sizeof(io_uring_buf_status)) != 0)
        {
            return -Errno.EFAULT;
        }

        for (var k = 0; k < 8; k++)
        {
            if (status.resv[k] != 0)
            {
                return -Errno.EINVAL;
            }
        }

        if (status.buf_group > ushort.MaxValue || bufferRings == null || !bufferRings.TryGetValue((ushort)status.buf_group, out var ring))
        {
            return status.buf_group <= ushort.MaxValue && IsLegacyGroup((ushort)status.buf_group) ? -Errno.EINVAL : -Errno.ENOENT;
        }

        status.head = ring.Head;
        return Posix.CopyToUser(arg, &status, (nuint)sizeof(io_uring_buf_status)) == 0 ? 0 : -Errno.EFAULT;
    }

    /// <summary>
    /// io_ring_buffer_select: the entry at the head, when the tail the application published is past it.
    /// The request's length becomes the smaller of its own and the buffer's (the buffer's for 0). From
    /// io-wq, or for a file without a poll method, the head moves now (io_should_commit).
    /// </summary>
    private bool SelectFromRing(ref Request r, BufferRing ring)
    {
        ushort tail;
        if (Posix.CopyFromUser(&tail, ring.Address + 14, sizeof(ushort)) != 0 || tail == ring.Head)
        {
            return false;
        }

        io_uring_buf buffer;
        if (Posix.CopyFromUser(&buffer, HeadEntry(ring), (nuint)sizeof(io_uring_buf)) != 0)
        {
            return false;
        }

        TakeBuffer(ref r, buffer.addr, buffer.len, buffer.bid);
        r.FromRing = true;
        r.BufferCommitted = false;
        if (runningInIoWq || r.File < 0 || !Posix.CanPoll(r.File))
        {
            CommitRingBuffer(ref r, ring, r.Len);
        }

        return true;
    }

    /// <summary>
    /// io_ring_buffers_peek: the ring's buffers from its head that a bundle of at most
    /// <paramref name="maxLen"/> bytes maps, none taken yet (the head moves when the receive commits
    /// them): as many as the length needs, the first's length deciding, 256 at most; the last cut to
    /// what the length leaves, which ends the selection there unless it is the first or the ring is
    /// incremental (<paramref name="partial"/>). <paramref name="emptied"/>: the selection reached the
    /// ring's tail, counting the buffer the length ran out on where the kernel does
    /// (<see cref="KernelProfile.BundleTakesTheBufferItsLengthEndsIn"/>). No buffer, or a first of
    /// length 0 when a length is asked: -ENOBUFS. A selection that is not a bundle maps one buffer
    /// (<paramref name="most"/> 1).
    /// </summary>
    private int PeekRing(BufferRing ring, uint maxLen, Posix.IoVec* iovs, out ushort firstId, out bool partial, out bool emptied, int most = PeekMaxImport)
    {
        firstId = 0;
        partial = false;
        emptied = false;
        ushort tail;
        if (Posix.CopyFromUser(&tail, ring.Address + 14, sizeof(ushort)) != 0)
        {
            return -Errno.ENOBUFS;
        }

        var head = ring.Head;
        var available = Math.Min((int)(ushort)(tail - head), UioMaxIov);
        io_uring_buf buffer;
        if (available == 0 || Posix.CopyFromUser(&buffer, HeadEntry(ring), (nuint)sizeof(io_uring_buf)) != 0)
        {
            return -Errno.ENOBUFS;
        }

        maxLen = Math.Min(maxLen, MaxRwCount);
        if (maxLen != 0)
        {
            if (buffer.len == 0)
            {
                return -Errno.ENOBUFS;
            }

            var needed = Math.Min((maxLen + (ulong)buffer.len - 1) / buffer.len, PeekMaxImport);
            available = (int)Math.Min((ulong)available, Math.Min(needed, (ulong)most));
        }
        else
        {
            // Without a length the kernel maps as many buffers as the vector array the request's
            // message state holds, which may be one an earlier request left in the ring's cache.
            engine.ReportUnmodelled("a RECV bundle without a length (it maps as many buffers as a vector array cached from an earlier request holds)");
            available = 1;
        }

        var left = maxLen == 0 ? MaxRwCount : maxLen;
        firstId = buffer.bid;
        var n = 0;
        do
        {
            if (Posix.CopyFromUser(&buffer, EntryAt(ring, head), (nuint)sizeof(io_uring_buf)) != 0)
            {
                break;
            }

            var length = buffer.len;
            if (length > left)
            {
                length = left;
                if (!ring.Incremental)
                {
                    partial = true;
                    if (n > 0)
                    {
                        break;
                    }
                }
            }

            iovs[n++] = new Posix.IoVec { Base = (nint)buffer.addr, Length = length };
            left -= length;
            if (left == 0)
            {
                if (profile.BundleTakesTheBufferItsLengthEndsIn)
                {
                    head++;
                }

                break;
            }

            head++;
        }
        while (n < available);

        emptied = head == tail;
        return n;
    }

    /// <summary>Where the entry at the ring's head is (the head masked: it runs on past the ring's size).</summary>
    private static ulong HeadEntry(BufferRing ring) => EntryAt(ring, ring.Head);

    /// <summary>Where the entry a running index names is (masked to the ring's size).</summary>
    private static ulong EntryAt(BufferRing ring, ushort index) => ring.Address + ((ulong)(index & ring.Mask) * BufferRingEntryBytes);

    /// <summary>
    /// io_kbuf_commit: the head moves past the request's buffer; on an incremental ring only past what
    /// <paramref name="used"/> bytes use up, the rest written back into the entry (IORING_CQE_F_BUF_MORE
    /// when the buffer stays).
    /// </summary>
    private void CommitRingBuffer(ref Request r, BufferRing ring, uint used)
    {
        r.BufferCommitted = true;
        if (!ring.Incremental)
        {
            ring.Head++;
            return;
        }

        if (!IncrementalCommit(ring, used))
        {
            r.CqeFlags |= Constants.IORING_CQE_F_BUF_MORE;
        }
    }

    /// <summary>io_kbuf_inc_commit: true when every buffer <paramref name="used"/> touched is used up.</summary>
    private static bool IncrementalCommit(BufferRing ring, uint used)
    {
        if (used == 0)
        {
            return false;
        }

        while (used > 0)
        {
            var entry = HeadEntry(ring);
            io_uring_buf buffer;
            if (Posix.CopyFromUser(&buffer, entry, (nuint)sizeof(io_uring_buf)) != 0)
            {
                return true;
            }

            var taken = Math.Min(used, buffer.len);
            var left = buffer.len - taken;
            if (left > ring.MinLeftSubOne || taken == 0)
            {
                buffer.addr += taken;
                buffer.len = left;
                Posix.CopyToUser(entry, &buffer, 12);
                return false;
            }

            // Used up: its length goes to 0 (its address stays) and the head moves on.
            buffer.len = 0;
            Posix.CopyToUser(entry + 8, &buffer.len, sizeof(uint));
            ring.Head++;
            used -= taken;
        }

        return true;
    }

    /// <summary>
    /// io_put_kbuf at a request's completion: a ring buffer not yet committed is, by the bytes the request
    /// used (<paramref name="used"/>: what an incremental ring gives up).
    /// </summary>
    private void PutRingBuffer(ref Request r, int used)
    {
        if (r.BufferSelected && r.FromRing && !r.BufferCommitted && bufferRings != null && bufferRings.TryGetValue(r.BufIndex, out var ring))
        {
            CommitRingBuffer(ref r, ring, (uint)Math.Max(used, 0));
        }
    }

    /// <summary>
    /// A request done with its ring buffer: what it transferred commits it (a READ's end of file too,
    /// which uses up a whole buffer but none of an incremental one); an error, or a receive's end of
    /// stream, leaves an uncommitted buffer in the ring.
    /// </summary>
    private void FinishRingBuffer(ref Request r)
    {
        if (!r.BufferSelected || !r.FromRing)
        {
            return;
        }

        if (r.Res < 0 || (r.Res == 0 && IsNetReceive(r.Kind)))
        {
            RecycleRingBuffer(ref r);
        }
        else
        {
            PutRingBuffer(ref r, r.Res);
        }
    }

    /// <summary>io_kbuf_recycle_ring: a ring buffer not yet committed stays at the head for the next selection; a committed one is the request's.</summary>
    private static void RecycleRingBuffer(ref Request r)
    {
        if (!r.BufferCommitted)
        {
            ForgetBuffer(ref r);
        }
    }

    private void ReleaseBufferRings()
    {
        if (bufferRings != null)
        {
            foreach (var ring in bufferRings.Values)
            {
                if (ring.Owned != null)
                {
                    FreePages(ring.Owned, ring.OwnedSize);
                }
            }

            bufferRings = null;
        }

        if (retiredRingPages != null)
        {
            foreach (var (memory, size) in retiredRingPages)
            {
                FreePages((byte*)memory, size);
            }

            retiredRingPages = null;
        }
    }
}
