using System.Globalization;
using System.Numerics;
using System.Text;
using IoUring.Abi.Model;
using IoUring.Bindings;

namespace IoUring.Conformance;

public static partial class CExport
{
    /// <summary>C names for the numbers a program uses, from the newest snapshot of the corpus.</summary>
    internal sealed class Names(AbiSnapshot newest)
    {
        private readonly List<(string Name, BigInteger Value)> macros = newest.Macros.Select(m => (m.Name, m.Value.First)).ToList();
        private readonly List<(string Name, BigInteger Value)> enumerators = newest.Enums.SelectMany(e => e.Enumerators).Select(e => (e.Name, e.Value)).ToList();

        /// <summary>The enumerator with this prefix and value (IORING_OP_READ), or the number.</summary>
        public string Enumerator(string prefix, long value, params string[] excluded) =>
            enumerators.FirstOrDefault(e => e.Name.StartsWith(prefix, StringComparison.Ordinal) && e.Value == value && !excluded.Contains(e.Name)).Name
            ?? value.ToString(CultureInfo.InvariantCulture);

        /// <summary>A bit mask as single-bit macros of a family joined with |, bits no macro names in hex; "0" for none.</summary>
        public string Flags(string prefix, ulong value)
        {
            if (value == 0)
            {
                return "0";
            }

            var parts = new List<string>();
            var rest = value;
            for (var bit = 0; bit < 64; bit++)
            {
                var mask = 1UL << bit;
                if ((value & mask) == 0)
                {
                    continue;
                }

                var name = macros.FirstOrDefault(m => m.Name.StartsWith(prefix, StringComparison.Ordinal) && m.Value == mask && !m.Name.EndsWith("_BIT", StringComparison.Ordinal)).Name;
                if (name is not null)
                {
                    parts.Add(name);
                    rest &= ~mask;
                }
            }

            if (rest != 0)
            {
                parts.Add($"0x{rest:x}");
            }

            return string.Join(" | ", parts);
        }
    }

    /// <summary>
    /// The main function of one exported program: setup, then each step as <see cref="Runner.Run"/>
    /// does it, each observation checked against the expected trace. <see cref="Sections"/> is what
    /// of the runtime it calls.
    /// </summary>
    private sealed class Body(CReproducer r, Names names)
    {
        private readonly StringBuilder c = new();

        public HashSet<string> Sections { get; } = new(StringComparer.Ordinal);

        private RingProgram Program => r.Program;

        public string Main()
        {
            c.Append("int main(void)\n{\n");
            if (Program.Steps.Length > 0 && r.Expected.Setup >= 0)
            {
                c.Append("\tstatic struct cqe seen[MAX_CQES];\n");
            }

            c.Append("\tstruct ring ring;\n\tstruct workspace ws;\n\tint ret;\n\n\tstart_watchdog();\n\tworkspace_create(&ws);\n");
            // The parts of the workspace only some programs use: the runtime's section of that name and its workspace_<name>().
            (bool Used, string Part)[] parts =
            [
                (ConnectionChoices.UsesConnections(Program), "connections"),
                (DescriptorChoices.UsesDescriptors(Program), "descriptors"),
                (DescriptorChoices.UsesEpoll(Program), "epoll"),
                (PathChoices.UsesPaths(Program), "paths"),
                (MessageAndWaitChoices.UsesFutexMemory(Program), "futex"),
                (BufferChoices.UsesBufferRings(Program), "buffer_rings"),
                (MessageAndWaitChoices.UsesNotifier(Program), "notifier"),
                (SpliceChoices.UsesSplicePipes(Program), "splice_pipes"),
            ];
            foreach (var (used, part) in parts.Where(p => p.Used))
            {
                Sections.Add(part);
                Line(1, $"workspace_{part}(&ws);");
            }

            c.Append('\n');

            var flags = names.Flags("IORING_SETUP_", Program.SetupFlags);
            Line(1, $"/* Set up a ring of {Program.Entries} SQ entries{(Program.SetupFlags != 0 ? $", flags {flags}" : string.Empty)}{(Program.CqEntries != 0 ? $", cq_entries {Program.CqEntries}" : string.Empty)}: the kernel should {(r.Expected.Setup >= 0 ? "take it" : $"refuse it with {Errno(r.Expected.Setup)}")}. */");
            Line(1, $"ret = ring_create(&ring, {Program.Entries}, {flags}, {Program.CqEntries});");
            Line(1, $"expect_setup(ret, {Errno(r.Expected.Setup)}, {flags});");
            if (r.Expected.Setup < 0)
            {
                Line(1, "printf(\"PASS\\n\");");
                Line(1, "return PASS;");
                c.Append("}\n");
                return c.ToString();
            }

            // A bug's reproducer leaves the params alone: offsets and features differ between correct kernels.
            if (r.CheckParams)
            {
                var p = r.Expected.Params!;
                Sections.Add("params");
                Sections.Add("text");
                Line(1, "/* The sizes, features and offsets it reports; a kernel without a feature the recording kernel had skips. */");
                Line(1, $"expect_params(&ring, 0x{p.Features:x}, \"{p}\");");
            }
            if (Program.Steps.Length > 0)
            {
                Sections.Add("steps");
                Sections.Add("text");
                var creators = Runner.DescriptorCreators(Program);
                if (creators.Count > 0)
                {
                    Line(1, "/* The CQEs of SQEs that make a plain descriptor: compared as NEW_DESCRIPTOR (the number is the process's), and closed. */");
                    Line(1, $"static const unsigned long long creators[] = {{ {string.Join(", ", creators.Order().Select(u => $"{u}ULL"))} }};");
                    Line(1, "new_descriptor_user_data = creators;");
                    Line(1, $"new_descriptor_count = {creators.Count};");
                    c.Append('\n');
                }
            }

            for (var i = 0; i < Program.Steps.Length; i++)
            {
                Step(i);
            }

            c.Append('\n');
            Line(1, "printf(\"PASS\\n\");");
            Line(1, "return PASS;");
            c.Append("}\n");
            return c.ToString();
        }

