using System.Runtime.InteropServices;
using IoUring.Abi.Model;

namespace IoUring.Engine;

/// <summary>Where one member of a record lives, in bytes, for the target the engine runs on.</summary>
public readonly record struct FieldSlot(uint Offset, uint Size)
{
    public unsafe ulong Read(byte* record) => Size == 8 ? *(ulong*)(record + Offset) : *(uint*)(record + Offset);

    public unsafe void Write(byte* record, ulong value)
    {
        if (Size == 8)
        {
            *(ulong*)(record + Offset) = value;
        }
        else
        {
            *(uint*)(record + Offset) = (uint)value;
        }
    }
}

/// <summary>
/// The proposed IORING_OP_MMAP as one proposal snapshot lays it out: its opcode, where the SQE keeps
/// mmap_flags, and the descriptor's size and members for the target this process runs on. Nothing of
/// it is typed in here: it is read from the ABI snapshot the proposal patch produced, so v1 and v2
/// differ exactly as their headers do.
/// </summary>
public sealed record MmapLayout(string Proposal, byte Opcode, uint SqeFlagsOffset, uint DescriptorSize, FieldSlot Addr, FieldSlot Len, FieldSlot Pgoff, FieldSlot Prot, FieldSlot Flags, FieldSlot? Reserved)
{
    public const string DescriptorRecord = "io_uring_mmap_desc";

    /// <summary>The layout in <paramref name="snapshot"/>, or null when it has no IORING_OP_MMAP.</summary>
    public static MmapLayout? FromSnapshot(AbiSnapshot snapshot)
    {
        var op = snapshot.Enums.SelectMany(e => e.Enumerators).FirstOrDefault(e => e.Name == "IORING_OP_MMAP");
        var desc = snapshot.Records.FirstOrDefault(r => r.Name == DescriptorRecord);
        var sqe = snapshot.Records.FirstOrDefault(r => r.Name == "io_uring_sqe");
        if (op is null || desc is null || sqe is null)
        {
            return null;
        }

        var target = TargetIndex(snapshot);
        var records = snapshot.Records.ToDictionary(r => r.Id);
        var flags = RecordLayout.Flatten(records, sqe, target).FirstOrDefault(m => m.Path == "mmap_flags")
            ?? throw new InvalidDataException($"{snapshot.Kernel}: IORING_OP_MMAP without an io_uring_sqe.mmap_flags member");
        FieldSlot Slot(string name)
        {
            var f = desc.Fields.FirstOrDefault(x => x.Name == name) ?? throw new InvalidDataException($"{snapshot.Kernel}: {DescriptorRecord} has no member '{name}'");
            return new FieldSlot((uint)(f.BitOffset[target] / 8), (uint)f.Size[target]);
        }

        var reserved = desc.Fields.FirstOrDefault(x => x.Name is { } n && n.Contains("resv", StringComparison.Ordinal));
        return new MmapLayout(
            snapshot.Kernel,
            (byte)op.Value,
            (uint)(flags.BitOffset / 8),
            (uint)desc.Size[target],
            Slot("addr"),
            Slot("len"),
            Slot("pgoff"),
            Slot("prot"),
            Slot("flags"),
            reserved is null ? null : new FieldSlot((uint)(reserved.BitOffset[target] / 8), (uint)reserved.Size[target]));
    }

    private static int TargetIndex(AbiSnapshot snapshot)
    {
        var triple = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.Arm64 => "aarch64-linux-gnu",
            Architecture.X86 => "i686-linux-gnu",
            Architecture.Arm => "arm-linux-gnueabihf",
            _ => "x86_64-linux-gnu",
        };
        var index = snapshot.Targets.ToList().IndexOf(triple);
        return index >= 0 ? index : throw new InvalidDataException($"{snapshot.Kernel}: no layout for {triple}, the target this process runs on");
    }
}

/// <summary>The mmap(2) flags IORING_OP_MMAP's rules name (Linux, every architecture of interest).</summary>
public static class MapFlags
{
    public const int Shared = 0x01;
    public const int Private = 0x02;
    public const int Fixed = 0x10;
    public const int Anonymous = 0x20;
    public const int Populate = 0x8000;
    public const int Hugetlb = 0x40000;
}
