using System.Runtime.InteropServices;
using IoUring.Abi.Model;

namespace IoUring.Abi.Headers;

/// <summary>
/// Writes an output file so that a reader sees either the old content or the new, never a torn one, and
/// never damages what was there: a symlink is written through (the link stays, its target gets the
/// content), a device, FIFO or socket is written to as it is (atomic replacement would put a regular
/// file in place of /dev/null), and a directory is refused with an error that says so.
/// </summary>
public static class AtomicFile
{
    public static void WriteAllText(string path, string content) => Write(path, System.Text.Encoding.UTF8.GetBytes(content));

    public static void WriteAllBytes(string path, byte[] content) => Write(path, content);

    /// <summary>What kind of thing a path names, following symlinks (statx(2) reads the type the same on every architecture).</summary>
    public static OutputKind KindOf(string path)
    {
        var buffer = new byte[256];
        if (statx(AtFdCwd, path, 0, StatxType, buffer) != 0)
        {
            return OutputKind.Missing;
        }

        return (BitConverter.ToUInt16(buffer, StatxModeOffset) & FileTypeMask) switch
        {
            RegularFile => OutputKind.RegularFile,
            DirectoryType => OutputKind.Directory,
            _ => OutputKind.Special,
        };
    }

    private static void Write(string path, byte[] content)
    {
        // A symlink (or a chain of them) is followed to the file it names, so the link itself survives.
        var target = Path.GetFullPath(path);
        var file = new FileInfo(target);
        if (file.LinkTarget is not null)
        {
            target = file.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? target;
        }

        switch (KindOf(target))
        {
            case OutputKind.Directory:
                throw new ToolException($"{path}: is a directory; give the path of a file to write (e.g. {Path.Combine(path, "out.json")})");
            case OutputKind.Special:
                // A device, FIFO or socket: written through, as a shell redirection would.
                using (var stream = new FileStream(target, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0))
                {
                    stream.Write(content);
                }

                return;
        }

        var dir = Path.GetDirectoryName(target)!;
        Directory.CreateDirectory(dir);
        var temp = Path.Combine(dir, $".{Path.GetFileName(target)}.{Environment.ProcessId}.tmp");
        try
        {
            File.WriteAllBytes(temp, content);
            File.Move(temp, target, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    private const int AtFdCwd = -100;
    private const uint StatxType = 0x1;
    private const int StatxModeOffset = 28;
    private const int FileTypeMask = 0xf000;
    private const int RegularFile = 0x8000;
    private const int DirectoryType = 0x4000;

    [DllImport("libc", SetLastError = true)]
    private static extern int statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte[] buffer);
}

/// <summary>What an output path names.</summary>
public enum OutputKind
{
    Missing,
    RegularFile,
    Directory,

    /// <summary>A character or block device, a FIFO or a socket.</summary>
    Special,
}
