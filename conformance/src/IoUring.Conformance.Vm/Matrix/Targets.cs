using IoUring.Abi.Model;

namespace IoUring.Conformance.Vm;

/// <summary>
/// The process ABIs the matrix runs programs as, named as the ABI snapshots name their targets, with the
/// architecture names a user types (<c>--arch</c>) and the Debian architecture of each one's kernel.
/// </summary>
public static class Targets
{
    public const string X86_64 = "x86_64-linux-gnu";
    public const string Aarch64 = "aarch64-linux-gnu";
    public const string I686 = "i686-linux-gnu";

    /// <summary>The user's name for each target, its snapshot target, the Debian architecture of the kernel it runs on, and whether the process is 32-bit on a 64-bit kernel.</summary>
    public static readonly IReadOnlyList<(string Arch, string Target, string DebianArch, bool Compat)> All =
    [
        ("x86_64", X86_64, "amd64", false),
        ("arm64", Aarch64, "arm64", false),
        ("i686", I686, "amd64", true),
    ];

    /// <summary>The target of a 64-bit process on a kernel of a Debian architecture (amd64 -> x86_64-linux-gnu).</summary>
    public static string OfKernelArch(string debianArch) =>
        All.FirstOrDefault(a => a.DebianArch == debianArch && !a.Compat).Target
        ?? throw new ToolException($"no VM architecture runs Debian {debianArch} kernels; the matrix knows {string.Join(", ", All.Where(a => !a.Compat).Select(a => a.DebianArch))}");

    public static string ColumnName(string kernel, string target) =>
        kernel == "host" || target == X86_64 ? kernel
        : All.FirstOrDefault(a => a.Target == target) is { Arch: not null } a ? $"{kernel} {a.Arch}{(a.Compat ? " (32-bit)" : string.Empty)}"
        : $"{kernel} {target}";

    /// <summary>The Debian architecture of the kernels a user's architecture name boots (x86_64 -> amd64); 32-bit processes have no kernels of their own.</summary>
    public static string KernelArchOf(string arch) =>
        All.FirstOrDefault(a => a.Arch == arch && !a.Compat).DebianArch
        ?? throw new ToolException($"--arch {arch}: the kernels boot as one of {string.Join(", ", All.Where(a => !a.Compat).Select(a => a.Arch))}");

    /// <summary>The target of an architecture a user named (x86_64, arm64, i686); a ToolException naming the choices otherwise.</summary>
    public static string FromArch(string arch) =>
        All.FirstOrDefault(a => a.Arch == arch).Target
        ?? throw new ToolException($"unknown architecture '{arch}': pick one of {string.Join(", ", All.Select(a => a.Arch))}");
}
