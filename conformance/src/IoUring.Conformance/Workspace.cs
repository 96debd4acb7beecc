using System.Runtime.InteropServices;

namespace IoUring.Conformance;

/// <summary>
/// The memory and the file a program's SQEs point at: a memfd holding 8 KiB of known bytes, a
/// buffer area, and iovec arrays into it. Each run of a program gets a fresh one with the same
/// contents, so the engine and the kernel start from equal states; the trace records digests of both
/// after every step. Disposal closes the memfd and frees the memory.
/// </summary>
public sealed unsafe partial class Workspace : IDisposable
{
    public const int FileBytes = 8192;
    public const int AreaBytes = 48 * 1024;
    public const int IovecLength = 700;
    public const int IovecSlots = 1100;

    // Below mmap_min_addr: never mapped, so a copy to or from it faults (-EFAULT at issue).
    public const ulong UnmappedAddress = 0x1000;

    // Above TASK_SIZE: access_ok refuses it (-EFAULT at preparation).
    public const ulong KernelAddress = 0xffff_8000_0000_0000;

    public const int ClosedFd = 0x3fff_fff0;

    // Every workspace starts from the same bytes: computed once, copied per program.
    private static readonly byte[] FilePattern = Enumerable.Range(0, FileBytes).Select(i => (byte)((i * 7) + 3)).ToArray();
    private static readonly byte[] AreaPattern = Enumerable.Range(0, AreaBytes).Select(i => (byte)(i * 13)).ToArray();

    private bool disposed;

    public Workspace()
    {
        Fd = memfd_create("io_uring-conformance", 0);
        if (Fd < 0)
        {
            throw new InvalidOperationException($"memfd_create failed (errno {Marshal.GetLastPInvokeError()})");
        }

        fixed (byte* p = FilePattern)
        {
            if (pwrite(Fd, p, (nuint)FilePattern.Length, 0) != FilePattern.Length)
            {
                throw new InvalidOperationException("writing the workspace file failed");
            }
        }

        Area = (byte*)NativeMemory.AlignedAlloc(AreaBytes, 4096);
        AreaPattern.CopyTo(new Span<byte>(Area, AreaBytes));
        Iovecs = (nint*)NativeMemory.AlignedAlloc((nuint)(IovecSlots * 2 * sizeof(nint)), 64);

        // The timeouts' timespecs live apart from the area, which reads may overwrite while a TIMEOUT is prepared.
        Times = (long*)NativeMemory.AlignedAlloc((nuint)(TimeoutChoices.Times.Length * 2 * sizeof(long)), 64);
        for (var i = 0; i < TimeoutChoices.Times.Length; i++)
        {
            Times[2 * i] = TimeoutChoices.Times[i].Sec;
            Times[(2 * i) + 1] = TimeoutChoices.Times[i].Nsec;
        }
    }

    public int Fd { get; }

    public byte* Area { get; }

    /// <summary>struct iovec pairs (base, length), filled per SQE by <see cref="IovecArray"/>.</summary>
    public nint* Iovecs { get; }

    /// <summary>__kernel_timespec values, <see cref="TimeoutChoices.Times"/> in order.</summary>
    public long* Times { get; }

    public ulong TimeAddress(int choice) => (ulong)(Times + (2 * choice));

    /// <summary>An iovec array of <paramref name="count"/> vectors of 700 bytes from <paramref name="areaOffset"/>.</summary>
    public ulong IovecArray(int slot, int areaOffset, int count)
    {
        // Each SQE gets its own slice of iovec memory: a READV keeps pointing at it until it completes.
        var start = (slot * 8) % (IovecSlots - 1030);
        for (var i = 0; i < Math.Min(count, IovecSlots - start); i++)
        {
            var offset = (areaOffset + (i * 1024)) % (AreaBytes - IovecLength);
            Iovecs[(start + i) * 2] = (nint)(Area + offset);
            Iovecs[((start + i) * 2) + 1] = IovecLength;
        }

        return (ulong)(Iovecs + (start * 2));
    }

    /// <summary>Digests of the file's contents, its position, and the buffer area.</summary>
    public string Digest()
    {
        var position = lseek(Fd, 0, 1);
        var size = lseek(Fd, 0, 2);
        var content = new byte[Math.Max(0, size)];
        fixed (byte* p = content)
        {
            pread(Fd, p, (nuint)content.Length, 0);
        }

        // lseek(SEEK_END) moved the position; put it back where the program left it.
        lseek(Fd, position, 0);
        return $"file {size}:{Hash(content):x16} pos {position} area {Hash(new ReadOnlySpan<byte>(Area, AreaBytes)):x16}";
    }

    private static ulong Hash(ReadOnlySpan<byte> bytes)
    {
        // FNV-1a over 64-bit words: only equality matters, and it must be cheap for 48 KiB per step.
        var h = 14695981039346656037UL;
        var words = MemoryMarshal.Cast<byte, ulong>(bytes);
        foreach (var w in words)
        {
            h = (h ^ w) * 1099511628211UL;
        }

        for (var i = words.Length * 8; i < bytes.Length; i++)
        {
            h = (h ^ bytes[i]) * 1099511628211UL;
        }

        return h;
    }

    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        close(Fd);
        NativeMemory.AlignedFree(Area);
        NativeMemory.AlignedFree(Iovecs);
        NativeMemory.AlignedFree(Times);
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int memfd_create(string name, uint flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint pwrite(int fd, byte* buffer, nuint count, long offset);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint pread(int fd, byte* buffer, nuint count, long offset);

    [LibraryImport("libc", SetLastError = true)]
    private static partial long lseek(int fd, long offset, int whence);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);
}
