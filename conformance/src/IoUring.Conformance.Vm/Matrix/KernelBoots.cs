using IoUring.Abi.Model;

namespace IoUring.Conformance.Vm;

/// <summary>
/// Boots every named kernel once under qemu, all from the same initramfs and the same batch, at most
/// <c>parallel</c> at a time, each under its own watchdog, and reads each console back as a <see cref="VmRun"/>.
/// <para>
/// A boot that fails (panic, oops, hang, lost output) is booted once more with the same batch. Under
/// qemu's software emulation on a loaded 2-core host, boots occasionally crash in ways no kernel does
/// on hardware (a double fault in kmalloc, list corruption and GP faults at early boot before any of our
/// code ran, init faulting at its first instruction); a failure that reproduces is the kernel's, one that
/// does not is reported as a note with its console kept, never silently dropped.
/// </para>
/// </summary>
public sealed class KernelBoots
{
    /// <summary>
    /// How the note of a retried boot begins: whether a boot needs a second try is the emulator's luck,
    /// not the kernel's, so this note is the one thing besides timings that two runs of the same batch
    /// on the same kernels may write differently.
    /// </summary>
    public const string RetryNote = "the first boot failed";

    private readonly VmCache cache;
    private readonly string repoRoot;
    private readonly Action<string> log;

    public KernelBoots(VmCache cache, string repoRoot, Action<string> log)
    {
        this.cache = cache;
        this.repoRoot = repoRoot;
        this.log = log;
    }

    /// <summary>The agent each architecture's VMs run, where not the default (<see cref="AgentBuild.ForArchitecture"/>).</summary>
    public IReadOnlyDictionary<VmArchitecture, AgentBuild>? Agents { get; init; }

    public async Task<IReadOnlyList<VmRun>> RunAsync(IReadOnlyList<LockedImage> kernels, ProgramBatch batch, QemuOptions options, int parallel, CancellationToken cancel = default)
    {
        if (parallel < 1)
        {
            throw new ToolException($"--parallel {parallel}: at least one VM must run at a time");
        }

        var images = kernels.Select(k => (Kernel: k, Vmlinuz: cache.TryGetVerified(k, out var problem)
            ?? throw new ToolException($"{problem}; run 'io_uring-conformance kernels fetch --locked' (or './make.sh test', which does)"))).ToList();

        // One initramfs per architecture: its init and agent are built for it.
        var initrds = new Dictionary<VmArchitecture, string>();
        try
        {
            foreach (var arch in images.Select(i => VmArchitecture.Of(i.Kernel)).Distinct())
            {
                arch.FindQemu();
                var agent = Agents?.GetValueOrDefault(arch) ?? AgentBuild.ForArchitecture(repoRoot, arch);
                agent.CheckMatches(AppContext.BaseDirectory);
                var initramfs = new InitramfsBuilder(cache, log).Build(agent, arch);
                Directory.CreateDirectory(cache.RunsDir);
                var initrd = Path.Combine(cache.RunsDir, $"{Environment.ProcessId}-{Guid.NewGuid():N}.initrd");
                initrds[arch] = initrd;
                InitramfsBuilder.WithBatch(initramfs, batch, initrd);
            }

            return await BootAllAsync(images, initrds, batch, options, parallel, cancel);
        }
        finally
        {
            foreach (var initrd in initrds.Values)
            {
                File.Delete(initrd);
            }
        }
    }

    private async Task<IReadOnlyList<VmRun>> BootAllAsync(List<(LockedImage Kernel, string Vmlinuz)> images, Dictionary<VmArchitecture, string> initrds, ProgramBatch batch, QemuOptions options, int parallel, CancellationToken cancel)
    {
        using var gate = new SemaphoreSlim(parallel);
        var runs = images.Select(async image =>
        {
            await gate.WaitAsync(cancel);
            try
            {
                var arch = VmArchitecture.Of(image.Kernel);
                var initrd = initrds[arch];
                var archOptions = options with { Architecture = arch };
                var run = await BootAsync(image.Kernel, image.Vmlinuz, initrd, batch, archOptions, cancel);
                if (run.Failed)
                {
                    log($"{image.Kernel.Name}: boot failed ({run.Problems[0]}); booting it again with the same programs");
                    var again = await BootAsync(image.Kernel, image.Vmlinuz, initrd, batch, archOptions, cancel);
                    again.EarlierConsole = run.Console;
                    again.Notes.Add(again.Failed
                        ? $"{RetryNote} too: {string.Join("; ", run.Problems)}"
                        : $"{RetryNote} and the second, with the same programs, did not: {string.Join("; ", run.Problems)} (emulator instability suspected; the first console is in the report)");
                    run = again;
                }

                return run;
            }
            finally
            {
                gate.Release();
            }
        }).ToList();
        return await Task.WhenAll(runs);
    }

    private async Task<VmRun> BootAsync(LockedImage kernel, string vmlinuz, string initrd, ProgramBatch batch, QemuOptions options, CancellationToken cancel)
    {
        log($"{kernel.Name}: booting {kernel.Release} with {batch.Programs.Length} programs and {batch.Hostile.Length} hostile cases");
        var qemu = await QemuRunner.BootAsync(vmlinuz, initrd, options, cancel);
        var run = VmRun.Read(kernel.Name, kernel.Release, batch.Programs.Length, qemu, batch.Hostile.Length);
        log($"{kernel.Name}: {(run.Failed ? "FAILED" : "done")} in {run.WallSeconds:0.0} s");
        return run;
    }
}
