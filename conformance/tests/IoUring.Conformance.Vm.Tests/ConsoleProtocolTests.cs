using System.Text.Json;
using IoUring.Conformance.Vm;
using Xunit;

namespace IoUring.Conformance.Vm.Tests;

/// <summary>
/// Reading a VM's console: frames survive kernel messages around them, a damaged or lost frame is
/// reported and never read as data, and panics, hangs, oopses and early exits are failures.
/// </summary>
public sealed class ConsoleProtocolTests
{
    // A profile with every field at its default: built through the agent's own JSON so this test does not
    // follow the profile's fields as the engine grows them.
    private static readonly AgentHello Hello = new("7.2.13+deb14-cloud-amd64", JsonSerializer.Deserialize("""{"Name": "synthetic"}""", AgentJson.Default.KernelProfile), null, 2, 4.5);

    private static string Frame<T>(string kind, int seq, T message) => AgentProtocol.Frame(kind, seq, message);

    private static string Result(int seq, int index) => Frame(AgentProtocol.ResultKind, seq, new AgentResult(index, new ProgramTrace(-index, null, []), null, 1.5));

    private static readonly Dictionary<string, TimeSpan> Marks = new()
    {
        [QemuRunner.MarkedText[0]] = TimeSpan.FromSeconds(3),
        [QemuRunner.MarkedText[1]] = TimeSpan.FromSeconds(5),
        [QemuRunner.MarkedText[2]] = TimeSpan.FromSeconds(8.5),
    };

    private static VmRun Read(string console, string? killed = null, int? qemuExit = 0) =>
        VmRun.Read("7.2", "7.2.13+deb14-cloud-amd64", 2, new QemuResult(console, string.Empty, qemuExit, killed, TimeSpan.FromSeconds(9), [], Marks));

    private static string Good(string? between = null) => string.Join("\n",
        "SeaBIOS", "@@IOURING-VM-INIT uptime=2.500",
        Frame(AgentProtocol.HelloKind, 0, Hello),
        Result(1, 0),
        between ?? string.Empty,
        Result(2, 1),
        Frame(AgentProtocol.DoneKind, 3, new AgentDone(2, 1.0, null)),
        "@@IOURING-VM-EXIT code=0 uptime=7.000",
        "[    7.01] reboot: Power down");

    [Fact]
    public void AFrameReadsBackAndAnyChangedCharacterIsCaught()
    {
        var line = Result(5, 3);
        var parsed = AgentProtocol.TryParse(line, out var damaged);
        Assert.False(damaged);
        Assert.Equal((AgentProtocol.ResultKind, 5), (parsed!.Value.Kind, parsed.Value.Seq));
        for (var i = AgentProtocol.FramePrefix.Length; i < line.Length; i += 7)
        {
            var changed = line[..i] + (char)(line[i] ^ 1) + line[(i + 1)..];
            Assert.Null(AgentProtocol.TryParse(changed, out damaged));
            Assert.True(damaged, $"a change at column {i} went unnoticed");
        }

        Assert.Null(AgentProtocol.TryParse("[    3.1] random: crng init done", out damaged));
        Assert.False(damaged);
    }

    [Fact]
    public void ACleanRunHasNoProblemsAndItsPhases()
    {
        var run = Read(Good());
        Assert.Empty(run.Problems);
        Assert.Equal(["setup -1"], run.Results[1]!.Trace!.Lines);
        Assert.Equal(0, run.ExitCode);
        var phases = BootPhases.Of(run);
        Assert.Equal(3.0, phases.Kernel);
        Assert.Equal(2.0, phases.AgentStart);
        Assert.Equal(3.5, phases.Programs);
        Assert.Equal(7.0, phases.GuestInstructions);
    }

    [Fact]
    public void KernelTextBeforeAFrameOnTheSameLineDoesNotHideIt()
    {
        var run = Read(Good().Replace(Result(1, 0), "[    5.2] virtio: something" + Result(1, 0), StringComparison.Ordinal));
        Assert.Empty(run.Problems);
        Assert.NotNull(run.Results[0]);
    }

