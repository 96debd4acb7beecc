using IoUring.Engine;

namespace IoUring.Conformance.Vm;

/// <summary>The first line where the kernel's and the engine's traces of one program part.</summary>
/// <param name="Line">0-based trace line; the shorter trace shows null there.</param>
public sealed record TraceDifference(int Index, RingProgram Program, int Line, string? KernelLine, string? EngineLine, IReadOnlyList<string> KernelTrace, IReadOnlyList<string> EngineTrace)
{
    /// <summary>Where the two traces of program <paramref name="index"/> part, from line <paramref name="line"/> (the first differing one).</summary>
    public static TraceDifference At(int index, RingProgram program, int line, IReadOnlyList<string> kernel, IReadOnlyList<string> engine) =>
        new(index, program, line, line < kernel.Count ? kernel[line] : null, line < engine.Count ? engine[line] : null, kernel, engine);
}

/// <summary>One kernel's differential: its VM traces against the reference engine with its probed profile.</summary>
public sealed record DifferentialReport(string Kernel, int Programs, int Equal, int Different, int NotCompared, string? NotComparedWhy, IReadOnlyList<TraceDifference> Differences)
{
    public TraceDifference? First => Differences.Count > 0 ? Differences[0] : null;
}

/// <summary>
/// Runs each program that came back from a VM on <see cref="ReferenceEngine"/> built from the profile
/// the agent probed inside that VM, and compares the traces line by line. A program the agent could
/// not run (its runner threw) counts as different: the kernel side has no trace to agree with.
/// </summary>
public static class Differential
{
    public static DifferentialReport Compare(VmRun run, IReadOnlyList<RingProgram> programs) => Compare(run, programs, run.Hello?.Profile);

    /// <summary>As <see cref="Compare(VmRun, IReadOnlyList{RingProgram})"/>, with the engine given <paramref name="profile"/> (a kernel's snapshot profile, say).</summary>
    public static DifferentialReport Compare(VmRun run, IReadOnlyList<RingProgram> programs, KernelProfile? profile)
    {
        if (profile is null)
        {
            return new DifferentialReport(run.Kernel, programs.Count, 0, 0, programs.Count, "no profile came back from the VM", []);
        }

        int equal = 0, notCompared = 0;
        var differences = new List<TraceDifference>();
        for (var i = 0; i < programs.Count; i++)
        {
            var result = run.Results[i];
            if (result is null)
            {
                notCompared++;
                continue;
            }

            var kernel = result.Trace ?? [$"runner threw in the VM: {FirstLine(result.Error)}"];
            List<string> engine;
            try
            {
                engine = Runner.Trace(new ReferenceEngine(profile), programs[i]);
            }
            catch (Exception e)
            {
                engine = [$"runner threw on the engine: {e.GetType().Name}: {e.Message}"];
            }

            var line = Runner.FirstDifference(kernel, engine);
            if (line < 0 && result.Trace is not null)
            {
                equal++;
            }
            else
            {
                line = Math.Max(line, 0);
                differences.Add(TraceDifference.At(i, programs[i], line, kernel, engine));
            }
        }

        return new DifferentialReport(run.Kernel, programs.Count, equal, differences.Count, notCompared, notCompared > 0 ? "results missing from the VM (see its problems)" : null, differences);
    }

    private static string FirstLine(string? text) => (text ?? "(no message)").Split('\n')[0].Trim();
}
