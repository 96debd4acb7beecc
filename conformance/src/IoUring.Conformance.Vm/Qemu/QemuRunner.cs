using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using IoUring.Abi.Model;

namespace IoUring.Conformance.Vm;

/// <summary>How a VM is started.</summary>
public sealed record QemuOptions
{
    /// <summary>
    /// One vCPU. Two are what the matrix was meant to have, but under -icount (see
    /// <see cref="QemuRunner.Arguments"/>) qemu runs vCPUs round-robin on one thread, and 6.1's
    /// secondary-CPU bring-up never completes that way ("x86: Booting SMP configuration" and nothing
    /// more); 6.12 and later do boot, each paying about 3 s of bring-up. The programs do not depend on a
    /// second CPU: the kernel's io-wq workers and task work run on the one there is.
    /// </summary>
    public int Cpus { get; init; } = 1;

    public int MemoryMb { get; init; } = 1536;

    /// <summary>The watchdog: a VM still running after this long is killed and reported as hung.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// A VM whose console has been silent this long is killed as hung too: a program takes milliseconds
    /// and .NET start-up a few seconds, so silence means a stuck agent (a thread the kernel killed can
    /// leave the runtime waiting for it forever), and waiting out <see cref="Timeout"/> would only cost time.
    /// Generous because the quiet stretches (kernel boot, .NET start-up) stretch with the host's load:
    /// the longest seen, with other builds saturating both cores, was 54 s for a start-up that takes 3.
    /// </summary>
    public TimeSpan Silence { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>After the kernel reports an oops, BUG or panic, the VM gets this long to finish on its own.</summary>
    public TimeSpan GraceAfterKernelTrouble { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Only error-level kernel messages on the serial console (which one is the architecture's), and a panic reboots at once, which
    /// -no-reboot turns into qemu exiting: a panic ends the run immediately instead of waiting for the
    /// watchdog. cryptomgr.notests skips the crypto self-tests, which nothing here uses: under emulation
    /// they are a third of the kernel's own boot (0.5 of 1.6 billion instructions).
    /// </summary>
    public string KernelCommandLine { get; init; } = "quiet panic=-1 cryptomgr.notests";

    /// <summary>The architecture emulated; the kernel image must be one of its kernels.</summary>
    public VmArchitecture Architecture { get; init; } = VmArchitecture.X86_64;
}

/// <summary>What one qemu process did: its serial console, its own stderr, how it ended.</summary>
/// <param name="Killed">Why the watchdog killed the VM, or null when qemu exited by itself.</param>
/// <param name="Marks">When (host time since qemu started) each of <see cref="QemuRunner.MarkedText"/> first appeared on the console.</param>
public sealed record QemuResult(string Console, string Stderr, int? ExitCode, string? Killed, TimeSpan Elapsed, IReadOnlyList<string> CommandLine, IReadOnlyDictionary<string, TimeSpan> Marks)
{
    public bool TimedOut => Killed is not null;
}

/// <summary>
/// Boots a kernel with an initramfs under qemu's software emulation (KVM fails on the machines this
/// runs on: "KVM internal error" or "failed to set MSR"), captures the serial console through a file, and
/// kills the VM when the watchdog fires (see <see cref="Arguments"/> for the emulator settings and why).
/// </summary>
public static partial class QemuRunner
{
    /// <summary>
    /// Console text whose arrival time is recorded: init started, the agent's first line, init's end
    /// marker. Under -icount the guest's own clock counts instructions, so the phases of a boot are
    /// timed on the host.
    /// </summary>
    public static readonly string[] MarkedText = ["@@IOURING-VM-INIT", AgentProtocol.FramePrefix + AgentProtocol.HelloKind, "@@IOURING-VM-EXIT"];

    /// <summary>
    /// The qemu command line. Measured on the 2-core build machine with others building beside it, the
    /// choices that are not the obvious ones:
    /// <list type="bullet">
    /// <item>-icount shift=0,sleep=off: guest time is the number of instructions executed (1 ns each),
    /// not host time. Without it, 12-20% of boots crashed at early boot whatever the CPU model or vCPU
    /// count (double fault on cmpxchg16b in __kmalloc, list corruption, GP faults in do_sync_core,
    /// init faulting at its first instruction) whenever the host was loaded: timer interrupts follow
    /// host time, so a starved emulator takes far more of them per instruction and meets a TCG bug. With
    /// icount: 16 of 16 clean boots under the same load, guest timings reproducible, and the agent's own
    /// phases faster; the cost is about 3 s of SMP bring-up per boot.</item>
    /// <item>The machine and CPU are the architecture's (<see cref="VmArchitecture.MachineArguments"/>).</item>
    /// <item>-nic none: no network card, so no iPXE option ROM; nothing in the VM needs a network.</item>
    /// <item>-serial file:CONSOLE, not -nographic's stdio: qemu's UART drops a byte when its back end
    /// refuses it a few times in a row, and a pipe whose reader is starved (the test run's other
    /// assemblies on both cores) refuses it. A run lost whole agent lines that way, one boot in a few
    /// under load. A regular file never refuses a write; the runner tails it.</item>
    /// </list>
    /// </summary>
    public static IReadOnlyList<string> Arguments(string kernel, string initrd, QemuOptions options, string consoleFile) =>
    [
        "-accel", "tcg",
        "-icount", "shift=0,sleep=off",
        .. options.Architecture.MachineArguments,
        "-smp", options.Cpus.ToString(System.Globalization.CultureInfo.InvariantCulture),
        "-m", options.MemoryMb.ToString(System.Globalization.CultureInfo.InvariantCulture),
        "-display", "none",
        "-monitor", "none",
        "-parallel", "none",
        "-serial", "file:" + consoleFile,
        "-no-reboot",
        "-nic", "none",
        "-kernel", kernel,
        "-initrd", initrd,
        "-append", $"console={options.Architecture.Console} {options.KernelCommandLine}",
    ];

    public static async Task<QemuResult> BootAsync(string kernel, string initrd, QemuOptions options, CancellationToken cancel = default)
    {
        var qemu = options.Architecture.FindQemu();
        var folder = Directory.CreateTempSubdirectory("io_uring-vm-");
        var consoleFile = Path.Combine(folder.FullName, "console");
        try
        {
            return await BootAsync(qemu, Arguments(kernel, initrd, options, consoleFile), consoleFile, options, cancel);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    private static async Task<QemuResult> BootAsync(string qemu, IReadOnlyList<string> args, string consoleFile, QemuOptions options, CancellationToken cancel)
    {
        File.WriteAllBytes(consoleFile, []);
        var psi = new ProcessStartInfo(qemu)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            // Never the terminal's: qemu must not find a terminal to put into raw mode.
            RedirectStandardInput = true,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        var watch = Stopwatch.StartNew();
        using var p = Process.Start(psi) ?? throw new ToolException($"{qemu} could not be started");
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync(cancel);
        var stderr = p.StandardError.ReadToEndAsync(cancel);
        // Unbuffered, so each read asks the file for what qemu has appended since.
        using var tail = new FileStream(consoleFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        var console = new MemoryStream();
        var buffer = new byte[1 << 16];
        var lastOutput = watch.Elapsed;
        TimeSpan? troubleAt = null;
        string? killed = null;
        var marks = new Dictionary<string, TimeSpan>();
        try
        {
            while (true)
            {
                // Whether qemu has exited is read before the file, so nothing it wrote last is missed.
                var exited = p.HasExited;
                int n;
                while ((n = await tail.ReadAsync(buffer, cancel)) > 0)
                {
                    // Only the new text (with a little overlap for a pattern split across reads) is scanned.
                    var from = Math.Max(0, (int)console.Length - 64);
                    console.Write(buffer, 0, n);
                    lastOutput = watch.Elapsed;
                    var fresh = Encoding.Latin1.GetString(console.GetBuffer(), from, (int)console.Length - from);
                    if (troubleAt is null && VmRun.IsKernelTrouble(fresh))
                    {
                        troubleAt = watch.Elapsed;
                    }

                    foreach (var mark in MarkedText.Where(m => !marks.ContainsKey(m) && fresh.Contains(m, StringComparison.Ordinal)))
                    {
                        marks[mark] = lastOutput;
                    }
                }

                if (exited)
                {
                    break;
                }

                var now = watch.Elapsed;
                killed = now > options.Timeout ? $"the VM did not power off within {options.Timeout.TotalSeconds:0} s"
                    : now - lastOutput > options.Silence ? $"the console was silent for {options.Silence.TotalSeconds:0} s"
                    : troubleAt is { } t && now - t > options.GraceAfterKernelTrouble ? $"the VM did not stop within {options.GraceAfterKernelTrouble.TotalSeconds:0} s of the kernel's report"
                    : null;
                if (killed is not null)
                {
                    break;
                }

                // The console is polled: marks are timed to this step, well under the phases they time.
                await Task.WhenAny(p.WaitForExitAsync(cancel), Task.Delay(TimeSpan.FromMilliseconds(50), cancel));
            }
        }
        finally
        {
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
            }

            await p.WaitForExitAsync(CancellationToken.None);
        }

        var text = Clean(Encoding.Latin1.GetString(console.GetBuffer(), 0, (int)console.Length));
        var output = (await stdout).Trim();
        var errors = (await stderr).Trim();
        return new QemuResult(text, output.Length == 0 ? errors : $"{output}\n{errors}".Trim(), killed is null ? p.ExitCode : null, killed, watch.Elapsed, [qemu, .. args], marks);
    }

    /// <summary>Serial output without carriage returns and terminal escapes (SeaBIOS clears the screen).</summary>
    private static string Clean(string raw) => Escape().Replace(raw.Replace("\r", string.Empty, StringComparison.Ordinal), string.Empty);

    [GeneratedRegex(@"\x1b(\[[0-9;?]*[A-Za-z]|[()][A-Za-z0-9]|[A-Za-z])")]
    private static partial Regex Escape();
}