        private void Line(int indent, string text) => c.Append('\t', indent).Append(text).Append('\n');

        private void Step(int i)
        {
            var step = Program.Steps[i];
            var trace = r.Expected.Steps[i];
            var mayBeAsync = trace.Drained is not null;
            var rewind = (Program.SetupFlags & (uint)IoUringSetupFlags.IORING_SETUP_SQ_REWIND) != 0;
            c.Append('\n');
            c.Append("\t/*\n");
            foreach (var line in Wrap($"Step {i + 1} of {Program.Steps.Length}: {StepSummary(step, mayBeAsync)}", 96))
            {
                c.Append("\t * ").Append(line).Append('\n');
            }

            c.Append("\t */\n");
            Line(1, $"step_name = \"step {i + 1}\";");
            Line(1, "{");
            var usesText = step.Register is not null || step.RegWait >= 0;
            var settles = mayBeAsync;
            Line(2, "struct batch b;");
            if (step.Batch.Length > 0)
            {
                Line(2, "struct io_uring_sqe *sqe;");
            }

            Line(2, "unsigned to_submit;");
            Line(2, "int n;");
            if (settles)
            {
                Line(2, "int timeout;");
            }

            if (usesText)
            {
                Line(2, "char text[4096];");
            }

            c.Append('\n');
            if (mayBeAsync)
            {
                Sections.Add("drain");
                Sections.Add("settle");
                Line(2, "/* Requests of this step may complete from io-wq, at their own time: first the CQ is emptied (the overflow list flushed). */");
                Line(2, "n = drain(&ring, seen);");
                Cqes(2, "CQEs left from earlier steps", trace.Drained!, null, "n", "0");
                if (!rewind)
                {
                    var left = trace.Leftovers is not null ? r.Expected.Steps[i - 1].SqTail - r.Expected.Steps[i - 1].SqHead : 0;
                    Line(2, $"expect_int(\"SQ entries the last submission left\", sq_left(&ring), {left});");
                    if (trace.Leftovers is { } leftovers)
                    {
                        Line(2, "/* They are submitted on their own, and their CQEs awaited, before the new SQEs. */");
                        Line(2, "ret = io_uring_enter(&ring, sq_left(&ring), 0, 0, NULL, 0);");
                        Line(2, $"expect_int(\"io_uring_enter of the SQ entries left\", ret, {Errno(leftovers)});");
                        Line(2, $"n = settle(&ring, {Ready(2 * i)}, POLL_MIXED, seen, &timeout);");
                        Cqes(2, "their CQEs (sorted)", trace.LeftoverCqes!.Cqes, trace.LeftoverCqes.Timeout, "n", "timeout");
                    }
                }
            }

            if (step.Register is { } reg)
            {
                Register(reg, trace.Register!);
            }

            if (step.Batch.Length > 0)
            {
                Sections.Add("sqes");
            }

            Line(2, "batch_begin(&b, &ring);");
            for (var j = 0; j < step.Batch.Length; j++)
            {
                Sqe(step.Batch[j], j);
            }

            if (step.BadIndexAt >= 0)
            {
                Line(2, $"/* SQE {step.BadIndexAt + 1}'s entry in the SQ index array is made to name no SQE: the kernel should drop it. */");
            }

            Line(2, $"to_submit = batch_end(&b, &ring, {step.BadIndexAt});");

            Line(2, $"expect_int(\"SQEs the SQ had room for\", b.queued, {trace.Queued});");
            var enterFlags = step.GetEvents ? "IORING_ENTER_GETEVENTS" : "0";
            Line(2, $"ret = io_uring_enter(&ring, to_submit, 0, {enterFlags}, NULL, 0);");
            Line(2, "batch_done(&ring);");
            Line(2, $"expect_int(\"io_uring_enter (SQEs taken, or -errno)\", ret, {Errno(trace.Enter)});");
            if (mayBeAsync)
            {
                Line(2, $"n = settle(&ring, {Ready((2 * i) + 1)}, POLL_MIXED, seen, &timeout);");
                Cqes(2, "the step's CQEs (sorted)", trace.Cqes, trace.SettleTimeout, "n", "timeout");
            }
            else
            {
                Line(2, $"n = reap(&ring, seen, {step.Reap});");
                Cqes(2, $"the step's CQEs (up to {step.Reap}, in CQ order)", trace.Cqes, null, "n", "0");
            }

            if (step.RegWait >= 0)
            {
                Sections.Add("registered-wait");
                Line(2, $"registered_wait(&ring, &ws, {step.RegWait}, POLL_MIXED, text, sizeof text);");
                Line(2, $"expect_text(\"a registered wait (IORING_ENTER_EXT_ARG_REG, variant {step.RegWait})\", text, \"{trace.RegisteredWait}\");");
            }

            Line(2, $"expect_counters(&ring, \"{Counters(trace)}\");");
            Line(2, $"expect_digest(&ws, \"{trace.Digest}\");");
            Line(1, "}");
        }

        private string Ready(int phase) => phase < r.Ready.Count ? Runner.ReadySlots(r.Ready[phase]).ToString(CultureInfo.InvariantCulture) : "0";

        private static string Counters(StepTrace t) =>
            string.Create(CultureInfo.InvariantCulture, $"sq {t.SqHead}/{t.SqTail} cq {t.CqHead}/{t.CqTail} sqflags 0x{t.SqFlags:x} overflow {t.Overflow} dropped {t.Dropped}");

        private int arrays;

