using FsCheck;
using FsCheck.Fluent;
using IoUring.Bindings;
using IoUring.Engine;
using IoUring.Ring;

namespace IoUring.Conformance;

/// <summary>What one 8-byte pointer-sized word of a hostile SQE holds when it is written.</summary>
public enum HostileWord
{
    /// <summary>The random bytes, except that a user-space value is folded below 64 KiB (see <see cref="Hostile.Resolve"/>).</summary>
    Raw,

    /// <summary>0.</summary>
    Zero,

    /// <summary>A number below 64 KiB: a small file offset, and as an address below mmap_min_addr.</summary>
    Small,

    /// <summary>The workspace's buffer area at <see cref="HostileSqe.AreaOffset"/>.</summary>
    Area,

    /// <summary>A kernel address (access_ok refuses it).</summary>
    Kernel,
}

/// <summary>What the fd field of a hostile SQE holds.</summary>
public enum HostileFd
{
    /// <summary>The random bytes; values below 1024 (the agent's own descriptors) are lifted above it.</summary>
    Raw,

    /// <summary>The workspace's memfd.</summary>
    File,

    /// <summary>-1.</summary>
    Negative,

    /// <summary>A descriptor number nothing has open.</summary>
    Closed,

    /// <summary>A small fixed-file index (0-3) when the SQE has IOSQE_FIXED_FILE; a closed descriptor otherwise.</summary>
    Index,
}

/// <summary>
/// One submission-queue slot of hostile bytes: <see cref="Bytes"/> (hex, 64 bytes, or 128 on an SQE128
/// ring) written as they are, then the descriptor and the three address words set as chosen, so they
/// reach real descriptors and memory without reaching the agent's own. user_data is the slot's number
/// plus one, so every CQE says which slot it answers.
/// </summary>
public sealed record HostileSqe(string Bytes, HostileFd Fd, HostileWord Off, HostileWord Addr, HostileWord Addr3, int AreaOffset)
{
    public byte Opcode => Convert.ToByte(Bytes[..2], 16);
}

/// <summary>A ring, optionally a registered file table, and one submission of hostile SQEs.</summary>
public sealed record HostileCase(uint Entries, uint SetupFlags, bool RegisterFiles, HostileSqe[] Sqes)
{
    public override string ToString() =>
        $"hostile setup(entries {Entries}, flags 0x{SetupFlags:x}){(RegisterFiles ? " files" : string.Empty)}\n  "
        + string.Join("\n  ", Sqes.Select(s => $"{s.Bytes} fd {s.Fd} off {s.Off} addr {s.Addr}+{s.AreaOffset} addr3 {s.Addr3}"));
}

/// <summary>How a hostile case came out on the two backends.</summary>
public enum HostileVerdict
{
    /// <summary>Both ran it and their traces are equal.</summary>
    Equal,

    /// <summary>Both ran it and their traces differ.</summary>
    Different,

    /// <summary>The engine threw: a crash of the engine, whatever the kernel did.</summary>
    EngineCrash,

    /// <summary>Both ran it, but a slot's opcode is one the kernel executes and the engine does not model, so there is nothing to compare.</summary>
    NotModelled,
}

/// <summary>One hostile case's outcome as the agent reports it (traces only when they matter).</summary>
public sealed record HostileResult(int Index, HostileVerdict Verdict, string? Why, List<string>? KernelTrace, List<string>? EngineTrace);

/// <summary>
/// Random SQE bytes (any opcode, flags, fd, addresses, lengths, reserved fields) run on a live kernel and
/// on the reference engine in the same process, inside a VM only: a hostile SQE can name any file or
/// memory, which the host's kernel would honour. Both backends see the same address space, so an address
/// nothing maps faults on both alike.
/// <para>
/// What is not left to chance, and why: a descriptor below 1024 would be the agent's own (the serial
/// console its results travel on, the runtime's pipes and epoll), so those are lifted above 1024; a
/// user-space address is either the buffer area or folded below 64 KiB (mmap_min_addr: never mapped),
/// because a write to the runtime's heap would take the agent down rather than tell us anything; a
/// length next to an area address is cut to half the area, which is the slack past any area offset.
/// A case holding an opcode the kernel executes and the engine does not model (none of the corpus's
/// kernels has one now), or a cancellation that may race (<see cref="NotModelled"/>), still runs on both,
/// with only unusable descriptors and addresses, and counts as not compared.
/// </para>
/// </summary>
public static unsafe class Hostile
{
    private const ulong UserSpaceTop = 0x0000_8000_0000_0000;
    private const int AgentDescriptors = 1024;

