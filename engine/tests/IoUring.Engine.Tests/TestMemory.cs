using System.Runtime.InteropServices;
using System.Text;

namespace IoUring.Engine.Tests;

/// <summary>Native memory a test's SQEs point at (names, structs the kernel reads or writes), freed with the test.</summary>
public sealed unsafe class TestMemory : IDisposable
{
    private readonly List<nint> blocks = [];

    /// <summary>A NUL-terminated UTF-8 copy of <paramref name="text"/>.</summary>
    public ulong Text(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text + "\0");
        var at = Zeroed(bytes.Length);
        bytes.CopyTo(new Span<byte>((void*)at, bytes.Length));
        return at;
    }

    /// <summary><paramref name="bytes"/> bytes of zeros.</summary>
    public ulong Zeroed(int bytes)
    {
        var block = (nint)NativeMemory.AllocZeroed((nuint)bytes);
        blocks.Add(block);
        return (ulong)block;
    }

    public void Dispose()
    {
        foreach (var block in blocks)
        {
            NativeMemory.Free((void*)block);
        }

        blocks.Clear();
    }
}
