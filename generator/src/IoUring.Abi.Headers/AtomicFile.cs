namespace IoUring.Abi.Headers;

/// <summary>Writes a file so that a reader sees either the old content or the new, never a torn one.</summary>
public static class AtomicFile
{
    public static void WriteAllText(string path, string content) => Write(path, temp => File.WriteAllText(temp, content));

    public static void WriteAllBytes(string path, byte[] content) => Write(path, temp => File.WriteAllBytes(temp, content));

    private static void Write(string path, Action<string> write)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var temp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        try
        {
            write(temp);
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }
}
