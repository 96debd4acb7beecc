using IoUring.Bindings;
using IoUring.Ring;
using Xunit;

namespace IoUring.Engine.Tests;

/// <summary>
/// IORING_OP_POLL_ADD and POLL_REMOVE on a pipe and an eventfd, and reads that wait for readiness. Each
/// expectation is what the host's 6.18 kernel gave for the same submissions (the conformance suite holds
/// the engine to every kernel of the corpus on generated programs of this kind).
/// </summary>
public sealed unsafe class PollTests : IDisposable
{
    private const uint PollIn = 0x001;
    private const uint PollOut = 0x004;
    private const uint PollPri = 0x002;
    private const uint More = Constants.IORING_CQE_F_MORE;

    private readonly int pipeRead;
    private readonly int pipeWrite;
    private readonly int eventFd;
    private readonly byte* buffer;

    public PollTests()
    {
        (pipeRead, pipeWrite) = Posix.Pipe();
        eventFd = Posix.Eventfd();
        buffer = (byte*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(64);
        buffer[0] = 1;
    }

    [Fact]
    public void AOneShotPollCompletesWhenAWriteMakesThePipeReadable()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Prep.PollAdd(r.Ring.GetSqe(), pipeRead, PollIn, 1);
        r.Submit();
        Assert.Empty(r.Reap());
        Prep.Write(r.Ring.GetSqe(), pipeWrite, buffer, 1, 0, 2);
        r.Submit();
        Assert.Equal([new(2, 1, 0), new(1, (int)PollIn, 0)], r.Reap());
    }

