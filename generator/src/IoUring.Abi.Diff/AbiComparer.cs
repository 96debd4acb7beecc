using System.Numerics;
using IoUring.Abi.Model;

namespace IoUring.Abi.Diff;

/// <summary>
/// Compares two snapshots and classifies every change (docs/abi-diff.md). Each common target is
/// compared on its own; a change that reads the same on every target is reported once, otherwise
/// with the targets it applies to. Anonymous members are matched by their C names through the
/// flattened layout, anonymous unions by parent and offset, anonymous enums by their enumerators.
/// </summary>
public sealed class AbiComparer
{
    // Ring entries: their size is fixed by the ring layout, so growing them breaks every reader.
    private static readonly HashSet<string> RingElements = new(StringComparer.Ordinal)
    {
        "io_uring_sqe", "io_uring_cqe", "io_uring_buf", "io_uring_zcrx_rqe", "io_uring_zcrx_cqe",
    };

    private readonly AbiSnapshot a;
    private readonly AbiSnapshot b;
    private readonly Dictionary<string, RecordDecl> recordsA;
    private readonly Dictionary<string, RecordDecl> recordsB;

    private AbiComparer(AbiSnapshot a, AbiSnapshot b)
    {
        this.a = a;
        this.b = b;
        recordsA = a.Records.ToDictionary(r => r.Id, StringComparer.Ordinal);
        recordsB = b.Records.ToDictionary(r => r.Id, StringComparer.Ordinal);
    }

    public static Report Compare(AbiSnapshot a, AbiSnapshot b, IReadOnlyCollection<string>? onlyTargets = null)
    {
        var targets = a.Targets.Intersect(b.Targets).Where(t => onlyTargets is null || onlyTargets.Count == 0 || onlyTargets.Contains(t)).ToList();
        if (targets.Count == 0)
        {
            throw new ToolException($"the snapshots share no target ({string.Join(", ", a.Targets)} vs {string.Join(", ", b.Targets)})");
        }

        var c = new AbiComparer(a, b);
        var perTarget = targets.Select(t => c.CompareTarget(a.Targets.ToList().IndexOf(t), b.Targets.ToList().IndexOf(t))).ToList();
        // A change is keyed by what it says; the targets that say it are collected in one pass.
        var onTargets = new Dictionary<(int, string, string), (Change First, List<string> Targets)>();
        var order = new List<(int, string, string)>();
        for (var i = 0; i < targets.Count; i++)
        {
            foreach (var ch in perTarget[i])
            {
                var key = (ch.Class, ch.Name, ch.Message);
                if (!onTargets.TryGetValue(key, out var entry))
                {
                    entry = (ch, new List<string>());
                    onTargets[key] = entry;
                    order.Add(key);
                }

                if (!entry.Targets.Contains(targets[i]))
                {
                    entry.Targets.Add(targets[i]);
                }
            }
        }

        var merged = order.Select(k => onTargets[k]).Select(e => e.Targets.Count == targets.Count ? e.First : e.First with { Targets = e.Targets }).ToList();

        merged.AddRange(c.TargetIndependent());
        var ordered = merged
            .OrderByDescending(x => x.Severity)
            .ThenBy(x => x.Class)
            .ThenBy(x => x.Name, StringComparer.Ordinal)
            .ThenBy(x => x.Message, StringComparer.Ordinal)
            .ToList();
        return new Report(a.Kernel, b.Kernel, targets, ordered);
    }

    private List<Change> CompareTarget(int ta, int tb)
    {
        var changes = new List<Change>();
        CompareRecords(ta, tb, changes);
        CompareEnums(changes);
        CompareTypedefs(ta, tb, changes);
        CompareMacros(ta, tb, changes);
        return changes;
    }

