using FsCheck;
using FsCheck.Fluent;
using IoUring.Bindings;
using IoUring.Ring;
using Xunit;
using Xunit.Abstractions;

namespace IoUring.Engine.Tests;

/// <summary>
/// IORING_SETUP_SQE_MIXED: 64- and 128-byte SQEs in one ring. A 128-byte SQE (NOP128) takes two slots,
/// never starts in the last one, and the submit count counts slots.
/// </summary>
public sealed unsafe class SqeMixedTests
{
    private readonly ITestOutputHelper output;

    public SqeMixedTests(ITestOutputHelper output) => this.output = output;

    [Fact]
    public void SqeMixedRingsRunNop128InTwoSlotsAndCountSlots()
    {
        var profile = Snapshots.Newest;
        var cases = Snapshots.Cases;
        var program = Gen.Elements(false, true).ArrayOf().Select(a => a.Take(12).ToArray()).ArrayOf().Select(a => a.Take(6).ToArray());
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(cases), Prop.ForAll(program.ToArbitrary(), Gen.Elements(2u, 4u, 8u).ToArbitrary(), (steps, entries) =>
        {
            var engine = new ReferenceEngine(profile);
            Assert.Equal(0, Ring.Ring.Create(engine, entries, new io_uring_params { flags = (uint)IoUringSetupFlags.IORING_SETUP_SQE_MIXED }, out var ring));
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
        Snapshots.ReportSpecRun(output, "IORING_SETUP_SQE_MIXED", profile.Name, cases);
    }

    [Fact]
    public void SqeMixedRefusesNop128InTheLastSlotOrWithOneSlotLeft()
    {
        var engine = new ReferenceEngine(Snapshots.Newest);
        Assert.Equal(0, Ring.Ring.Create(engine, 4, new io_uring_params { flags = (uint)IoUringSetupFlags.IORING_SETUP_SQE_MIXED }, out var ring));
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
}
