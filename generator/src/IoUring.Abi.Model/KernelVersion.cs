using System;
using System.Collections.Generic;
using System.Linq;

namespace IoUring.Abi.Model;

/// <summary>
/// Orders kernel labels of the corpus numerically: "6.1" &lt; "6.12" &lt; "7.2" &lt; "7.3-rc"
/// (an -rc after the releases before it; labels that are not versions compare as text).
/// </summary>
public sealed class KernelVersion : IComparer<string>
{
    public static readonly KernelVersion Order = new();

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

    public int Compare(string? x, string? y) => CompareLabels(x ?? string.Empty, y ?? string.Empty);

    private static int[] Parts(string v) =>
        v.Split('-')[0].Split('.').Select(p => int.TryParse(p, out var n) ? n : 0).ToArray();
}
