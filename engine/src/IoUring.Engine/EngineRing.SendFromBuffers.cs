using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// SEND with IOSQE_BUFFER_SELECT (6.12 on): the data to send comes from the provided buffers of the
/// SQE's group rather than from addr. What was read from 6.12's, 7.2's and 7.3's io_send and
/// io_buffers_select, and checked on the host:
/// <list type="bullet">
/// <item>A ring selection maps one buffer (a bundle: as many as the length needs, as a RECV bundle's
/// peek does, the length being INT_MAX when the SQE gives 0) and uses them up at once: the head moves
/// past them, an incremental ring gives up the bytes mapped (IORING_CQE_F_BUF_MORE when the buffer
/// stays). Whatever the send then does, those buffers are gone, and an error's CQE still names them.</item>
/// <item>A legacy group gives its first buffer, whole: the SQE's length is not looked at.</item>
/// <item>No group is -ENOENT; no buffer, or a first ring buffer of length 0, is -ENOBUFS.</item>
/// <item>A send that must wait keeps a ring selection and sends it when woken; a legacy buffer goes
/// back to its group first, where the kernel recycles it, unless part of it was sent.</item>
/// <item>A bundle sends with MSG_WAITALL. After a CQE of what it sent (IORING_CQE_F_MORE) it selects
/// again with no length, until a selection empties the group, a send fails or sends nothing, or it had
/// to wait; that CQE is the final one.</item>
/// </list>
/// </summary>
internal sealed unsafe partial class EngineRing
{
    private Completion SendFromProvidedBuffers(ref Request r)
    {
        var bundle = (r.Ioprio & RecvSendBundle) != 0;
        var flags = (int)r.OpFlags | MsgNosignal;

        // The kernel's iterator: a copy of the selection, at most a peek's worth of vectors.
        var iovs = stackalloc Posix.IoVec[PeekMaxImport];
        while (true)
        {
            if (!r.BufferSelected)
            {
                var selected = SelectForSend(ref r, bundle);
                if (selected < 0)
                {
                    return Returned(ref r, selected);
                }
            }

            // What an earlier issue sent is skipped (the kernel's iterator has advanced).
            var vectors = r.Vectors!;
            vectors.CopyTo(new Span<Posix.IoVec>(iovs, vectors.Length));
            var remaining = SkipDone(iovs, vectors.Length, r.DoneIo, out var first);
            var msg = new Posix.MsgHdr { Iov = (nint)(iovs + first), IovLength = vectors.Length - first };
            if (r.Off != 0)
            {
                msg.Name = (nint)r.Off;
                msg.NameLength = r.AddrLen;
            }

            var waitAll = (flags & MsgWaitall) != 0;
            var res = Posix.Result(Posix.SendMsg(r.File, &msg, flags | MsgDontwait));
            if (res < (waitAll ? (long)remaining : 0))
            {
                if (res == -Errno.EAGAIN)
                {
                    // With MSG_DONTWAIT the CQE still names the selection. A wait recycles a legacy
                    // buffer, unless part of it was sent (REQ_F_BL_NO_RECYCLE, which stays set).
                    if ((flags & MsgDontwait) != 0)
                    {
                        return Returned(ref r, -Errno.EAGAIN);
                    }

                    if (r.DoneIo == 0)
                    {
                        RecycleBuffer(ref r);
                    }

                    return WaitForReadiness(ref r);
                }

                if (res > 0 && waitAll && Posix.SocketType(r.File) is SockStream or SockSeqpacket)
                {
                    r.DoneIo += (int)res;
                    return WaitForReadiness(ref r);
                }

                r.SetFail();
            }

            res = res >= 0 ? res + r.DoneIo : r.DoneIo != 0 ? r.DoneIo : res;

            // io_send_finish: a bundle posts what it sent and goes on from a new selection, unless this
            // one emptied the group, nothing was sent, or the request waited on the way.
            if (bundle && res > 0 && !r.BundleEmptied && !r.Polled && PostMultishot(r.UserData, (int)res, r.CqeFlags | Constants.IORING_CQE_F_MORE))
            {
                ForgetBuffer(ref r);
                r.CqeFlags = 0;
                r.Vectors = null;
                r.DoneIo = 0;
                r.Len = 0;
                r.BundleEmptied = false;
                continue;
            }

            r.Res = (int)res;
            return Completion.Inline;
        }
    }

    /// <summary>
    /// io_send_select_buffer: the request's buffers (<see cref="Request.Vectors"/>) and the CQE flags
    /// that name them; 0, or -ENOENT (no such group) or -ENOBUFS.
    /// </summary>
    private int SelectForSend(ref Request r, bool bundle)
    {
        if (bufferRings != null && bufferRings.TryGetValue(r.BufIndex, out var ring))
        {
            var iovs = stackalloc Posix.IoVec[bundle ? PeekMaxImport : 1];
            var count = PeekRing(ring, r.Len != 0 ? r.Len : MaxRwCount, iovs, out var firstId, out _, out var emptied, bundle ? PeekMaxImport : 1);
            if (count < 0)
            {
                return count;
            }

            var vectors = new Posix.IoVec[count];
            ulong mapped = 0;
            for (var k = 0; k < count; k++)
            {
                vectors[k] = iovs[k];
                mapped += (ulong)iovs[k].Length;
            }

            // Committed at selection (io_buffers_select): the buffers are the request's from now on.
            TakeBuffer(ref r, (ulong)iovs[0].Base, (uint)mapped, firstId);
            r.FromRing = true;
            r.BufferCommitted = true;
            if (!ring.Incremental)
            {
                ring.Head += (ushort)count;
            }
            else if (!IncrementalCommit(ring, (uint)mapped))
            {
                r.CqeFlags |= Constants.IORING_CQE_F_BUF_MORE;
            }

            r.Vectors = vectors;
            r.BundleEmptied = emptied;
            return 0;
        }

        if (!IsLegacyGroup(r.BufIndex))
        {
            return -Errno.ENOENT;
        }

        r.Len = 0;
        if (!SelectBuffer(ref r))
        {
            return -Errno.ENOBUFS;
        }

        r.Vectors = [new Posix.IoVec { Base = (nint)r.Selected.Address, Length = r.Len }];
        r.BundleEmptied = bufferGroups![r.BufIndex].Count == 0;
        return 0;
    }
}
