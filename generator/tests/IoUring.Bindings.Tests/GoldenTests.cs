using System.Collections.Immutable;
using System.Text;
using IoUring.Abi.Model;
using IoUring.Bindings.Generator;
using Xunit;

namespace IoUring.Bindings.Tests;

/// <summary>
/// Small synthetic headers written for this project, each through the real pipeline (the CLI's
/// extract, then the generator) into C# that must equal its golden file, compile, and agree with
/// gcc. UPDATE_GOLDEN=1 rewrites the golden files (review the diff before committing).
/// </summary>
public sealed class GoldenTests
{
    private static readonly string GoldenDir = Path.Combine(Repo.Root, "generator", "tests", "IoUring.Bindings.Tests", "Golden");

    public static IEnumerable<object[]> Headers =>
        Directory.GetFiles(Path.Combine(Repo.Root, "generator", "tests", "IoUring.Bindings.Tests", "Golden"), "*.h").Select(f => new object[] { Path.GetFileNameWithoutExtension(f) }).OrderBy(x => (string)x[0], StringComparer.Ordinal);

    internal static (AbiSnapshot Snapshot, string Json) Extract(string name)
    {
        var output = Path.Combine(Path.GetTempPath(), $"golden-{name}-{Environment.ProcessId}.json");
        try
        {
            var (rc, _, err) = Repo.Run("dotnet", Repo.CliDll, "extract", "--header", Path.Combine(GoldenDir, name + ".h"), "--name", "synthetic", "-o", output);
            Assert.True(rc == 0, $"extract of {name}.h failed: {err}");
            var json = File.ReadAllText(output);
            return (SnapshotJson.Read(json, output), json);
        }
        finally
        {
            File.Delete(output);
        }
    }

    internal static GenerationResult Generate(string json) =>
        BindingsGenerator.Generate([new InputFile("synthetic.json", json)], [new InputFile("flags.txt", File.ReadAllText(Path.Combine(GoldenDir, "flags.txt")))], string.Empty);

    [Theory]
    [MemberData(nameof(Headers))]
    public void GeneratedCodeMatchesGoldenCompilesAndAgreesWithGcc(string name)
    {
        var (snap, json) = Extract(name);
        var result = Generate(json);
        Assert.DoesNotContain(result.Problems, p => p.IsError);

        var text = new StringBuilder();
        foreach (var p in result.Problems)
        {
            text.Append($"// {p.Id}: {p.Message}\n");
        }

        foreach (var s in result.Sources)
        {
            text.Append($"// ---- {s.HintName}\n").Append(s.Text);
        }

        var golden = Path.Combine(GoldenDir, name + ".golden.cs.txt");
        if (Environment.GetEnvironmentVariable("UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(golden, text.ToString());
        }

        Assert.True(File.Exists(golden), $"{golden} is missing: run the tests once with UPDATE_GOLDEN=1 and review it");
        Assert.Equal(File.ReadAllText(golden), text.ToString());

        var probe = ProbeBuilder.Build(snap);
        var assembly = InMemoryBindings.Compile("golden_" + name, result.Sources, probe.CSharp);
        var cs = (List<string>)assembly.GetType("Probe")!.GetMethod("Lines")!.Invoke(null, null)!;
        var c = Repo.RunC(probe.C.Replace("#include <linux/io_uring.h>", $"#include \"{Path.Combine(GoldenDir, name + ".h")}\""), Repo.CacheTree("7.2"), "golden_" + name)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
        Assert.Equal(c, cs);
    }

    [Fact]
    public void SkippedMacrosAndTypesOfEverySuffix()
    {
        var (snap, _) = Extract("enums");
        string TypeOf(string m) => snap.Macros.Single(x => x.Name == m).Type.First;
        Assert.Equal("int", TypeOf("GOLD_INT"));
        Assert.Equal("unsigned int", TypeOf("GOLD_UINT"));
        Assert.Equal("long", TypeOf("GOLD_LONG"));
        Assert.Equal("unsigned long", TypeOf("GOLD_ULONG"));
        Assert.Equal("long long", TypeOf("GOLD_LLONG"));
        Assert.Equal("unsigned long long", TypeOf("GOLD_ULLONG"));
        Assert.Equal("unsigned int", TypeOf("GOLD_HEX_UINT"));
        Assert.Equal("unsigned short", TypeOf("GOLD_CAST"));
        Assert.Equal(0xffff, (int)snap.Macros.Single(x => x.Name == "GOLD_CAST").Value.First);
        Assert.Equal(["18446744073709551615", "4294967295", "18446744073709551615", "4294967295"], snap.Macros.Single(x => x.Name == "GOLD_ALL_ONES_UL").Value.Values.Select(v => v.ToString()));
        Assert.Equal(-3, (int)snap.Enums.Single(e => e.Name == "gold_signed").Enumerators[0].Value);
        var skipped = snap.SkippedMacros.ToDictionary(s => s.Name, s => s.Reason);
        Assert.Contains("not an integer constant", skipped["GOLD_STRING"]);
        Assert.Contains("not an integer constant", skipped["GOLD_FLOAT"]);
        Assert.Contains("function-like", skipped["GOLD_FUNC"]);
        Assert.Contains("expands to nothing", skipped["GOLD_EMPTY"]);
    }

    [Fact]
    public void BitfieldsWrittenInCSharpReadBackInC()
    {
        var (_, json) = Extract("bitfields");
        var result = Generate(json);
        const string setter = """
            using IoUring.Bindings;
            public static class Setter
            {
                public static byte[] Bytes()
                {
                    var b = default(gold_bits);
                    b.ready = 1; b.state = 5; b.delta = -9; b.rest = 0x7abcde; b.small = 0xa; b.more = 0x5a5; b.last = 0x3c;
                    if (b.delta != -9 || b.state != 5 || b.rest != 0x7abcde || b.more != 0x5a5) throw new System.Exception("read-back");
                    return System.Runtime.InteropServices.MemoryMarshal.AsBytes(new System.Span<gold_bits>(ref b)).ToArray();
                }
            }
            """;
        var assembly = InMemoryBindings.Compile("golden_bits_roundtrip", result.Sources, setter);
        var bytes = (byte[])assembly.GetType("Setter")!.GetMethod("Bytes")!.Invoke(null, null)!;
        var c = $$"""
            #include <stdio.h>
            #include <string.h>
            #include "{{Path.Combine(GoldenDir, "bitfields.h")}}"
            int main(void) {
                struct gold_bits b; memset(&b, 0, sizeof b);
                b.ready = 1; b.state = 5; b.delta = -9; b.rest = 0x7abcde; b.small = 0xa; b.more = 0x5a5; b.last = 0x3c;
                for (unsigned i = 0; i < sizeof b; i++) printf("%02x", ((unsigned char *)&b)[i]);
                printf("\n");
                return 0;
            }
            """;
        var expected = Repo.RunC(c, Repo.CacheTree("7.2"), "bits").Trim();
        Assert.Equal(expected, Convert.ToHexStringLower(bytes));
    }
}
