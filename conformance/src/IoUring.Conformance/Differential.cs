using IoUring.Engine;
using IoUring.Ring;

namespace IoUring.Conformance;

/// <summary>
/// A kernel to compare the engine with: it runs a program paced by the engine (see <see cref="Runner"/>)
/// and returns what it observed. <see cref="Profile"/> is what probing that kernel found, which is the
/// profile the engine is given.
/// </summary>
public interface ILiveRunner
{
    string Name { get; }

    KernelProfile Profile { get; }

    ProgramTrace Run(RingProgram program, IReadOnlyList<uint>? ready);
}

/// <summary>
/// The live kernel in this very process. Only where nothing else can be hurt: inside a conformance VM,
/// and inside the supervised child on the host (<see cref="SupervisedHost"/>); never in a test host.
/// </summary>
public sealed class InProcessKernel(KernelProfile profile) : ILiveRunner
{
    private readonly LiveKernel live = new();

    public string Name => $"live {LiveKernel.Release} (in process)";

    public KernelProfile Profile => profile;

    public ProgramTrace Run(RingProgram program, IReadOnlyList<uint>? ready) =>
        Runner.Run(live, program, new RunOptions(ready, profile.MixedOverflowWaitSpins)).Trace;
}

/// <summary>
/// The engine standing in for a kernel: the oracle of a deliberately faulty engine where the host lacks
/// the feature, and the reference a snapshot profile is held to.
/// </summary>
public sealed class EngineAsKernel(KernelProfile profile) : ILiveRunner
{
    public string Name => $"engine ({profile.Name})";

    public KernelProfile Profile => profile;

    public ProgramTrace Run(RingProgram program, IReadOnlyList<uint>? ready) => Differential.Engine(program, profile).Trace;
}

/// <summary>One program compared: the kernel's trace, the engine's, and where they part (null when equal).</summary>
public sealed record Verdict(RingProgram Program, ProgramTrace Kernel, ProgramTrace Engine, TraceDifference? Difference)
{
    public bool Equal => Difference is null;

    /// <summary>The CQ slots the engine had ready at each settle point, which paced the kernel's run (empty when the kernel's trace was recorded elsewhere).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public uint[] Ready { get; init; } = [];
}

/// <summary>A difference shrunk: the smallest program found that still differs, its verdict, and the work it took.</summary>
public sealed record Shrunk(Verdict Original, Verdict Smallest, int Candidates, int Steps);

/// <summary>
/// The differential, in one place: run the engine (its ready counts pace the live run where completions
/// come from io-wq), run the kernel, compare the traces and name the first difference, and shrink a
/// difference to the smallest program that still shows one. The xunit properties, the matrix, the VM
/// agent, 'vm run', 'soak' and the replay of recorded traces all call this.
/// </summary>
public static class Differential
{
    /// <summary>The engine's run of a program for <paramref name="profile"/>; an engine that throws gives a failed trace (and no pacing).</summary>
    public static RunResult Engine(RingProgram program, KernelProfile profile, EngineFaults faults = EngineFaults.None)
    {
        try
        {
            return Runner.Run(new ReferenceEngine(profile, faults), program, new RunOptions(null, profile.MixedOverflowWaitSpins));
        }
        catch (Exception e)
        {
            return new RunResult(ProgramTrace.Failed($"the engine threw: {e.GetType().Name}: {e.Message}"), []);
        }
    }

    /// <summary>Runs <paramref name="program"/> on the engine (given the kernel's profile, or <paramref name="engineProfile"/>), then on the kernel paced by it, and compares.</summary>
    public static Verdict Check(RingProgram program, ILiveRunner kernel, KernelProfile? engineProfile = null, EngineFaults faults = EngineFaults.None)
    {
        var engine = Engine(program, engineProfile ?? kernel.Profile, faults);
        // A faulty engine's pacing could make the kernel wait for completions that never come: the
        // kernel is paced by the correct engine.
        var ready = faults == EngineFaults.None ? engine.Ready : Engine(program, engineProfile ?? kernel.Profile).Ready;
        var trace = kernel.Run(program, ready.Length == 0 ? null : ready);
        return new Verdict(program, trace, engine.Trace, TraceDifference.Between(trace, engine.Trace)) { Ready = ready };
    }

    /// <summary>Compares a kernel trace recorded elsewhere (a VM, the replay corpus) with the engine's run of the same program.</summary>
    public static Verdict Compare(RingProgram program, ProgramTrace kernel, KernelProfile engineProfile) =>
        Compare(program, kernel, Engine(program, engineProfile));

    /// <summary>The same, with the engine's run of the program already made (its <see cref="Verdict.Ready"/> is that run's pacing).</summary>
    public static Verdict Compare(RingProgram program, ProgramTrace kernel, RunResult engine) =>
        new(program, kernel, engine.Trace, TraceDifference.Between(kernel, engine.Trace)) { Ready = engine.Ready };

    /// <summary>
    /// Shrinks a difference: tries the smaller programs <see cref="ProgramGen.Smaller"/> proposes, in
    /// order, and moves to the first that still differs, until none does or <paramref name="budget"/>
    /// candidates were tried. <paramref name="check"/> runs a candidate (usually <see cref="Check"/> on
    /// the same kernel). Any difference counts, as in FsCheck's shrinking.
    /// </summary>
    public static Shrunk Shrink(Verdict failing, Func<RingProgram, Verdict> check, int budget = 2000, Action<int>? progress = null)
    {
        var current = failing;
        var candidates = 0;
        var steps = 0;
        var improved = true;
        while (improved && candidates < budget)
        {
            improved = false;
            foreach (var candidate in ProgramGen.Smaller(current.Program))
            {
                if (++candidates > budget)
                {
                    break;
                }

                progress?.Invoke(candidates);
                var verdict = check(candidate);
                if (!verdict.Equal)
                {
                    current = verdict;
                    steps++;
                    improved = true;
                    break;
                }
            }
        }

        return new Shrunk(failing, current, Math.Min(candidates, budget), steps);
    }

    /// <summary>A report of a difference for a person: the program, both traces, and where they part.</summary>
    public static string Describe(Verdict v, string kernelName = "kernel") =>
        $"program:\n  {v.Program.ToString().Replace("\n", "\n  ", StringComparison.Ordinal)}\n"
        + $"first difference: {v.Difference}\n"
        + $"{kernelName}:\n  {string.Join("\n  ", v.Kernel.Lines)}\n"
        + $"engine:\n  {string.Join("\n  ", v.Engine.Lines)}";
}
