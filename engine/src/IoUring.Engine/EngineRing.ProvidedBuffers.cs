using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// Provided buffers of the legacy kind: PROVIDE_BUFFERS adds buffers to a group (made by its first
/// PROVIDE_BUFFERS and kept for the ring's life), REMOVE_BUFFERS takes them off the front, and a READ or
/// READV with IOSQE_BUFFER_SELECT takes the group's first buffer (buf_group is the SQE's buf_index) when
/// it is issued: its length the smaller of the request's and the buffer's (0: the buffer's), kept for a
/// later selection. A request that must wait (for readiness, or for io-wq) keeps its buffer, or on 6.1
/// puts it back at the front (<see cref="KernelProfile.LegacyBufferRecycledWhileWaiting"/>); one that
/// completes, even with an error or cancelled, has used it up, and its CQE says which
/// (IORING_CQE_F_BUFFER and the buffer id from bit 16). An empty or missing group is -ENOBUFS. A group
/// that is a buffer ring selects from its ring instead (EngineRing.BufferRings.cs), and refuses
/// PROVIDE_BUFFERS and REMOVE_BUFFERS (-EINVAL).
/// </summary>
internal sealed unsafe partial class EngineRing
{
    // MAX_BIDS_PER_BGID: at most this many buffers per call, and buffer ids below it.
    private const uint MaxBuffersPerGroup = 1 << 16;

    private readonly record struct ProvidedBuffer(ulong Address, uint Length, ushort Id);

    private Dictionary<ushort, LinkedList<ProvidedBuffer>>? bufferGroups;

    // 6.1's array of groups 0 to 63, made by the first PROVIDE_BUFFERS of one of them (KernelProfile.BufferGroupArray).
    private const ushort GroupArrayLength = 64;
    private bool groupArrayMade;

    /// <summary>
    /// io_provide_buffers_prep and io_remove_buffers_prep: the count in fd, the group in buf_group; PROVIDE
    /// the first buffer at addr, each len bytes, ids from off. Request.Len keeps the count (REMOVE too),
    /// Request.Off the first id, Request.Extra1 the length.
    /// </summary>
    private static int PrepareBufferCall(ref Request r, io_uring_sqe* sqe)
    {
        var count = (ulong)(long)sqe->fd; // READ_ONCE into a u64: a negative count is huge
        if (r.Kind == OpKind.RemoveBuffers)
        {
            if (sqe->rw_flags != 0 || sqe->addr != 0 || sqe->len != 0 || sqe->off != 0 || sqe->splice_fd_in != 0)
            {
                return -Errno.EINVAL;
            }

            if (count == 0 || count > MaxBuffersPerGroup)
            {
                return -Errno.EINVAL;
            }

            r.Len = (uint)count;
            return 0;
        }

        if (sqe->rw_flags != 0 || sqe->splice_fd_in != 0)
        {
            return -Errno.EINVAL;
        }

        if (count == 0 || count > MaxBuffersPerGroup)
        {
            return -Errno.E2BIG;
        }

        var length = sqe->len;
        if (length == 0)
        {
            return -Errno.EINVAL;
        }

        // len * count fits 64 bits; addr + that may not (-EOVERFLOW); access_ok: all below the top of user space.
        var size = (ulong)length * count;
        var end = sqe->addr + size;
        if (end < sqe->addr)
        {
            return -Errno.EOVERFLOW;
        }

        if (end > UserSpaceEnd)
        {
            return -Errno.EFAULT;
        }

        if (sqe->off > ushort.MaxValue)
        {
            return -Errno.E2BIG;
        }

        if (sqe->off + count > MaxBuffersPerGroup)
        {
            return -Errno.EINVAL;
        }

        r.Len = (uint)count;
        r.Extra1 = length;
        return 0;
    }

    /// <summary>
    /// io_provide_buffers and io_remove_buffers, inline: PROVIDE makes the group if it has to and adds the
    /// buffers at its end (0); REMOVE takes up to the count off its front (how many it took; a group never
    /// made: -ENOENT). An error fails the request.
    /// </summary>
    private void ExecuteBufferCall(ref Request r)
    {
        var group = r.BufIndex;
        bufferGroups ??= [];

        // A group that is a buffer ring takes no legacy buffers and gives none up.
        if (bufferRings?.ContainsKey(group) == true)
        {
            r.Fail(-Errno.EINVAL);
            return;
        }

        if (r.Kind == OpKind.ProvideBuffers)
        {
            groupArrayMade |= profile.BufferGroupArray && group < GroupArrayLength;
            if (!bufferGroups.TryGetValue(group, out var list))
            {
                bufferGroups[group] = list = new LinkedList<ProvidedBuffer>();
            }

            var length = (uint)r.Extra1;
            var address = r.Addr;
            var id = (uint)r.Off;
            for (var k = 0u; k < r.Len; k++)
            {
                list.AddLast(new ProvidedBuffer(address, Math.Min(length, MaxRwCount), (ushort)id));
                address += length;
                id++;
            }

            r.Res = 0;
            return;
        }

        if (!bufferGroups.TryGetValue(group, out var from))
        {
            // A group of 6.1's array exists, empty, once the array is made.
            if (groupArrayMade && group < GroupArrayLength)
            {
                r.Res = 0;
                return;
            }

            r.Fail(-Errno.ENOENT);
            return;
        }

        var removed = 0;
        for (; removed < r.Len && from.First is { } first; removed++)
        {
            from.Remove(first);
        }

        r.Res = removed;
    }

