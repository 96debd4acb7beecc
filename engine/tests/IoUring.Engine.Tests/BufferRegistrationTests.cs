using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using IoUring.Abi.Model;
using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>
/// IORING_REGISTER_BUFFERS and the length of a buffer's iovec, per kernel and per process. Kernels before
/// 6.11 copy the iovecs in io_uring itself: only its 1 GiB limit applies (-EFAULT). From 6.11 the kernel's
/// generic iovec import reads them and first refuses a length whose sign bit is set in the process's
/// ssize_t (-EINVAL): 2 GiB for a 32-bit process (the snapshot's i686 or arm profile), 2^63 for a 64-bit
/// one. The matrix's 32-bit column found it: a 2 GiB iovec is -EINVAL there on 6.12 and later.
/// </summary>
public sealed unsafe class BufferRegistrationTests
{
    private const ulong Area = 4 * 8192;

    public static TheoryData<string, int, int> TwoGiBByKernel => new()
    {
        // kernel, a 64-bit process's errno, a 32-bit process's errno
        { "6.1", -Errno.EFAULT, -Errno.EFAULT },
        { "6.12", -Errno.EFAULT, -Errno.EINVAL },
        { "7.2", -Errno.EFAULT, -Errno.EINVAL },
        { "7.3-rc", -Errno.EFAULT, -Errno.EINVAL },
    };

    public static TheoryData<string, int> SignBitOf64BitSizeByKernel => new()
    {
        { "6.1", -Errno.EFAULT },
        { "6.12", -Errno.EINVAL },
        { "7.2", -Errno.EINVAL },
        { "7.3-rc", -Errno.EINVAL },
    };

    [Theory]
    [MemberData(nameof(TwoGiBByKernel))]
    public void ATwoGiBIovecIsRefusedByTheImportOnlyForA32BitProcessFrom6_11(string kernel, int process64, int process32)
    {
        Assert.Equal(process64, RegisterFirstLength(Profile(kernel, null), 1UL << 31));
        Assert.Equal(process32, RegisterFirstLength(Profile(kernel, "i686-linux-gnu"), 1UL << 31));
        Assert.Equal(process32, RegisterFirstLength(Profile(kernel, "arm-linux-gnueabihf"), 1UL << 31));

        // The import reads the iovec before io_uring looks at its base: a null base with that length is
        // the import's -EINVAL too, where a 64-bit process gets io_uring's -EFAULT for the base.
        Assert.Equal(process32, RegisterFirstLength(Profile(kernel, "i686-linux-gnu"), 1UL << 31, nullBase: true));
        Assert.Equal(-Errno.EFAULT, RegisterFirstLength(Profile(kernel, null), 1UL << 31, nullBase: true));
    }

    [Theory]
    [InlineData("6.1")]
    [InlineData("6.12")]
    [InlineData("7.2")]
    [InlineData("7.3-rc")]
    public void BetweenOneAndTwoGiBEveryProcessMeetsIoUringsOwnLimit(string kernel)
    {
        foreach (var target in new[] { null, "i686-linux-gnu" })
        {
            Assert.Equal(-Errno.EFAULT, RegisterFirstLength(Profile(kernel, target), (1UL << 30) + 1));
            Assert.Equal(-Errno.EFAULT, RegisterFirstLength(Profile(kernel, target), (1UL << 31) - 1));
            Assert.Equal(0, RegisterFirstLength(Profile(kernel, target), 8192));
        }
    }

    [Theory]
    [MemberData(nameof(SignBitOf64BitSizeByKernel))]
    public void A64BitProcessMeetsTheImportAtTheSignBitOfItsOwnSize(string kernel, int expected) =>
        Assert.Equal(expected, RegisterFirstLength(Profile(kernel, null), 1UL << 63));

    [Fact]
    public void OnlyThe32BitTargetsOfASnapshotAreCompatProcesses()
    {
        Assert.False(Profile("7.2", null).CompatProcess);
        Assert.False(Profile("7.2", "aarch64-linux-gnu").CompatProcess);
        Assert.True(Profile("7.2", "i686-linux-gnu").CompatProcess);
        Assert.True(Profile("7.2", "arm-linux-gnueabihf").CompatProcess);
        Assert.True(Profile("6.1", "i686-linux-gnu").BufferIovecsCopiedByIoUring);
        Assert.False(Profile("6.12", "i686-linux-gnu").BufferIovecsCopiedByIoUring);
    }

    private static readonly ConcurrentDictionary<(string, string?), KernelProfile> Profiles = new();

    private static KernelProfile Profile(string kernel, string? target) =>
        Profiles.GetOrAdd((kernel, target), k => KernelBehaviour.FromSnapshot(Checkout.ReadSnapshot(Snapshots.Root, k.Item1), k.Item2));

    /// <summary>
    /// Four 8 KiB buffers over an area, as the conformance runner registers them, the first with
    /// <paramref name="length"/> (and no base when <paramref name="nullBase"/>): what the registration returned.
    /// </summary>
    private static int RegisterFirstLength(KernelProfile profile, ulong length, bool nullBase = false)
    {
        using var r = TestRing.Create(profile, 4);
        var area = (byte*)NativeMemory.AlignedAlloc((nuint)Area, 4096);
        try
        {
            var iovs = stackalloc Posix.IoVec[4];
            for (var i = 0; i < 4; i++)
            {
                iovs[i] = new Posix.IoVec { Base = (nint)(area + (i * 8192)), Length = 8192 };
            }

            iovs[0].Base = nullBase ? 0 : iovs[0].Base;
            iovs[0].Length = (nuint)length;
            return r.Engine.Register(r.Ring.Fd, (uint)io_uring_register_op.IORING_REGISTER_BUFFERS, iovs, 4);
        }
        finally
        {
            NativeMemory.AlignedFree(area);
        }
    }
}