        private void Cqes(int indent, string what, CqeTrace[] want, int? wantTimeout, string count, string timeout)
        {
            var array = "NULL";
            if (want.Length > 0)
            {
                array = $"want{++arrays}";
                Line(indent, $"static const struct cqe {array}[] = {{");
                foreach (var cqe in want)
                {
                    var big = cqe.Big ? $", 1, {Number(cqe.Big0)}, {Number(cqe.Big1)}" : string.Empty;
                    Line(indent + 1, $"{{ {cqe.UserData}, {Errno(cqe.Res)}, {cqe.Flags}{big} }},");
                }

                Line(indent, "};");
            }

            Line(indent, $"expect_cqes(\"{what}\", seen, {count}, {timeout}, {array}, {want.Length}, {(wantTimeout is { } t ? Errno(t) : "0")});");
        }

        private void Register(RegisterSpec reg, string want)
        {
            var (section, call, what) = reg.Kind switch
            {
                RegisterKind.Probe => ("probe", $"register_probe(&ring, {reg.Count}, {Bool(reg.Dirty)}, text, sizeof text)", "IORING_REGISTER_PROBE"),
                RegisterKind.Query => ("query", $"register_query({reg.Count}, {reg.Variant}, {Bool(reg.Dirty)}, text, sizeof text)", "IORING_REGISTER_QUERY"),
                RegisterKind.Files => ("files", $"register_files(&ring, &ws, {reg.Count}, {reg.Variant}, text, sizeof text)", "IORING_REGISTER_FILES"),
                RegisterKind.UnregisterFiles => ("unregister-files", $"unregister_files(&ring, &ws, {Bool(reg.Dirty)}, text, sizeof text)", "IORING_UNREGISTER_FILES"),
                RegisterKind.FilesUpdate => ("files-update", $"update_files(&ring, &ws, {reg.Count}, {reg.Variant}, {Bool(reg.Dirty)}, text, sizeof text)", "IORING_REGISTER_FILES_UPDATE"),
                RegisterKind.Buffers => ("buffers", $"register_buffers(&ring, &ws, {reg.Count}, {reg.Variant}, {Bool(reg.Dirty)}, text, sizeof text)", "IORING_REGISTER_BUFFERS"),
                RegisterKind.UnregisterBuffers => ("unregister-buffers", $"unregister_buffers(&ring, {Bool(reg.Dirty)}, text, sizeof text)", "IORING_UNREGISTER_BUFFERS"),
                RegisterKind.Restrictions => ("restrictions", $"register_restrictions(&ring, {(reg.Restrictions is { Length: > 0 } ? "restrictions" : "NULL")}, {reg.Restrictions?.Length ?? 0}, text, sizeof text)", "IORING_REGISTER_RESTRICTIONS"),
                RegisterKind.EnableRings => ("enable-rings", $"enable_rings(&ring, {Bool(reg.Dirty)}, text, sizeof text)", "IORING_REGISTER_ENABLE_RINGS"),
                RegisterKind.SyncCancel => ("sync-cancel", SyncCancelCall(reg), "IORING_REGISTER_SYNC_CANCEL"),
                RegisterKind.BufferRing => ("buffer-ring", $"register_buffer_ring(&ring, &ws, {reg.Count}, {(uint)BufferChoices.FromVariant(reg.Variant).Shape}, {BufferChoices.FromVariant(reg.Variant).Group}, {Bool(reg.Dirty)}, text, sizeof text)", "IORING_REGISTER_PBUF_RING"),
                RegisterKind.UnregisterBufferRing => ("unregister-buffer-ring", $"unregister_buffer_ring(&ring, {reg.Variant}, {reg.Count}, {Bool(reg.Dirty)}, text, sizeof text)", "IORING_UNREGISTER_PBUF_RING"),
                RegisterKind.BufferRingStatus => ("buffer-ring-status", $"buffer_ring_status(&ring, {reg.Variant}, {reg.Count}, {Bool(reg.Dirty)}, text, sizeof text)", "IORING_REGISTER_PBUF_STATUS"),
                RegisterKind.Eventfd => ("eventfd", $"register_eventfd(&ring, &ws, {reg.Count}, {reg.Variant}, text, sizeof text)", reg.Variant == 1 ? "IORING_REGISTER_EVENTFD_ASYNC" : "IORING_REGISTER_EVENTFD"),
                RegisterKind.UnregisterEventfd => ("unregister-eventfd", $"unregister_eventfd(&ring, &ws, {reg.Count}, {Bool(reg.Dirty)}, text, sizeof text)", "IORING_UNREGISTER_EVENTFD"),
                RegisterKind.EventfdDisabled => ("eventfd-disabled", $"eventfd_disabled(&ring, {reg.Variant}, text, sizeof text)", "IORING_CQ_EVENTFD_DISABLED"),
                _ => ("mem-region", $"register_mem_region(&ring, &ws, {reg.Variant}, text, sizeof text)", "IORING_REGISTER_MEM_REGION"),
            };
            Sections.Add(section);
            if (reg.Kind == RegisterKind.Restrictions && reg.Restrictions is { Length: > 0 } entries)
            {
                var list = string.Join(", ", entries.Select(e => $"{{ {names.Enumerator("IORING_RESTRICTION_", e.Opcode, "IORING_RESTRICTION_LAST")}, {e.Value} }}"));
                Line(2, $"static const unsigned char restrictions[][2] = {{ {list} }};");
            }

            Line(2, call + ";");
            Line(2, $"expect_text(\"{what}\", text, \"{want}\");");
        }

        private static string Bool(bool b) => b ? "1" : "0";

