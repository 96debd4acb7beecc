using System.Globalization;
using System.Text.Json;
using IoUring.Abi.Model;

namespace IoUring.Conformance.Vm;

/// <summary>
/// Joins shards, matrix runs of one batch on disjoint sets of columns (kernel, target, where), into the
/// matrix one run of all those columns gives. A cell depends on its column and the programs only, so
/// the columns are what a shard contributes; the rows are rebuilt from them with
/// <see cref="FeatureMatrix.Build"/>, from the programs regenerated from the shards' common source.
/// </summary>
public static class MatrixMerge
{
    /// <summary>A matrix.json as 'matrix' writes it (or the folder holding one), refused by name when it is not one.</summary>
    public static FeatureMatrix Read(string path)
    {
        var file = Directory.Exists(path) ? Path.Combine(path, "matrix.json") : path;
        if (!File.Exists(file))
        {
            throw new ToolException($"{file}: no such file; a shard is the matrix.json that 'io_uring-conformance matrix -o DIR' writes into DIR");
        }

        var text = File.ReadAllText(file);
        try
        {
            // The schema first: a matrix of another schema fails deserialization on its first unknown
            // field, and "unknown member X" would hide that the whole file is of another version.
            using (var doc = JsonDocument.Parse(text))
            {
                var schema = doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty(nameof(FeatureMatrix.Schema), out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
                if (schema != FeatureMatrix.SchemaId)
                {
                    throw new ToolException($"{file}: schema is {(schema is null ? "missing" : $"'{schema}'")}, expected '{FeatureMatrix.SchemaId}': not a matrix this io_uring-conformance writes");
                }
            }

            return JsonSerializer.Deserialize(text, ReportJson.Default.FeatureMatrix)
                ?? throw new ToolException($"{file}: holds null, not a matrix");
        }
        catch (JsonException e)
        {
            var where = e.LineNumber is { } line ? $"{file}:{line + 1}:{(e.BytePositionInLine ?? 0) + 1}" : file;
            throw new ToolException($"{where}: not a matrix as 'io_uring-conformance matrix' writes it ({e.Message})");
        }
    }

    /// <summary>
    /// Refuses shards that did not run the same batch: a merged column would then be charged with
    /// another batch's programs. Checked before the programs are regenerated from the first shard's source.
    /// </summary>
    public static void CheckSameSource(IReadOnlyList<(string Path, FeatureMatrix Matrix)> shards)
    {
        if (shards.Count == 0)
        {
            throw new ToolException("no shards to merge: name the matrix.json of each");
        }

        var (firstPath, first) = shards[0];
        foreach (var (path, m) in shards.Skip(1))
        {
            if (m.Source != first.Source || m.Programs != first.Programs || m.HostileCases != first.HostileCases)
            {
                throw new ToolException($"{path}: ran other programs than {firstPath} ({Describe(m)}, where {firstPath} ran {Describe(first)}); shards of one matrix run the same --seed, --cases, --hostile and --op-last (or the same --programs file)");
            }
        }
    }

    /// <summary>
    /// The merged matrix: the shards' columns in canonical order (<see cref="Canonical"/>), rows rebuilt
    /// from them. Shards run side by side, so the merged wall time is the slowest shard's.
    /// </summary>
    /// <param name="programs">The programs of the shards' source, as 'matrix' generated or read them.</param>
    /// <param name="kernelOrder">The kernels of the lock, in lock order.</param>
    /// <param name="opLast">As <see cref="MatrixRunner.OpLast"/> gives it for the source.</param>
    /// <param name="mmapOpcode">As <see cref="MatrixRunner.MmapOpcode"/> gives it.</param>
    public static FeatureMatrix Merge(IReadOnlyList<(string Path, FeatureMatrix Matrix)> shards, IReadOnlyList<RingProgram> programs, IReadOnlyList<string> kernelOrder, uint opLast, byte? mmapOpcode)
    {
        CheckSameSource(shards);
        var first = shards[0].Matrix;
        if (programs.Count != first.Programs)
        {
            throw new ToolException($"{shards[0].Path}: holds {first.Programs} programs, but its source ({Describe(first)}) gives {programs.Count} here");
        }

        var owner = new Dictionary<(string Kernel, string Target, string Where), string>();
        foreach (var (path, m) in shards)
        {
            foreach (var k in m.Kernels)
            {
                CheckColumn(path, m, k);
                if (!owner.TryAdd((k.Kernel, k.Target, k.Where), path))
                {
                    throw new ToolException($"{path}: column {k.Name} ({k.Where}, {k.Target}) is also in {owner[(k.Kernel, k.Target, k.Where)]}; a column may come from one shard only: leave one of them out, or run the shards on disjoint kernels and architectures");
                }
            }

            // Each shard's own rows, rebuilt here, must be what it wrote: otherwise this checkout charges
            // programs to features differently (another feature list, behaviour table or IORING_OP_LAST)
            // and the merge would not be the matrix a single run gives.
            var rebuilt = FeatureMatrix.Build(m.Source, programs, m.HostileCases, m.Kernels, m.WallSeconds, opLast, mmapOpcode);
            if (RowDifference(m, rebuilt) is { } difference)
            {
                throw new ToolException($"{path}: its rows are not what this checkout computes from its columns ({difference}); it was written by another version of io_uring-conformance, or edited: run the shards and the merge from one checkout");
            }
        }

        var columns = Canonical(shards.SelectMany(s => s.Matrix.Kernels), kernelOrder);
        return FeatureMatrix.Build(first.Source, programs, first.HostileCases, columns, shards.Max(s => s.Matrix.WallSeconds), opLast, mmapOpcode);
    }

    /// <summary>
    /// The one column order of a matrix, whoever assembles it: the host first, then the kernels in lock
    /// order (any other kernel after them, by name), each kernel's targets in <see cref="Targets.All"/>
    /// order. A single run and any merge of its shards therefore list their columns alike.
    /// </summary>
    public static List<KernelColumn> Canonical(IEnumerable<KernelColumn> columns, IReadOnlyList<string> kernelOrder)
    {
        static int IndexOr(int i) => i < 0 ? int.MaxValue : i;
        var kernels = kernelOrder.ToList();
        var targets = Targets.All.Select(a => a.Target).ToList();
        return columns
            .OrderBy(k => k.Where == "host" ? 0 : 1)
            .ThenBy(k => IndexOr(kernels.IndexOf(k.Kernel)))
            .ThenBy(k => k.Kernel, StringComparer.Ordinal)
            .ThenBy(k => IndexOr(targets.IndexOf(k.Target)))
            .ThenBy(k => k.Target, StringComparer.Ordinal)
            .ThenBy(k => k.Where, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>A column whose per-program arrays do not fit its matrix cannot have been written by a run of it.</summary>
    private static void CheckColumn(string path, FeatureMatrix m, KernelColumn k)
    {
        string? wrong =
            k.ProgramEqual.Length != m.Programs ? $"{k.ProgramEqual.Length} program verdicts"
            : k.SnapshotEqual is { } s && s.Length != m.Programs ? $"{s.Length} snapshot verdicts"
            : k.Hostile is { } h && h.Length != m.HostileCases ? $"{h.Length} hostile verdicts, for {m.HostileCases} hostile cases"
            : k.Differences.FirstOrDefault(d => d.Index < 0 || d.Index >= m.Programs) is { } d ? $"a difference for program {d.Index}"
            : null;
        if (wrong is not null)
        {
            throw new ToolException($"{path}: column {k.Name} holds {wrong} in a matrix of {m.Programs} programs; the file is damaged or edited");
        }
    }

    private static string? RowDifference(FeatureMatrix written, FeatureMatrix rebuilt)
    {
        if (written.Rows.Count != rebuilt.Rows.Count)
        {
            return $"{written.Rows.Count} rows written, {rebuilt.Rows.Count} computed";
        }

        foreach (var (w, r) in written.Rows.Zip(rebuilt.Rows))
        {
            if (w.Group != r.Group || w.Name != r.Name || !(w.Reproducers ?? []).SequenceEqual(r.Reproducers ?? []))
            {
                return $"row '{w.Name}' written where '{r.Name}' is computed";
            }

            for (var i = 0; i < w.Cells.Count && i < r.Cells.Count; i++)
            {
                if (w.Cells[i] != r.Cells[i])
                {
                    return $"row '{w.Name}', column {written.Kernels[i].Name}: '{w.Cells[i].Detail}' written, '{r.Cells[i].Detail}' computed";
                }
            }

            if (w.Cells.Count != r.Cells.Count)
            {
                return $"row '{w.Name}' has {w.Cells.Count} cells for {written.Kernels.Count} columns";
            }
        }

        return null;
    }

    private static string Describe(FeatureMatrix m) =>
        (m.Source.Seed is { } seed
            ? string.Create(CultureInfo.InvariantCulture, $"seed {seed}, {m.Source.Cases} programs, op-last {m.Source.OpLast?.ToString(CultureInfo.InvariantCulture) ?? "?"}")
            : $"{m.Programs} programs of {m.Source.File}")
        + $", {m.HostileCases} hostile cases";
}
