using IoUring.Abi.Headers;
using IoUring.Abi.Model;

namespace IoUring.Conformance.Vm;

/// <summary>
/// Builds exported C programs as a kernel developer would (gcc -Wall -Werror -O2 -pthread), against the
/// newest UAPI headers of the header lock (the names they use may be newer than the system's
/// linux-libc-dev), static when they are to run in a VM.
/// </summary>
public static class CBuild
{
    public static readonly string[] Flags = ["-Wall", "-Werror", "-O2", "-pthread"];

    /// <summary>The include folder of the newest kernel of headers/kernels.lock.json, verified in the cache.</summary>
    public static string IncludeDir(string repoRoot, HeaderCache? cache = null)
    {
        var kernelLock = KernelLock.Load(Path.Combine(repoRoot, "headers", "kernels.lock.json"));
        var newest = kernelLock.Kernels.MaxBy(k => KernelVersion.Parse(k.Kernel))
            ?? throw new ToolException("headers/kernels.lock.json names no kernel");
        var tree = (cache ?? new HeaderCache()).TryGetVerified(newest, out var problem)
            ?? throw new ToolException($"{problem}; run 'io_uring-codegen headers fetch --locked' (./make.sh test does)");
        return tree.Root;
    }

    /// <summary>Compiles <paramref name="cFile"/> to <paramref name="binary"/>; a warning or error is a ToolException with gcc's output.</summary>
    public static void Compile(string cFile, string binary, string includeDir, bool staticLink)
    {
        string[] args = [.. Flags, .. staticLink ? new[] { "-static" } : [], "-I", includeDir, "-o", binary, cFile];
        Run("gcc", args);
    }

    /// <summary>Debian's cross compiler for 32-bit x86 (gcc-multilib conflicts with the cross compilers, so -m32 is not an option).</summary>
    public static readonly string I686Compiler = CTarget.I686.GccCommand;

    /// <summary>
    /// Compiles <paramref name="cFile"/> as a 32-bit x86 program, dynamically linked against the cross C
    /// library, with the same flags. <paramref name="includeRoot"/> is a kernel's UAPI tree: its own
    /// folders, then its i386 asm folder, so the program sees the i386 asm/ headers of that kernel and
    /// neither x86_64's nor the older ones the cross C library brings.
    /// </summary>
    public static void CompileI686(string cFile, string binary, string includeRoot)
    {
        string[] args = [.. Flags, "-I", includeRoot, "-I", Path.Combine(includeRoot, CTarget.I686.MultiarchDir), "-o", binary, cFile];
        Run(I686Compiler, args);
    }

    private static void Run(string compiler, string[] args)
    {
        var (rc, output) = Tools.Run(compiler, args, TimeSpan.FromMinutes(2));
        if (rc != 0 || output.Trim().Length > 0)
        {
            throw new ToolException($"{compiler} {string.Join(' ', args)} (exit {rc}):\n{output.Trim()}");
        }
    }
}
