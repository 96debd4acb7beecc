using System.Runtime.InteropServices;
using FsCheck;
using FsCheck.Fluent;
using IoUring.Abi.Model;
using IoUring.Bindings;
using IoUring.Engine;
using IoUring.Ring;
using Xunit;
using Xunit.Abstractions;

namespace IoUring.Engine.Tests;

/// <summary>Which file an IORING_OP_MMAP names.</summary>
public enum MmapFile
{
    /// <summary>fd -1: anonymous memory.</summary>
    None,

    /// <summary>A 16 KiB memfd of known bytes.</summary>
    Memfd,

    /// <summary>The memfd through the fixed-file table (IOSQE_FIXED_FILE, index 0).</summary>
    FixedMemfd,

    /// <summary>A descriptor that is not open.</summary>
    Closed,
}

/// <summary>One descriptor: MAP_FIXED descriptors map into slot FixedSlot of a reserved area.</summary>
public sealed record MmapDesc(uint Len, int Prot, int Flags, uint Pgoff, int FixedSlot, bool ReservedSet)
{
    public override string ToString() => $"{{len {Len} prot {Prot} flags 0x{Flags:x} pgoff {Pgoff}{(FixedSlot >= 0 ? $" fixed@{FixedSlot}" : string.Empty)}{(ReservedSet ? " resv" : string.Empty)}}}";
}

/// <summary>One IORING_OP_MMAP request: SQE mmap_flags, its file, descriptors, and how the array is passed.</summary>
public sealed record MmapCase(int MmapFlags, MmapFile File, MmapDesc[] Descs, bool Unreadable, uint? CountOverride)
{
    public uint Count => CountOverride ?? (uint)Descs.Length;

    public override string ToString() => $"mmap_flags 0x{MmapFlags:x} file {File} count {Count}{(Unreadable ? " unreadable-array" : string.Empty)} [{string.Join(" ", Descs.Select(d => d.ToString()))}]";
}

/// <summary>
/// The mmap(2) oracle for the proposed IORING_OP_MMAP: the engine's result for a random descriptor
/// batch must equal doing the same mappings one by one with mmap(2) - the count, the first errno,
/// each mapping's size and protection (from /proc/self/maps) and its contents. Every mapping is
/// unmapped afterwards. Runs for both proposal profiles ("v1 as posted", "v2 as reviewed"), whose
/// opcode and layouts come from their snapshots. IOURING_MMAP_CASES sets the case count.
/// </summary>
[Collection("serial")]
public sealed unsafe partial class OpMmapTests
{
    private const int ProtRead = 1;
    private const int MapPrivate = 0x02;
    private const int MapPopulate = 0x8000;
    private const int ReserveBytes = 64 * 1024;
    private const int FileBytes = 16 * 1024;

    private readonly ITestOutputHelper output;

    public OpMmapTests(ITestOutputHelper output) => this.output = output;

    private static int Cases => int.TryParse(Environment.GetEnvironmentVariable("IOURING_MMAP_CASES"), out var n) ? n : 600;

    public static Gen<MmapCase> Case()
    {
        var desc = from len in Gen.Elements(1024u, 4096u, 4096u, 8192u, 0u)
                   from prot in Gen.Elements(0, 1, 2, 3, 3, 3, 4, 5, 7)
                   from flags in Gen.Frequency((8, Gen.Constant(0)), (3, Gen.Constant(MapFlags.Fixed)), (2, Gen.Constant(MapPopulate)), (1, Gen.Constant(MapFlags.Anonymous)), (1, Gen.Constant(MapFlags.Hugetlb)))
                   from pgoff in Gen.Elements(0u, 0u, 1u, 2u)
                   from slot in Gen.Choose(0, 3)
                   from resv in Gen.Frequency((15, Gen.Constant(false)), (1, Gen.Constant(true)))
                   select new MmapDesc(len, prot, flags, pgoff, flags == MapFlags.Fixed ? slot : -1, resv);
        return from sqeFlags in Gen.Elements(MapPrivate, MapPrivate, MapFlags.Shared, MapPrivate | MapFlags.Anonymous, MapPrivate | MapFlags.Anonymous, MapFlags.Shared | MapFlags.Anonymous, MapPrivate | MapFlags.Hugetlb, 0)
               from file in Gen.Frequency((4, Gen.Constant(MmapFile.None)), (4, Gen.Constant(MmapFile.Memfd)), (2, Gen.Constant(MmapFile.FixedMemfd)), (1, Gen.Constant(MmapFile.Closed)))
               from descs in desc.ArrayOf().Select(a => a.Take(6).ToArray())
               from unreadable in Gen.Frequency((20, Gen.Constant(false)), (1, Gen.Constant(true)))
               from count in Gen.Frequency((20, Gen.Constant<uint?>(null)), (1, Gen.Constant<uint?>(1025)))
               select new MmapCase(sqeFlags, file, descs, unreadable, count);
    }

