using System.Runtime.InteropServices;
using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine.Native;

/// <summary>
/// The C interface of the engine library: io_uring's three system calls and the file operations of a
/// ring descriptor, each returning what the kernel's would (a value, or -errno). The preload library
/// calls them for the rings it routes here. One engine serves the process, created on the first call
/// from the profile <see cref="EngineHost"/> reads from the environment; calls are serialised, as the
/// engine completes everything inside the call that submits it.
/// </summary>
public static unsafe class EngineExports
{
    [UnmanagedCallersOnly(EntryPoint = "iouring_engine_setup")]
    public static int Setup(uint entries, io_uring_params* p, int descriptor) =>
        EngineHost.Call(e =>
        {
            EngineHost.NextDescriptor = descriptor;
            return e.Setup(entries, p);
        });

    [UnmanagedCallersOnly(EntryPoint = "iouring_engine_enter")]
    public static int Enter(int fd, uint toSubmit, uint minComplete, uint flags, void* arg, nuint argSize) =>
        EngineHost.Call(e => e.Enter(fd, toSubmit, minComplete, flags, arg, argSize));

    [UnmanagedCallersOnly(EntryPoint = "iouring_engine_register")]
    public static int Register(int fd, uint opcode, void* arg, uint nrArgs) =>
        EngineHost.Call(e => e.Register(fd, opcode, arg, nrArgs));

    /// <summary>The address of a ring region, or -errno (the preload library turns it into MAP_FAILED and errno).</summary>
    [UnmanagedCallersOnly(EntryPoint = "iouring_engine_map")]
    public static nint Map(int fd, ulong offset, nuint length) =>
        EngineHost.Call(e => e.Map(fd, offset, length));

    [UnmanagedCallersOnly(EntryPoint = "iouring_engine_poll")]
    public static int Poll(int fd) => EngineHost.Call(e => e.Poll(fd));

    [UnmanagedCallersOnly(EntryPoint = "iouring_engine_close")]
    public static int Close(int fd) => EngineHost.Call(e => e.Close(fd));
}