    [Fact]
    public void AKernelMessageInsideAFrameIsADamagedLineAndALostResult()
    {
        var frame = Result(1, 0);
        var split = frame[..40] + "\n[    5.3] kernel says something\n" + frame[40..];
        var run = Read(Good().Replace(frame, split, StringComparison.Ordinal));
        Assert.Null(run.Results[0]);
        Assert.Contains(run.Problems, p => p.Contains("arrived damaged", StringComparison.Ordinal));
        Assert.Contains(run.Problems, p => p.Contains("never arrived (sequence numbers 1)", StringComparison.Ordinal));
        Assert.Contains(run.Problems, p => p.Contains("1 program result(s) missing (0)", StringComparison.Ordinal));
    }

    [Fact]
    public void APanicIsAFailureNamingTheProgramThatRan()
    {
        var console = string.Join("\n", "@@IOURING-VM-INIT uptime=2.5", Frame(AgentProtocol.HelloKind, 0, Hello), Result(1, 0),
            "[    6.0] BUG: kernel NULL pointer dereference, address: 0000000000000008",
            "[    6.0] Kernel panic - not syncing: Fatal exception");
        var run = Read(console, qemuExit: 0);
        Assert.True(run.Failed);
        Assert.StartsWith("kernel panic while program 1 ran", run.Problems[0], StringComparison.Ordinal);
        Assert.Contains(run.Problems, p => p.Contains("BUG: kernel NULL pointer dereference", StringComparison.Ordinal));
        Assert.Equal("program 1", run.Interrupted);
    }

    [Fact]
    public void AHangIsAFailureSayingWhyTheWatchdogFired()
    {
        var console = string.Join("\n", "@@IOURING-VM-INIT uptime=2.5", Frame(AgentProtocol.HelloKind, 0, Hello));
        var run = Read(console, killed: "the console was silent for 60 s", qemuExit: null);
        Assert.StartsWith("hang: the console was silent for 60 s while program 0 ran", run.Problems[0], StringComparison.Ordinal);
    }

    [Fact]
    public void AnOopsOrWarningDuringTheRunIsAFailureEvenWhenTheAgentFinished()
    {
        var run = Read(Good() + "\n@@KMSG 4 WARNING: CPU: 1 PID: 80 at io_uring/io_uring.c:123 io_foo+0x10/0x20");
        Assert.True(run.Failed);
        Assert.Contains(run.Problems, p => p.StartsWith("kernel: WARNING: CPU: 1", StringComparison.Ordinal));
        Assert.Single(run.KernelMessages);
    }

    [Fact]
    public void AnAgentKilledBySignalIsNamed()
    {
        var console = string.Join("\n", "@@IOURING-VM-INIT uptime=2.5", Frame(AgentProtocol.HelloKind, 0, Hello),
            "@@IOURING-VM-ERROR the workload was killed by signal 11 (Segmentation fault)", "@@IOURING-VM-EXIT code=139 uptime=5.0");
        var run = Read(console);
        Assert.Contains(run.Problems, p => p == "the agent was killed by signal 11 while program 0 ran");
        Assert.Contains(run.Problems, p => p.StartsWith("init: the workload was killed by signal 11", StringComparison.Ordinal));
    }

    [Fact]
    public void AStopWithoutInitsMarkerIsAFailureWithQemusWords()
    {
        var run = VmRun.Read("7.2", null, 2, new QemuResult("SeaBIOS\n", "qemu: could not load kernel", 1, null, TimeSpan.FromSeconds(1), [], new Dictionary<string, TimeSpan>()));
        Assert.StartsWith("the VM stopped without init's end marker", run.Problems[0], StringComparison.Ordinal);
        Assert.Contains("could not load kernel", run.Problems[0], StringComparison.Ordinal);
    }

    [Fact]
    public void AResultForAProgramOutsideTheBatchIsReported()
    {
        var run = Read(Good(Result(9, 7)));
        Assert.Contains(run.Problems, p => p.Contains("a result for program 7, but the batch has 2", StringComparison.Ordinal));
    }
}
