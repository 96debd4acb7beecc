using FsCheck;
using FsCheck.Fluent;
using IoUring.Bindings;
using IoUring.Engine;
using IoUring.Ring;
using Xunit;
using Xunit.Abstractions;

namespace IoUring.Conformance.Tests;

/// <summary>
/// Features the host kernel lacks (found by probing it, never by its version) are checked on the
/// engine against their specification, with the profile of the newest corpus kernel that has them
/// (from its ABI snapshot). The output names each missing feature, so nothing passes silently.
/// </summary>
[Collection("serial")]
public sealed unsafe class EngineSpecTests
{
    /// <summary>The host kernel's probed profile, or null where io_uring is unavailable (these tests need only the engine).</summary>
    private static KernelProfile? Host => HostKernel.Unavailable is null ? HostKernel.Profile : null;
    private readonly ITestOutputHelper output;

    public EngineSpecTests(ITestOutputHelper output) => this.output = output;

    private static KernelProfile Snapshot(string kernel) => KernelBehaviour.FromCorpus(Repository.Root, kernel);

    private static int Cases => int.TryParse(Environment.GetEnvironmentVariable("IOURING_CONFORMANCE_CASES"), out var n) ? Math.Max(100, n / 10) : 200;

    private void Announce(IoUringSetupFlags feature, string profile, int cases)
    {
        var lacks = Host is null || (Host.SetupFlags & (uint)feature) == 0;
        var line = Host is null ? $"host kernel unavailable ({HostKernel.Unavailable}): engine ({profile} profile) checked against the spec for {feature} over {cases} generated programs"
            : lacks
            ? $"host kernel lacks {feature}: engine ({profile} profile) checked against the spec over {cases} generated programs instead of the live kernel"
            : $"host kernel has {feature}: the differential compares it live; engine ({profile} profile) also checked against the spec over {cases} programs";
        output.WriteLine(line);
        Repository.Report("conformance: " + line);
    }

    [Fact]
    public void SqRewindReadsEverySubmissionFromSlotZeroAndNeverWritesTheHead()
    {
        var profile = Snapshot("7.2");
        var cases = Cases;
        var batches = Gen.Choose(1, 8).SelectMany(n => Gen.Choose(-3, 9).ArrayOf(n)).ArrayOf().Select(a => a.Take(6).ToArray());
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(cases), Prop.ForAll(batches.ToArbitrary(), Gen.Choose(0, int.MaxValue).ToArbitrary(), (steps, garbageTail) =>
        {
            var engine = new ReferenceEngine(profile);
            var flags = (uint)(IoUringSetupFlags.IORING_SETUP_SQ_REWIND | IoUringSetupFlags.IORING_SETUP_NO_SQARRAY);
            Assert.Equal(0, IoUring.Ring.Ring.Create(engine, 8, new io_uring_params { flags = flags, cq_entries = 0 }, out var ring));
            using (ring)
            {
                var p = ring!.Params;
                var sqTail = (uint*)((byte*)Map(engine, ring) + p.sq_off.tail);
                var userData = 1ul;
                foreach (var injects in steps)
                {
                    var expected = new List<(ulong, int)>();
                    foreach (var inject in injects)
                    {
                        var sqe = ring.GetSqe();
                        Prep.Nop(sqe, userData, (uint)IoUringNopFlags.IORING_NOP_INJECT_RESULT, inject);
                        expected.Add((userData++, inject));
                    }

                    // The tail is not read on a rewind ring: garbage there changes nothing.
                    ring.Flush();
                    *sqTail = (uint)garbageTail;
                    var submitted = engine.Enter(ring.Fd, (uint)injects.Length, 0, (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS, null, 0);
                    ring.Rewind();
                    var got = new List<(ulong, int)>();
                    while (ring.TryNextCqe(out var cqe, out var slots))
                    {
                        got.Add((cqe->user_data, cqe->res));
                        ring.CqAdvance(slots);
                    }

                    if (submitted != injects.Length || !got.SequenceEqual(expected) || ring.SqHead != 0)
                    {
                        return false;
                    }
                }

                return true;
            }
        }));
        Announce(IoUringSetupFlags.IORING_SETUP_SQ_REWIND, profile.Name, cases);
    }

