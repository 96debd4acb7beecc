using System.Diagnostics;
using System.Text.Json;
using IoUring.Bindings;
using IoUring.Conformance;
using IoUring.Engine;
using IoUring.Probe;
using IoUring.Ring;

/// <summary>
/// The agent as the supervised child on the host (SupervisedHost): it probes the kernel and says hello,
/// then answers one request per line of standard input with one framed line on standard output, until
/// its input closes. Programs run here, never in the supervising process; if one wedges a thread in the
/// kernel the supervisor frees and kills this process.
/// </summary>
internal static class Serve
{
    public static int Run()
    {
        var output = new Output(Console.OpenStandardOutput());
        KernelProfile? profile = null;
        string? error = null;
        try
        {
            profile = KernelProbe.Probe(new LiveKernel());
        }
        catch (Exception e)
        {
            error = e.ToString();
        }

        output.Send(AgentProtocol.HelloKind, new AgentHello(LiveKernel.Release, profile, error, 0, 0));
        if (profile is null)
        {
            return 2;
        }

        var kernel = new InProcessKernel(profile);
        while (Console.In.ReadLine() is { } line)
        {
            HostRequest request;
            try
            {
                request = JsonSerializer.Deserialize(line, AgentJson.Default.HostRequest) ?? throw new JsonException("null request");
            }
            catch (JsonException e)
            {
                Console.Error.WriteLine($"error: request '{line}' is not a HostRequest: {e.Message}");
                return 64;
            }

            var started = Stopwatch.GetTimestamp();
            switch (request.Kind)
            {
                case HostRequest.ProgramKind when request.Program is { } program:
                    AgentResult result;
                    try
                    {
                        result = new AgentResult(request.Index, kernel.Run(program, request.Ready), null, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    }
                    catch (Exception e)
                    {
                        result = new AgentResult(request.Index, null, e.ToString(), Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    }

                    output.Send(AgentProtocol.ResultKind, result);
                    break;
                case HostRequest.ResourcesKind:
                    output.Send(AgentProtocol.ResourcesKind, AgentResources.OfThisProcess());
                    break;
                case HostRequest.TrapKind:
                    output.Send(AgentProtocol.ResultKind, new AgentResult(request.Index, null, Trap(), Stopwatch.GetElapsedTime(started).TotalMilliseconds));
                    break;
                default:
                    Console.Error.WriteLine($"error: unknown request kind '{request.Kind}' (or a program request without a program)");
                    return 64;
            }
        }

        return 0;
    }

    /// <summary>
    /// Builds the waiting livelock's state (KernelProbe.TrapBigCqeInOverflow) and waits for two CQEs
    /// with no timeout and nobody to help: a sound kernel sleeps until killed; one with the bug spins in
    /// the kernel until the supervisor frees the CQ. The answer says what the wait returned, if it did.
    /// </summary>
    private static unsafe string Trap()
    {
        var live = new LiveKernel();
        if (IoUring.Ring.Ring.Create(live, 1, new io_uring_params { flags = (uint)IoUringSetupFlags.IORING_SETUP_CQE_MIXED }, out var ring) < 0)
        {
            return "no CQE_MIXED ring on this kernel: nothing to trap";
        }

        using (ring)
        {
            if (!KernelProbe.TrapBigCqeInOverflow(ring!))
            {
                return "the 32-byte CQE did not go to the overflow list";
            }

            var rc = live.Enter(ring!.Fd, 0, 2, (uint)IoUringEnterFlags.IORING_ENTER_GETEVENTS, null, 0);
            return $"the wait returned {rc}";
        }
    }
}
