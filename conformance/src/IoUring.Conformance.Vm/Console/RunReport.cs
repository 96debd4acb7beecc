using System.Text.Json;
using System.Text.Json.Serialization;
using IoUring.Engine;

namespace IoUring.Conformance.Vm;

/// <summary>Where a run's programs came from: a file, or a seed and a count (replayable with the same op count).</summary>
public sealed record ProgramSource(string? File, ulong? Seed, int Cases, uint? OpLast);

/// <summary>How long each phase of a boot took on the host, from when init's and the agent's lines arrived.</summary>
/// <param name="Kernel">qemu start to init: firmware, kernel decompression and boot, unpacking the initramfs.</param>
/// <param name="AgentStart">Init to the agent's first line: .NET start-up, reading the batch, probing the kernel.</param>
/// <param name="Programs">The agent's first line to init's end marker: the programs and their output.</param>
/// <param name="Wall">The qemu process as the host saw it (power-off included).</param>
/// <param name="GuestInstructions">Billions of instructions the guest executed (its uptime under -icount): the boot's cost whatever the host's load.</param>
public sealed record BootPhases(double? Kernel, double? AgentStart, double? Programs, double Wall, double? GuestInstructions)
{
    public static BootPhases Of(VmRun run) => new(
        run.HostMarks.Init,
        run.HostMarks.Hello - run.HostMarks.Init,
        run.HostMarks.Exit - run.HostMarks.Hello,
        run.WallSeconds,
        run.ExitUptime);

    public override string ToString() =>
        $"{Fmt(Kernel)} kernel + {Fmt(AgentStart)} agent start + {Fmt(Programs)} programs = {Wall:0.0} s wall ({(GuestInstructions is { } g ? $"{g:0.00}" : "?")} G instructions)";

    private static string Fmt(double? s) => s is null ? "?" : $"{s:0.0} s";
}

public sealed record KernelRunReport(
    string Kernel,
    string? Release,
    string? Uname,
    KernelProfile? Profile,
    bool Failed,
    IReadOnlyList<string> Problems,
    IReadOnlyList<string> Notes,
    BootPhases Phases,
    int? AgentExitCode,
    IReadOnlyList<string> KernelMessages,
    DifferentialReport? Differential,
    IReadOnlyList<AgentResult?> Results,
    string Console,
    string? EarlierConsole);

/// <summary>What <c>vm run --output</c> writes: the programs, and per kernel its profile, traces, problems, differential and console.</summary>
public sealed record RunReport(string Schema, ProgramSource Source, IReadOnlyList<RingProgram> Programs, IReadOnlyList<KernelRunReport> Kernels)
{
    public const string SchemaId = "io_uring-conformance-vm-run/1";

    public static KernelRunReport For(VmRun run, DifferentialReport? differential) => new(
        run.Kernel,
        run.Release,
        run.Hello?.Kernel,
        run.Hello?.Profile,
        run.Failed,
        run.Problems,
        run.Notes,
        BootPhases.Of(run),
        run.ExitCode,
        run.KernelMessages,
        differential,
        run.Results,
        run.Console,
        run.EarlierConsole);
}

/// <summary>
/// System.Text.Json metadata for what the command line writes (run reports, the matrix, program batches),
/// generated at build time like the agent's (<see cref="AgentJson"/>, whose rules it keeps) so that the
/// command line compiles ahead of time without reflection.
/// </summary>
[JsonSourceGenerationOptions(
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    RespectNullableAnnotations = true,
    UseStringEnumConverter = true,
    WriteIndented = true)]
[JsonSerializable(typeof(RunReport))]
[JsonSerializable(typeof(FeatureMatrix))]
[JsonSerializable(typeof(ProgramBatch))]
public sealed partial class ReportJson : JsonSerializerContext;
