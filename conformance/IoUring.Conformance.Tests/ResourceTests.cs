using FsCheck;
using FsCheck.Fluent;
using IoUring.Bindings;
using IoUring.Engine;
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

    [Fact]
    public void TheHostKernelReportsIoringOpMmapUnsupportedAndRefusesItAsTheEngineDoes()
    {
        var live = new LiveKernel();
        var host = KernelProfile.Probe(live);
        var proposal = KernelBehaviour.FromCorpus(Repository.Root, "proposals/op-mmap-v1").Mmap!;

        // The probe says so by opcode; the proposal's opcode is past the host's last one.
        Assert.Equal(0, IoUring.Ring.Ring.Create(live, 4, default, out var ring));
        using (ring)
        {
            var probe = stackalloc byte[16 + (256 * 8)];
            new Span<byte>(probe, 16 + (256 * 8)).Clear();
            Assert.Equal(0, ring!.RegisterProbe((io_uring_probe*)probe, 256));
            var ops = (io_uring_probe_op*)(probe + 16);
            var supported = proposal.Opcode < probe[1] && (ops[proposal.Opcode].flags & Constants.IO_URING_OP_SUPPORTED) != 0;
            Assert.False(supported);
        }

        var liveResult = Submit(live, proposal);
        var engineResult = Submit(new ReferenceEngine(host), proposal);
        Assert.Equal(liveResult, engineResult);
        var line = $"IORING_OP_MMAP (proposal opcode {proposal.Opcode}): unsupported by the host kernel ({host.Name}, probe); submitting it gives {liveResult} live and {engineResult} on the engine's host profile";
        output.WriteLine(line);
        Repository.Report("conformance: " + line);
    }

    private static int Submit(IRingBackend backend, MmapLayout proposal)
    {
        Assert.Equal(0, IoUring.Ring.Ring.Create(backend, 4, default, out var ring));
        using (ring)
        {
            var sqe = ring!.GetSqe();
            sqe->opcode = proposal.Opcode;
            sqe->fd = -1;
            sqe->user_data = 9;
            ring.Submit(1);
            Assert.True(ring.TryNextCqe(out var cqe, out _));
            return cqe->res;
        }
    }

    [Fact]
    public void TheClientRegistersFilesAndBuffersAndReadsThroughThemOnBothBackends()
    {
        var live = new LiveKernel();
        var results = new IRingBackend[] { live, new ReferenceEngine(KernelProfile.Probe(live)) }.Select(RegisterAndRead).ToList();
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

    [Fact]
    public void NoDescriptorsOrMappingsAreLeftBehind()
    {
        var before = Snapshot();
        var live = new LiveKernel();
        var host = KernelProfile.Probe(live);
        var programs = 0;
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(300), Prop.ForAll(ProgramGen.Arbitrary(host.OpLast), program =>
        {
            programs++;
            var engineRun = Runner.Run(new ReferenceEngine(host), program);
            Runner.Trace(live, program, engineRun.Ready);
            return true;
        }));

        // The engine rings of a proposal profile map memory with IORING_OP_MMAP: the oracle test
        // unmaps them; here the rings, registrations and regions are what is checked.
        var after = Snapshot();
        var line = $"leak check: {programs} programs on the live kernel and the engine; io_uring descriptors {before.Rings} -> {after.Rings}, program memfds {before.Memfds} -> {after.Memfds}, io_uring mappings {before.RingMaps} -> {after.RingMaps}";
        output.WriteLine(line);
        Repository.Report("conformance: " + line);
        Assert.True(after == before, line);
    }

    private static (int Rings, int Memfds, int RingMaps) Snapshot()
    {
        // Ring teardown in the kernel is asynchronous but the descriptor and the mapping go at close/munmap.
        var targets = Directory.GetFiles("/proc/self/fd").Select(f =>
        {
            try
            {
                return new FileInfo(f).LinkTarget ?? string.Empty;
            }
            catch (IOException)
            {
                return string.Empty;
            }
        }).ToList();
        var maps = File.ReadAllLines("/proc/self/maps");
        return (
            targets.Count(t => t.Contains("io_uring", StringComparison.Ordinal)),
            targets.Count(t => t.Contains("memfd:io_uring-conformance", StringComparison.Ordinal)),
            maps.Count(l => l.Contains("io_uring", StringComparison.Ordinal) || l.Contains("memfd:io_uring-conformance", StringComparison.Ordinal)));
    }
}
