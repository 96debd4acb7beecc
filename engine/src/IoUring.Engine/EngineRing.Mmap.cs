using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// The proposed IORING_OP_MMAP (docs/op-mmap-proposal.md), "as posted": mmap(2) for a batch of
/// descriptors, each mapped with the real system call. The opcode, the SQE's mmap_flags and the
/// descriptor layout come from the proposal's snapshot (<see cref="MmapLayout"/>).
/// </summary>
internal sealed unsafe partial class EngineRing
{
    private const int MapAnonymous = MapFlags.Anonymous;
    private const int MapHugetlb = MapFlags.Hugetlb;
    private const int MaxMmapDescriptors = 1024;

    private int PrepareMmap(ref Request r, io_uring_sqe* sqe)
    {
        var layout = profile.Mmap!;
        r.OpFlags = *(uint*)((byte*)sqe + layout.SqeFlagsOffset);

        // An anonymous mapping takes no file.
        if ((r.OpFlags & MapAnonymous) != 0 && r.Fd != -1)
        {
            return -Errno.EINVAL;
        }

        if (r.Len > MaxMmapDescriptors)
        {
            return -Errno.EINVAL;
        }

        return Posix.Readable(r.Addr, r.Len * (ulong)layout.DescriptorSize) || r.Len == 0 ? 0 : -Errno.EFAULT;
    }

    private void ExecuteMmap(ref Request r)
    {
        var layout = profile.Mmap!;

        // The file is optional: -1 maps anonymous memory; anything else must resolve.
        var file = -1;
        if ((r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_FIXED_FILE) != 0 || r.Fd != -1)
        {
            if (!FileOf(ref r))
            {
                r.Fail(-Errno.EBADF);
                return;
            }

            file = r.File;
        }

        // MAP_HUGETLB on the SQE needs a hugetlbfs file (or none).
        if ((r.OpFlags & MapHugetlb) != 0 && file >= 0 && !Posix.IsHugetlbfs(file))
        {
            r.Fail(-Errno.EINVAL);
            return;
        }

        var size = (int)(r.Len * layout.DescriptorSize);
        var descriptors = new byte[Math.Max(size, 1)];
        fixed (byte* all = descriptors)
        {
            if (Posix.CopyFromUser(all, r.Addr, (nuint)size) != 0)
            {
                r.Fail(-Errno.EFAULT);
                return;
            }

            var processed = 0;
            for (var i = 0; i < r.Len; i++)
            {
                var d = all + (i * layout.DescriptorSize);
                processed++;
                var descFlags = (int)layout.Flags.Read(d);

                // A descriptor may not ask for anonymous or huge pages on its own (nor, in a layout
                // with reserved space, use it): its addr gets -EINVAL and processing stops.
                if ((descFlags & (MapAnonymous | MapHugetlb)) != 0 || (layout.Reserved is { } resv && !ReservedZero(d, resv)))
                {
                    layout.Addr.Write(d, unchecked((ulong)(long)-Errno.EINVAL));
                    break;
                }

                var flags = (int)r.OpFlags | descFlags;
                var address = Posix.Mmap((nint)layout.Addr.Read(d), (nuint)layout.Len.Read(d), (int)layout.Prot.Read(d), flags, file, (long)(layout.Pgoff.Read(d) << 12));
                layout.Addr.Write(d, unchecked((ulong)(long)address));
                if (address < 0)
                {
                    break;
                }
            }

            // The posted code writes the processed descriptors back and then reports the count even
            // if that copy faulted (a v1 behaviour the review notes flag); a failed descriptor does
            // not fail the request, so links go on.
            _ = Posix.CopyToUser(r.Addr, all, (nuint)(processed * layout.DescriptorSize));
            r.Res = processed;
        }
    }

    private static bool ReservedZero(byte* descriptor, FieldSlot reserved) =>
        new ReadOnlySpan<byte>(descriptor + reserved.Offset, (int)reserved.Size).IndexOfAnyExcept((byte)0) < 0;
}
