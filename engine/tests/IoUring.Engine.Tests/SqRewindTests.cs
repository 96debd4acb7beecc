using FsCheck;
using FsCheck.Fluent;
using IoUring.Bindings;
using IoUring.Ring;
using Xunit;
using Xunit.Abstractions;

namespace IoUring.Engine.Tests;

/// <summary>
/// IORING_SETUP_SQ_REWIND: every submission reads the SQ from slot 0, the tail is ignored and the head
/// is never written.
/// </summary>
public sealed unsafe class SqRewindTests
{
    private readonly ITestOutputHelper output;

    public SqRewindTests(ITestOutputHelper output) => this.output = output;

    [Fact]
    public void SqRewindReadsEverySubmissionFromSlotZeroAndNeverWritesTheHead()
    {
        var profile = Snapshots.Newest;
        var cases = Snapshots.Cases;
        var batches = Gen.Choose(1, 8).SelectMany(n => Gen.Choose(-3, 9).ArrayOf(n)).ArrayOf().Select(a => a.Take(6).ToArray());
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(cases), Prop.ForAll(batches.ToArbitrary(), Gen.Choose(0, int.MaxValue).ToArbitrary(), (steps, garbageTail) =>
        {
            var engine = new ReferenceEngine(profile);
            var flags = (uint)(IoUringSetupFlags.IORING_SETUP_SQ_REWIND | IoUringSetupFlags.IORING_SETUP_NO_SQARRAY);
            Assert.Equal(0, Ring.Ring.Create(engine, 8, new io_uring_params { flags = flags, cq_entries = 0 }, out var ring));
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
        Snapshots.ReportSpecRun(output, "IORING_SETUP_SQ_REWIND", profile.Name, cases);
    }

    private static nint Map(IRingBackend backend, Ring.Ring ring) => backend.Map(ring.Fd, Constants.IORING_OFF_SQ_RING, 64);
}
