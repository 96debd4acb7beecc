using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using IoUring.Conformance.Vm;
using Xunit;

namespace IoUring.Conformance.Vm.Tests;

/// <summary>The newc writer against GNU cpio, the independent reader: listing, contents, types, devices.</summary>
public sealed class CpioWriterTests
{
    private static byte[] Archive(Action<CpioWriter> fill)
    {
        var ms = new MemoryStream();
        using (var cpio = new CpioWriter(ms, leaveOpen: true))
        {
            fill(cpio);
        }

        return ms.ToArray();
    }

    private static byte[] Sample() => Archive(c =>
    {
        c.AddDirectory("etc");
        c.AddDirectory("etc/vm");
        c.AddFile("etc/vm/argv", Encoding.UTF8.GetBytes("/bin/agent\n--flag\n"));
        c.AddFile("init", new byte[] { 0x7f, (byte)'E', (byte)'L', (byte)'F', 1, 2, 3 }, 0x1ED);
        c.AddFile("empty", []);
        c.AddDirectory("dev");
        c.AddCharDevice("dev/console", 5, 1);
        c.AddSymlink("lib", "usr/lib");
    });

    private static (int Rc, string Stdout, string Stderr) Cpio(byte[] archive, params string[] args)
    {
        var psi = new ProcessStartInfo("cpio") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["LC_ALL"] = "C";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardInput.BaseStream.Write(archive);
        p.StandardInput.Close();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    [NeedsFact("tool:cpio")]
    public void CpioListsEveryEntryWithItsTypeAndMode()
    {
        Needs.Require("tool:cpio");
        var (rc, stdout, stderr) = Cpio(Sample(), "-itv", "--quiet");
        Assert.True(rc == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // "drwxr-xr-x   2 root root 0 Jan  1  1970 etc": the name follows the date (mtime 0, so a year, not a time).
        var names = lines.Select(l => Regex.Match(l, @"^.*?\s[A-Z][a-z]{2}\s+\d+\s+\d{4}\s(.*)$").Groups[1].Value).ToArray();
        string Line(string name) => lines[Array.FindIndex(names, n => n == name || n.StartsWith(name + " -> ", StringComparison.Ordinal))];
        Assert.Equal(["etc", "etc/vm", "etc/vm/argv", "init", "empty", "dev", "dev/console", "lib -> usr/lib"], names);
        Assert.StartsWith("drwxr-xr-x", Line("etc"), StringComparison.Ordinal);
        Assert.StartsWith("-rw-r--r--", Line("etc/vm/argv"), StringComparison.Ordinal);
        Assert.StartsWith("-rwxr-xr-x", Line("init"), StringComparison.Ordinal);
        Assert.StartsWith("crw-------", Line("dev/console"), StringComparison.Ordinal);
        Assert.Contains("5,   1", Line("dev/console"), StringComparison.Ordinal);
        Assert.StartsWith("lrwxrwxrwx", Line("lib"), StringComparison.Ordinal);
    }

    [NeedsFact("tool:cpio")]
    public void CpioExtractsTheFilesByteForByte()
    {
        Needs.Require("tool:cpio");
        var archive = Sample();
        var (rc, stdout, stderr) = Cpio(archive, "-i", "--to-stdout", "--quiet", "etc/vm/argv");
        Assert.True(rc == 0, stderr);
        Assert.Equal("/bin/agent\n--flag\n", stdout);
        var (rc2, init, stderr2) = Cpio(archive, "-i", "--to-stdout", "--quiet", "init");
        Assert.True(rc2 == 0, stderr2);
        Assert.Equal("\x7f" + "ELF\x01\x02\x03", init);
    }

    [NeedsFact("tool:cpio")]
    public void BatchArchiveFollowsTheImageOnAFourByteBoundary()
    {
        Needs.Require("tool:cpio");
        var dir = Directory.CreateTempSubdirectory("vm-tests-");
        try
        {
            // An "image" of odd length, as a gzip member is: the batch archive must start 4-aligned after it.
            var imagePath = Path.Combine(dir.FullName, "image");
            File.WriteAllBytes(imagePath, new byte[] { 1, 2, 3, 4, 5 });
            var image = new InitramfsImage(imagePath, "k", 5, 1, 5);
            var batch = new ProgramBatch { Programs = ProgramSampler.Sample(64, 3, 4) };
            var target = Path.Combine(dir.FullName, "initrd");
            InitramfsBuilder.WithBatch(image, batch, target);
            var bytes = File.ReadAllBytes(target);
            Assert.Equal(new byte[] { 1, 2, 3, 4, 5, 0, 0, 0 }, bytes[..8]);
            var tail = bytes[8..];
            Assert.Equal("070701", Encoding.ASCII.GetString(tail, 0, 6));
            Assert.Equal(0, tail.Length % 4);
            var (rc, list, stderr) = Cpio(tail, "-it", "--quiet");
            Assert.True(rc == 0, stderr);
            Assert.Equal(["etc", "etc/vm", "etc/vm/batch.json"], list.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            var (rc2, json, stderr2) = Cpio(tail, "-i", "--to-stdout", "--quiet", "etc/vm/batch.json");
            Assert.True(rc2 == 0, stderr2);
            var back = JsonSerializer.Deserialize(json, AgentJson.Default.ProgramBatch)!;
            Assert.Equal(JsonSerializer.Serialize(batch, AgentJson.Default.ProgramBatch), JsonSerializer.Serialize(back, AgentJson.Default.ProgramBatch));
        }
        finally
        {
            dir.Delete(true);
        }
    }

    [Fact]
    public void SameEntriesGiveTheSameBytes() => Assert.Equal(Sample(), Sample());

    [Fact]
    public void EveryEntryAndTheArchiveEndOnFourByteBoundaries()
    {
        var archive = Sample();
        Assert.Equal(0, archive.Length % 4);
        // Walk the headers as the kernel does: each starts with the magic at a 4-aligned offset.
        var offset = 0;
        var names = new List<string>();
        while (true)
        {
            Assert.Equal(0, offset % 4);
            Assert.Equal("070701", Encoding.ASCII.GetString(archive, offset, 6));
            var size = Convert.ToInt32(Encoding.ASCII.GetString(archive, offset + 54, 8), 16);
            var nameSize = Convert.ToInt32(Encoding.ASCII.GetString(archive, offset + 94, 8), 16);
            var name = Encoding.ASCII.GetString(archive, offset + 110, nameSize - 1);
            names.Add(name);
            offset = Align(Align(offset + 110 + nameSize) + size);
            if (name == "TRAILER!!!")
            {
                break;
            }
        }

        Assert.Equal(archive.Length, offset);
        Assert.Equal("TRAILER!!!", names[^1]);

        static int Align(int n) => (n + 3) & ~3;
    }

    [Theory]
    [InlineData("/etc", "relative path")]
    [InlineData("etc/../x", "relative path")]
    [InlineData("etc//x", "relative path")]
    [InlineData("", "relative path")]
    [InlineData("x/y", "comes before its directory 'x'")]
    public void BadNamesAreRefusedWithTheReason(string name, string reason)
    {
        var e = Assert.Throws<ArgumentException>(() => Archive(c => c.AddFile(name, [1])));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
        Assert.Contains($"'{name}'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DuplicatesAndEntriesAfterTheTrailerAreRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => Archive(c =>
        {
            c.AddFile("a", [1]);
            c.AddFile("a", [2]);
        }));
        Assert.Contains("'a' is added twice", e.Message, StringComparison.Ordinal);
        var after = Assert.Throws<InvalidOperationException>(() => Archive(c =>
        {
            c.Finish();
            c.AddFile("late", [1]);
        }));
        Assert.Contains("trailer", after.Message, StringComparison.Ordinal);
    }
}