    private static IEnumerable<MmapCase> Shrink(MmapCase c)
    {
        for (var i = 0; i < c.Descs.Length; i++)
        {
            yield return c with { Descs = c.Descs.Where((_, k) => k != i).ToArray() };
        }

        if (c.Unreadable || c.CountOverride is not null)
        {
            yield return c with { Unreadable = false, CountOverride = null };
        }
    }

    [Theory]
    [InlineData("proposals/op-mmap-v1")]
    [InlineData("proposals/op-mmap-v2")]
    public void EngineMapsLikeMmapOneByOne(string proposal)
    {
        var profile = Snapshots.Profile(proposal);
        var layout = profile.Mmap ?? throw new InvalidOperationException($"{proposal}: the snapshot has no IORING_OP_MMAP");
        var cases = Cases;
        var run = 0;
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(cases), Prop.ForAll(Arb.From(Case(), Shrink), c =>
        {
            run++;
            var engine = Observe(c, layout, (scratch, descs, count) => ViaEngine(profile, c, scratch, descs, count));
            var oracle = Observe(c, layout, (scratch, descs, count) => ViaMmap(c, layout, scratch, descs, count));
            return (engine == oracle).Label($"case: {c}\nengine: {engine}\nmmap(2): {oracle}");
        }));
        var line = $"IORING_OP_MMAP {proposal} (opcode {layout.Opcode}, descriptor {layout.DescriptorSize} bytes): {run} cases equal to mmap(2) one by one";
        output.WriteLine(line);
        Checkout.AppendToTestReport(Snapshots.Root, "engine: " + line);
    }

    /// <summary>What a run produced: the result, each processed descriptor's outcome and mapping. Unmaps everything.</summary>
    private static string Observe(MmapCase c, MmapLayout layout, Func<Scratch, nint, uint, int> run)
    {
        using var scratch = new Scratch();
        var size = (int)layout.DescriptorSize;
        var descs = (byte*)NativeMemory.AllocZeroed((nuint)Math.Max(1, c.Descs.Length * size));
        try
        {
            for (var i = 0; i < c.Descs.Length; i++)
            {
                var d = descs + (i * size);
                var spec = c.Descs[i];
                layout.Addr.Write(d, spec.FixedSlot >= 0 ? (ulong)(scratch.Reserve + (spec.FixedSlot * 16384)) : 0);
                layout.Len.Write(d, spec.Len);
                layout.Pgoff.Write(d, spec.Pgoff);
                layout.Prot.Write(d, (ulong)spec.Prot);
                layout.Flags.Write(d, (ulong)spec.Flags);
                if (spec.ReservedSet && layout.Reserved is { } resv)
                {
                    d[resv.Offset] = 1;
                }
            }

            var result = run(scratch, (nint)descs, c.Count);
            var parts = new List<string> { $"result {result}" };
            for (var i = 0; i < Math.Min(result, c.Descs.Length); i++)
            {
                var address = (long)layout.Addr.Read(descs + (i * size));
                if (address < 0 && address > -4096)
                {
                    parts.Add($"#{i} errno {-address}");
                    continue;
                }

                var spec = c.Descs[i];
                var where = spec.FixedSlot >= 0 ? $"reserve+{address - scratch.Reserve}" : "somewhere";
                parts.Add($"#{i} {where} {Maps.Describe((nint)address, spec.Len, spec.Prot)}");
                scratch.Mapped.Add(((nint)address, spec.Len));
            }

            return string.Join("; ", parts);
        }
        finally
        {
            NativeMemory.Free(descs);
        }
    }

    private static int ViaEngine(KernelProfile profile, MmapCase c, Scratch scratch, nint descs, uint count)
    {
        var engine = new ReferenceEngine(profile);
        Assert.Equal(0, IoUring.Ring.Ring.Create(engine, 4, default, out var ring));
        using (ring)
        {
            if (c.File == MmapFile.FixedMemfd)
            {
                var fd = scratch.Memfd;
                Assert.Equal(0, engine.Register(ring!.Fd, (uint)io_uring_register_op.IORING_REGISTER_FILES, &fd, 1));
            }

            var sqe = ring!.GetSqe();
            sqe->opcode = profile.Mmap!.Opcode;
            sqe->fd = c.File switch
            {
                MmapFile.None => -1,
                MmapFile.Memfd => scratch.Memfd,
                MmapFile.FixedMemfd => 0,
                _ => 0x3fff_fff0,
            };
            sqe->flags = c.File == MmapFile.FixedMemfd ? (byte)IoUringSqeFlags.IOSQE_FIXED_FILE : (byte)0;
            sqe->addr = c.Unreadable ? 0x1000 : (ulong)descs;
            sqe->len = count;
            *(uint*)((byte*)sqe + profile.Mmap.SqeFlagsOffset) = (uint)c.MmapFlags;
            sqe->user_data = 42;
            Assert.Equal(1, ring.Submit(1));
            Assert.True(ring.TryNextCqe(out var cqe, out _));
            Assert.Equal(42ul, cqe->user_data);
            return cqe->res;
        }
    }

    /// <summary>The oracle: the proposal's rules for what is refused, mmap(2) for every mapping.</summary>
    private static int ViaMmap(MmapCase c, MmapLayout layout, Scratch scratch, nint descs, uint count)
    {
        var fd = c.File switch
        {
            MmapFile.None => -1,
            MmapFile.Closed => 0x3fff_fff0,
            _ => scratch.Memfd,
        };
        if ((c.MmapFlags & MapFlags.Anonymous) != 0 && c.File != MmapFile.None)
        {
            return -Errno.EINVAL;
        }

        if (count > 1024)
        {
            return -Errno.EINVAL;
        }

        if (c.Unreadable && count > 0)
        {
            return -Errno.EFAULT;
        }

        if (c.File == MmapFile.Closed)
        {
            return -Errno.EBADF;
        }

        if ((c.MmapFlags & MapFlags.Hugetlb) != 0 && fd >= 0)
        {
            return -Errno.EINVAL; // a memfd is not on hugetlbfs
        }

        var processed = 0;
        for (var i = 0; i < count; i++)
        {
            var d = (byte*)descs + (i * layout.DescriptorSize);
            var spec = c.Descs[i];
            processed++;
            if ((spec.Flags & (MapFlags.Anonymous | MapFlags.Hugetlb)) != 0 || (spec.ReservedSet && layout.Reserved is not null))
            {
                layout.Addr.Write(d, unchecked((ulong)(long)-Errno.EINVAL));
                break;
            }

            var address = mmap((nint)layout.Addr.Read(d), spec.Len, spec.Prot, c.MmapFlags | spec.Flags, fd, spec.Pgoff * 4096L);
            var result = address == -1 ? -Marshal.GetLastPInvokeError() : address;
            layout.Addr.Write(d, unchecked((ulong)(long)result));
            if (result < 0)
            {
                break;
            }
        }

        return processed;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint mmap(nint address, nuint length, int prot, int flags, int fd, long offset);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int munmap(nint address, nuint length);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int memfd_create(string name, uint flags);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial nint pwrite(int fd, byte* buffer, nuint count, long offset);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int close(int fd);

    /// <summary>A run's memfd, its reserved area for MAP_FIXED, and every mapping made; all released on dispose.</summary>
    private sealed class Scratch : IDisposable
    {
        public Scratch()
        {
            Memfd = memfd_create("io_uring-conformance-mmap", 0);
            var bytes = new byte[FileBytes];
            for (var i = 0; i < bytes.Length; i++)
            {
                bytes[i] = (byte)((i * 31) + 7);
            }

            fixed (byte* b = bytes)
            {
                Assert.Equal(FileBytes, (int)pwrite(Memfd, b, FileBytes, 0));
            }

            Reserve = mmap(0, ReserveBytes, 0, MapPrivate | MapFlags.Anonymous, -1, 0);
            Assert.True(Reserve > 0, "reserving address space for MAP_FIXED failed");
        }

        public int Memfd { get; }

        public nint Reserve { get; }

        public List<(nint Address, uint Length)> Mapped { get; } = new();

        public void Dispose()
        {
            foreach (var (address, length) in Mapped)
            {
                if (length > 0)
                {
                    munmap(address, length);
                }
            }

            munmap(Reserve, ReserveBytes);
            close(Memfd);
        }
    }
}
