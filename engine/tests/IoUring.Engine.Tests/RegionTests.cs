using System.Runtime.InteropServices;
using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>
/// IORING_REGISTER_MEM_REGION: one region per ring, kernel memory (zeroed, mapped at
/// IORING_MAP_OFF_PARAM_REGION) or the user's own pages; its descriptor is checked before anything is
/// allocated, and a region of wait arguments (IORING_MEM_REGION_REG_WAIT_ARG) needs a ring that is
/// still disabled, since waiters are not synchronised with a region appearing.
/// </summary>
public sealed unsafe class RegionTests
{
    private const ulong Page = 4096;
    private const ulong ParamRegionOffset = 0x20000000;

    [Fact]
    public void AKernelRegionIsZeroedMappedAtTheParamRegionOffsetAndOnlyOnce()
    {
        using var r = TestRing.Create(Snapshots.Newest, 4);
        var desc = new io_uring_region_desc { size = Page };
        Assert.Equal(0, Register(r, ref desc, 0));
        Assert.Equal(ParamRegionOffset, desc.mmap_offset);

        var mapped = (byte*)r.Engine.Map(r.Ring.Fd, ParamRegionOffset, (nuint)Page);
        Assert.True(mapped != null);
        Assert.True(new ReadOnlySpan<byte>(mapped, (int)Page).IndexOfAnyExcept((byte)0) < 0);

        var again = new io_uring_region_desc { size = Page };
        Assert.Equal(-Errno.EBUSY, Register(r, ref again, 0));
    }

    [Fact]
    public void AUserRegionIsTheUsersOwnPages()
    {
        using var r = TestRing.Create(Snapshots.Newest, 4);
        var memory = NativeMemory.AlignedAlloc((nuint)Page, (nuint)Page);
        try
        {
            var desc = new io_uring_region_desc { user_addr = (ulong)memory, size = Page, flags = Constants.IORING_MEM_REGION_TYPE_USER };
            Assert.Equal(0, Register(r, ref desc, 0));
            Assert.Equal(0ul, desc.mmap_offset);
        }
        finally
        {
            NativeMemory.AlignedFree(memory);
        }
    }

    [Fact]
    public void ADescriptorIsCheckedBeforeAnythingIsAllocated()
    {
        using var r = TestRing.Create(Snapshots.Newest, 4);
        var cases = new (io_uring_region_desc Desc, int Expected)[]
        {
            (new io_uring_region_desc { size = 0 }, -Errno.EINVAL),
            (new io_uring_region_desc { size = Page + 1 }, -Errno.EINVAL),
            (new io_uring_region_desc { size = Page, mmap_offset = ParamRegionOffset }, -Errno.EINVAL),
            (new io_uring_region_desc { size = Page, flags = Constants.IORING_MEM_REGION_TYPE_USER }, -Errno.EFAULT),
            (new io_uring_region_desc { size = Page, user_addr = Page }, -Errno.EFAULT),
            (new io_uring_region_desc { size = Page, flags = 0x100 }, -Errno.EINVAL),
        };
        foreach (var (desc, expected) in cases)
        {
            var d = desc;
            Assert.Equal(expected, Register(r, ref d, 0));
        }

        // None of them took the ring's one region.
        var good = new io_uring_region_desc { size = Page };
        Assert.Equal(0, Register(r, ref good, 0));
    }

    [Fact]
    public void AWaitArgumentRegionNeedsADisabledRing()
    {
        using (var enabled = TestRing.Create(Snapshots.Newest, 4))
        {
            var desc = new io_uring_region_desc { size = Page };
            Assert.Equal(-Errno.EINVAL, Register(enabled, ref desc, Constants.IORING_MEM_REGION_REG_WAIT_ARG));
        }

        using var disabled = TestRing.Create(Snapshots.Newest, 4, IoUringSetupFlags.IORING_SETUP_R_DISABLED);
        var wait = new io_uring_region_desc { size = Page };
        Assert.Equal(0, Register(disabled, ref wait, Constants.IORING_MEM_REGION_REG_WAIT_ARG));
    }

    private static int Register(TestRing r, ref io_uring_region_desc desc, ulong flags)
    {
        fixed (io_uring_region_desc* d = &desc)
        {
            var reg = new io_uring_mem_region_reg { region_uptr = (ulong)d, flags = flags };
            return r.Engine.Register(r.Ring.Fd, (uint)io_uring_register_op.IORING_REGISTER_MEM_REGION, &reg, 1);
        }
    }
}