        private void Sqe(SqeSpec s, int slot)
        {
            var big = s.Opcode == (byte)io_uring_op.IORING_OP_NOP128
                && (Program.SetupFlags & (uint)(IoUringSetupFlags.IORING_SETUP_SQE_MIXED | IoUringSetupFlags.IORING_SETUP_SQE128)) != 0;
            Line(2, $"/* user_data {s.UserData}: {Describe(s)} */");
            Line(2, $"if ((sqe = batch_sqe(&b, &ring, {(big ? 1 : 0)})) != NULL) {{");
            Line(3, $"sqe->opcode = {names.Enumerator("IORING_OP_", s.Opcode, "IORING_OP_LAST")};");
            if (s.Flags != 0)
            {
                Line(3, $"sqe->flags = {names.Flags("IOSQE_", s.Flags)};");
            }

            if (s.Ioprio != 0)
            {
                Line(3, $"sqe->ioprio = 0x{s.Ioprio:x};");
            }

            var fd = CDescriptor(s);
            if (Runner.FilledAsNop(s))
            {
                Line(3, $"sqe->fd = {((s.NopFlags & (uint)IoUringNopFlags.IORING_NOP_FILE) != 0 ? fd : "-1")};");
                if (s.NopFlags != 0)
                {
                    Line(3, $"sqe->nop_flags = {names.Flags("IORING_NOP_", s.NopFlags)};");
                }

                if (s.Inject != 0)
                {
                    Line(3, $"sqe->len = (__u32){Errno(s.Inject)};");
                }

                // The words a 32-byte NOP CQE echoes: plain numbers.
                if (s.Off != 0)
                {
                    Line(3, $"sqe->off = {Number(s.Off)};");
                }

                Line(3, $"sqe->addr = {s.BufOffset + 1};");
            }
            else if (TimeoutChoices.IsCancel(s))
            {
                Line(3, $"sqe->fd = {fd};");
                Line(3, $"sqe->addr = {s.Names};");
                Line(3, $"sqe->len = {s.Len};");
                if (s.Off != 0)
                {
                    Line(3, $"sqe->off = {Number(s.Off)};");
                }

                if (s.OpFlags != 0)
                {
                    Line(3, $"sqe->cancel_flags = {names.Flags("IORING_ASYNC_CANCEL_", s.OpFlags)};");
                }
            }
            else if (TimeoutChoices.CarriesTime(s) || TimeoutChoices.IsRemove(s))
            {
                // The time as the runner gives it: a timespec of the program's own (static, so it outlives
                // the submission), a bad pointer, or with IMMEDIATE_ARG the nanoseconds themselves.
                string time;
                if ((s.OpFlags & TimeoutChoices.Immediately) != 0)
                {
                    time = $"{TimeoutChoices.Immediate[TimeoutChoices.Choice(s)]}ULL";
                }
                else if (s.Buf == BufChoice.Area)
                {
                    var (sec, nsec) = TimeoutChoices.Times[TimeoutChoices.Choice(s)];
                    Line(3, $"static struct __kernel_timespec ts{s.UserData} = {{ {sec}LL, {nsec}LL }};");
                    time = $"(unsigned long long)(uintptr_t)&ts{s.UserData}";
                }
                else
                {
                    time = s.Buf switch { BufChoice.Null => "0", BufChoice.Unmapped => "UNMAPPED_ADDRESS", _ => "KERNEL_ADDRESS" };
                }

                Line(3, $"sqe->fd = {fd};");
                Line(3, $"sqe->addr = {(TimeoutChoices.CarriesTime(s) ? time : $"{s.Names}")};");
                Line(3, $"sqe->off = {(TimeoutChoices.CarriesTime(s) ? Number(s.Off) : time)};");
                Line(3, $"sqe->len = {s.Len};");
                if (s.OpFlags != 0)
                {
                    Line(3, $"sqe->timeout_flags = {names.Flags("IORING_TIMEOUT_", s.OpFlags)};");
                }
            }
            else if (PollChoices.IsPoll(s))
            {
                Line(3, $"sqe->fd = {fd};");
                Line(3, $"sqe->poll32_events = 0x{s.OpFlags:x};");
                Line(3, $"sqe->len = 0x{s.Len:x};");
                if (s.Off != 0)
                {
                    Line(3, $"sqe->off = {Number(s.Off)};");
                }

                Line(3, $"sqe->addr = {(PollChoices.IsRemove(s) ? s.Names.ToString(CultureInfo.InvariantCulture) : s.Buf == BufChoice.Area ? "0" : "UNMAPPED_ADDRESS")};");
            }
            else if (ConnectionChoices.IsConnectionOpcode(s.Opcode))
            {
                ConnectionSqe(s, fd);
            }
            else if (SocketChoices.IsShutdown(s))
            {
                Line(3, $"sqe->fd = {fd};");
                Line(3, $"sqe->len = {s.Len};");
            }
            else if (SocketChoices.IsMessage(s))
            {
                if (s.Buf == BufChoice.Area)
                {
                    Sections.Add("msghdr");
                }

                Line(3, $"sqe->fd = {fd};");
                Line(3, $"sqe->addr = {(s.Buf == BufChoice.Area ? $"msghdr_of(&ws, {slot}, {Runner.StreamOffset(s)}, {s.Len}, {SocketChoices.NameLength(s)}, {SocketChoices.ControlLength(s)}u)" : BadAddress(s.Buf))};");
                Line(3, "sqe->len = 1;");
                if (s.OpFlags != 0)
                {
                    Line(3, $"sqe->msg_flags = 0x{s.OpFlags:x};");
                }
            }
            else if (s.Opcode == (byte)io_uring_op.IORING_OP_FSYNC)
            {
                Line(3, $"sqe->fd = {fd};");
                if (s.OpFlags != 0)
                {
                    Line(3, $"sqe->fsync_flags = {names.Flags("IORING_FSYNC_", s.OpFlags)};");
                }
            }
            else if (DescriptorChoices.IsDescriptorCall(s))
            {
                // As Runner fills them (see DescriptorChoices).
                Line(3, $"sqe->fd = {fd};");
                if (s.FileIndex != 0)
                {
                    Line(3, $"sqe->file_index = {s.FileIndex}U;");
                }

                if (s.Off != 0 && !DescriptorChoices.IsEpollCtl(s))
                {
                    Line(3, $"sqe->off = {Number(s.Off)};");
                }

                Line(3, $"sqe->len = {s.Len}U;");
                if (s.OpFlags != 0)
                {
                    Line(3, $"sqe->rw_flags = 0x{s.OpFlags:x}; /* install_fd_flags: its name is newer than some headers */");
                }

                if (DescriptorChoices.IsEpollCtl(s))
                {
                    if (s.Buf == BufChoice.Area)
                    {
                        Sections.Add("epoll-event");
                    }

                    Line(3, $"sqe->off = (unsigned long long){CDescriptor(DescriptorChoices.EpollTarget(s))};");
                    Line(3, $"sqe->addr = {(s.Buf == BufChoice.Area ? $"epoll_event_of(&ws, {s.BufOffset})" : BadAddress(s.Buf))};");
                }

                if (DescriptorChoices.IsPipe(s))
                {
                    Line(3, $"sqe->addr = {(s.Buf == BufChoice.Area ? $"(unsigned long long)(uintptr_t)(ws.area + {s.BufOffset})" : BadAddress(s.Buf))};");
                }

                if (DescriptorChoices.IsEpollWait(s))
                {
                    Line(3, $"sqe->addr = {(s.Buf == BufChoice.Area ? "(unsigned long long)(uintptr_t)ws.epoll_out" : BadAddress(s.Buf))};");
                }

                if (DescriptorChoices.IsFilesUpdate(s))
                {
                    if (s.Buf == BufChoice.Area)
                    {
                        Sections.Add("descriptor-list");
                    }

                    Line(3, $"sqe->addr = {(s.Buf == BufChoice.Area ? $"descriptor_list(&ws, {slot}, {DescriptorChoices.ListStart(s)})" : BadAddress(s.Buf))};");
                }
            }
            else if (BufferChoices.IsBufferCall(s))
            {
                // As Runner fills them (see BufferChoices): the count in fd, the group in buf_group.
                Line(3, $"sqe->fd = {(int)s.Length};");
                if (s.Opcode == (byte)io_uring_op.IORING_OP_PROVIDE_BUFFERS)
                {
                    Line(3, $"sqe->addr = {(s.Buf == BufChoice.Area ? $"(unsigned long long)(uintptr_t)(ws.area + {s.BufOffset})" : BadAddress(s.Buf))};");
                }

                Line(3, $"sqe->len = {s.Len}U;");
                if (s.Off != 0)
                {
                    Line(3, $"sqe->off = {Number(s.Off)};");
                }

                if (s.OpFlags != 0)
                {
                    Line(3, $"sqe->rw_flags = 0x{s.OpFlags:x};");
                }
            }
            else if (SpliceChoices.IsSpliceCall(s))
            {
                // As Runner fills them (see SpliceChoices): the input in splice_fd_in, the offsets, the flags.
                Line(3, $"sqe->fd = {fd};");
                Line(3, $"sqe->splice_fd_in = {CDescriptor(SpliceChoices.InputSqe(s))};");
                Line(3, $"sqe->splice_off_in = {Number(s.Length)};");
                Line(3, $"sqe->off = {Number(s.Off)};");
                Line(3, $"sqe->len = {s.Len}U;");
                Line(3, $"sqe->splice_flags = 0x{s.OpFlags:x};");
            }
            else if (PathChoices.IsXattr(s))
            {
                // As Runner fills them (see PathChoices): the name at addr, the value in the area at addr2,
                // its size in len, the flags in xattr_flags, the path at addr3.
                Line(3, $"sqe->fd = {fd};");
                if (s.Buf == BufChoice.Area)
                {
                    Sections.Add(s.BufOffset < PathChoices.XattrNamesOwn ? "xattr-name" : "path-name");
                }

                var name = s.BufOffset < PathChoices.XattrNamesOwn ? $"xattr_name({s.BufOffset})"
                    : $"path_name(&ws, {(s.BufOffset == PathChoices.XattrNamesOwn ? Array.IndexOf(PathChoices.Names, string.Empty) : PathChoices.LongName)})";
                Line(3, $"sqe->addr = {(s.Buf == BufChoice.Area ? name : BadAddress(s.Buf))};");
                var value = (BufChoice)s.Off;
                Line(3, $"sqe->addr2 = {(value == BufChoice.Area ? $"(unsigned long long)(uintptr_t)(ws.area + {s.Domain})" : BadAddress(value))};");
                Line(3, $"sqe->len = {s.Len}U;");
                Line(3, $"sqe->rw_flags = 0x{s.OpFlags:x}; /* xattr_flags */");
                if (PathChoices.XattrByPath(s))
                {
                    Sections.Add("xattr-path");
                    Line(3, $"sqe->addr3 = xattr_path(&ws, {s.Length});");
                }
            }
            else if (PathChoices.IsPathCall(s))
            {
                // As Runner fills them (see PathChoices): names from the workspace's list, open flags
                // by their names (arm64 numbers some differently).
                Line(3, $"sqe->fd = {fd};");
                if (s.Buf == BufChoice.Area || PathChoices.HasSecondName(s))
                {
                    Sections.Add("path-name");
                }

                Line(3, $"sqe->addr = {(s.Buf == BufChoice.Area ? $"path_name(&ws, {s.BufOffset})" : BadAddress(s.Buf))};");
                Line(3, $"sqe->len = {s.Len}U;");
                if (s.FileIndex != 0)
                {
                    Line(3, $"sqe->file_index = {s.FileIndex}U;");
                }

                var second = (BufChoice)s.Off;
                if (s.Opcode == (byte)io_uring_op.IORING_OP_OPENAT)
                {
                    Line(3, $"sqe->open_flags = {OpenFlags(s.OpFlags)};");
                }
                else
                {
                    Line(3, $"sqe->rw_flags = 0x{s.OpFlags:x};");
                }

                if (s.Opcode == (byte)io_uring_op.IORING_OP_OPENAT2)
                {
                    if (second == BufChoice.Area)
                    {
                        Sections.Add("path-how");
                    }

                    Line(3, $"sqe->addr2 = {(second == BufChoice.Area ? $"path_how(&ws, {s.Length})" : BadAddress(second))};");
                }
                else if (PathChoices.IsStatx(s))
                {
                    Line(3, $"sqe->addr2 = {(second == BufChoice.Area ? "(unsigned long long)(uintptr_t)ws.statx" : BadAddress(second))};");
                }
                else if (PathChoices.HasSecondName(s))
                {
                    Line(3, $"sqe->addr2 = path_name(&ws, {s.Length});");
                }

                if (PathChoices.HasSecondDirectory(s))
                {
                    Line(3, $"sqe->len = (unsigned)({CDescriptor(s with { Fd = (FdChoice)s.Len, Flags = 0 })});");
                }
            }
            else if (MessageAndWaitChoices.IsCall(s))
            {
                FillMessageOrWait(s, fd, slot);
            }
            else if (FileCallChoices.IsFileCall(s))
            {
                // As Runner fills them: MADVISE's address (the area's, or a bad one) in addr and its
                // 64-bit length in off; the other calls' offset in off and 64-bit length in addr.
                var madvise = FileCallChoices.IsMadvise(s);
                var address = s.Buf == BufChoice.Area ? $"(unsigned long long)(uintptr_t)(ws.area + {s.BufOffset})" : BadAddress(s.Buf);
                Line(3, $"sqe->fd = {fd};");
                Line(3, $"sqe->off = {Number(madvise ? s.Length : s.Off)};");
                Line(3, $"sqe->addr = {(madvise ? address : Number(s.Length))};");
                Line(3, $"sqe->len = {s.Len}U;");
                Line(3, $"sqe->rw_flags = 0x{s.OpFlags:x};");
            }
            else
            {
                var vectored = s.Opcode is (byte)io_uring_op.IORING_OP_READV or (byte)io_uring_op.IORING_OP_WRITEV;
                Line(3, $"sqe->fd = {fd};");
                var addr = s.Buf switch
                {
                    BufChoice.Area when Runner.UsesStream(s) => $"(unsigned long long)(uintptr_t)(ws.stream + {Runner.StreamOffset(s)})",
                    BufChoice.Area => vectored ? $"iovecs(&ws, {slot}, {s.BufOffset}, {s.Len})" : $"(unsigned long long)(uintptr_t)(ws.area + {s.BufOffset})",
                    _ => BadAddress(s.Buf),
                };
                if (vectored && s.Buf == BufChoice.Area)
                {
                    Sections.Add("iovecs");
                }

                Line(3, $"sqe->addr = {addr};");
                Line(3, $"sqe->len = {Runner.TransferLength(s)};");
                if (s.Off != 0)
                {
                    Line(3, $"sqe->off = {Number(s.Off)};");
                }

                if (s.OpFlags != 0)
                {
                    Line(3, SocketChoices.IsTransfer(s) ? $"sqe->msg_flags = 0x{s.OpFlags:x};" : $"sqe->rw_flags = {names.Flags("RWF_", s.OpFlags)};");
                }
            }

            Line(3, $"sqe->user_data = {s.UserData};");
            if (s.BufIndex != 0)
            {
                Line(3, $"sqe->buf_index = {s.BufIndex};");
            }

            Line(2, "}");
        }