    private void CompareRecords(int ta, int tb, List<Change> changes)
    {
        var topA = a.Records.Where(r => r.Name is not null && r.Parent is null).ToDictionary(r => r.Name!, StringComparer.Ordinal);
        var topB = b.Records.Where(r => r.Name is not null && r.Parent is null).ToDictionary(r => r.Name!, StringComparer.Ordinal);
        foreach (var (name, ra) in topA)
        {
            if (!topB.TryGetValue(name, out var rb))
            {
                // Only io_uring's own declarations; a referenced type of another header (struct
                // __kernel_timespec) that is no longer referenced has not gone anywhere.
                if (Naming.IsOwnFile(a, ra.Location))
                {
                    changes.Add(new Change(1, Severity.Break, name, $"{ra.CSpelling} removed", ra.Location));
                }

                continue;
            }

            CompareRecord(ra, rb, ta, tb, changes);
        }

        foreach (var (name, rb) in topB.Where(kv => !topA.ContainsKey(kv.Key)))
        {
            changes.Add(new Change(0, Severity.Compat, name, $"{rb.CSpelling} added ({rb.Size[tb]} bytes)", rb.Location));
        }
    }

    private void CompareRecord(RecordDecl ra, RecordDecl rb, int ta, int tb, List<Change> changes)
    {
        var name = ra.Name!;
        var ma = RecordLayout.Flatten(recordsA, ra, ta);
        var mb = RecordLayout.Flatten(recordsB, rb, tb);
        var byNameA = ma.ToDictionary(m => m.Path, StringComparer.Ordinal);
        var byNameB = mb.ToDictionary(m => m.Path, StringComparer.Ordinal);
        var handledA = new HashSet<string>(StringComparer.Ordinal);
        var handledB = new HashSet<string>(StringComparer.Ordinal);
        var sizeA = ra.Size[ta];
        var sizeB = rb.Size[tb];

        if (ra.Kind != rb.Kind)
        {
            changes.Add(new Change(2, Severity.Break, name, $"{ra.CSpelling} became a {rb.KindKeyword}", rb.Location));
        }

        // 5: reserved members whose bytes new members now use. A reserved member may shrink or move
        // inside its old bytes (pad[6] -> pad[3]) and still be the same reserve being consumed.
        foreach (var res in ma.Where(m => Naming.LooksReserved(m.Field.Name!) && m.Size > 0))
        {
            // A reserve that is still there, unchanged, is not consumed: new members over its bytes
            // are union alternatives (io_uring_sqe's attr_ptr beside addr3/__pad2).
            if (byNameB.TryGetValue(res.Path, out var kept) && kept.Start == res.Start && kept.Size == res.Size)
            {
                continue;
            }

            var users = mb.Where(m => !byNameA.ContainsKey(m.Path) && m.Start >= res.Start && m.End <= res.End && m.Size > 0).ToList();
            if (users.Count == 0)
            {
                continue;
            }

            handledA.Add(res.Path);
            foreach (var u in users)
            {
                handledB.Add(u.Path);
            }

            var rest = byNameB.TryGetValue(res.Path, out var after) ? $"; {res.Path} is now {after.Type} at {after.Start}" : $"; {res.Path} is gone";
            if (after is not null)
            {
                handledB.Add(after.Path);
            }

            changes.Add(new Change(5, Severity.Risk, $"{name}.{res.Path}", $"reserved '{res.Type} {res.Path}' (bytes {res.Start}..{res.End - 1}) consumed by {string.Join(", ", users.Select(u => $"'{u.Type} {u.Path}' at {u.Start}"))}{rest}; COMPAT if the kernel rejected non-zero values there, else old callers' garbage is now meaningful", rb.Location));
        }

        // Members that lost their name: a rename (same place and type), a reinterpretation in a
        // union (same place, other type), or a removal.
        foreach (var old in ma.Where(m => !handledA.Contains(m.Path) && !byNameB.ContainsKey(m.Path)))
        {
            var same = mb.FirstOrDefault(m => !byNameA.ContainsKey(m.Path) && !handledB.Contains(m.Path) && m.BitOffset == old.BitOffset && m.Size == old.Size && m.Canonical(tb) == old.Canonical(ta));
            if (same is not null)
            {
                handledB.Add(same.Path);
                changes.Add(new Change(11, Severity.Break, $"{name}.{old.Path}", $"'{old.Path}' renamed to '{same.Path}' (same offset {old.Start} and type {old.Type}): breaks sources", rb.Location));
                continue;
            }

            var other = old.Union is not null
                ? mb.FirstOrDefault(m => !byNameA.ContainsKey(m.Path) && !handledB.Contains(m.Path) && m.Start == old.Start && m.Union is not null)
                : null;
            if (other is not null)
            {
                handledB.Add(other.Path);
                changes.Add(new Change(8, Severity.Risk, $"{name}.{old.Path}", $"union member '{old.Type} {old.Path}' at {old.Start} reinterpreted as '{other.Type} {other.Path}'", rb.Location));
                continue;
            }

            changes.Add(new Change(1, Severity.Break, $"{name}.{old.Path}", $"member '{old.Type} {old.Path}' (offset {old.Start}) removed", ra.Location));
        }

        // Members present in both.
        foreach (var old in ma.Where(m => !handledA.Contains(m.Path) && byNameB.ContainsKey(m.Path)))
        {
            var now = byNameB[old.Path];
            handledB.Add(now.Path);
            var oldTrailing = old.Field.Dims.Count == 1 && old.Field.Dims[0] is 0 or 1 && old.End == sizeA;
            if (now.Field.Flexible && !old.Field.Flexible && (oldTrailing || (old.Field.Dims.Count == 1 && old.Field.Dims[0] == 0)))
            {
                changes.Add(new Change(18, Severity.Info, $"{name}.{old.Path}", $"'{old.Type} {old.Path}' became the flexible array '{now.Type}'", rb.Location));
                continue;
            }

            if (old.BitOffset != now.BitOffset || old.Field.BitWidth != now.Field.BitWidth)
            {
                changes.Add(new Change(2, Severity.Break, $"{name}.{old.Path}", $"'{old.Path}' moved from {Bits(old)} to {Bits(now)}", rb.Location));
            }
            else if (old.Size != now.Size)
            {
                changes.Add(new Change(2, Severity.Break, $"{name}.{old.Path}", $"'{old.Path}' changed size from {old.Size} to {now.Size} ({old.Type} -> {now.Type})", rb.Location));
            }
            else if (old.Canonical(ta) != now.Canonical(tb) || old.Type != now.Type)
            {
                changes.Add(new Change(10, Severity.Risk, $"{name}.{old.Path}", $"'{old.Path}' changed type from {old.Type} ({old.Canonical(ta)}) to {now.Type} ({now.Canonical(tb)}), same size", rb.Location));
            }
        }

        // New members.
        var coveredA = new CoveredBytes(ma.Select(m => (m.Start, m.End)), sizeA);

        var tail = new List<FlatMember>();
        foreach (var m in mb.Where(m => !handledB.Contains(m.Path)))
        {
            if (m.Start >= sizeA && sizeB > sizeA)
            {
                tail.Add(m);
                continue;
            }

            var unionA = m.Union is { } u ? MatchAnonymous(u, ra, ta, tb) : null;
            if (m.Union is not null && unionA is not null && m.Union.Size[tb] > unionA.Size[ta])
            {
                // The union grew to hold it: reported once, as union growth (class 9).
                continue;
            }

            if (m.Union is not null && (unionA is null || unionA.Size[ta] == m.Union.Size[tb]) && m.End <= sizeA)
            {
                changes.Add(new Change(7, Severity.Compat, $"{name}.{m.Path}", $"union member '{m.Type} {m.Path}' added at offset {m.Start}", rb.Location));
            }
            else if (m.Size > 0 && coveredA.NoneCovered(m.Start, Math.Min(m.End, sizeA)))
            {
                changes.Add(new Change(6, Severity.Risk, $"{name}.{m.Path}", $"'{m.Type} {m.Path}' placed in what was implicit padding (bytes {m.Start}..{m.End - 1}): old callers may leave garbage there", rb.Location));
            }
            else
            {
                changes.Add(new Change(2, Severity.Break, $"{name}.{m.Path}", $"'{m.Type} {m.Path}' inserted at offset {m.Start}, over bytes old members used", rb.Location));
            }
        }

        if (sizeB < sizeA)
        {
            changes.Add(new Change(rb.Kind == RecordKind.Union ? 3 : 3, Severity.Break, name, $"{ra.CSpelling} shrank from {sizeA} to {sizeB} bytes", rb.Location));
        }
        else if (sizeB > sizeA)
        {
            var added = tail.Count == 0 ? string.Empty : $"; new tail: {string.Join(", ", tail.Select(t => $"'{t.Type} {t.Path}' at {t.Start}"))}";
            if (rb.Kind == RecordKind.Union)
            {
                changes.Add(new Change(9, Severity.Break, name, $"{ra.CSpelling} grew from {sizeA} to {sizeB} bytes{added}", rb.Location));
            }
            else
            {
                var (severity, why) = RingElements.Contains(name) ? (Severity.Break, "a ring element: its size is fixed by the ring layout")
                    : mb.Any(m => m.Path is "size" or "sz" or "struct_size") ? (Severity.Compat, "its size is negotiated (it has a size member)")
                    : (Severity.Risk, "check that the kernel takes its size from the caller");
                changes.Add(new Change(4, severity, name, $"{ra.CSpelling} grew at the tail from {sizeA} to {sizeB} bytes{added} ({why})", rb.Location));
            }
        }

        if (ra.Align[ta] != rb.Align[tb])
        {
            changes.Add(new Change(2, Severity.Risk, name, $"{ra.CSpelling} alignment changed from {ra.Align[ta]} to {rb.Align[tb]} (its own layout is unchanged; structs that embed it may move)", rb.Location));
        }

        // 9: an anonymous union that grew (the parent may keep its size while offsets move).
        foreach (var ub in b.Records.Where(r => r.Name is null && r.Kind == RecordKind.Union && r.Id.StartsWith(name + "::", StringComparison.Ordinal)))
        {
            var ua = MatchAnonymous(ub, ra, ta, tb);
            if (ua is not null && ub.Size[tb] > ua.Size[ta])
            {
                changes.Add(new Change(9, Severity.Break, $"{name}.{ub.Id[(name.Length + 2)..]}", $"anonymous union at offset {OffsetOf(ub, tb, recordsB)} grew from {ua.Size[ta]} to {ub.Size[tb]} bytes", rb.Location));
            }
        }
    }

