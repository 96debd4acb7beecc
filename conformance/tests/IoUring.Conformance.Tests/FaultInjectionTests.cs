using IoUring.Bindings;
using IoUring.Engine;
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
    private readonly ITestOutputHelper output;

    public FaultInjectionTests(ITestOutputHelper output) => this.output = output;

    [HostKernelFact]
    public void AnEngineWithoutTheSkipFillerIsCaughtAndShrunk() =>
        CaughtAndShrunk(EngineFaults.NoSkipFiller, (uint)IoUringSetupFlags.IORING_SETUP_CQE_MIXED);

    [HostKernelFact]
    public void AnEngineThatPostsSuppressedLinkCqesIsCaughtAndShrunk() =>
        CaughtAndShrunk(EngineFaults.NoLinkCqeSuppression, 0);

    private void CaughtAndShrunk(EngineFaults fault, uint setupFlags)
    {
        var profile = HostKernel.Profile;

        // The oracle is the live kernel when it has the ring mode, else the correct engine.
        ILiveRunner oracle = (profile.SetupFlags & setupFlags) == setupFlags ? HostKernel.Supervised : new EngineAsKernel(profile);
        var programs = ProgramSampler.Sample(profile.OpLast, 0xfa17, 3000).Select(p => ProgramGen.Normalize(p with { SetupFlags = setupFlags })).ToArray();
        Verdict Check(RingProgram p) => p.SetupFlags == setupFlags
            ? Differential.Check(p, oracle, faults: fault)
            : new Verdict(p, ProgramTrace.Failed("other setup"), ProgramTrace.Failed("other setup"), null);
        var tried = 0;
        var failing = programs.Select(p =>
        {
            tried++;
            return Check(p);
        }).FirstOrDefault(v => !v.Equal);
        Assert.True(failing is not null, $"the injected {fault} was not caught in {tried} programs");

        var shrunk = Differential.Shrink(failing!, Check);
        var smallest = shrunk.Smallest.Program;
        output.WriteLine($"injected {fault}: caught at program {tried - 1} ({oracle.Name}); shrunk in {shrunk.Candidates} candidates to:\n{Differential.Describe(shrunk.Smallest, oracle.Name)}");
        var sqes = smallest.Steps.Sum(s => s.Batch.Length);
        Assert.True(sqes <= 8 && smallest.Steps.Length <= 4, $"shrinking left {smallest.Steps.Length} steps and {sqes} SQEs:\n{smallest}");
        Repository.Report($"conformance: injected engine bug {fault} caught and shrunk to {smallest.Steps.Length} steps, {sqes} SQEs");
    }
}