    private static readonly uint[] SetupChoices =
    [
        0, 0, 0,
        (uint)IoUringSetupFlags.IORING_SETUP_SQE128,
        (uint)IoUringSetupFlags.IORING_SETUP_CQE32,
        (uint)IoUringSetupFlags.IORING_SETUP_SQE_MIXED,
        (uint)IoUringSetupFlags.IORING_SETUP_CQE_MIXED,
        (uint)IoUringSetupFlags.IORING_SETUP_NO_SQARRAY,
        (uint)(IoUringSetupFlags.IORING_SETUP_SQ_REWIND | IoUringSetupFlags.IORING_SETUP_NO_SQARRAY),
        (uint)IoUringSetupFlags.IORING_SETUP_SUBMIT_ALL,
    ];

    private static readonly byte[] ModelledOps = [.. ReferenceEngine.ModelledOpcodes];

    /// <summary>
    /// Cases whose opcodes are half the ones the engine models, a quarter beyond the largest
    /// IORING_OP_LAST of the corpus (unknown to every kernel), and a quarter any byte at all.
    /// </summary>
    public static Gen<HostileCase> Case(uint opLast)
    {
        var opcode = Gen.Frequency(
            (2, Gen.Elements(ModelledOps)),
            (1, Gen.Choose((int)Math.Min(opLast, 255), 255).Select(x => (byte)x)),
            (1, Gen.Choose(0, 255).Select(x => (byte)x)));
        var word = Gen.Frequency(
            (4, Gen.Constant(HostileWord.Raw)), (1, Gen.Constant(HostileWord.Zero)), (2, Gen.Constant(HostileWord.Small)),
            (3, Gen.Constant(HostileWord.Area)), (1, Gen.Constant(HostileWord.Kernel)));
        var fd = Gen.Frequency(
            (3, Gen.Constant(HostileFd.Raw)), (4, Gen.Constant(HostileFd.File)), (1, Gen.Constant(HostileFd.Negative)),
            (1, Gen.Constant(HostileFd.Closed)), (2, Gen.Constant(HostileFd.Index)));
        Gen<HostileSqe> Sqe(int size) =>
            from bytes in Gen.ArrayOf(Gen.Choose(0, 255).Select(x => (byte)x), size)
            from op in opcode
            from f in fd
            from off in word
            from addr in word
            from addr3 in word
            from areaOffset in Gen.Choose(0, Workspace.AreaBytes / 2)
            select new HostileSqe(Convert.ToHexString([op, .. bytes.AsSpan(1)]), f, off, addr, addr3, areaOffset);
        return from setup in Gen.Elements(SetupChoices)
               from entries in Gen.Elements(1u, 2u, 4u, 8u, 8u)
               from files in Gen.Elements(false, true)
               from count in Gen.Choose(1, 8)
               from sqes in Gen.ArrayOf(Sqe((setup & (uint)IoUringSetupFlags.IORING_SETUP_SQE128) != 0 ? 128 : 64), count)
               select new HostileCase(entries, setup, files, sqes);
    }

