namespace IoUring.Abi.Diff;

/// <summary>
/// The bytes of a record that its members cover, as sorted, merged intervals. A map of one flag per
/// byte is as large as the record, and a record can be gigabytes (an array of 1 &lt;&lt; 30 elements is
/// legal C): the fuzzer found diff and lint dying of an OverflowException (after allocating 2 GB) on one.
/// </summary>
internal sealed class CoveredBytes
{
    private readonly List<(long Start, long End)> spans = new();

    /// <summary>The parts of <paramref name="covered"/> inside [0, <paramref name="size"/>).</summary>
    public CoveredBytes(IEnumerable<(long Start, long End)> covered, long size)
    {
        Size = Math.Max(0, size);
        foreach (var (start, end) in covered.Select(c => (Start: Math.Max(0, c.Start), End: Math.Min(Size, c.End))).Where(c => c.End > c.Start).OrderBy(c => c.Start))
        {
            if (spans.Count > 0 && start <= spans[^1].End)
            {
                spans[^1] = (spans[^1].Start, Math.Max(spans[^1].End, end));
            }
            else
            {
                spans.Add((start, end));
            }
        }
    }

    public long Size { get; }

    /// <summary>The uncovered runs of [0, Size), in order.</summary>
    public IEnumerable<(long Start, long End)> Gaps()
    {
        long at = 0;
        foreach (var (start, end) in spans.Append((Size, Size)))
        {
            if (start > at)
            {
                yield return (at, start);
            }

            at = Math.Max(at, end);
        }
    }

    /// <summary>Whether no byte of [start, end) is covered (true for an empty range).</summary>
    public bool NoneCovered(long start, long end) => end <= start || spans.All(s => s.End <= start || s.Start >= end);
}