    /// <summary>The old anonymous record that a new one continues: same parent and offset, and shared member names.</summary>
    private RecordDecl? MatchAnonymous(RecordDecl anonB, RecordDecl topA, int ta, int tb)
    {
        if (anonB.Name is not null)
        {
            return recordsA.TryGetValue(anonB.Id, out var same) ? same : null;
        }

        if (recordsA.TryGetValue(anonB.Id, out var byId) && byId.Kind == anonB.Kind)
        {
            var namesA = byId.Fields.Select(f => f.Name).Where(n => n is not null).ToHashSet();
            if (anonB.Fields.Any(f => f.Name is not null && namesA.Contains(f.Name)) || anonB.Fields.All(f => f.Name is null))
            {
                return byId;
            }
        }

        return null;
    }

    private static long OffsetOf(RecordDecl anon, int t, Dictionary<string, RecordDecl> records)
    {
        long bits = 0;
        var current = anon;
        while (current.Parent is not null && records.TryGetValue(current.Parent, out var parent))
        {
            var field = parent.Fields.FirstOrDefault(f => f.Record == current.Id);
            bits += field?.BitOffset[t] ?? 0;
            current = parent;
        }

        return bits / 8;
    }

    private static string Bits(FlatMember m) =>
        m.Field.BitWidth is int w ? $"bit {m.BitOffset} (width {w})" : $"offset {m.Start}";

