using IoUring.Bindings;
using Xunit;
using Xunit.Abstractions;

namespace IoUring.Conformance.Tests;

/// <summary>
/// The same generated programs on the host's live kernel (in the supervised child) and on the reference
/// engine with the host's probed profile: the traces must be equal (<see cref="Differential.Check"/>).
/// A difference is shrunk against the same kernel and reported with its replay line. The seed is fixed
/// so that CI runs the same programs every time; IOURING_CONFORMANCE_SEED and IOURING_CONFORMANCE_CASES
/// (default 300) pick others ('io_uring-conformance soak' runs new seeds for as long as it is given).
/// </summary>
[Collection("serial")]
public sealed class DifferentialTests
{
    private const ulong DefaultSeed = 20261202;
    private readonly ITestOutputHelper output;

    public DifferentialTests(ITestOutputHelper output) => this.output = output;

    public static ulong Seed => ulong.TryParse(Environment.GetEnvironmentVariable("IOURING_CONFORMANCE_SEED"), out var s) ? s : DefaultSeed;

    public static int Cases => int.TryParse(Environment.GetEnvironmentVariable("IOURING_CONFORMANCE_CASES"), out var n) ? n : 300;

    [HostKernelFact]
    public void EngineAndHostKernelProduceTheSameTraces()
    {
        var host = HostKernel.Supervised;
        var profile = host.Profile;
        var missing = new[] { IoUringSetupFlags.IORING_SETUP_SQE_MIXED, IoUringSetupFlags.IORING_SETUP_SQ_REWIND, IoUringSetupFlags.IORING_SETUP_CQE_MIXED }
            .Where(f => (profile.SetupFlags & (uint)f) == 0).ToList();
        output.WriteLine($"host profile: setup flags 0x{profile.SetupFlags:x}, features 0x{profile.Features:x}, opcodes {profile.OpLast}, nop flags 0x{profile.NopFlags:x}");
        var report = new List<string> { $"conformance: host profile setup flags 0x{profile.SetupFlags:x}, features 0x{profile.Features:x}, {profile.OpLast} opcodes" };
        if (profile.MixedOverflowLosesBigCqe)
        {
            // A kernel bug, reproduced by the probe: the engine emulates it for this profile only.
            report.Add("conformance: host kernel bug: a 32-byte CQE that overflowed on a CQE_MIXED ring, with another completion queued behind it, is lost when flushed (the tail advances two slots, nothing is written); reproduced by the probe, emulated by the engine for the host profile only");
        }

        if (profile.MixedOverflowWaitSpins)
        {
            report.Add("conformance: host kernel bug: a wait on a CQE_MIXED ring whose overflow list holds a 32-byte CQE that does not fit spins in the kernel and ignores SIGKILL; reproduced by the probe (and freed), so the runner polls instead of making such a wait");
        }

        if (missing.Count > 0)
        {
            // Said by name, not passed over: these programs compare the refusal only.
            report.Add($"conformance: host kernel lacks {string.Join(", ", missing)}: programs that set them compare setup's refusal (-EINVAL) only; their ring semantics need a kernel that has them");
        }

        var programs = ProgramSampler.Sample(profile.OpLast, Seed, Cases);
        for (var i = 0; i < programs.Length; i++)
        {
            var verdict = Differential.Check(programs[i], host);
            if (!verdict.Equal)
            {
                var shrunk = Differential.Shrink(verdict, p => Differential.Check(p, host), 1000);
                Assert.Fail($"program {i} of seed {Seed} differs; replay: IOURING_CONFORMANCE_SEED={Seed} IOURING_CONFORMANCE_CASES={i + 1} dotnet test conformance/tests/IoUring.Conformance.Tests --filter DifferentialTests\n"
                    + $"shrunk in {shrunk.Candidates} candidates to:\n{Differential.Describe(shrunk.Smallest, host.Name)}\n\noriginal:\n{Differential.Describe(verdict, host.Name)}");
            }
        }

        Assert.Empty(host.Incidents);
        var line = $"{programs.Length} generated programs (seed {Seed}): engine and live kernel traces equal";
        output.WriteLine(line);
        report.Add("conformance: " + line);
        report.ForEach(l =>
        {
            output.WriteLine(l);
            Repository.Report(l);
        });
    }
}
