using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>
/// IOSQE_CQE_SKIP_SUCCESS: a request that succeeds posts no CQE; one that fails, or is cancelled as part
/// of a failed chain, posts its CQE as usual. When the request that fails is itself one that skips
/// success, its own CQE is posted and the CQEs of the chain it cancels are not.
/// </summary>
public sealed class CqeSkipSuccessTests
{
    [Fact]
    public void ASuccessPostsNothing()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Nop(1, IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS);
        r.Nop(2);
        Assert.Equal(2, r.Submit(1));
        Assert.Equal([(2ul, 0)], r.Results());
    }

    [Fact]
    public void AFailurePostsItsCqe()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Nop(1, IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS, inject: -Errno.EOVERFLOW);
        Assert.Equal(1, r.Submit(1));
        Assert.Equal([(1ul, -Errno.EOVERFLOW)], r.Results());
    }

    [Fact]
    public void ACancelledLinkPostsEvenWhenItSkipsSuccess()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        r.Nop(1, IoUringSqeFlags.IOSQE_IO_LINK, inject: -Errno.EOVERFLOW);
        r.Nop(2, IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS);
        Assert.Equal(2, r.Submit(2));
        Assert.Equal([(1ul, -Errno.EOVERFLOW), (2ul, -Errno.ECANCELED)], r.Results());
    }

    [Fact]
    public void AFailedHeadThatSkipsSuccessSilencesTheChainItCancels()
    {
        Assert.Equal([(1ul, -Errno.EOVERFLOW)], Run(EngineFaults.None));

        // The same program on an engine with that rule broken on purpose: the test tells them apart.
        Assert.Equal([(1ul, -Errno.EOVERFLOW), (2ul, -Errno.ECANCELED), (3ul, -Errno.ECANCELED)], Run(EngineFaults.NoLinkCqeSuppression));

        static List<(ulong, int)> Run(EngineFaults faults)
        {
            using var r = TestRing.Create(Snapshots.Newest, 8, faults: faults);
            r.Nop(1, IoUringSqeFlags.IOSQE_IO_LINK | IoUringSqeFlags.IOSQE_CQE_SKIP_SUCCESS, inject: -Errno.EOVERFLOW);
            r.Nop(2, IoUringSqeFlags.IOSQE_IO_LINK);
            r.Nop(3);
            Assert.Equal(3, r.Submit(1));
            return r.Results().Select(x => ((ulong, int))x).ToList();
        }
    }
}
