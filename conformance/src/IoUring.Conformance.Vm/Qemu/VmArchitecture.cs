using IoUring.Abi.Model;

namespace IoUring.Conformance.Vm;

/// <summary>
/// Everything that differs between the architectures the VMs emulate, in one place: the Debian
/// architecture of the kernel images, the compilers and .NET runtime identifier that build what runs
/// inside, and how qemu boots them. The host is x86_64, so an arm64 VM runs cross-built code.
/// </summary>
/// <param name="DebianArch">The Debian architecture of the kernel images (amd64, arm64).</param>
/// <param name="Target">The C target of the guest's user space: its GNU triple (the cross tools' prefix and the C library's folder under /usr) and its gcc.</param>
/// <param name="GccPackage">The Debian package that brings the target's gcc with its static C library.</param>
/// <param name="RuntimeIdentifier">The .NET runtime identifier of the native agent.</param>
/// <param name="QemuBinary">The emulator.</param>
/// <param name="QemuPackage">The Debian package that brings <paramref name="QemuBinary"/>.</param>
/// <param name="Console">The serial console device the kernel writes to.</param>
/// <param name="MachineArguments">The qemu options that choose the machine and CPU (why each: see the instances).</param>
public sealed record VmArchitecture(
    string DebianArch,
    CTarget Target,
    string GccPackage,
    string RuntimeIdentifier,
    string QemuBinary,
    string QemuPackage,
    string Console,
    IReadOnlyList<string> MachineArguments)
{
    /// <summary>
    /// The PC machine qemu defaults to, with -cpu max,smap=off: qemu 7.2 performs a user-mode IRET's stack
    /// pops with kernel privilege; with SMAP on that is a supervisor access to a user page, and the
    /// kernel oopses the thread (.NET's context restore uses iretq, so the agent died mid-run).
    /// </summary>
    public static readonly VmArchitecture X86_64 = new(
        "amd64", CTarget.X86_64, "gcc libc6-dev", "linux-x64", "qemu-system-x86_64", "qemu-system-x86", "ttyS0",
        ["-cpu", "max,smap=off"]);

    /// <summary>
    /// qemu's generic 'virt' board (a PL011 UART, which Debian's arm64 kernels drive without modules) with
    /// the emulator's most capable CPU, so the kernel sees every optional instruction it can use. Pointer
    /// authentication is kept (the kernel and its user space use it) but with qemu's own cheap
    /// algorithm (pauth-impdef): the architected QARMA cipher is most of the emulation time of every
    /// function return otherwise.
    /// </summary>
    public static readonly VmArchitecture Arm64 = new(
        "arm64", CTarget.Aarch64, "gcc-aarch64-linux-gnu libc6-dev-arm64-cross", "linux-arm64", "qemu-system-aarch64", "qemu-system-arm", "ttyAMA0",
        ["-machine", "virt", "-cpu", "max,pauth-impdef=on"]);

    public static readonly IReadOnlyList<VmArchitecture> All = [X86_64, Arm64];

    /// <summary>The architecture whose kernels are Debian <paramref name="debianArch"/>.</summary>
    public static VmArchitecture Of(string debianArch) =>
        All.FirstOrDefault(a => a.DebianArch == debianArch)
        ?? throw new ToolException($"no VM architecture boots Debian {debianArch} kernels; the VMs know {string.Join(", ", All.Select(a => a.DebianArch))}");

    public static VmArchitecture Of(LockedImage image) => Of(image.Arch);

    /// <summary>The GNU triple of the guest's user space.</summary>
    public string Triple => Target.Triple;

    /// <summary>The C compiler that builds the guest's static init and programs.</summary>
    public string Gcc => Target.GccCommand;

    /// <summary>Whether code for this architecture runs on the host as it is (the host is x86_64).</summary>
    public bool IsHost => this == X86_64;

    /// <summary>The qemu binary, or an error naming the package to install.</summary>
    public string FindQemu() =>
        Tools.OnPath(QemuBinary) ?? throw new ToolException($"{QemuBinary} is not installed; install it with 'apt-get install {QemuPackage}' (./make.sh test does this when run as root)");
}
