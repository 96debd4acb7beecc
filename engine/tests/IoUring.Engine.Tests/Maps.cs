using System.Globalization;

namespace IoUring.Engine.Tests;

/// <summary>What /proc/self/maps says about a range, and what it holds.</summary>
internal static unsafe class Maps
{
    /// <summary>
    /// The range [address, address + length rounded to pages): whether one or more mappings cover it
    /// entirely, their permissions, and a digest of the bytes when readable. Neighbouring mappings
    /// with equal permissions merge in /proc/self/maps, so only coverage is compared, not VMA bounds.
    /// </summary>
    public static string Describe(nint address, uint length, int prot)
    {
        var end = (ulong)address + (((ulong)length + 4095) & ~4095UL);
        var perms = new HashSet<string>();
        var covered = (ulong)address;
        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            var dash = line.IndexOf('-');
            var space = line.IndexOf(' ');
            var lo = ulong.Parse(line.AsSpan(0, dash), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            var hi = ulong.Parse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (hi <= covered || lo > covered || covered >= end)
            {
                continue;
            }

            perms.Add(line.Substring(space + 1, 4));
            covered = Math.Min(hi, end);
        }

        var text = $"{end - (ulong)address} bytes {(covered >= end ? "mapped" : $"only {covered - (ulong)address} mapped")} {string.Join("/", perms.Order())}";
        // Read only what /proc/self/maps says is readable now: a later MAP_FIXED may have replaced it.
        if ((prot & 1) != 0 && covered >= end && length > 0 && perms.All(p => p[0] == 'r'))
        {
            var h = 14695981039346656037UL;
            foreach (var b in new ReadOnlySpan<byte>((void*)address, (int)length))
            {
                h = (h ^ b) * 1099511628211UL;
            }

            text += $" content {h:x16}";
        }

        return text;
    }
}
