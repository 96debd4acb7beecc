using System;
using System.Collections.Generic;
using System.Linq;

namespace IoUring.Abi.Model;

/// <summary>
/// One value for each target of a snapshot, in the order of <see cref="AbiSnapshot.Targets"/>.
/// Most facts agree on every target; the JSON form writes those as a single scalar so that the
/// places where targets differ stand out in a diff.
/// </summary>
public sealed class PerTarget<T> : IEquatable<PerTarget<T>>
{
    private readonly T[] values;

    public PerTarget(IEnumerable<T> values)
    {
        this.values = values.ToArray();
        if (this.values.Length == 0)
        {
            throw new ArgumentException("a per-target value needs at least one target", nameof(values));
        }
    }

    public static PerTarget<T> Uniform(T value, int targetCount) => new(Enumerable.Repeat(value, targetCount));

    public int Count => values.Length;

    public T this[int target] => values[target];

    public IReadOnlyList<T> Values => values;

    public bool IsUniform => values.All(v => EqualityComparer<T>.Default.Equals(v, values[0]));

    /// <summary>The value on the first target; use only where <see cref="IsUniform"/> holds or any target will do.</summary>
    public T First => values[0];

    public PerTarget<TResult> Select<TResult>(Func<T, TResult> map) => new(values.Select(map));

    public bool Equals(PerTarget<T>? other) =>
        other is not null && values.SequenceEqual(other.values);

    public override bool Equals(object? obj) => obj is PerTarget<T> other && Equals(other);

    public override int GetHashCode()
    {
        var hash = 17;
        foreach (var v in values)
        {
            hash = (hash * 31) + (v is null ? 0 : EqualityComparer<T>.Default.GetHashCode(v));
        }

        return hash;
    }

    public override string ToString() => IsUniform ? $"{values[0]}" : "[" + string.Join(", ", values) + "]";
}
