using IoUring.Bindings;
using IoUring.Engine;
using IoUring.Probe;
using IoUring.Ring;
using Xunit;
using Xunit.Abstractions;

namespace IoUring.Conformance.Tests;

/// <summary>
/// The proposed opcode on the live kernel, and leaks: after programs on both backends (registrations,
/// regions and mappings included) no io_uring descriptor, program memfd or ring mapping is left.
/// </summary>
[Collection("serial")]
public sealed unsafe class ResourceTests
{
    private readonly ITestOutputHelper output;

    public ResourceTests(ITestOutputHelper output) => this.output = output;

    [HostKernelFact]
    public void TheHostKernelReportsIoringOpMmapUnsupportedAndRefusesItAsTheEngineDoes()
    {
        var host = HostKernel.Profile;
        var proposal = Repository.SnapshotProfile("proposals/op-mmap-v1").Mmap!;

        // The probe says so by opcode; the proposal's opcode is past the host's last one.
        Assert.False(proposal.Opcode < 128 && (host.SupportedOps & (UInt128.One << proposal.Opcode)) != 0);

        // One SQE with the proposal's opcode, on the kernel (in the supervised child) and on the engine.
        var sqe = new SqeSpec(proposal.Opcode, 0, 0, 0, 0, FdChoice.Negative, BufChoice.Null, 0, 0, 0, 0, 9);
        var program = new RingProgram(4, 0, 0, [new Step([sqe], true, 1, -1, null)]);
        var verdict = Differential.Check(program, HostKernel.Supervised);
        Assert.True(verdict.Equal, Differential.Describe(verdict));
        var result = verdict.Kernel.Steps[0].Cqes.Single().Res;
        Assert.Equal(-Errno.EINVAL, result);
        var line = $"IORING_OP_MMAP (proposal opcode {proposal.Opcode}): unsupported by the host kernel ({host.Name}, probe); submitting it gives {result} live and on the engine's host profile";
        output.WriteLine(line);
        Repository.Report("conformance: " + line);
    }

    [Fact]
    public void TheClientRegistersFilesAndBuffersAndReadsThroughThemOnBothBackends()
    {
        var live = new LiveKernel();
        var results = new IRingBackend[] { live, new ReferenceEngine(KernelProbe.Probe(live)) }.Select(RegisterAndRead).ToList();
        output.WriteLine($"live: {results[0]}\nengine: {results[1]}");
        Assert.Equal(results[0], results[1]);
    }

    private static string RegisterAndRead(IRingBackend backend)
    {
        using var ws = new Workspace();
        Assert.Equal(0, IoUring.Ring.Ring.Create(backend, 8, default, out var ring));
        using (ring)
        {
            var fds = stackalloc int[2] { -1, ws.Fd };
            var iov = stackalloc nint[2] { (nint)ws.Area, 8192 };
            var steps = new List<int> { ring!.RegisterFiles(fds, 2), ring.RegisterBuffers(iov, 1) };

            // Slot 1 holds the file; slot 0 is filled by an update; a fixed read and a fixed NOP lookup use them.
            var update = stackalloc int[1] { ws.Fd };
            steps.Add(ring.UpdateFiles(0, update, 1));
            var read = ring.GetSqe();
            Prep.ReadFixed(read, 1, ws.Area + 100, 512, 0, 0, 1);
            read->flags = (byte)IoUringSqeFlags.IOSQE_FIXED_FILE;
            var nop = ring.GetSqe();
            Prep.Nop(nop, 2, (uint)(IoUringNopFlags.IORING_NOP_FILE | IoUringNopFlags.IORING_NOP_FIXED_FILE));
            nop->fd = 0;
            steps.Add(ring.Submit(2));
            var cqes = new List<string>();
            while (ring.TryNextCqe(out var cqe, out var n))
            {
                cqes.Add($"{cqe->user_data}:{cqe->res}");
                ring.CqAdvance(n);
            }

            steps.Add(ring.UnregisterFiles());
            steps.Add(ring.UnregisterBuffers());
            steps.Add(ring.UnregisterBuffers());
            return $"{string.Join(",", steps)} [{string.Join(" ", cqes.Order(StringComparer.Ordinal))}] {ws.Digest()}";
        }
    }

    /// <summary>
    /// 300 programs on the engine in this process and on the kernel in the supervised child: neither
    /// process holds more io_uring descriptors, program memfds or ring mappings afterwards.
    /// </summary>
    [Fact]
    public void ASpareDescriptorItsProgramClosedKeepsItsNumberFromWorkspacesBesideIt()
    {
        // Replays run programs side by side in one process; one of them closes its spare (a CLOSE).
        var first = new Workspace();
        Assert.Equal(0, Posix.Close(first.Spare));
        using var beside = new Workspace();
        Assert.NotEqual(first.Spare, beside.Spare);
        Assert.False(Posix.IsOpen(first.Spare)); // so the first program's later requests on it still get -EBADF

        // The first workspace ends and closes its spare again: the other's stays open.
        first.Dispose();
        Assert.True(Posix.IsOpen(beside.Spare));
        using var next = new Workspace();
        Assert.NotEqual(beside.Spare, next.Spare);
    }

    [HostKernelFact]
    public void NoDescriptorsOrMappingsAreLeftBehind()
    {
        var host = HostKernel.Supervised;
        var before = AgentResources.OfThisProcess();
        var childBefore = host.Resources();
        var programs = ProgramSampler.Sample(host.Profile.OpLast, 0x1ea4, 300);
        foreach (var program in programs)
        {
            Differential.Check(program, host);
        }

        // The engine rings of a proposal profile map memory with IORING_OP_MMAP: the oracle test
        // unmaps them; here the rings, registrations and regions are what is checked.
        var after = AgentResources.OfThisProcess();
        var childAfter = host.Resources();
        var line = $"leak check: {programs.Length} programs; engine (this process): io_uring descriptors {before.Rings} -> {after.Rings}, program memfds {before.Memfds} -> {after.Memfds}, io_uring mappings {before.RingMaps} -> {after.RingMaps}; "
            + $"live kernel (the supervised child): {childBefore.Rings} -> {childAfter.Rings}, {childBefore.Memfds} -> {childAfter.Memfds}, {childBefore.RingMaps} -> {childAfter.RingMaps}";
        output.WriteLine(line);
        Repository.Report("conformance: " + line);
        Assert.True(after == before && childAfter == childBefore, line);
    }
}
