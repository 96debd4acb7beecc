using IoUring.Engine;

namespace IoUring.Conformance.Vm;

/// <summary>
/// A program of a run whose kernel and engine traces differ, and the smallest program found that still
/// differs (shrunk inside the VM against its kernel, or on the host against the supervised child).
/// The matrix charges the difference to the features <see cref="Charged"/> uses.
/// </summary>
public sealed record ProgramDifference(int Index, Verdict Verdict, Verdict? Shrunk, int ShrinkCandidates)
{
    public RingProgram Charged => Shrunk?.Program ?? Verdict.Program;
}

/// <summary>One kernel's differential: its traces against the reference engine given a profile.</summary>
public sealed record DifferentialReport(string Kernel, int Programs, int Equal, int Different, int NotCompared, string? NotComparedWhy, IReadOnlyList<ProgramDifference> Differences)
{
    /// <summary>
    /// The programs whose kernel run the engine inside the VM paced otherwise than the engine here
    /// computes: the engine does not behave alike on the VM's architecture and the host's, and the
    /// kernel waited for the wrong completions.
    /// </summary>
    public IReadOnlyList<int> PacedOtherwise { get; init; } = [];

    public ProgramDifference? First => Differences.Count > 0 ? Differences[0] : null;

    /// <summary>Per program: true equal, false different, null not compared.</summary>
    public bool?[] Verdicts(IReadOnlyList<AgentResult?> results)
    {
        var verdicts = new bool?[Programs];
        for (var i = 0; i < verdicts.Length; i++)
        {
            verdicts[i] = results[i] is null ? null : true;
        }

        foreach (var d in Differences)
        {
            verdicts[d.Index] = false;
        }

        return verdicts;
    }
}

/// <summary>
/// The traces that came back from a VM, compared on the host (<see cref="Differential.Compare"/>) with the
/// engine given the profile the agent probed inside that VM, or another profile (a kernel's snapshot
/// profile, say). A program the agent could not run counts as different: the kernel side has no trace
/// to agree with. A shrunk program the agent sent is compared too, and kept when it still differs.
/// </summary>
public static class VmDifferential
{
    public static DifferentialReport Compare(VmRun run, IReadOnlyList<RingProgram> programs, KernelProfile? profile = null)
    {
        profile ??= run.Hello?.Profile;
        if (profile is null)
        {
            return new DifferentialReport(run.Kernel, programs.Count, 0, 0, programs.Count, "no profile came back from the VM", []);
        }

        int equal = 0, notCompared = 0;
        var differences = new List<ProgramDifference>();
        var pacedOtherwise = new List<int>();
        for (var i = 0; i < programs.Count; i++)
        {
            if (run.Results[i] is not { } result)
            {
                notCompared++;
                continue;
            }

            var kernel = result.Trace ?? ProgramTrace.Failed($"the runner threw in the VM: {(result.Error ?? "(no message)").Split('\n')[0].Trim()}");
            var verdict = Differential.Compare(programs[i], kernel, Differential.Engine(programs[i], profile));

            // Only against the probed profile: that is the one the agent's engine was given.
            if (result.EngineReady is { } paced && profile == run.Hello?.Profile && !paced.SequenceEqual(verdict.Ready))
            {
                pacedOtherwise.Add(i);
            }

            if (verdict.Equal && result.Trace is not null)
            {
                equal++;
                continue;
            }

            var shrunk = result.Shrunk is { } s ? Differential.Compare(s.Program, s.Kernel, profile) : null;
            differences.Add(new ProgramDifference(i, verdict, shrunk is { Equal: false } ? shrunk : null, result.Shrunk?.Candidates ?? 0));
        }

        return new DifferentialReport(run.Kernel, programs.Count, equal, differences.Count, notCompared, notCompared > 0 ? "results missing from the VM (see its problems)" : null, differences)
        {
            PacedOtherwise = pacedOtherwise,
        };
    }
}
