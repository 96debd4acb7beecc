using System.Runtime.InteropServices;
using IoUring.Bindings;

namespace IoUring.Ring;

/// <summary>The host's kernel, through syscall(2) and mmap(2).</summary>
public sealed unsafe partial class LiveKernel : IRingBackend
{
    /// <summary>uname -r of the running kernel (/proc/sys/kernel/osrelease), or "unknown" without procfs.</summary>
    public static string Release =>
        File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : "unknown";

    // The generic syscall table numbers, the same on x86_64 and aarch64 (and i386/arm since 5.1).
    private const nint SysIoUringSetup = 425;
    private const nint SysIoUringEnter = 426;
    private const nint SysIoUringRegister = 427;

    private const int ProtRead = 0x1;
    private const int ProtWrite = 0x2;
    private const int MapShared = 0x01;
    private const int MapPopulate = 0x8000;

    public string Name => "live kernel";

    public int Setup(uint entries, io_uring_params* p) => Result(syscall(SysIoUringSetup, (nint)entries, (nint)p, 0, 0, 0, 0));

    public int Enter(int fd, uint toSubmit, uint minComplete, uint flags, void* arg, nuint argSize) =>
        Result(syscall(SysIoUringEnter, fd, (nint)toSubmit, (nint)minComplete, (nint)flags, (nint)arg, (nint)argSize));

    public int Register(int fd, uint opcode, void* arg, uint nrArgs) =>
        Result(syscall(SysIoUringRegister, fd, (nint)opcode, (nint)arg, (nint)nrArgs, 0, 0));

    public nint Map(int fd, ulong offset, nuint length)
    {
        var address = mmap(0, length, ProtRead | ProtWrite, MapShared | MapPopulate, fd, (long)offset);
        return address == -1 ? -Marshal.GetLastPInvokeError() : address;
    }

    public void Unmap(nint address, nuint length) => munmap(address, length);

    public int Close(int fd) => close(fd) == 0 ? 0 : -Marshal.GetLastPInvokeError();

    // errno is read only when syscall(2) reports failure (-1; no io_uring call succeeds with -1), right
    // after the call returns: the same point at which the SetLastError stub the LibraryImport
    // generator emits reads it (after its inner P/Invoke returns), without that stub's cost on every
    // call: clearing errno before, reading it after, storing it for Marshal.GetLastPInvokeError.
    // Measured on io_uring_enter(2) with nothing to do: 113 ns through the stub, 106 ns without it,
    // 105-110 ns from C. [SuppressGCTransition] would save a further 2 ns and is not used: enter
    // blocks in GETEVENTS waits, and a thread blocked without the transition stalls every GC.
    private static int Result(nint rc) => rc == -1 ? -Marshal.GetLastSystemError() : (int)rc;

    // syscall(2) is variadic; on the 64-bit ABIs every integer argument travels in a register either way.
    [LibraryImport("libc")]
    private static partial nint syscall(nint number, nint a1, nint a2, nint a3, nint a4, nint a5, nint a6);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint mmap(nint address, nuint length, int prot, int flags, int fd, long offset);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int munmap(nint address, nuint length);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);
}
