using IoUring.Abi.Model;

namespace IoUring.Conformance.Vm;

/// <summary>One process ABI the matrix runs programs as: the name a user types, the C target (as the ABI snapshots name it), and the Debian architecture of the kernels it runs on.</summary>
public sealed record ProcessAbi(string Arch, CTarget C, string DebianArch)
{
    /// <summary>The snapshot target (a GNU triple).</summary>
    public string Target => C.Triple;

    /// <summary>A 32-bit process on a 64-bit kernel: it makes compat system calls.</summary>
    public bool Compat => C.Ilp32;
}

/// <summary>
/// The process ABIs the matrix runs programs as, named as the ABI snapshots name their targets
/// (<see cref="CTarget"/>), with the architecture names a user types (<c>--arch</c>) and the Debian
/// architecture of each one's kernel.
/// </summary>
public static class Targets
{
    public static readonly string X86_64 = CTarget.X86_64.Triple;
    public static readonly string Aarch64 = CTarget.Aarch64.Triple;
    public static readonly string I686 = CTarget.I686.Triple;

    /// <summary>x86_64 and arm64 processes on their own kernels, and a 32-bit (i686) process on the x86_64 ones.</summary>
    public static readonly IReadOnlyList<ProcessAbi> All =
    [
        new("x86_64", CTarget.X86_64, "amd64"),
        new("arm64", CTarget.Aarch64, "arm64"),
        new("i686", CTarget.I686, "amd64"),
    ];

    /// <summary>The target of a 64-bit process on a kernel of a Debian architecture (amd64 -> x86_64-linux-gnu).</summary>
    public static string OfKernelArch(string debianArch) =>
        All.FirstOrDefault(a => a.DebianArch == debianArch && !a.Compat)?.Target
        ?? throw new ToolException($"no VM architecture runs Debian {debianArch} kernels; the matrix knows {string.Join(", ", All.Where(a => !a.Compat).Select(a => a.DebianArch))}");

    public static string ColumnName(string kernel, string target) =>
        kernel == "host" || target == X86_64 ? kernel
        : All.FirstOrDefault(a => a.Target == target) is { } a ? $"{kernel} {a.Arch}{(a.Compat ? " (32-bit)" : string.Empty)}"
        : $"{kernel} {target}";

    /// <summary>The Debian architecture of the kernels a user's architecture name boots (x86_64 -> amd64); 32-bit processes have no kernels of their own.</summary>
    public static string KernelArchOf(string arch) =>
        All.FirstOrDefault(a => a.Arch == arch && !a.Compat)?.DebianArch
        ?? throw new ToolException($"--arch {arch}: the kernels boot as one of {string.Join(", ", All.Where(a => !a.Compat).Select(a => a.Arch))}");

    /// <summary>The target of an architecture a user named (x86_64, arm64, i686); a ToolException naming the choices otherwise.</summary>
    public static string FromArch(string arch) =>
        All.FirstOrDefault(a => a.Arch == arch)?.Target
        ?? throw new ToolException($"unknown architecture '{arch}': pick one of {string.Join(", ", All.Select(a => a.Arch))}");
}