        /// <summary>As Runner fills them (see MessageAndWaitChoices): the ring itself, the workspace's futex words, waitv arrays and siginfo.</summary>
        private void FillMessageOrWait(SqeSpec s, string fd, int slot)
        {
            var fixedFile = (s.Flags & (byte)IoUringSqeFlags.IOSQE_FIXED_FILE) != 0;
            switch ((io_uring_op)s.Opcode)
            {
                case io_uring_op.IORING_OP_MSG_RING:
                    Line(3, $"sqe->fd = {(s.Fd == FdChoice.Ring && !fixedFile ? "ring.fd" : fd)};");
                    Line(3, $"sqe->addr = {s.Length};");
                    Line(3, $"sqe->off = {Number(s.Off)};");
                    Line(3, $"sqe->len = {s.Len}U;");
                    Line(3, $"sqe->msg_ring_flags = 0x{s.OpFlags:x};");
                    Line(3, $"sqe->file_index = 0x{s.FileIndex:x};");
                    break;
                case io_uring_op.IORING_OP_FUTEX_WAIT or io_uring_op.IORING_OP_FUTEX_WAKE:
                    Line(3, $"sqe->fd = 0x{s.OpFlags:x};");
                    Line(3, $"sqe->addr = {(s.Buf == BufChoice.Area ? $"(unsigned long long)(uintptr_t)(ws.futex + {s.BufOffset})" : BadAddress(s.Buf))};");
                    Line(3, $"sqe->off = {Number(s.Off)};");
                    Line(3, $"sqe->addr3 = {Number(s.Length)};");
                    Line(3, $"sqe->len = {s.Len}U;");
                    break;
                case io_uring_op.IORING_OP_FUTEX_WAITV:
                    if (s.Buf == BufChoice.Area)
                    {
                        Sections.Add("futex-waitv");
                    }

                    Line(3, "sqe->fd = 0;");
                    Line(3, $"sqe->addr = {(s.Buf == BufChoice.Area ? $"futex_waitv_array(&ws, {s.BufOffset})" : BadAddress(s.Buf))};");
                    Line(3, $"sqe->len = {s.Len}U;");
                    break;
                case io_uring_op.IORING_OP_WAITID:
                    Line(3, $"sqe->fd = {(s.Fd == FdChoice.File ? fd : s.Domain.ToString(CultureInfo.InvariantCulture))};");
                    Line(3, $"sqe->len = {s.Len}U;");
                    Line(3, $"sqe->file_index = 0x{s.FileIndex:x};");
                    Line(3, $"sqe->addr2 = {(s.Buf == BufChoice.Area ? "(unsigned long long)(uintptr_t)(ws.futex + FUTEX_SIGINFO)" : BadAddress(s.Buf))};");
                    break;
                default:
                    var message = s.Opcode == (byte)io_uring_op.IORING_OP_SENDMSG_ZC;
                    if (message && s.Buf == BufChoice.Area)
                    {
                        Sections.Add("msghdr");
                    }

                    Line(3, $"sqe->fd = {fd};");
                    Line(3, $"sqe->addr = {(s.Buf != BufChoice.Area ? BadAddress(s.Buf) : message ? $"msghdr_of(&ws, {slot}, 0, 1, 0, 0u)" : "(unsigned long long)(uintptr_t)ws.stream")};");
                    Line(3, $"sqe->len = {(message ? 1 : s.Len)}U;");
                    if (s.Length != 0)
                    {
                        Line(3, $"sqe->addr3 = {Number(s.Length)};");
                    }

                    break;
            }
        }

