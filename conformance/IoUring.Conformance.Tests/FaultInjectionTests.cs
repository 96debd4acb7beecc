using FsCheck;
using FsCheck.Fluent;
using IoUring.Bindings;
using IoUring.Engine;
using IoUring.Ring;
using Xunit;
using Xunit.Abstractions;

namespace IoUring.Conformance.Tests;

/// <summary>
/// The differential property must catch a wrong engine and shrink the evidence to a minimal program.
/// Each test injects one deliberate bug (EngineFaults) and demands a failure whose shrunk program is small.
/// </summary>
[Collection("serial")]
public sealed class FaultInjectionTests
{
    private static readonly Lazy<KernelProfile> Host = new(() => KernelProfile.Probe(new LiveKernel()));
    private readonly ITestOutputHelper output;

    public FaultInjectionTests(ITestOutputHelper output) => this.output = output;

    [Fact]
    public void AnEngineWithoutTheSkipFillerIsCaughtAndShrunk() =>
        CaughtAndShrunk(EngineFaults.NoSkipFiller, (uint)IoUringSetupFlags.IORING_SETUP_CQE_MIXED);

    [Fact]
    public void AnEngineThatPostsSuppressedLinkCqesIsCaughtAndShrunk() =>
        CaughtAndShrunk(EngineFaults.NoLinkCqeSuppression, 0);

    private void CaughtAndShrunk(EngineFaults fault, uint setupFlags)
    {
        var profile = Host.Value;

        // The oracle is the live kernel when it has the ring mode, else the correct engine.
        IRingBackend oracle = (profile.SetupFlags & setupFlags) == setupFlags ? new LiveKernel() : new ReferenceEngine(profile);
        var programs = ProgramGen.Program(profile.OpLast).Select(p => p with { SetupFlags = setupFlags });
        var arbitrary = Arb.From(programs, p => ProgramGen.Shrink(p).Where(q => q.SetupFlags == setupFlags).Select(q => q with { Steps = q.Steps.Select(ProgramGen.OneTransferChain).ToArray() }));
        RingProgram? smallest = null;
        var tried = 0;
        var caught = false;
        try
        {
            Check.One(Config.QuickThrowOnFailure.WithMaxTest(3000), Prop.ForAll(arbitrary, program =>
            {
                tried++;
                // The correct engine's ready counts tell the live run how long to wait; the faulty
                // engine's could make it wait for completions that never come (2 s each).
                var hints = Runner.Run(new ReferenceEngine(profile), program).Ready;
                var faulty = Runner.Run(new ReferenceEngine(profile, fault), program);
                var expected = Runner.Trace(oracle, program, hints);
                var equal = expected.SequenceEqual(faulty.Lines);
                if (!equal)
                {
                    smallest = program;
                }

                return equal;
            }));
        }
        catch (Exception e) when (e.Message.Contains("Falsifiable", StringComparison.Ordinal))
        {
            caught = true;
            var seed = e.Message.Split('\n').FirstOrDefault(l => l.StartsWith("Falsifiable", StringComparison.Ordinal)) ?? string.Empty;
            output.WriteLine($"injected {fault}: {seed.Trim()}");
            output.WriteLine($"shrunk to:\n  {smallest}");
        }

        Assert.True(caught, $"the injected {fault} was not caught in {tried} programs");
        Assert.NotNull(smallest);
        var sqes = smallest!.Steps.Sum(s => s.Batch.Length);
        Assert.True(sqes <= 8 && smallest.Steps.Length <= 4, $"shrinking left {smallest.Steps.Length} steps and {sqes} SQEs:\n{smallest}");
        Repository.Report($"conformance: injected engine bug {fault} caught and shrunk to {smallest.Steps.Length} steps, {sqes} SQEs");
    }
}
