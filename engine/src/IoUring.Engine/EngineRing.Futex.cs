using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// FUTEX_WAIT, FUTEX_WAKE and FUTEX_WAITV on 32-bit futex words, with the futex2 flags in the SQE's fd
/// (no file). A wait whose word holds the value stays armed until a FUTEX_WAKE of this ring wakes it or a
/// cancellation takes it; a futex(2) wake from another thread is one the engine cannot see. Its CQE comes
/// from task work: 0 for FUTEX_WAIT, the index of the woken word for FUTEX_WAITV, -ECANCELED (not a
/// failure: the chain goes on) when cancelled. Every error fails the request, a word that no longer
/// holds the value too (-EAGAIN).
/// </summary>
internal sealed unsafe partial class EngineRing
{
    // FUTEX2_SIZE_U32, FUTEX2_SIZE_MASK, FUTEX2_PRIVATE; FUTEX2_NUMA and FUTEX2_MPOL (what the engine does not model).
    private const uint Futex2SizeU32 = 0x02;
    private const uint Futex2SizeMask = 0x03;
    private const uint Futex2Private = 0x80;
    private const uint Futex2NumaOrMpol = 0x04 | 0x08;

    // FUTEX_WAITV_MAX, and struct futex_waitv: val, uaddr, flags, __reserved.
    private const uint FutexWaitvMax = 128;
    private const int FutexWaitvBytes = 24;

    // The armed FUTEX_WAIT and FUTEX_WAITV requests, in the order they were armed (a word's waiters are
    // woken in that order).
    private readonly List<int> futexWaits = [];

    /// <summary>
    /// io_futex_prep: len, futex_flags, buf_index and file_index must be 0; the flags this kernel knows
    /// (<see cref="KernelProfile.Futex2Flags"/>), for a 32-bit word; the value (addr2) and mask (addr3)
    /// within 32 bits. Neither the mask nor the address is looked at yet.
    /// </summary>
    private int PrepareFutex(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->len != 0 || sqe->futex_flags != 0 || sqe->buf_index != 0 || sqe->file_index != 0)
        {
            return -Errno.EINVAL;
        }