    /// <summary>
    /// io_buffer_select of a legacy group: the first buffer, taken off the list; the request's length
    /// becomes the smaller of its own and the buffer's (the buffer's when it asked for 0). False when the
    /// group is empty or was never made.
    /// </summary>
    private bool SelectBuffer(ref Request r)
    {
        if (bufferRings != null && bufferRings.TryGetValue(r.BufIndex, out var ring))
        {
            return SelectFromRing(ref r, ring);
        }

        if (bufferGroups == null || !bufferGroups.TryGetValue(r.BufIndex, out var list) || list.First is not { } first)
        {
            return false;
        }

        list.RemoveFirst();
        var buffer = first.Value;
        TakeBuffer(ref r, buffer.Address, buffer.Length, buffer.Id);

        // The whole buffer, to go back to the group as it was.
        r.Selected = (buffer.Address, buffer.Length, buffer.Id);
        return true;
    }

    /// <summary>
    /// What every selection does, from a legacy group or a ring: the request's length becomes the smaller
    /// of its own and the buffer's (the buffer's for 0), its addr the buffer (a RECVMSG's stays its
    /// msghdr's), and its CQE names the buffer.
    /// </summary>
    private static void TakeBuffer(ref Request r, ulong address, uint length, ushort id)
    {
        if (r.Len == 0 || r.Len > length)
        {
            r.Len = length;
        }

        if (r.Kind != OpKind.RecvMsg)
        {
            r.Addr = address;
        }

        r.Selected = (address, r.Len, id);
        r.BufferSelected = true;
        r.CqeFlags |= Constants.IORING_CQE_F_BUFFER | ((uint)id << (int)Constants.IORING_CQE_BUFFER_SHIFT);
    }

    /// <summary>
    /// A multishot request's CQE (IORING_CQE_F_MORE) for the buffer it used, posted now; once posted the
    /// request holds no buffer and its next CQE starts without flags. False when the CQ takes no more
    /// (<see cref="PostMultishot"/>): this CQE is then the request's final one, buffer and all.
    /// </summary>
    private bool PostWithBuffer(ref Request r)
    {
        if (!PostMultishot(r.UserData, r.Res, r.CqeFlags))
        {
            return false;
        }

        r.CqeFlags = 0;
        r.BufferSelected = false;
        r.FromRing = false;
        return true;
    }

    /// <summary>The request no longer holds a buffer, and its CQE no longer names one.</summary>
    private static void ForgetBuffer(ref Request r)
    {
        r.BufferSelected = false;
        r.FromRing = false;
        r.CqeFlags &= ~(Constants.IORING_CQE_F_BUFFER | (0xffffu << (int)Constants.IORING_CQE_BUFFER_SHIFT));
    }

    /// <summary>
    /// io_kbuf_recycle_legacy: a request that must wait gives its buffer back, at the front of its group,
    /// where the kernel does (<see cref="KernelProfile.LegacyBufferRecycledWhileWaiting"/>); elsewhere it keeps it.
    /// </summary>
    private void RecycleBuffer(ref Request r)
    {
        if (r.FromRing)
        {
            RecycleRingBuffer(ref r);
        }
        else if (profile.LegacyBufferRecycledWhileWaiting)
        {
            GiveBufferBack(ref r);
        }
    }

    /// <summary>The request's selected buffer back at the front of its group, its CQE no longer naming it.</summary>
    private void GiveBufferBack(ref Request r)
    {
        if (!r.BufferSelected)
        {
            return;
        }

        if (r.FromRing)
        {
            RecycleRingBuffer(ref r);
            return;
        }

        ForgetBuffer(ref r);
        if (bufferGroups != null && bufferGroups.TryGetValue(r.BufIndex, out var list))
        {
            list.AddFirst(new ProvidedBuffer(r.Selected.Address, r.Selected.Length, r.Selected.Id));
        }
    }
}