    [Fact]
    public void AReadyOneShotPollCompletesAtOnceWithTheEventsItAskedFor()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        WriteByte();
        Prep.PollAdd(r.Ring.GetSqe(), pipeRead, PollIn | PollOut, 1);
        r.Submit();
        Assert.Equal([new(1, (int)PollIn, 0)], r.Reap());
    }

    [Fact]
    public void AMultishotPollPostsOnceForEachWakeUpWithMoreSet()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Prep.PollAdd(r.Ring.GetSqe(), pipeRead, PollIn, 1, multishot: true);
        r.Submit();
        for (var k = 0ul; k < 3; k++)
        {
            Prep.Write(r.Ring.GetSqe(), pipeWrite, buffer, 1, 0, 10 + k);
            r.Submit();
        }

        Assert.Equal([new(10, 1, 0), new(1, 1, More), new(11, 1, 0), new(1, 1, More), new(12, 1, 0), new(1, 1, More)], r.Reap());
    }

    [Fact]
    public void WakeUpsBeforeThePollsTaskWorkRunsAreOne()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Prep.PollAdd(r.Ring.GetSqe(), pipeRead, PollIn, 1, multishot: true);
        r.Submit();
        Prep.Write(r.Ring.GetSqe(), pipeWrite, buffer, 1, 0, 10);
        Prep.Write(r.Ring.GetSqe(), pipeWrite, buffer, 1, 0, 11);
        r.Submit();
        Assert.Equal([new(10, 1, 0), new(11, 1, 0), new(1, 1, More)], r.Reap());
    }

    [Fact]
    public void APollOfARegularFileCompletesAtOnceOrIsRefused()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        var file = Posix.memfd_create("poll", 0);
        Prep.PollAdd(r.Ring.GetSqe(), file, PollIn, 1, multishot: true);
        Prep.PollAdd(r.Ring.GetSqe(), file, PollPri, 2);
        r.Submit();
        Assert.Equal([new(1, (int)PollIn, 0), new(2, -Errno.EINVAL, 0)], r.Reap());
        Posix.Close(file);
    }

    [Fact]
    public void PollRemoveCancelsTheArmedPollAfterItsOwnCqe()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Prep.PollAdd(r.Ring.GetSqe(), pipeRead, PollIn, 1);
        r.Submit();
        Prep.PollRemove(r.Ring.GetSqe(), 1, 2);
        Prep.PollRemove(r.Ring.GetSqe(), 1, 3);
        r.Submit();
        Assert.Equal([(2ul, 0), (3ul, -Errno.ENOENT), (1ul, -Errno.ECANCELED)], r.Results());
    }

    [Fact]
    public void AnUpdateChangesTheEventsAndTheUserData()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Prep.PollAdd(r.Ring.GetSqe(), pipeRead, PollOut, 1, multishot: true);
        r.Submit();
        Prep.PollUpdate(r.Ring.GetSqe(), 1, PollIn, 2, newUserData: 5, multishot: true);
        r.Submit();
        Prep.Write(r.Ring.GetSqe(), pipeWrite, buffer, 1, 0, 10);
        r.Submit();
        Assert.Equal([new(2, 0, 0), new(10, 1, 0), new(5, 1, More)], r.Reap());
    }

    [Fact]
    public void CancellationByAnyTakesThePollsInTheKernelsHashOrder()
    {
        using var r = TestRing.Create(Snapshots.Newest, 16);
        for (ulong k = 1; k < 6; k++)
        {
            Prep.PollAdd(r.Ring.GetSqe(), pipeRead, PollIn, (k * 1000) + k);
        }

        r.Submit();
        r.AsyncCancel(99, 0, IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ANY);
        r.Submit();
        Assert.Equal([(99ul, 5), (4004ul, -Errno.ECANCELED), (3003ul, -Errno.ECANCELED), (1001ul, -Errno.ECANCELED), (5005ul, -Errno.ECANCELED), (2002ul, -Errno.ECANCELED)], r.Results());
    }

    [Fact]
    public void AReadOfAnEmptyPipeWaitsForTheWriteAndCanBeCancelled()
    {
        using var r = TestRing.Create(Snapshots.Newest, 8);
        Prep.Read(r.Ring.GetSqe(), pipeRead, buffer + 8, 64, 0, 1);
        Prep.Read(r.Ring.GetSqe(), eventFd, buffer + 16, 8, 0, 2);
        r.Submit();
        Assert.Empty(r.Reap());
        Prep.Write(r.Ring.GetSqe(), pipeWrite, buffer, 1, 0, 3);
        r.AsyncCancel(4, 2);
        r.Submit();
        Assert.Equal([(3ul, 1), (4ul, 0), (1ul, 1), (2ul, -Errno.ECANCELED)], r.Results());
    }

    [Fact]
    public void AMultishotPollStopsWhenItsCqeMeetsAFullCq()
    {
        using var r = TestRing.Create(Snapshots.Newest, 1);
        Prep.PollAdd(r.Ring.GetSqe(), eventFd, PollIn, 1, multishot: true);
        r.Submit();
        var one = 1ul;
        var iov = new Posix.IoVec { Base = (nint)(&one), Length = 8 };
        for (var k = 0; k < 4; k++)
        {
            Posix.pwritev2(eventFd, &iov, 1, -1, 0);
            r.Ring.Submit(0, (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS);
        }

        var cqes = r.Reap();
        r.Ring.Submit(0, (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS);
        cqes.AddRange(r.Reap());
        Assert.Equal([new(1, 1, More), new(1, 1, More), new(1, 1, 0)], cqes);
    }

    /// <summary>
    /// A one-shot poll's task work runs first and batches its completion; the multishot poll woken by the
    /// same write then posts. 6.1 writes the multishot CQE at once, ahead of the batch; 6.12 flushes the
    /// batch first (each kernel's answer under qemu, as the probe asks it).
    /// </summary>
    [Theory]
    [InlineData("6.1", new ulong[] { 2, 1 })]
    [InlineData("6.12", new ulong[] { 1, 2 })]
    public void AMultishotCqeGoesAheadOfTheBatchOnlyWhereTheKernelWritesItAtOnce(string kernel, ulong[] order)
    {
        var profile = Snapshots.Profile(kernel);
        Assert.Equal(kernel == "6.1", profile.MultishotCqeJumpsBatch);
        using var r = TestRing.Create(profile, 8);

        // The entry armed last is woken first; arm them so the one-shot's task work runs first.
        foreach (var multishot in profile.TaskWorkNewestFirst ? [false, true] : new[] { true, false })
        {
            Prep.PollAdd(r.Ring.GetSqe(), eventFd, PollIn, multishot ? 2ul : 1ul, multishot);
            r.Submit();
        }

        var one = 1ul;
        var iov = new Posix.IoVec { Base = (nint)(&one), Length = 8 };
        Posix.pwritev2(eventFd, &iov, 1, -1, 0);
        r.Ring.Submit(0, (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS);
        Assert.Equal(order, r.Reap().Select(c => c.UserData));
    }

    private void WriteByte()
    {
        var iov = new Posix.IoVec { Base = (nint)buffer, Length = 1 };
        Posix.pwritev2(pipeWrite, &iov, 1, -1, 0);
    }

    public void Dispose()
    {
        Posix.Close(pipeRead);
        Posix.Close(pipeWrite);
        Posix.Close(eventFd);
        System.Runtime.InteropServices.NativeMemory.Free(buffer);
    }
}