        /// <summary>Open flags drawn as x86_64 numbers, by their names (which the C library numbers for its architecture).</summary>
        private static string OpenFlags(uint flags)
        {
            (uint Bit, string Name)[] known = [(0x1, "O_WRONLY"), (0x2, "O_RDWR"), (0x40, "O_CREAT"), (0x80, "O_EXCL"), (0x200, "O_TRUNC"), (0x10000, "O_DIRECTORY"), (0x20000, "O_NOFOLLOW"), (0x80000, "O_CLOEXEC"), (0x200000, "O_PATH")];
            var parts = known.Where(k => (flags & k.Bit) != 0).Select(k => k.Name).ToList();
            var rest = flags & ~known.Aggregate(0u, (all, k) => all | k.Bit);
            if (rest != 0)
            {
                parts.Add($"0x{rest:x}");
            }

            return parts.Count == 0 ? "O_RDONLY" : string.Join(" | ", parts);
        }

        /// <summary>The runner's choice of descriptor for <paramref name="s"/> (<see cref="Runner.Descriptor"/>), named as the C workspace names it.</summary>
        private static string CDescriptor(SqeSpec s)
        {
            const int programFile = int.MinValue;
            return Runner.Descriptor(s, new ProgramFds(programFile, programFile + 1, programFile + 2, programFile + 3, programFile + 4, programFile + 5, programFile + 6, programFile + 7, programFile + 8, programFile + 9, programFile + 10, programFile + 11, programFile + 12, programFile + 13, programFile + 14)) switch
            {
                programFile => "ws.fd",
                programFile + 1 => "ws.pipe_read",
                programFile + 2 => "ws.pipe_write",
                programFile + 3 => "ws.eventfd",
                programFile + 4 => "ws.sock_a",
                programFile + 5 => "ws.sock_b",
                programFile + 6 => "ws.listener",
                programFile + 7 => "ws.udp",
                programFile + 8 => "ws.spare",
                programFile + 9 => "ws.epoll",
                programFile + 10 => "ws.dir",
                programFile + 11 => "ws.splice_pipe[0]",
                programFile + 12 => "ws.splice_pipe[1]",
                programFile + 13 => "ws.tee_pipe[0]",
                programFile + 14 => "ws.tee_pipe[1]",
                Workspace.ClosedFd => "CLOSED_FD",
                var n => n.ToString(CultureInfo.InvariantCulture),
            };
        }

