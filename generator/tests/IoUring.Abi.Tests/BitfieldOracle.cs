using System.Diagnostics;
using System.Text;
using IoUring.Abi.Model;

namespace IoUring.Abi.Tests;

/// <summary>
/// What C cannot state in a _Static_assert: where a bitfield sits. For each named bitfield the
/// target's gcc compiles a zeroed object of its record with that field set to all ones, each object in
/// a section of its own; the object file's bytes then show exactly which bits the field occupies, to
/// be compared with the snapshot's bit offset and width. No program runs, so cross targets need no
/// emulator.
/// </summary>
internal static class BitfieldOracle
{
    public sealed record Probe(string Record, string CRecord, string Member, long BitOffset, int Width);

    private const string SectionPrefix = ".abi_bits.";

    /// <summary>Every named bitfield of the snapshot's named records, by its C member path, for one target.</summary>
    public static List<Probe> Probes(AbiSnapshot snap, int target)
    {
        var records = snap.Records.ToDictionary(r => r.Id, StringComparer.Ordinal);
        var probes = new List<Probe>();
        void Walk(RecordDecl top, RecordDecl r, string prefix, long baseBits)
        {
            foreach (var f in r.Fields)
            {
                var bits = baseBits + f.BitOffset[target];
                if (f.Name is null)
                {
                    // Unnamed bitfields (padding) cannot be named; unnamed members are reached through.
                    if (f.Record is not null && records.TryGetValue(f.Record, out var anon))
                    {
                        Walk(top, anon, prefix, bits);
                    }

                    continue;
                }

                if (f.BitWidth is int width)
                {
                    probes.Add(new Probe(top.Name!, top.CSpelling, prefix + f.Name, bits, width));
                }
                else if (f.Record is not null && records.TryGetValue(f.Record, out var inner) && inner.Name is null && f.Dims.Count == 0 && !f.Flexible)
                {
                    Walk(top, inner, prefix + f.Name + ".", bits);
                }
            }
        }

        foreach (var r in snap.Records.Where(r => r.Name is not null && r.Parent is null))
        {
            Walk(r, r, string.Empty, 0);
        }

        return probes;
    }

    /// <summary>Compiles the probes with the target's gcc; returns the bytes gcc laid out for each.</summary>
    public static List<byte[]> Compile(AbiSnapshot snap, IReadOnlyList<Probe> probes, string includeRoot, CTarget target)
    {
        var sb = new StringBuilder();
        foreach (var h in snap.Headers)
        {
            sb.Append($"#include <{h.Path}>\n");
        }

        for (var i = 0; i < probes.Count; i++)
        {
            // ~0ULL converted to the field's type is all ones in its width (gcc wraps signed ones too).
            var p = probes[i];
            sb.Append($"__attribute__((used, section(\"{SectionPrefix}{i}\"))) static const {p.CRecord} probe_{i} = {{ .{p.Member} = ~0ULL }};\n");
        }

        var dir = Path.Combine(Path.GetTempPath(), $"abi-bits-{target.ShortName}-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var source = Path.Combine(dir, "probe.c");
            var obj = Path.Combine(dir, "probe.o");
            File.WriteAllText(source, sb.ToString());
            var gcc = Corpus.RequireTool(target.GccCommand, target.GccCommand == "gcc" ? "gcc" : "gcc-" + target.Triple);
            var psi = new ProcessStartInfo(gcc) { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in new[] { "-std=gnu11", "-c", "-w", "-O0", "-nostdinc", "-I", includeRoot, "-I", Path.Combine(includeRoot, target.MultiarchDir), "-o", obj, source })
            {
                psi.ArgumentList.Add(a);
            }

            using (var p = Process.Start(psi)!)
            {
                var stderr = p.StandardError.ReadToEnd();
                p.WaitForExit();
                if (p.ExitCode != 0)
                {
                    throw new InvalidOperationException($"{gcc} could not compile the bitfield probes:\n{string.Join("\n", stderr.Split('\n').Take(15))}");
                }
            }

            var sections = ElfSections(File.ReadAllBytes(obj));
            return Enumerable.Range(0, probes.Count).Select(i => sections[SectionPrefix + i]).ToList();
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    /// <summary>The probes whose bytes differ from the snapshot's bit offset and width, described.</summary>
    public static List<string> Mismatches(IReadOnlyList<Probe> probes, IReadOnlyList<byte[]> bytes)
    {
        var wrong = new List<string>();
        for (var i = 0; i < probes.Count; i++)
        {
            // The four targets are little-endian: bit n of the object is bit n % 8 of byte n / 8.
            var set = new List<long>();
            for (var bit = 0L; bit < bytes[i].Length * 8L; bit++)
            {
                if ((bytes[i][bit / 8] >> (int)(bit % 8) & 1) != 0)
                {
                    set.Add(bit);
                }
            }

            var p = probes[i];
            var expected = Enumerable.Range(0, p.Width).Select(k => p.BitOffset + k);
            if (!set.SequenceEqual(expected))
            {
                var seen = set.Count == 0 ? "no bit" : $"bits {set.First()}..{set.Last()} ({set.Count} set)";
                wrong.Add($"{p.Record}.{p.Member}: snapshot says bit {p.BitOffset}, width {p.Width}; gcc set {seen}");
            }
        }

        return wrong;
    }

    /// <summary>The named sections of a little-endian ELF32 or ELF64 relocatable object, with their bytes.</summary>
    private static Dictionary<string, byte[]> ElfSections(byte[] elf)
    {
        if (elf.Length < 52 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F' || elf[5] != 1)
        {
            throw new InvalidOperationException("not a little-endian ELF object");
        }

        var is64 = elf[4] == 2;
        long Word(int at, bool wide) => wide ? BitConverter.ToInt64(elf, at) : BitConverter.ToUInt32(elf, at);
        var shoff = Word(is64 ? 0x28 : 0x20, is64);
        int shentsize = BitConverter.ToUInt16(elf, is64 ? 0x3A : 0x2E);
        int shnum = BitConverter.ToUInt16(elf, is64 ? 0x3C : 0x30);
        int shstrndx = BitConverter.ToUInt16(elf, is64 ? 0x3E : 0x32);
        (uint Name, long Offset, long Size) Header(int i)
        {
            var at = (int)(shoff + (i * shentsize));
            return is64
                ? (BitConverter.ToUInt32(elf, at), BitConverter.ToInt64(elf, at + 0x18), BitConverter.ToInt64(elf, at + 0x20))
                : (BitConverter.ToUInt32(elf, at), BitConverter.ToUInt32(elf, at + 0x10), BitConverter.ToUInt32(elf, at + 0x14));
        }

        var names = Header(shstrndx);
        string NameAt(uint offset)
        {
            var start = (int)(names.Offset + offset);
            var end = Array.IndexOf(elf, (byte)0, start);
            return Encoding.ASCII.GetString(elf, start, end - start);
        }

        var result = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        for (var i = 0; i < shnum; i++)
        {
            var h = Header(i);
            result[NameAt(h.Name)] = elf.AsSpan((int)h.Offset, (int)h.Size).ToArray();
        }

        return result;
    }
}
