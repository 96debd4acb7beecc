using System.Text;

namespace IoUring.Conformance.Vm;

/// <summary>
/// Writes the "newc" cpio format the kernel unpacks an initramfs from (Documentation/driver-api/
/// early-userspace/buffer-format.rst): per entry a 110-byte ASCII header of hex fields, the
/// NUL-terminated name padded to 4 bytes, the data padded to 4 bytes; "TRAILER!!!" ends the archive.
/// Owners are root, times are zero and inode numbers count up, so the same entries always give the
/// same bytes (the initramfs cache key is a hash of its inputs, and a rebuild must not differ).
/// </summary>
public sealed class CpioWriter : IDisposable
{
    private const string Magic = "070701";
    private const string Trailer = "TRAILER!!!";

    // S_IF* file type bits of st_mode.
    private const uint Directory = 0x4000;
    private const uint Regular = 0x8000;
    private const uint Symlink = 0xA000;
    private const uint CharDevice = 0x2000;

    private readonly Stream stream;
    private readonly bool leaveOpen;
    private readonly HashSet<string> names = new(StringComparer.Ordinal);
    private uint inode = 1;
    private long position;
    private bool finished;

    public CpioWriter(Stream stream, bool leaveOpen = false)
    {
        this.stream = stream;
        this.leaveOpen = leaveOpen;
    }

    public void AddDirectory(string name, uint permissions = 0x1ED /* 0755 */) =>
        Entry(name, Directory | permissions, 2, 0, 0, ReadOnlySpan<byte>.Empty);

    public void AddFile(string name, ReadOnlySpan<byte> data, uint permissions = 0x1A4 /* 0644 */) =>
        Entry(name, Regular | permissions, 1, 0, 0, data);

    public void AddFile(string name, string sourcePath, uint permissions) =>
        AddFile(name, File.ReadAllBytes(sourcePath), permissions);

    public void AddSymlink(string name, string target) =>
        Entry(name, Symlink | 0x1FF, 1, 0, 0, Encoding.UTF8.GetBytes(target));

    public void AddCharDevice(string name, uint major, uint minor, uint permissions = 0x180 /* 0600 */) =>
        Entry(name, CharDevice | permissions, 1, major, minor, ReadOnlySpan<byte>.Empty);

    /// <summary>Writes the trailer and pads the archive to a multiple of 4 bytes, so archives can be concatenated.</summary>
    public void Finish()
    {
        if (!finished)
        {
            Entry(Trailer, 0, 1, 0, 0, ReadOnlySpan<byte>.Empty, isTrailer: true);
            finished = true;
        }
    }

    public void Dispose()
    {
        Finish();
        stream.Flush();
        if (!leaveOpen)
        {
            stream.Dispose();
        }
    }

    private void Entry(string name, uint mode, uint links, uint rdevMajor, uint rdevMinor, ReadOnlySpan<byte> data, bool isTrailer = false)
    {
        if (finished)
        {
            throw new InvalidOperationException("the archive is finished; no entry can follow the trailer");
        }

        if (!isTrailer)
        {
            // The kernel creates each path as it reads it: names are relative ("init", "usr/lib/x"),
            // without "." or ".." parts, and a directory must come before what it holds.
            if (name.Length == 0 || name.StartsWith('/') || name.EndsWith('/') || name.Split('/').Any(p => p is "" or "." or "..") || name == Trailer)
            {
                throw new ArgumentException($"cpio entry name '{name}' must be a relative path without empty, '.' or '..' parts", nameof(name));
            }

            if (!names.Add(name))
            {
                throw new ArgumentException($"cpio entry '{name}' is added twice", nameof(name));
            }

            var parent = Path.GetDirectoryName(name)?.Replace('\\', '/');
            if (!string.IsNullOrEmpty(parent) && !names.Contains(parent))
            {
                throw new ArgumentException($"cpio entry '{name}' comes before its directory '{parent}'", nameof(name));
            }
        }

        var nameBytes = Encoding.UTF8.GetBytes(name);
        var header = new StringBuilder(110)
            .Append(Magic)
            .Append(Hex(isTrailer ? 0 : inode++))   // c_ino
            .Append(Hex(mode))                       // c_mode
            .Append(Hex(0))                          // c_uid
            .Append(Hex(0))                          // c_gid
            .Append(Hex(links))                      // c_nlink
            .Append(Hex(0))                          // c_mtime
            .Append(Hex((uint)data.Length))          // c_filesize
            .Append(Hex(0))                          // c_devmajor
            .Append(Hex(0))                          // c_devminor
            .Append(Hex(rdevMajor))                  // c_rdevmajor
            .Append(Hex(rdevMinor))                  // c_rdevminor
            .Append(Hex((uint)nameBytes.Length + 1)) // c_namesize, with the NUL
            .Append(Hex(0))                          // c_check (only for the "070702" crc format)
            .ToString();
        Write(Encoding.ASCII.GetBytes(header));
        Write(nameBytes);
        Write([0]);
        Pad();
        Write(data);
        Pad();
    }

    private static string Hex(uint value) => value.ToString("x8", System.Globalization.CultureInfo.InvariantCulture);

    private void Write(ReadOnlySpan<byte> bytes)
    {
        stream.Write(bytes);
        position += bytes.Length;
    }

    private void Pad()
    {
        var pad = (int)((4 - (position % 4)) % 4);
        if (pad > 0)
        {
            Write(new byte[pad]);
        }
    }
}
