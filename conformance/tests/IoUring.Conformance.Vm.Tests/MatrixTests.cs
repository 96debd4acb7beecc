using System.Text.Json;
using System.Xml.Linq;
using IoUring.Bindings;
using IoUring.Conformance.Vm;
using IoUring.Engine;
using Xunit;

namespace IoUring.Conformance.Vm.Tests;

/// <summary>The matrix's verdicts from made-up columns, and its three renderings.</summary>
public sealed class MatrixTests
{
    private const uint OpLast = 65;

    // Program 0 asks for SQE_MIXED; program 1 sends a NOP with IORING_NOP_CQE32; program 2 is plain.
    internal static readonly RingProgram[] Programs =
    [
        new(4, (uint)IoUringSetupFlags.IORING_SETUP_SQE_MIXED, 0, [Step(Nop(0))]),
        new(4, 0, 0, [Step(Nop((uint)IoUringNopFlags.IORING_NOP_CQE32))]),
        new(4, 0, 0, [Step(Nop(0))]),
    ];

    [Fact]
    public void CellsSayPassFailUnsupportedAndNotExercised()
    {
        var withMixed = Profile((uint)IoUringSetupFlags.IORING_SETUP_SQE_MIXED, nopFlags: 0x3f);
        var without = Profile(0, nopFlags: 0);
        var m = FeatureMatrix.Build(
            new ProgramSource(null, 1, 3, OpLast),
            Programs,
            2,
            [
                Column("new", withMixed, [true, true, true], [new HostileResult(0, HostileVerdict.Equal, null, null, null), new HostileResult(1, HostileVerdict.NotModelled, "x", null, null)]),
                Column("old", without, [true, false, true], [new HostileResult(0, HostileVerdict.EngineCrash, "boom", null, null), null]),
            ],
            10,
            OpLast,
            (byte)OpLast);

        MatrixCell Cell(string name, int kernel) => m.Rows.Single(r => r.Name == name).Cells[kernel];
        Assert.Equal(CellState.Pass, Cell(nameof(IoUringSetupFlags.IORING_SETUP_SQE_MIXED), 0).State);
        Assert.Equal(CellState.Unsupported, Cell(nameof(IoUringSetupFlags.IORING_SETUP_SQE_MIXED), 1).State);
        Assert.Equal(1, Cell(nameof(IoUringSetupFlags.IORING_SETUP_SQE_MIXED), 1).Equal);

        // A differing program fails the cell even where the kernel lacks the feature: the refusal must agree too.
        Assert.Equal(CellState.Pass, Cell(nameof(IoUringNopFlags.IORING_NOP_CQE32), 0).State);
        Assert.Equal(CellState.Fail, Cell(nameof(IoUringNopFlags.IORING_NOP_CQE32), 1).State);
        Assert.Contains("program 1", Cell(nameof(IoUringNopFlags.IORING_NOP_CQE32), 1).Detail);

        Assert.Equal(CellState.NotExercised, Cell(nameof(IoUringSqeFlags.IOSQE_IO_LINK), 0).State);
        Assert.Equal(CellState.Pass, m.Rows[^1].Cells[0].State);
        Assert.Equal(CellState.Fail, m.Rows[^1].Cells[1].State);
        Assert.Contains("1 engine crashes", m.Rows[^1].Cells[1].Detail);
        Assert.Contains("1 verdicts missing", m.Rows[^1].Cells[1].Detail);
        Assert.True(m.AnyFail);
    }

    [Fact]
    public void RendersMarkdownSvgAndJson()
    {
        var profile = Profile((uint)IoUringSetupFlags.IORING_SETUP_SQE_MIXED, nopFlags: 0x3f);
        var m = FeatureMatrix.Build(new ProgramSource(null, 7, 3, OpLast), Programs, 0, [Column("7.2 <&>", profile, [true, true, true], null)], 1, OpLast, null);

        var md = MatrixRender.Markdown(m);
        Assert.Contains("| mixed rings | IORING_SETUP_SQE_MIXED | pass (1) |", md);
        Assert.Contains("--seed 7 --cases 3", md);

        // A kernel bug's behaviour row names its reproducers, and every reproducer has its row.
        Assert.Contains("| DrainBySequence (reproducers: conformance/reproducers/drain-after-failed-skip-chain.c, conformance/reproducers/drain-after-tail-passed.c) |", md);
        Assert.All(KnownBugs.All, bug => Assert.Contains(m.Rows, r => r.Reproducers?.Contains($"conformance/reproducers/{bug.Name}.c") == true));

        // Well-formed XML whatever the names hold, one coloured cell per row and kernel.
        var svg = XDocument.Parse(MatrixRender.Svg(m));
        XNamespace ns = "http://www.w3.org/2000/svg";
        Assert.Equal(m.Rows.Count, svg.Descendants(ns + "g").Count());
        Assert.Contains(svg.Descendants(ns + "text"), t => t.Value == "7.2 <&>");

        using var json = JsonDocument.Parse(MatrixRender.Json(m));
        Assert.Equal(FeatureMatrix.SchemaId, json.RootElement.GetProperty("Schema").GetString());
        Assert.Equal(m.Rows.Count, json.RootElement.GetProperty("Rows").GetArrayLength());
    }

    // Every differing program is charged to itself, as if shrinking could not make it smaller.
    internal static KernelColumn Column(string name, KernelProfile profile, bool?[] equal, HostileResult?[]? hostile) =>
        new(name, "qemu", name, null, profile, false, [], [], 1, equal, null, hostile, Differences(equal));

    private static ProgramDifference[] Differences(bool?[] equal)
    {
        var trace = new ProgramTrace(0, null, []);
        return equal.Select((e, i) => (e, i)).Where(x => x.e == false)
            .Select(x => new ProgramDifference(x.i, new Verdict(Programs[x.i], trace, trace with { Error = "differs" }, new TraceDifference(0, "setup", null, "differs")), null, 0))
            .ToArray();
    }

    internal static KernelProfile Profile(uint setup, uint nopFlags) =>
        new("test", setup, setup, 0, 64, 0x7f, nopFlags, 0x7f, 40, true, RingHeaderLayout.Packed, (UInt128.One << 64) - 1, 1, 48, false, false);

    private static Step Step(SqeSpec sqe) => new([sqe], true, 4, -1, null);

    private static SqeSpec Nop(uint nopFlags) => new((byte)io_uring_op.IORING_OP_NOP, 0, 0, nopFlags, 0, FdChoice.File, BufChoice.Area, 0, 0, 0, 0, 1);
}