    private void CompareEnums(List<Change> changes)
    {
        var pairs = new List<(EnumDecl? A, EnumDecl? B)>();
        var unmatchedB = b.Enums.ToList();
        foreach (var ea in a.Enums)
        {
            EnumDecl? eb = ea.Name is not null
                ? unmatchedB.FirstOrDefault(e => e.Name == ea.Name)
                : unmatchedB.Where(e => e.Name is null)
                    .Select(e => (E: e, Shared: e.Enumerators.Count(x => ea.Enumerators.Any(y => y.Name == x.Name))))
                    .Where(x => x.Shared > 0).OrderByDescending(x => x.Shared).Select(x => x.E).FirstOrDefault();
            if (eb is not null)
            {
                unmatchedB.Remove(eb);
            }

            pairs.Add((ea, eb));
        }

        pairs.AddRange(unmatchedB.Select(e => ((EnumDecl?)null, (EnumDecl?)e)));
        foreach (var (ea, eb) in pairs)
        {
            if (ea is null)
            {
                changes.Add(new Change(0, Severity.Compat, eb!.Name ?? eb.Id, $"enum {eb.Name ?? "(anonymous)"} added with {string.Join(", ", eb.Enumerators.Select(x => x.Name))}", eb.Location));
                continue;
            }

            var label = ea.Name ?? ea.Id;
            if (eb is null)
            {
                changes.Add(new Change(1, Severity.Break, label, $"enum {ea.Name ?? "(anonymous)"} removed ({string.Join(", ", ea.Enumerators.Select(x => x.Name))})", ea.Location));
                continue;
            }

            var oldByName = ea.Enumerators.ToDictionary(x => x.Name, StringComparer.Ordinal);
            var newByName = eb.Enumerators.ToDictionary(x => x.Name, StringComparer.Ordinal);
            // Appended means past the old end of the list: at or after the old *_LAST sentinel when
            // there is one (io_uring_register_op keeps a 1U << 31 flag after its sentinel), else past
            // the old largest value.
            var sentinel = ea.Enumerators.FirstOrDefault(x => Naming.IsSentinel(x.Name));
            var maxOld = sentinel is not null ? sentinel.Value - 1 : ea.Enumerators.Select(x => x.Value).DefaultIfEmpty(BigInteger.MinusOne).Max();
            foreach (var x in ea.Enumerators)
            {
                if (!newByName.TryGetValue(x.Name, out var now))
                {
                    changes.Add(new Change(1, Severity.Break, x.Name, $"enumerator {x.Name} (= {x.Value}) removed from enum {ea.Name ?? "(anonymous)"}", ea.Location));
                }
                else if (now.Value != x.Value)
                {
                    changes.Add(Naming.IsSentinel(x.Name)
                        ? new Change(12, Severity.Info, x.Name, $"sentinel {x.Name} moved from {x.Value} to {now.Value}", eb.Location)
                        : new Change(12, Severity.Break, x.Name, $"enumerator {x.Name} changed value from {x.Value} to {now.Value}", eb.Location));
                }
            }

            foreach (var x in eb.Enumerators.Where(x => !oldByName.ContainsKey(x.Name)))
            {
                changes.Add(x.Value > maxOld || Naming.IsSentinel(x.Name)
                    ? new Change(12, Severity.Compat, x.Name, $"enumerator {x.Name} = {x.Value} appended to enum {eb.Name ?? "(anonymous)"}", eb.Location)
                    : new Change(12, Severity.Break, x.Name, $"enumerator {x.Name} = {x.Value} inserted in the middle of enum {eb.Name ?? "(anonymous)"}", eb.Location));
            }

            if (!ea.Underlying.First.Equals(eb.Underlying.First, StringComparison.Ordinal))
            {
                changes.Add(new Change(10, Severity.Risk, label, $"enum {label} underlying type changed from {ea.Underlying.First} to {eb.Underlying.First}", eb.Location));
            }
        }
    }