        r.OpFlags = (uint)sqe->fd;
        r.Addr3 = sqe->addr3;
        return FutexFlagsValid(r.OpFlags) && r.Off >> 32 == 0 && r.Addr3 >> 32 == 0 ? 0 : -Errno.EINVAL;
    }

    private bool FutexFlagsValid(uint flags) => (flags & ~profile.Futex2Flags) == 0 && (flags & Futex2SizeMask) == Futex2SizeU32;

    /// <summary>
    /// io_futexv_prep: fd, buf_index, file_index, addr2, futex_flags and addr3 must be 0, 1 to 128 words;
    /// the array is copied now, element by element (-EFAULT), each checked as it comes (flags, reserved
    /// word, value: -EINVAL).
    /// </summary>
    private int PrepareFutexWaitv(ref Request r, io_uring_sqe* sqe)
    {
        if (sqe->fd != 0 || sqe->buf_index != 0 || sqe->file_index != 0 || sqe->off != 0 || sqe->futex_flags != 0 || sqe->addr3 != 0)
        {
            return -Errno.EINVAL;
        }

        if (r.Len is 0 or > FutexWaitvMax)
        {
            return -Errno.EINVAL;
        }

        r.Value = new byte[r.Len * FutexWaitvBytes];
        fixed (byte* words = r.Value)
        {
            for (var k = 0; k < r.Len; k++)
            {
                var w = words + (k * FutexWaitvBytes);
                if (Posix.CopyFromUser(w, r.Addr + (ulong)(k * FutexWaitvBytes), FutexWaitvBytes) != 0)
                {
                    return -Errno.EFAULT;
                }

                if (*(uint*)(w + 20) != 0 || !FutexFlagsValid(*(uint*)(w + 16)) || *(ulong*)w >> 32 != 0)
                {
                    return -Errno.EINVAL;
                }
            }
        }

        return 0;
    }

    /// <summary>
    /// io_futex_wait: a mask of 0 is -EINVAL; the word's key (aligned: -EINVAL; in user space, and for a
    /// shared futex mapped: -EFAULT), then its value: another value is -EAGAIN, the same arms the wait.
    /// True when armed.
    /// </summary>
    private bool ExecuteFutexWait(int i)
    {
        ref var r = ref requests[i];
        r.Executed = true;
        if (r.Kind == OpKind.FutexWaitv)
        {
            return ExecuteFutexWaitv(i);
        }

        var error = r.Addr3 == 0 ? -Errno.EINVAL : FutexUnmodelled(r.OpFlags) ?? FutexKey(r.Addr, r.OpFlags) ?? FutexValueDiffers(r.Addr, r.Off);
        if (error != 0)
        {
            r.Fail(error);
            return false;
        }

        futexWaits.Add(i);
        return true;
    }

    /// <summary>
    /// io_futexv_wait: every word's key first, in order; then every value, in order, the first that
    /// differs -EAGAIN (a fault reading it -EFAULT). All the same: armed, on every word.
    /// </summary>
    private bool ExecuteFutexWaitv(int i)
    {
        ref var r = ref requests[i];
        fixed (byte* words = r.Value)
        {
            var error = 0;
            for (var k = 0; k < r.Len && error == 0; k++)
            {
                var w = words + (k * FutexWaitvBytes);
                error = FutexUnmodelled(*(uint*)(w + 16)) ?? FutexKey(*(ulong*)(w + 8), *(uint*)(w + 16)) ?? 0;
            }

            for (var k = 0; k < r.Len && error == 0; k++)
            {
                var w = words + (k * FutexWaitvBytes);
                error = FutexValueDiffers(*(ulong*)(w + 8), *(ulong*)w);
            }

            if (error != 0)
            {
                r.Fail(error);
                return false;
            }
        }

        futexWaits.Add(i);
        return true;
    }

    /// <summary>
    /// io_futex_wake: a mask of 0 is -EINVAL, then the key (a private word is never read, so an address
    /// nothing maps is no fault); a count of 0 wakes none. Otherwise the armed waits on the word whose mask
    /// meets this one are woken in order until the count (an int: one above INT_MAX wakes one) is reached.
    /// The result is how many.
    /// </summary>
    private void ExecuteFutexWake(ref Request r)
    {
        var error = r.Addr3 == 0 ? -Errno.EINVAL : FutexUnmodelled(r.OpFlags) ?? FutexKey(r.Addr, r.OpFlags) ?? 0;
        if (error != 0)
        {
            r.Fail(error);
            return;
        }

        var count = (int)(uint)r.Off;
        var woken = 0;
        var shared = (r.OpFlags & Futex2Private) == 0;
        for (var k = 0; k < futexWaits.Count && count != 0;)
        {
            if (WakeFutex(futexWaits[k], r.Addr, shared, (uint)r.Addr3, count, ref woken))
            {
                futexWaits.RemoveAt(k);
            }
            else
            {
                k++;
            }

            // futex_wake stops once ++ret >= nr_wake: after the first wake when the count is negative.
            if (woken > 0 && woken >= count)
            {
                break;
            }
        }

        r.Res = woken;
    }

    /// <summary>
    /// Wakes request <paramref name="i"/>'s waits on the word while the count allows. A FUTEX_WAIT (whose
    /// mask must meet the wake's) leaves the queue and completes from task work with 0. A FUTEX_WAITV's
    /// words each count: the first claims it and queues its completion, and every word woken leaves its
    /// queue, while its other words stay queued (and counted by later wakes) until that completion runs.
    /// True when the request leaves the list now (a FUTEX_WAIT).
    /// </summary>
    private bool WakeFutex(int i, ulong address, bool shared, uint mask, int count, ref int woken)
    {
        ref var w = ref requests[i];
        if (w.Kind == OpKind.FutexWait)
        {
            if (w.Addr != address || ((w.OpFlags & Futex2Private) == 0) != shared || ((uint)w.Addr3 & mask) == 0)
            {
                return false;
            }

            woken++;
            w.Res = 0;
            work.Enqueue(new Work(WorkKind.Complete, i, false));
            return true;
        }

        fixed (byte* words = w.Value)
        {
            for (var k = 0; k < w.Len; k++)
            {
                var word = words + (k * FutexWaitvBytes);
                if ((w.FutexWoken & (UInt128.One << k)) != 0 || *(ulong*)(word + 8) != address || ((*(uint*)(word + 16) & Futex2Private) == 0) != shared)
                {
                    continue;
                }

                woken++;
                w.FutexWoken |= UInt128.One << k;
                if (!w.FutexClaimed)
                {
                    w.FutexClaimed = true;
                    work.Enqueue(new Work(WorkKind.FutexWoken, i, false));
                }

                if (woken >= count)
                {
                    break;
                }
            }
        }

        return false;
    }

    /// <summary>io_futexv_complete: the FUTEX_WAITV's words leave their queues; its result is the highest index a wake took.</summary>
    private void FutexWaitvWoken(int i)
    {
        futexWaits.Remove(i);
        ref var w = ref requests[i];
        w.Res = 127 - (int)UInt128.LeadingZeroCount(w.FutexWoken);
        Complete(i);
    }

    /// <summary>get_futex_key: aligned to its 4 bytes (-EINVAL), in user space (-EFAULT), and for a shared word mapped (-EFAULT).</summary>
    private static int? FutexKey(ulong address, uint flags)
    {
        if (address % 4 != 0)
        {
            return -Errno.EINVAL;
        }

        uint word;
        return address > UserSpaceEnd - 4 || ((flags & Futex2Private) == 0 && Posix.CopyFromUser(&word, address, 4) != 0) ? -Errno.EFAULT : null;
    }

    /// <summary>futex_wait_setup's read of the word: -EFAULT, -EAGAIN when it holds another value, else 0.</summary>
    private static int FutexValueDiffers(ulong address, ulong value)
    {
        uint word;
        return Posix.CopyFromUser(&word, address, 4) != 0 ? -Errno.EFAULT : word != (uint)value ? -Errno.EAGAIN : 0;
    }

    /// <summary>A NUMA futex (its node in the word after it, written back by the kernel) is not modelled.</summary>
    private int? FutexUnmodelled(uint flags)
    {
        if ((flags & Futex2NumaOrMpol) == 0)
        {
            return null;
        }

        engine.ReportUnmodelled("a FUTEX2_NUMA or FUTEX2_MPOL futex");
        return -Errno.EOPNOTSUPP;
    }

    /// <summary>
    /// io_futex_cancel: the armed waits the key matches (never by file: a futex has none), the first or
    /// with ALL every one, each completing with -ECANCELED from task work; how many. Before the generic
    /// matcher (<see cref="KernelProfile.FutexCancelByUserDataOnly"/>) the key is the user_data or ANY.
    /// </summary>
    private int CancelFutexes(ref Request cancel, uint seq)
    {
        var flags = cancel.OpFlags;
        if ((flags & (CancelFd | CancelFdFixed)) != 0)
        {
            return 0;
        }

        // The ring's futex list takes each new wait at its head: the newest is looked at first.
        var cancelled = 0;
        for (var k = futexWaits.Count - 1; k >= 0; k--)
        {
            var i = futexWaits[k];

            // A claimed FUTEX_WAITV completes as woken: the cancellation cannot claim it.
            if (requests[i].FutexClaimed)
            {
                continue;
            }

            var matches = profile.FutexCancelByUserDataOnly
                ? (flags & CancelAny) != 0 || requests[i].UserData == cancel.Addr
                : CancelMatches(ref cancel, ref requests[i], seq, fileMatches: false);
            if (!matches)
            {
                continue;
            }

            futexWaits.RemoveAt(k);
            requests[i].Res = -Errno.ECANCELED;
            work.Enqueue(new Work(WorkKind.Complete, i, false));
            cancelled++;
            if ((flags & CancelAll) == 0)
            {
                break;
            }
        }

        return cancelled;
    }
}
