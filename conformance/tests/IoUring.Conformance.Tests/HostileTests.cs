using FsCheck;
using FsCheck.Fluent;
using IoUring.Bindings;
using IoUring.Conformance;
using IoUring.Engine;
using Xunit;
using Xunit.Abstractions;

namespace IoUring.Conformance.Tests;

/// <summary>
/// Hostile SQE bytes on the engine alone. The live-kernel comparison runs inside the conformance VMs
/// only (VmBootTests): here the engine must answer every case, for every corpus kernel's profile,
/// without throwing, and what the hostile words resolve to must stay inside the memory they may touch.
/// </summary>
public sealed class HostileTests
{
    private static readonly string[] Kernels = ["6.1", "6.12", "7.2", "7.3-rc"];
    private readonly ITestOutputHelper output;

    public HostileTests(ITestOutputHelper output) => this.output = output;

    [Fact]
    public void EngineAnswersEveryHostileCaseWithoutCrashing()
    {
        var cases = int.TryParse(Environment.GetEnvironmentVariable("IOURING_HOSTILE_CASES"), out var n) ? n : 2000;
        var gen = Hostile.Case(65);
        var ran = 0;
        foreach (var kernel in Kernels)
        {
            var profile = Repository.SnapshotProfile(kernel);
            for (var i = 0; i < cases / Kernels.Length; i++)
            {
                var c = gen.Sample(1, new Rnd((ulong)(i + 1) * 0x9E3779B97F4A7C15UL), 1)[0];
                // Run throws only if the engine does: every error is a result in the trace.
                var trace = Hostile.Run(new ReferenceEngine(profile), c, null, Hostile.NotModelled(c, profile).Length > 0, profile.MixedOverflowWaitSpins, out _);
                Assert.StartsWith("setup ", trace[0]);
                ran++;
            }
        }

        var line = $"hostile: {ran} cases of random SQE bytes on the engine ({string.Join(", ", Kernels)} snapshot profiles): no crash";
        output.WriteLine(line);
        Repository.Report("conformance: " + line);
    }

    [Fact]
    public void HostileWordsNeverReachMemoryOutsideTheArea()
    {
        using var ws = new Workspace();
        ulong area;
        unsafe
        {
            area = (ulong)ws.Area;
        }

        Check.One(Config.QuickThrowOnFailure.WithMaxTest(2000), Prop.ForAll(
            Gen.Elements(Enum.GetValues<HostileWord>()).ToArbitrary(),
            ArbMap.Default.ArbFor<ulong>(),
            Gen.Choose(0, Workspace.AreaBytes / 2).ToArbitrary(),
            (word, raw, offset) =>
            {
                var v = Hostile.Resolve(word, raw, offset, ws);
                var inArea = v >= area && v < area + Workspace.AreaBytes;
                var belowMinAddr = v < 0x10000;
                var notUser = v >= 0x0000_8000_0000_0000;
                return (inArea || belowMinAddr || notUser).Label($"{word} {raw:x} -> {v:x}");
            }));
    }

    [Fact]
    public void CasesFromAFileAreCheckedBeforeTheyRun()
    {
        var gen = Hostile.Case(65);
        for (var i = 0; i < 50; i++)
        {
            Assert.Null(Hostile.Problem(gen.Sample(1, new Rnd((ulong)i + 7), 1)[0]));
        }

        HostileSqe Sqe(string bytes, int offset = 0) => new(bytes, HostileFd.File, HostileWord.Zero, HostileWord.Zero, HostileWord.Zero, offset);
        Assert.Contains("no SQEs", Hostile.Problem(new HostileCase(4, 0, false, [])));
        Assert.Contains("not 2 characters", Hostile.Problem(new HostileCase(4, 0, false, [Sqe("00")])));
        Assert.Contains("non-hex", Hostile.Problem(new HostileCase(4, 0, false, [Sqe(new string('g', 128))])));
        Assert.Contains("AreaOffset", Hostile.Problem(new HostileCase(4, 0, false, [Sqe(new string('0', 128), Workspace.AreaBytes)])));
    }

    [Fact]
    public void OnlyCancellationsThatMayMatchAreNotCompared()
    {
        var profile = Repository.SnapshotProfile("7.2");

        // An SQE of the opcode with cancel_flags (bytes 28-31) and addr (bytes 16-23) as given.
        HostileSqe Sqe(byte op, uint cancelFlags = 0, ulong addr = 0, HostileWord addrWord = HostileWord.Raw)
        {
            var bytes = new byte[64];
            bytes[0] = op;
            BitConverter.GetBytes(addr).CopyTo(bytes, 16);
            BitConverter.GetBytes(cancelFlags).CopyTo(bytes, 28);
            return new(Convert.ToHexString(bytes), HostileFd.File, HostileWord.Zero, addrWord, HostileWord.Zero, 0);
        }

        const byte Cancel = (byte)io_uring_op.IORING_OP_ASYNC_CANCEL;
        var any = (uint)IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ANY;

        // Every opcode of the corpus is modelled, timers included (a hostile case never arms one).
        var modelled = new HostileCase(4, 0, false, [Sqe((byte)io_uring_op.IORING_OP_FUTEX_WAIT), Sqe((byte)io_uring_op.IORING_OP_TIMEOUT), Sqe((byte)io_uring_op.IORING_OP_MSG_RING), Sqe(200)]);
        Assert.Empty(Hostile.NotModelled(modelled, profile));

        // A cancellation that can match nothing: unknown flags, or a key no slot has.
        Assert.Empty(Hostile.NotModelled(new HostileCase(4, 0, false, [Sqe(Cancel, 0x100 | any), Sqe(Cancel, 0, 9), Sqe(Cancel, 0, 2, HostileWord.Area)]), profile));

        // One that may: ANY, or a key that is another slot's user_data (2).
        Assert.Equal([Cancel], Hostile.NotModelled(new HostileCase(4, 0, false, [Sqe(Cancel, any)]), profile));
        Assert.Equal([Cancel], Hostile.NotModelled(new HostileCase(4, 0, false, [Sqe(Cancel, 0, 0xffff_0002), Sqe((byte)io_uring_op.IORING_OP_NOP)]), profile));
    }
}
