using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using IoUring.Abi.Model;
using IoUring.Bindings.Generator;
using Xunit;
using Xunit.Abstractions;

namespace IoUring.Bindings.Tests;

/// <summary>The generated bindings against gcc: every kernel, every struct, member and constant.</summary>
public sealed class GccLayoutTests
{
    private readonly ITestOutputHelper output;

    public GccLayoutTests(ITestOutputHelper output) => this.output = output;

    [Theory]
    [MemberData(nameof(Repo.Kernels), MemberType = typeof(Repo))]
    public void CSharpLayoutAndConstantsEqualWhatGccPrints(string kernel)
    {
        var result = BindingsGenerator.Generate(Repo.Snapshots(), Repo.Curation(), kernel);
        Assert.DoesNotContain(result.Problems, p => p.IsError);
        var snap = SnapshotJson.Read(File.ReadAllText(Path.Combine(Repo.AbiDir, kernel + ".json")), kernel);
        var probe = ProbeBuilder.Build(snap);

        var assembly = InMemoryBindings.Compile($"bindings_{kernel.Replace('.', '_').Replace('-', '_')}", result.Sources, probe.CSharp);
        var csLines = (List<string>)assembly.GetType("Probe")!.GetMethod("Lines")!.Invoke(null, null)!;
        var cLines = Repo.RunC(probe.C, Repo.CacheTree(kernel), "probe").Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();

        Assert.Equal(cLines.Count, csLines.Count);
        var mismatch = cLines.Zip(csLines).Where(p => p.First != p.Second).Take(10).Select(p => $"gcc: {p.First}   C#: {p.Second}").ToList();
        Assert.True(mismatch.Count == 0, $"kernel {kernel}: C# bindings disagree with gcc:\n{string.Join("\n", mismatch)}");

        // Flag enums: every member must carry the value of the C macro of the same name.
        var flags = assembly.GetTypes().Where(t => t.IsEnum && t.IsDefined(typeof(FlagsAttribute), false))
            .SelectMany(t => Enum.GetNames(t).Select(n => (Family: t.Name, Name: n, Value: Convert.ToUInt64(Enum.Parse(t, n), System.Globalization.CultureInfo.InvariantCulture))))
            .ToList();
        var cFlags = Repo.RunC(
            "#include <stdio.h>\n" + string.Concat(snap.Headers.Select(h => $"#include <{h.Path}>\n")) + "int main(void) {\n" +
            string.Concat(flags.Select(f => $"printf(\"{f.Family}.{f.Name} %llu\\n\", (unsigned long long)({f.Name}));\n")) + "return 0;\n}\n",
            Repo.CacheTree(kernel),
            "flags").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(cFlags, flags.Select(f => $"{f.Family}.{f.Name} {f.Value}"));

        var line = $"bindings vs gcc: kernel {kernel,-7} {probe.Structs,3} structs, {probe.Fields,4} members, {probe.Constants,4} constants, {flags.Count,3} flag-enum members: {cLines.Count + flags.Count} facts equal";
        output.WriteLine(line);
        Report.Append(line);
    }

    [Fact]
    public void AnSqeFilledThroughCSharpReadsBackFieldByFieldInC()
    {
        // The real bindings assembly (default kernel), anonymous-union members by their C names.
        var sqe = default(io_uring_sqe);
        sqe.opcode = (byte)io_uring_op.IORING_OP_URING_CMD;
        sqe.flags = (byte)(IoUringSqeFlags.IOSQE_FIXED_FILE | IoUringSqeFlags.IOSQE_IO_LINK);
        sqe.ioprio = 0x1234;
        sqe.fd = -7;
        sqe.cmd_op = 0xdeadbeef;
        sqe.__pad1 = 0x01020304;
        sqe.level = 0x11111111;
        sqe.optname = 0x22222222;
        sqe.len = 4096;
        sqe.uring_cmd_flags = 0x3;
        sqe.user_data = 0xfedcba9876543210;
        sqe.buf_group = 0x4321;
        sqe.personality = 0x55;
        sqe.addr_len = 0x66;
        sqe.__pad3[0] = 0x77;
        sqe.addr3 = 0x8899aabbccddeeff;
        sqe.__pad2[0] = 0x0102030405060708;

        var bytes = MemoryMarshal.AsBytes(new Span<io_uring_sqe>(ref sqe)).ToArray();
        Assert.Equal(64, bytes.Length);
        Assert.Equal(64, Unsafe.SizeOf<io_uring_sqe>());
        var file = Path.GetTempFileName();
        File.WriteAllBytes(file, bytes);
        try
        {
            const string c = """
                #include <stdio.h>
                #include <linux/io_uring.h>
                int main(int argc, char **argv) {
                    struct io_uring_sqe s;
                    FILE *f = fopen(argv[1], "rb");
                    if (!f || fread(&s, sizeof s, 1, f) != 1) return 2;
                    printf("opcode=%u flags=%u ioprio=%u fd=%d cmd_op=%u pad1=%u level=%u optname=%u len=%u uring_cmd_flags=%u user_data=%llu buf_group=%u personality=%u addr_len=%u pad3=%u addr3=%llu pad2=%llu\n",
                        s.opcode, s.flags, s.ioprio, s.fd, s.cmd_op, s.__pad1, s.level, s.optname, s.len, s.uring_cmd_flags,
                        (unsigned long long)s.user_data, s.buf_group, s.personality, s.addr_len, s.__pad3[0],
                        (unsigned long long)s.addr3, (unsigned long long)s.__pad2[0]);
                    return 0;
                }
                """;
            var printed = Repo.RunC(c, Repo.CacheTree("7.2"), "sqe_roundtrip", file).Trim();
            var expected = $"opcode={(byte)io_uring_op.IORING_OP_URING_CMD} flags=5 ioprio=4660 fd=-7 cmd_op=3735928559 pad1=16909060 level=286331153 optname=572662306 len=4096 uring_cmd_flags=3 user_data=18364758544493064720 buf_group=17185 personality=85 addr_len=102 pad3=119 addr3=9843086184167632639 pad2=72623859790382856";
            Assert.Equal(expected, printed);
            output.WriteLine(printed);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void DefaultKernelIsTheNewestReleasedKernelOfTheCorpus()
    {
        var csproj = File.ReadAllText(Path.Combine(Repo.Root, "generated", "IoUring.Bindings", "IoUring.Bindings.csproj"));
        var released = KernelVersion.NewestReleased(Repo.Kernels.Select(k => (string)k[0]));
        Assert.Contains($"<IoUringDefaultKernel>{released}</IoUringDefaultKernel>", csproj);
    }
}

internal static class Report
{
    public static void Append(string line) => Checkout.AppendToTestReport(Repo.Root, line);
}