        private static string SyncCancelCall(RegisterSpec reg)
        {
            var (userData, flags, fd, opcode) = Runner.SyncCancelKey(reg.Variant);
            var descriptor = fd switch { FdChoice.PipeRead => "ws.pipe_read", FdChoice.SocketB => "ws.sock_b", _ => "-1" };
            return $"sync_cancel(&ring, {reg.Count}, {userData}ULL, 0x{flags:x}, {descriptor}, {opcode}, {Bool(reg.Dirty)}, text, sizeof text)";
        }

        /// <summary>SOCKET, BIND, LISTEN, CONNECT and ACCEPT, as <see cref="Runner"/> fills them.</summary>
        private void ConnectionSqe(SqeSpec s, string fd)
        {
            Line(3, $"sqe->fd = {(s.Opcode == (byte)io_uring_op.IORING_OP_SOCKET ? s.Domain.ToString(CultureInfo.InvariantCulture) : fd)};");
            if (s.Opcode == (byte)io_uring_op.IORING_OP_SOCKET)
            {
                Line(3, $"sqe->off = 0x{s.Off:x};");
            }
            else if (s.Opcode == (byte)io_uring_op.IORING_OP_ACCEPT)
            {
                Line(3, "*(int *)(ws.addresses + PEER_ADDRESS_LENGTH) = 128;");
                Line(3, $"sqe->addr = {(s.Buf == BufChoice.Area ? "(unsigned long long)(uintptr_t)(ws.addresses + PEER_ADDRESS)" : BadAddress(s.Buf))};");
                Line(3, $"sqe->addr2 = {(s.Buf == BufChoice.Null ? "0" : "(unsigned long long)(uintptr_t)(ws.addresses + PEER_ADDRESS_LENGTH)")};");
                Line(3, $"sqe->accept_flags = 0x{s.OpFlags:x};");
            }
            else if (ConnectionChoices.TakesAddress(s))
            {
                Line(3, $"sqe->addr = {(s.Buf == BufChoice.Area ? $"(unsigned long long)(uintptr_t)(ws.addresses + {s.BufOffset})" : BadAddress(s.Buf))};");
                Line(3, $"sqe->addr2 = {Number(s.Off)};");
            }

            Line(3, $"sqe->len = {s.Len}U;");
            if (s.FileIndex != 0)
            {
                Line(3, $"sqe->file_index = {s.FileIndex}U;");
            }
        }

        private static string BadAddress(BufChoice buf) => buf switch
        {
            BufChoice.Null => "0",
            BufChoice.Unmapped => "UNMAPPED_ADDRESS",
            _ => "KERNEL_ADDRESS",
        };

