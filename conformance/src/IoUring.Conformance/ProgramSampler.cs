using FsCheck;
using FsCheck.Fluent;

namespace IoUring.Conformance;

/// <summary>
/// Deterministic samples of <see cref="ProgramGen.Program"/>: program i of seed S is the same on every
/// machine and in every run, whatever the number of cases, so a run is replayed by its seed and a
/// failing program is named by (seed, index). Each program gets its own FsCheck seed, mixed from S and i
/// (SplitMix64's finaliser), and a size that ramps 1..100 like FsCheck's own runner does over a check.
/// </summary>
public static class ProgramSampler
{
    public static RingProgram[] Sample(uint opLast, ulong seed, int count) =>
        Draw(ProgramGen.Program(opLast), seed, count, "the number of programs must be 0 or more");

    /// <summary>Hostile case i of seed S, drawn the same way (its own stream: programs and cases of one seed are independent).</summary>
    public static HostileCase[] SampleHostile(uint opLast, ulong seed, int count) =>
        Draw(Hostile.Case(opLast), seed ^ HostileStream, count, "the number of hostile cases must be 0 or more");

    private static T[] Draw<T>(Gen<T> gen, ulong seed, int count, string negative)
    {
        if (count < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, negative);
        }

        var drawn = new T[count];
        for (var i = 0; i < count; i++)
        {
            drawn[i] = gen.Sample(1, new Rnd(Mix(seed, (ulong)i)), 1 + (i % 100))[0];
        }

        return drawn;
    }

    private const ulong HostileStream = 0x686f7374696c6521; // "hostile!"

    private static ulong Mix(ulong seed, ulong index)
    {
        var z = seed + ((index + 1) * 0x9E3779B97F4A7C15UL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
