namespace IoUring.Abi.Cli.Fuzzing;

/// <summary>
/// SplitMix64: a small generator whose sequence is fixed by these few lines alone. System.Random's
/// seeded sequence belongs to the runtime, and a fuzz seed must name the same mutants on every .NET
/// version, or a reproducer line in a bug report stops reproducing after an SDK update.
/// </summary>
internal sealed class Prng
{
    private ulong state;

    public Prng(ulong seed) => state = seed;

    /// <summary>
    /// The generator of one mutant: derived from the run's seed and the mutant's index only, so mutant
    /// 4711 is the same whether it is made alone (fuzz --from 4711 --mutants 1) or in a run of 10,000.
    /// </summary>
    public static Prng ForMutant(ulong seed, long index) => new(new Prng(seed ^ ((ulong)index * 0xD1B54A32D192ED03UL)).Next());

    public ulong Next()
    {
        state += 0x9E3779B97F4A7C15UL;
        var z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A number in [0, n).</summary>
    public int Below(int n) => n <= 1 ? 0 : (int)(Next() % (ulong)n);

    /// <summary>A number in [min, max].</summary>
    public int Between(int min, int max) => min + Below(max - min + 1);

    public bool Percent(int chance) => Below(100) < chance;

    public T Pick<T>(IReadOnlyList<T> items) => items[Below(items.Count)];
}
