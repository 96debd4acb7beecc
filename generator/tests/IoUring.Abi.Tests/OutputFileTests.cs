using System.Runtime.InteropServices;
using IoUring.Abi.Headers;
using IoUring.Abi.Model;
using Xunit;

namespace IoUring.Abi.Tests;

/// <summary>
/// An output path is never damaged: a symlink is written through, a device or FIFO is written to as it
/// is, a directory is refused with a clear error, and a regular file is replaced atomically.
/// </summary>
public sealed class OutputFileTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("abi-output-").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    [Fact]
    public void ASymlinkIsWrittenThroughAndStaysALink()
    {
        var target = Path.Combine(dir, "target.json");
        File.WriteAllText(target, "old");
        var link = Path.Combine(dir, "link.json");
        File.CreateSymbolicLink(link, "target.json");

        AtomicFile.WriteAllText(link, "new");

        Assert.Equal("target.json", new FileInfo(link).LinkTarget);
        Assert.Equal("new", File.ReadAllText(target));
    }

    [Fact]
    public void ADanglingSymlinkCreatesItsTarget()
    {
        var link = Path.Combine(dir, "link.json");
        File.CreateSymbolicLink(link, Path.Combine(dir, "sub", "made.json"));

        AtomicFile.WriteAllText(link, "made");

        Assert.NotNull(new FileInfo(link).LinkTarget);
        Assert.Equal("made", File.ReadAllText(Path.Combine(dir, "sub", "made.json")));
    }

    [Fact]
    public void ADirectoryIsRefusedAndLeftAlone()
    {
        var sub = Directory.CreateDirectory(Path.Combine(dir, "snapshots")).FullName;
        var e = Assert.Throws<ToolException>(() => AtomicFile.WriteAllText(sub, "x"));
        Assert.Contains($"{sub}: is a directory", e.Message);
        Assert.Equal(OutputKind.Directory, AtomicFile.KindOf(sub));
        Assert.Equal([sub], Directory.GetFileSystemEntries(dir, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task AFifoIsWrittenToNotReplaced()
    {
        var fifo = Path.Combine(dir, "pipe");
        Assert.Equal(0, mkfifo(fifo, 0x180));
        Assert.Equal(OutputKind.Special, AtomicFile.KindOf(fifo));

        // Opening a FIFO for writing waits for a reader, as a shell redirection does.
        var reader = Task.Run(() => File.ReadAllText(fifo));
        AtomicFile.WriteAllText(fifo, "through the pipe");

        Assert.Equal("through the pipe", await reader.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(OutputKind.Special, AtomicFile.KindOf(fifo));
    }

    [Fact]
    public void DevNullStaysADevice()
    {
        // Checked before the write: a wrong answer here would have the write replace /dev/null.
        Assert.Equal(OutputKind.Special, AtomicFile.KindOf("/dev/null"));
        AtomicFile.WriteAllText("/dev/null", "discarded");
        Assert.Equal(OutputKind.Special, AtomicFile.KindOf("/dev/null"));
    }

    [Fact]
    public void TheCommandLineWritesASnapshotThroughASymlinkAndRefusesADirectory()
    {
        var target = Path.Combine(dir, "snapshot.json");
        var link = Path.Combine(dir, "latest.json");
        File.CreateSymbolicLink(link, target);
        var (exit, _, err) = Corpus.RunCli(["extract", "7.2", "--target", "x86_64", "-o", link]);
        Assert.True(exit == 0, err);
        Assert.NotNull(new FileInfo(link).LinkTarget);
        Assert.Contains("\"kernel\": \"7.2\"", File.ReadAllText(target));

        var (refused, _, why) = Corpus.RunCli(["extract", "7.2", "--target", "x86_64", "-o", dir]);
        Assert.Equal(1, refused);
        Assert.Contains($"{dir}: is a directory", why);
    }

    [Fact]
    public void ARegularFileIsReplacedWholeAndNoTemporaryIsLeft()
    {
        var file = Path.Combine(dir, "out.json");
        File.WriteAllText(file, new string('x', 10_000));
        AtomicFile.WriteAllText(file, "short");
        Assert.Equal("short", File.ReadAllText(file));
        Assert.Equal([file], Directory.GetFiles(dir));
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int mkfifo([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode);
}