    /// <summary>What is wrong with a case read from a file (null when nothing is): every slot's bytes must be 64 or 128 bytes of hex.</summary>
    public static string? Problem(HostileCase c)
    {
        if (c.Sqes is null || c.Sqes.Length == 0)
        {
            return "it has no SQEs";
        }

        for (var i = 0; i < c.Sqes.Length; i++)
        {
            var bytes = c.Sqes[i].Bytes ?? string.Empty;
            if (bytes.Length is not (128 or 256) || !bytes.All(char.IsAsciiHexDigit))
            {
                return $"SQE {i}: Bytes must be 128 or 256 hex digits (a 64- or 128-byte SQE), not {bytes.Length} characters{(bytes.All(char.IsAsciiHexDigit) ? string.Empty : " with non-hex ones")}";
            }

            if (c.Sqes[i].AreaOffset is < 0 or > Workspace.AreaBytes / 2)
            {
                return $"SQE {i}: AreaOffset {c.Sqes[i].AreaOffset} is outside 0..{Workspace.AreaBytes / 2}";
            }
        }

        return null;
    }

    /// <summary>
    /// The opcodes of the case the kernel executes and the engine does not model, and a cancellation whose
    /// outcome random bytes make a matter of timing: one whose flags the kernel takes and that may match
    /// another request of the case (any, all, by descriptor or opcode, or by a slot's user_data) may find
    /// that request's io-wq work pending or running. A cancellation that can match nothing answers -EINVAL
    /// or -ENOENT on both, and is compared. Timers never arm in a hostile case (see Fill), so TIMEOUT,
    /// LINK_TIMEOUT and TIMEOUT_REMOVE are compared too. The generated programs draw timers that fire at
    /// once or never and cancellations that cannot race (<see cref="TimeoutChoices"/>,
    /// ProgramGen.TimeoutsOnTime): that is where those outcomes are compared.
    /// </summary>
    public static byte[] NotModelled(HostileCase c, KernelProfile profile) =>
        c.Sqes.Where(s => s.Opcode < 128 && (profile.SupportedOps & (UInt128.One << s.Opcode)) != 0 && (!ReferenceEngine.Executes(s.Opcode, profile) || CancellationMayRace(s, c)))
            .Select(s => s.Opcode).Distinct().Order().ToArray();

    // The IORING_ASYNC_CANCEL_* flags that match more than one key, and every flag a kernel takes.
    private const uint CancelBroad = (uint)(IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ALL | IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_FD
        | IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_ANY | IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_OP);

    private const uint CancelKnown = CancelBroad | (uint)(IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_FD_FIXED | IoUringAsyncCancelFlags.IORING_ASYNC_CANCEL_USERDATA);

    private static bool CancellationMayRace(HostileSqe s, HostileCase c)
    {
        if (s.Opcode != (byte)io_uring_op.IORING_OP_ASYNC_CANCEL)
        {
            return false;
        }

        var raw = Convert.FromHexString(s.Bytes);
        var flags = BitConverter.ToUInt32(raw, 28);
        if ((flags & ~CancelKnown) != 0)
        {
            return false;
        }

        // The key is addr as Fill resolves it: only a small value can be a slot's user_data (1 to 8).
        var addr = BitConverter.ToUInt64(raw, 16);
        var key = s.Addr is HostileWord.Raw && addr >= UserSpaceTop ? addr : addr & 0xffff;
        return (flags & CancelBroad) != 0 || (s.Addr is HostileWord.Raw or HostileWord.Small && key >= 1 && key <= (ulong)c.Sqes.Length);
    }

    /// <summary>
    /// Runs a case on the engine first, then on the live kernel (waiting, up to 2 s, for as many CQEs as
    /// the engine posted, since io-wq completes in its own time), and compares.
    /// </summary>
    public static HostileResult Compare(int index, HostileCase c, KernelProfile profile, IRingBackend live)
    {
        if (Problem(c) is { } problem)
        {
            return new HostileResult(index, HostileVerdict.Different, $"not run: {problem}", null, null);
        }

        var notModelled = NotModelled(c, profile);
        List<string> engine;
        uint ready;
        try
        {
            engine = Run(new ReferenceEngine(profile), c, null, notModelled.Length > 0, profile.MixedOverflowWaitSpins, out ready);
        }
        catch (Exception e)
        {
            return new HostileResult(index, HostileVerdict.EngineCrash, $"{e.GetType().Name}: {e.Message}", null, null);
        }

        var kernel = Run(live, c, ready, notModelled.Length > 0, profile.MixedOverflowWaitSpins, out _);
        if (notModelled.Length > 0)
        {
            return new HostileResult(index, HostileVerdict.NotModelled, $"opcodes {string.Join(", ", notModelled.Select(Name))} run on the kernel and are not modelled by the engine (or, ASYNC_CANCEL, may race with the case's io-wq work)", null, null);
        }

        return kernel.SequenceEqual(engine)
            ? new HostileResult(index, HostileVerdict.Equal, null, null, null)
            : new HostileResult(index, HostileVerdict.Different, $"trace line {FirstDifference(kernel, engine)}", kernel, engine);
    }