        private string Describe(SqeSpec s)
        {
            var op = names.Enumerator("IORING_OP_", s.Opcode, "IORING_OP_LAST").Replace("IORING_OP_", string.Empty);
            var nop = s.Opcode is (byte)io_uring_op.IORING_OP_NOP or (byte)io_uring_op.IORING_OP_NOP128;
            string text;
            if (Runner.FilledAsNop(s))
            {
                text = nop ? $"a {op}" : $"opcode {s.Opcode}";
                if (s.NopFlags != 0)
                {
                    text += $" with {names.Flags("IORING_NOP_", s.NopFlags).Replace("IORING_NOP_", string.Empty)}";
                }

                if ((s.NopFlags & (uint)IoUringNopFlags.IORING_NOP_INJECT_RESULT) != 0)
                {
                    text += $" (result {Errno(s.Inject)})";
                }
            }
            else
            {
                var fd = s.Fd switch
                {
                    FdChoice.File => "the file",
                    FdChoice.Negative => "descriptor -1",
                    FdChoice.PipeRead => "the pipe's read end",
                    FdChoice.PipeWrite => "the pipe's write end",
                    FdChoice.EventFd => "the eventfd",
                    FdChoice.SocketA => "socket A",
                    FdChoice.SocketB => "socket B",
                    _ => "a closed descriptor",
                };
                var buf = s.Buf switch
                {
                    BufChoice.Area when Runner.UsesStream(s) => $"the stream buffer + {Runner.StreamOffset(s)}",
                    BufChoice.Area => $"the buffer area + {s.BufOffset}",
                    BufChoice.Null => "address 0",
                    BufChoice.Unmapped => "an unmapped address",
                    _ => "a kernel address",
                };
                var vectored = s.Opcode is (byte)io_uring_op.IORING_OP_READV or (byte)io_uring_op.IORING_OP_WRITEV;
                var write = s.Opcode is (byte)io_uring_op.IORING_OP_WRITE or (byte)io_uring_op.IORING_OP_WRITEV or (byte)io_uring_op.IORING_OP_WRITE_FIXED;
                text = TimeoutChoices.CarriesTime(s) || TimeoutChoices.IsRemove(s) || TimeoutChoices.IsCancel(s) || PollChoices.IsPoll(s)
                    ? $"{op} ({s})"
                    : s.Opcode == (byte)io_uring_op.IORING_OP_FSYNC
                    ? $"FSYNC of {fd}"
                    : FileCallChoices.IsFileCall(s) || DescriptorChoices.IsDescriptorCall(s) || PathChoices.IsPathCall(s) || BufferChoices.IsBufferCall(s) || MessageAndWaitChoices.IsCall(s) || SpliceChoices.IsSpliceCall(s)
                    ? $"{op} ({s})"
                    : SocketChoices.IsShutdown(s)
                    ? $"SHUTDOWN of {fd} (how {s.Len})"
                    : SocketChoices.IsTransfer(s)
                    ? $"{op} {(SocketChoices.IsMessage(s) ? $"of a msghdr with {s.Len} vectors into the stream buffer + {Runner.StreamOffset(s)}" : $"of {s.Len} bytes {(SocketChoices.IsSend(s) ? "from" : "into")} {buf}")} on {fd}, msg_flags 0x{s.OpFlags:x}"
                        + (s.Ioprio != 0 ? $", flags 0x{s.Ioprio:x} in ioprio" : string.Empty)
                    : vectored
                        ? $"{op} of {s.Len} vectors {(write ? "from" : "into")} {buf}, at offset {(long)s.Off} of {fd}"
                        : $"{op} of {s.Len} bytes {(write ? "from" : "into")} {buf}, at offset {(long)s.Off} of {fd}";
            }

            if (s.Flags != 0)
            {
                text += $"; {names.Flags("IOSQE_", s.Flags)}";
            }

            return text;
        }

        private string StepSummary(Step step, bool mayBeAsync)
        {
            var parts = new List<string>();
            if (step.Register is { } reg)
            {
                parts.Add($"a register call ({reg.Kind})");
            }

            parts.Add(step.Batch.Length switch { 0 => "no SQEs", 1 => "one SQE", var n => $"{n} SQEs" }
                + (step.BadIndexAt >= 0 ? $" (the index of SQE {step.BadIndexAt + 1} spoiled)" : string.Empty)
                + $", submitted with {(step.GetEvents ? "IORING_ENTER_GETEVENTS" : "no flags")}");
            parts.Add(mayBeAsync ? "then the step waits for every CQE the kernel should post" : $"then up to {step.Reap} CQEs are read");
            if (step.RegWait >= 0)
            {
                parts.Add("then a registered wait");
            }

            return string.Join(", ", parts) + ".";
        }

        private static string Number(ulong v) => v < 1_000_000 ? v.ToString(CultureInfo.InvariantCulture) : $"0x{v:x}ULL";
    }

    private static readonly Dictionary<int, string> ErrnoNames = new()
    {
        [1] = "EPERM",
        [2] = "ENOENT",
        [4] = "EINTR",
        [5] = "EIO",
        [6] = "ENXIO",
        [7] = "E2BIG",
        [9] = "EBADF",
        [11] = "EAGAIN",
        [12] = "ENOMEM",
        [13] = "EACCES",
        [14] = "EFAULT",
        [16] = "EBUSY",
        [17] = "EEXIST",
        [19] = "ENODEV",
        [22] = "EINVAL",
        [23] = "ENFILE",
        [24] = "EMFILE",
        [27] = "EFBIG",
        [28] = "ENOSPC",
        [29] = "ESPIPE",
        [34] = "ERANGE",
        [38] = "ENOSYS",
        [61] = "ENODATA",
        [62] = "ETIME",
        [75] = "EOVERFLOW",
        [77] = "EBADFD",
        [95] = "EOPNOTSUPP",
        [110] = "ETIMEDOUT",
        [114] = "EALREADY",
        [125] = "ECANCELED",
    };

    /// <summary>A result as C: -EINVAL for a known errno, else the number.</summary>
    internal static string Errno(int value) =>
        value < 0 && ErrnoNames.TryGetValue(-value, out var name) ? "-" + name : value.ToString(CultureInfo.InvariantCulture);
}
