using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace IoUring.Abi.Model;

/// <summary>
/// A kernel's major and minor version, and the one ordering of the corpus's kernel labels:
/// "6.1" &lt; "6.12" &lt; "7.2" &lt; "7.3-rc" (an -rc after the releases before it; labels that are not
/// versions compare as text). "The newest kernel" is decided here and nowhere else.
/// </summary>
public readonly record struct KernelVersion(int Major, int Minor) : IComparable<KernelVersion>
{
    /// <summary>Orders kernel labels numerically.</summary>
    public static readonly IComparer<string> Order = Comparer<string>.Create(CompareLabels);

    /// <summary>A kernel newer than every released one: a proposal, or a name that is no version.</summary>
    public static readonly KernelVersion Future = new(int.MaxValue, 0);

    /// <summary>
    /// The version a corpus label ("6.12", "7.3-rc") or a release ("6.1.0-50-cloud-amd64",
    /// "6.18.44-fc-v1045") starts with; <see cref="Future"/> for anything else (a proposal is written
    /// over the newest header of the corpus).
    /// </summary>
    public static KernelVersion Parse(string kernel)
    {
        var parts = kernel.Split('.', '-');
        return parts.Length >= 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var major) && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var minor)
            ? new KernelVersion(major, minor)
            : Future;
    }

    public static int CompareLabels(string a, string b)
    {
        var x = Parts(a);
        var y = Parts(b);
        for (var i = 0; i < Math.Max(x.Length, y.Length); i++)
        {
            var c = (i < x.Length ? x[i] : 0).CompareTo(i < y.Length ? y[i] : 0);
            if (c != 0)
            {
                return c;
            }
        }

        return string.CompareOrdinal(a, b);
    }

    /// <summary>The newest of <paramref name="labels"/>, an -rc included (null when there are none): the default base of a header or patch.</summary>
    public static string? Newest(IEnumerable<string> labels) => labels.OrderBy(l => l, Order).LastOrDefault();

    /// <summary>The newest released kernel of <paramref name="labels"/> (no -rc; the newest -rc when there is nothing else): the default kernel of the bindings.</summary>
    public static string? NewestReleased(IEnumerable<string> labels)
    {
        var all = labels.ToList();
        return Newest(all.Where(l => !l.Contains("-rc"))) ?? Newest(all);
    }

    public int CompareTo(KernelVersion other) => Major != other.Major ? Major.CompareTo(other.Major) : Minor.CompareTo(other.Minor);

    public static bool operator <(KernelVersion a, KernelVersion b) => a.CompareTo(b) < 0;

    public static bool operator >(KernelVersion a, KernelVersion b) => a.CompareTo(b) > 0;

    public static bool operator <=(KernelVersion a, KernelVersion b) => a.CompareTo(b) <= 0;

    public static bool operator >=(KernelVersion a, KernelVersion b) => a.CompareTo(b) >= 0;

    public override string ToString() => Major.ToString(CultureInfo.InvariantCulture) + "." + Minor.ToString(CultureInfo.InvariantCulture);

    private static int[] Parts(string v) =>
        v.Split('-')[0].Split('.').Select(p => int.TryParse(p, out var n) ? n : 0).ToArray();
}