    /// <summary>The trace of one case on one backend: setup, the enter's return, the CQEs sorted, the ring's counters.</summary>
    /// <param name="waitFor">CQ slots to wait for after the enter (the engine's count), if any.</param>
    /// <param name="defang">No usable descriptor or memory: the case holds an opcode outside the engine's model.</param>
    /// <param name="waitSpins">The kernel's wait spins on a stuck 32-byte CQE of a CQE_MIXED ring (the runner then polls; see <see cref="Runner"/>).</param>
    /// <param name="ready">The CQ slots that were ready when the CQEs were reaped.</param>
    public static List<string> Run(IRingBackend backend, HostileCase c, uint? waitFor, bool defang, bool waitSpins, out uint ready)
    {
        var trace = new List<string>();
        ready = 0;
        using var ws = new Workspace();
        var rc = IoUring.Ring.Ring.Create(backend, c.Entries, new io_uring_params { flags = c.SetupFlags }, out var ring);
        trace.Add($"setup {rc}");
        if (rc < 0)
        {
            return trace;
        }

        using (ring)
        {
            var entrySize = (ring!.Params.flags & (uint)IoUringSetupFlags.IORING_SETUP_SQE128) != 0 ? 128 : 64;
            if (c.RegisterFiles)
            {
                var fds = stackalloc int[4] { ws.Fd, -1, ws.Fd, -1 };
                trace.Add($"files {ring.RegisterFiles(fds, 4)}");
            }

            var queued = 0u;
            var creators = new HashSet<ulong>();
            for (var i = 0; i < c.Sqes.Length; i++)
            {
                var sqe = ring.GetSqe();
                if (sqe == null)
                {
                    break;
                }

                Fill(sqe, entrySize, c.Sqes[i], (ulong)i + 1, ws, defang);
                if ((sqe->opcode is (byte)io_uring_op.IORING_OP_SOCKET or (byte)io_uring_op.IORING_OP_ACCEPT or (byte)io_uring_op.IORING_OP_OPENAT or (byte)io_uring_op.IORING_OP_OPENAT2 && sqe->file_index == 0)
                    || sqe->opcode == (byte)io_uring_op.IORING_OP_FIXED_FD_INSTALL)
                {
                    creators.Add((ulong)i + 1);
                }

                queued++;
            }

            ring.Flush();
            var toSubmit = ring.SqRewind ? queued : ring.SqTail - ring.SqHead;
            var enter = backend.Enter(ring.Fd, toSubmit, 0, (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS, null, 0);
            if (waitFor is { } want && ring.CqReady < want)
            {
                Runner.Wait(backend, ring, want, new RunOptions(MixedOverflowWaitSpins: waitSpins));
            }

            ready = ring.CqReady;

            // A new descriptor's number is the process's choice (and it is closed, so the next run gets the same).
            var cqes = Runner.Reap(ring, (ring.Params.flags & (uint)IoUringSetupFlags.IORING_SETUP_CQE32) != 0, uint.MaxValue, creators).Select(x => x.ToString()).ToList();

            // io-wq completes in no fixed order: the CQEs are compared as a set.
            cqes.Sort(StringComparer.Ordinal);
            trace.Add($"enter {enter} queued {queued}");
            trace.Add($"cqes {cqes.Count} [{string.Join(" ", cqes)}]");
            trace.Add($"sq {ring.SqHead}/{ring.SqTail} dropped {ring.SqDropped} overflow {ring.CqOverflow}");
        }

        return trace;
    }

    /// <summary>The resolved value of a pointer-sized word (see the class comment for why user addresses are folded).</summary>
    public static ulong Resolve(HostileWord word, ulong raw, int areaOffset, Workspace ws) => word switch
    {
        HostileWord.Raw => raw < UserSpaceTop ? raw & 0xffff : raw,
        HostileWord.Zero => 0,
        HostileWord.Small => raw & 0xffff,
        HostileWord.Area => (ulong)(ws.Area + areaOffset),
        _ => Workspace.KernelAddress | (raw & 0x0000_7fff_ffff_fff8),
    };

    private static void Fill(io_uring_sqe* sqe, int entrySize, HostileSqe s, ulong userData, Workspace ws, bool defang)
    {
        var bytes = (byte*)sqe;
        var raw = Convert.FromHexString(s.Bytes);
        raw.AsSpan(0, Math.Min(raw.Length, entrySize)).CopyTo(new Span<byte>(bytes, entrySize));
        sqe->user_data = userData;

        // A case with an opcode outside the engine's model acts on the world: it gets no usable descriptor or memory.
        var fdChoice = defang && s.Fd is HostileFd.File or HostileFd.Index ? HostileFd.Closed : s.Fd;
        var fixedFile = (sqe->flags & (byte)IoUringSqeFlags.IOSQE_FIXED_FILE) != 0;
        sqe->fd = fdChoice switch
        {
            HostileFd.Raw => sqe->fd is >= 0 and < AgentDescriptors ? sqe->fd + AgentDescriptors : sqe->fd,
            HostileFd.File => ws.Fd,
            HostileFd.Negative => -1,
            HostileFd.Index when fixedFile => sqe->fd & 3,
            _ => Workspace.ClosedFd,
        };

        HostileWord Safe(HostileWord w) => defang && w is HostileWord.Area ? HostileWord.Small : w;

        // A name read from the area never starts with '/': a relative name resolves against a descriptor
        // that is no directory (or the agent's working directory, where no name of the pattern exists),
        // so a path call finds or creates nothing, and the kernel's run meets what the engine's met.
        var areaOffset = ws.Area[s.AreaOffset] == (byte)'/' ? s.AreaOffset + 1 : s.AreaOffset;
        var words = (ulong*)bytes;
        words[1] = Resolve(Safe(s.Off), words[1], areaOffset, ws);
        words[2] = Resolve(Safe(s.Addr), words[2], areaOffset, ws);
        words[6] = Resolve(Safe(s.Addr3), words[6], areaOffset, ws);

        // The rest of the big SQE's command area: never a live address.
        for (var w = 7; w < entrySize / 8; w++)
        {
            words[w] = Resolve(HostileWord.Raw, words[w], 0, ws);
        }

        // A timer never arms: one that fired microseconds to seconds later would make the comparison a race.
        // Its timespec stays in the area only where prep refuses it (negative seconds or nanoseconds).
        if (sqe->opcode is (byte)io_uring_op.IORING_OP_TIMEOUT or (byte)io_uring_op.IORING_OP_LINK_TIMEOUT && Safe(s.Addr) is HostileWord.Area
            && ((long*)(ws.Area + areaOffset))[0] >= 0 && ((long*)(ws.Area + areaOffset))[1] >= 0)
        {
            words[2] = Resolve(HostileWord.Small, words[2], areaOffset, ws);
        }

        if (!defang && (s.Off is HostileWord.Area || s.Addr is HostileWord.Area || s.Addr3 is HostileWord.Area))
        {
            sqe->len = Math.Min(sqe->len, (uint)(Workspace.AreaBytes / 2));
        }
    }

    private static int FirstDifference(List<string> a, List<string> b)
    {
        var n = Math.Min(a.Count, b.Count);
        for (var i = 0; i < n; i++)
        {
            if (a[i] != b[i])
            {
                return i;
            }
        }

        return n;
    }

    private static string Name(byte op) => Enum.IsDefined(typeof(io_uring_op), (uint)op) ? ((io_uring_op)op).ToString() : $"op {op}";
}
