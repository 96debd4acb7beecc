using System.Xml.Linq;
using Xunit;

namespace IoUring.Conformance.Tests;

/// <summary>
/// The tower of projects, read from their project files: every reference points down the pipeline
/// (headers -> front end -> ABI model -> emitters -> bindings -> client ring -> engine -> probe ->
/// conformance), never up or sideways into a stage of the same height, and nothing but a test or a
/// benchmark sits above everything.
/// </summary>
public sealed class ProjectDependencyTests
{
    // Each project's height: a project may reference only projects lower than itself. Tests and
    // benchmarks (".Tests", ".Bench") may reference any project, and no project may reference them.
    private static readonly Dictionary<string, int> Height = new(StringComparer.Ordinal)
    {
        ["IoUring.Abi.Model"] = 0,
        ["IoUring.Abi.Headers"] = 1,
        ["IoUring.Abi.Clang"] = 1,
        ["IoUring.Abi.Diff"] = 1,
        ["IoUring.Bindings.Generator"] = 1,
        ["IoUring.Abi.Cli"] = 2,
        ["IoUring.Bindings"] = 3,
        ["IoUring.Ring"] = 4,
        ["IoUring.Engine"] = 5,
        ["IoUring.Probe"] = 6,
        ["IoUring.Engine.Native"] = 6,
        ["IoUring.Conformance"] = 7,
        ["IoUring.Conformance.Agent"] = 8,
        ["IoUring.Conformance.Vm"] = 9,
        ["IoUring.Conformance.Liburing"] = 10,
        ["IoUring.Conformance.Cli"] = 11,
    };

    [Fact]
    public void EveryProjectReferencePointsDownThePipeline()
    {
        var projects = ProjectFiles();
        Assert.True(projects.Count >= Height.Count, $"found {projects.Count} project files under {Repository.Root}");

        var wrong = new List<string>();
        foreach (var path in projects)
        {
            var name = Path.GetFileNameWithoutExtension(path);
            var isLeaf = IsTestOrBench(name);
            if (!isLeaf && !Height.ContainsKey(name))
            {
                wrong.Add($"{name}: not in the table of heights; give it one in {nameof(ProjectDependencyTests)}");
                continue;
            }

            foreach (var reference in XDocument.Load(path).Descendants("ProjectReference").Select(e => Path.GetFileNameWithoutExtension((string)e.Attribute("Include")!)))
            {
                if (IsTestOrBench(reference))
                {
                    wrong.Add($"{name} -> {reference}: nothing may reference a test or a benchmark");
                }
                else if (!Height.TryGetValue(reference, out var to))
                {
                    wrong.Add($"{name} -> {reference}: {reference} is not in the table of heights");
                }
                else if (!isLeaf && to >= Height[name])
                {
                    wrong.Add($"{name} (height {Height[name]}) -> {reference} (height {to}): a reference must point down");
                }
            }
        }

        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }

    /// <summary>
    /// Every stage keeps its projects in the same places: libraries and tools in STAGE/src, tests in
    /// STAGE/tests, benchmarks in STAGE/bench (the bindings, being generated, live in generated/). A stage's
    /// tests reach nothing of a later stage, so the engine's tests run on the engine alone.
    /// </summary>
    [Fact]
    public void EveryProjectSitsInItsStagesSrcTestsOrBenchAndItsTestsLookNoFurtherThanTheirStage()
    {
        string[] stages = ["generator", "engine", "conformance", "packaging"];
        var wrong = new List<string>();
        foreach (var path in ProjectFiles())
        {
            var name = Path.GetFileNameWithoutExtension(path);
            var parts = Path.GetRelativePath(Repository.Root, path).Split(Path.DirectorySeparatorChar);
            var place = name.EndsWith(".Tests", StringComparison.Ordinal) ? "tests" : name.EndsWith(".Bench", StringComparison.Ordinal) ? "bench" : "src";
            var expected = name == "IoUring.Bindings" ? ["generated", name, name + ".csproj"] : new[] { parts[0], place, name, name + ".csproj" };
            if (!parts.SequenceEqual(expected) || (name != "IoUring.Bindings" && !stages.Contains(parts[0])))
            {
                wrong.Add($"{string.Join('/', parts)}: expected STAGE/{place}/{name}/{name}.csproj, STAGE one of {string.Join(", ", stages)}");
                continue;
            }

            if (place != "tests")
            {
                continue;
            }

            var stage = Array.IndexOf(stages, parts[0]);
            foreach (var include in XDocument.Load(path).Descendants("ProjectReference").Select(e => (string)e.Attribute("Include")!))
            {
                var target = Path.GetRelativePath(Repository.Root, Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, include))).Split(Path.DirectorySeparatorChar)[0];
                var targetStage = target == "generated" ? 0 : Array.IndexOf(stages, target);
                if (targetStage > stage)
                {
                    wrong.Add($"{name} -> {Path.GetFileNameWithoutExtension(include)}: the tests of {parts[0]} reach into {target}, a later stage");
                }
            }
        }

        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }

    /// <summary>Every project file of the checkout, build output and hidden folders left out.</summary>
    private static List<string> ProjectFiles() =>
        Directory.EnumerateFiles(Repository.Root, "*.csproj", SearchOption.AllDirectories)
            .Where(p => !p.Split(Path.DirectorySeparatorChar).Any(d => d is "bin" or "obj" or "TestResults" || d.StartsWith('.')))
            .ToList();

    private static bool IsTestOrBench(string project) => project.EndsWith(".Tests", StringComparison.Ordinal) || project.EndsWith(".Bench", StringComparison.Ordinal);
}
