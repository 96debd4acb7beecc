using System.Text.Json;
using IoUring.Conformance.Vm;
using Xunit;

namespace IoUring.Conformance.Vm.Tests;

/// <summary>Generated batches are replayable: the same seed gives the same programs, and program i does not depend on the count.</summary>
public sealed class ProgramSamplerTests
{
    private static string Json(RingProgram[] programs) => JsonSerializer.Serialize(new ProgramBatch { Programs = programs }, AgentJson.Default.ProgramBatch);

    [Fact]
    public void TheSameSeedGivesTheSamePrograms() =>
        Assert.Equal(Json(ProgramSampler.Sample(65, 42, 30)), Json(ProgramSampler.Sample(65, 42, 30)));

    [Fact]
    public void ALongerRunStartsWithTheShorterOne() =>
        Assert.Equal(Json(ProgramSampler.Sample(65, 42, 10)), Json(ProgramSampler.Sample(65, 42, 40)[..10]));

    [Fact]
    public void AnotherSeedGivesOtherPrograms() =>
        Assert.NotEqual(Json(ProgramSampler.Sample(65, 42, 10)), Json(ProgramSampler.Sample(65, 43, 10)));

    [Fact]
    public void ABatchSurvivesTheAgentsJsonBothWays()
    {
        var batch = new ProgramBatch { Programs = ProgramSampler.Sample(65, 7, 50) };
        var json = JsonSerializer.Serialize(batch, AgentJson.Default.ProgramBatch);
        Assert.Equal(json, JsonSerializer.Serialize(JsonSerializer.Deserialize(json, AgentJson.Default.ProgramBatch)!, AgentJson.Default.ProgramBatch));
    }

    [Fact]
    public void TheCorpusOpCountIsTheLargestSnapshotsOne() =>
        Assert.True(SnapshotCorpus.OpLast(TestEnvironment.RepoRoot) >= 49, "IORING_OP_LAST is 49 in 6.1 and grows from there");
}