    [Fact]
    public void SqeMixedRingsRunNop128InTwoSlotsAndCountSlots()
    {
        var profile = Snapshot("7.2");
        var cases = Cases;
        var program = Gen.Elements(false, true).ArrayOf().Select(a => a.Take(12).ToArray()).ArrayOf().Select(a => a.Take(6).ToArray());
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(cases), Prop.ForAll(program.ToArbitrary(), Gen.Elements(2u, 4u, 8u).ToArbitrary(), (steps, entries) =>
        {
            var engine = new ReferenceEngine(profile);
            Assert.Equal(0, IoUring.Ring.Ring.Create(engine, entries, new io_uring_params { flags = (uint)IoUringSetupFlags.IORING_SETUP_SQE_MIXED }, out var ring));
            using (ring)
            {
                var userData = 1ul;
                foreach (var bigs in steps)
                {
                    var expected = new List<ulong>();
                    foreach (var big in bigs)
                    {
                        var sqe = big ? ring!.GetSqe128() : ring!.GetSqe();
                        if (sqe == null)
                        {
                            break;
                        }

                        if (big)
                        {
                            Prep.Nop128(sqe, userData);
                        }
                        else
                        {
                            Prep.Nop(sqe, userData);
                        }

                        expected.Add(userData++);
                    }

                    // Spec: a 128-byte SQE takes two slots and never starts in the last one (the client
                    // pads with a NOP that posts nothing); the submit count counts slots.
                    var slots = ring!.Pending;
                    var submitted = ring.Submit(0);
                    var got = new List<ulong>();
                    while (ring.TryNextCqe(out var cqe, out var n))
                    {
                        if (cqe->res != 0)
                        {
                            return false;
                        }

                        got.Add(cqe->user_data);
                        ring.CqAdvance(n);
                    }

                    if (submitted != slots || !got.SequenceEqual(expected))
                    {
                        return false;
                    }
                }

                return true;
            }
        }));
        Announce(IoUringSetupFlags.IORING_SETUP_SQE_MIXED, profile.Name, cases);
    }

    [Fact]
    public void SqeMixedRefusesNop128InTheLastSlotOrWithOneSlotLeft()
    {
        var engine = new ReferenceEngine(Snapshot("7.2"));
        Assert.Equal(0, IoUring.Ring.Ring.Create(engine, 4, new io_uring_params { flags = (uint)IoUringSetupFlags.IORING_SETUP_SQE_MIXED }, out var ring));
        using (ring)
        {
            // Three plain NOPs, then a NOP128 placed by hand in the last physical slot.
            for (var i = 0; i < 3; i++)
            {
                Prep.Nop(ring!.GetSqe(), (ulong)i + 1);
            }

            Prep.Nop128(ring!.GetSqe(), 4);
            Assert.Equal(4, ring.Submit(0));
            var results = new List<(ulong, int)>();
            while (ring.TryNextCqe(out var cqe, out var n))
            {
                results.Add((cqe->user_data, cqe->res));
                ring.CqAdvance(n);
            }

            Assert.Equal(new (ulong, int)[] { (1, 0), (2, 0), (3, 0), (4, -Errno.EINVAL) }, results);

            // A NOP128 at slot 0 with to_submit 1: only one slot left to submit.
            Prep.Nop128(ring.GetSqe(), 5);
            ring.Flush();
            Assert.Equal(1, engine.Enter(ring.Fd, 1, 0, 0, null, 0));
            Assert.True(ring.TryNextCqe(out var last, out _));
            Assert.Equal((5ul, -Errno.EINVAL), (last->user_data, last->res));
        }
    }

    [Fact]
    public void SnapshotProfilesDescribeTheCorpusKernels()
    {
        var p61 = Snapshot("6.1");
        var p72 = Snapshot("7.2");
        Assert.Equal(RingHeaderLayout.CacheLineAligned, p61.RingHeader);
        Assert.Equal(0u, p61.NopFlags);
        Assert.Equal(RingHeaderLayout.Packed, p72.RingHeader);
        Assert.True(p72.Has(IoUringSetupFlags.IORING_SETUP_SQE_MIXED) && p72.Has(IoUringSetupFlags.IORING_SETUP_SQ_REWIND) && p72.Has(IoUringSetupFlags.IORING_SETUP_CQE_MIXED));
        Assert.False(p61.Has(IoUringSetupFlags.IORING_SETUP_NO_SQARRAY));
        Assert.Equal(65u, p72.OpLast);

        // Kernels only ever add: what the host knows (its query answer) a newer header knows too.
        if (Host is { } host)
        {
            Assert.Equal(0u, host.KnownSetupFlags & ~p72.KnownSetupFlags);
            Assert.Equal(0u, host.Features & ~p72.Features);
            Assert.True(host.OpLast <= p72.OpLast);
        }

        // 6.1's ring header, through the client: offsets come from the params, not assumptions.
        var engine = new ReferenceEngine(p61);
        Assert.Equal(0, IoUring.Ring.Ring.Create(engine, 4, default, out var ring));
        using (ring)
        {
            Assert.Equal((64u, 128u, 320u), (ring!.Params.sq_off.tail, ring.Params.cq_off.head, ring.Params.cq_off.cqes));
            Prep.Nop(ring.GetSqe(), 7);
            Assert.Equal(1, ring.Submit(1));
            Assert.True(ring.TryNextCqe(out var cqe, out _));
            Assert.Equal(7ul, cqe->user_data);
        }
    }

    private static nint Map(IRingBackend backend, IoUring.Ring.Ring ring) => backend.Map(ring.Fd, Constants.IORING_OFF_SQ_RING, 64);
}