    private void CompareTypedefs(int ta, int tb, List<Change> changes)
    {
        var tdB = b.Typedefs.ToDictionary(t => t.Name, StringComparer.Ordinal);
        foreach (var t in a.Typedefs)
        {
            if (!tdB.TryGetValue(t.Name, out var now))
            {
                // A typedef of linux/types.h that the new headers stopped using still exists there.
                if (Naming.IsOwnFile(a, t.Location))
                {
                    changes.Add(new Change(1, Severity.Break, t.Name, $"typedef {t.Name} removed", t.Location));
                }
            }
            else if (t.Size[ta] != now.Size[tb])
            {
                changes.Add(new Change(2, Severity.Break, t.Name, $"typedef {t.Name} changed size from {t.Size[ta]} to {now.Size[tb]}", now.Location));
            }
            else if (t.Canonical[ta] != now.Canonical[tb])
            {
                changes.Add(new Change(10, Severity.Risk, t.Name, $"typedef {t.Name} changed from {t.Canonical[ta]} to {now.Canonical[tb]}, same size", now.Location));
            }
        }
    }

    private void CompareMacros(int ta, int tb, List<Change> changes)
    {
        var mB = b.Macros.ToDictionary(m => m.Name, StringComparer.Ordinal);
        var mA = a.Macros.ToDictionary(m => m.Name, StringComparer.Ordinal);
        foreach (var m in a.Macros)
        {
            if (!mB.TryGetValue(m.Name, out var now))
            {
                changes.Add(new Change(13, Severity.Break, m.Name, $"macro {m.Name} (= {m.Value[ta]}) removed: breaks sources", m.Location));
                continue;
            }

            var ov = m.Value[ta];
            var nv = now.Value[tb];
            if (ov != nv)
            {
                var ioctl = m.Expression.Contains("_IO", StringComparison.Ordinal) || now.Expression.Contains("_IO", StringComparison.Ordinal);
                var widened = (m.Name.EndsWith("_MASK", StringComparison.Ordinal) && (nv & ov) == ov) || (Naming.IsSentinel(m.Name) && nv > ov);
                changes.Add(ioctl ? new Change(15, Severity.Break, m.Name, $"ioctl number {m.Name} changed from 0x{ov:x} to 0x{nv:x}", now.Location)
                    : widened ? new Change(13, Severity.Info, m.Name, $"{m.Name} widened from 0x{ov:x} to 0x{nv:x} ({now.Expression})", now.Location)
                    : new Change(13, Severity.Break, m.Name, $"macro {m.Name} changed value from {ov} to {nv} ({m.Expression} -> {now.Expression})", now.Location));
            }
            else if (m.Type[ta] != now.Type[tb])
            {
                changes.Add(new Change(10, Severity.Risk, m.Name, $"macro {m.Name} changed type from {m.Type[ta]} to {now.Type[tb]}, same value", now.Location));
            }
        }

        foreach (var m in b.Macros.Where(m => !mA.ContainsKey(m.Name)))
        {
            changes.Add(new Change(13, Severity.Compat, m.Name, $"macro {m.Name} = {m.Value[tb]} added ({m.Type[tb]})", m.Location));
        }

        // 14: a bit one name of a family gave up and another took.
        var removed = a.Macros.Where(m => !mB.ContainsKey(m.Name) && Naming.Family(m.Name) is not null && Naming.IsSingleBit(m.Value[ta])).ToList();
        foreach (var old in removed)
        {
            var taker = b.Macros.FirstOrDefault(m => !mA.ContainsKey(m.Name) && Naming.Family(m.Name) == Naming.Family(old.Name) && m.Value[tb] == old.Value[ta]);
            if (taker is not null)
            {
                changes.Add(new Change(14, Severity.Break, taker.Name, $"bit 0x{old.Value[ta]:x} of {Naming.Family(old.Name)} was {old.Name} and is now {taker.Name}: old binaries ask for the old meaning", taker.Location));
            }
        }
    }

    /// <summary>Facts of the new snapshot as a whole: hazards and target differences it introduces.</summary>
    private IEnumerable<Change> TargetIndependent()
    {
        var lintA = UapiLint.Run(a).Changes.Where(c => c.Severity >= Severity.Risk).Select(c => (c.Class, c.Name)).ToHashSet();
        foreach (var finding in UapiLint.Run(b).Changes.Where(c => c.Severity >= Severity.Risk && c.Class is 16 or 17 or 14))
        {
            if (!lintA.Contains((finding.Class, finding.Name)))
            {
                yield return finding with { Message = "new hazard: " + finding.Message };
            }
        }

        var headersB = b.Headers.Select(h => h.Path).ToHashSet(StringComparer.Ordinal);
        foreach (var h in a.Headers.Where(h => !headersB.Contains(h.Path)))
        {
            yield return new Change(1, Severity.Break, h.Path, $"header {h.Path} removed", null);
        }

        foreach (var h in b.Headers.Where(h => !a.Headers.Any(x => x.Path == h.Path)))
        {
            yield return new Change(0, Severity.Compat, h.Path, $"header {h.Path} added", null);
        }
    }
}
