using System.Diagnostics;
using System.Runtime.CompilerServices;
using IoUring.Bindings;

namespace IoUring.Ring.Bench;

/// <summary>What one timed run measured.</summary>
/// <param name="NsPerOp">Wall time of the timed loop over the NOPs it completed.</param>
/// <param name="BytesPerOp">Bytes the loop's thread allocated over the NOPs (-1: not measured, a separate process).</param>
internal readonly record struct Sample(double NsPerOp, double BytesPerOp);

/// <summary>
/// The C# side of the round trip, the same loop as nop-liburing.c: per round, <c>batch</c> ×
/// (GetSqe, Prep.Nop), one Submit that waits for <c>batch</c> completions, then every CQE checked
/// and the batch consumed. Whatever the backend, the client code is the same; only the backend differs.
/// </summary>
internal static unsafe class NopLoop
{
    /// <summary>
    /// Warms up as the C peer does, then times <paramref name="ops"/> NOPs on <paramref name="ring"/>.
    /// <typeparamref name="TCopy"/> (a value type: <see cref="LiveCopy"/>, <see cref="EngineCopy"/>)
    /// gives each backend its own compiled copy of the loop. With one shared copy, dynamic PGO sees
    /// both backends at one call site and compiles a loop for two, which no application using one
    /// backend would run (the engine's Enter inlined into the live kernel's loop, registers spilled).
    /// </summary>
    public static Sample Run<TCopy>(Ring ring, uint batch, long ops)
        where TCopy : struct
    {
        var rounds = ops / batch;

        // The same warm-up share as nop-liburing.c. Tiering has already settled (Program warms
        // every variant before the measured rounds); this warms the caches for this batch size.
        Loop<TCopy>(ring, batch, (rounds / 10) + 1);

        // Both counters are read outside the loop and allocate nothing themselves, so whatever the
        // difference shows was allocated by the client or the backend in steady state.
        var bytesBefore = GC.GetAllocatedBytesForCurrentThread();
        var start = Stopwatch.GetTimestamp();
        Loop<TCopy>(ring, batch, rounds);
        var elapsed = Stopwatch.GetElapsedTime(start);
        var bytes = GC.GetAllocatedBytesForCurrentThread() - bytesBefore;
        var done = (double)(rounds * batch);
        return new Sample(elapsed.TotalNanoseconds / done, bytes / done);
    }

    // Not inlined into Run: the loop is the unit the JIT tiers up (and OSR replaces) on its own,
    // and the timing reads stay outside it.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Loop<TCopy>(Ring ring, uint batch, long rounds)
        where TCopy : struct
    {
        for (long r = 0; r < rounds; r++)
        {
            for (uint i = 0; i < batch; i++)
            {
                var sqe = ring.GetSqe();
                if (sqe == null)
                {
                    throw Failure("no free SQE at", (int)i, batch);
                }

                Prep.Nop(sqe, i);
            }

            var submitted = ring.Submit(batch);
            if (submitted != (int)batch)
            {
                throw Failure("Submit returned", submitted, batch);
            }

            // As liburing's io_uring_for_each_cqe + io_uring_cq_advance: the tail read once, every
            // CQE checked, the head written once for the batch.
            var ready = ring.CqReady;
            for (uint i = 0; i < ready; i++)
            {
                var res = ring.CqeAt(i)->res;
                if (res != 0)
                {
                    throw Failure("a NOP completed with", res, batch);
                }
            }

            if (ready != batch)
            {
                throw Failure("completions ready", (int)ready, batch);
            }

            ring.CqAdvance(ready);
        }
    }

    // The loop throws what this builds: the formatting stays out of the loop, and a throw (unlike a
    // call to a method that throws) tells the JIT the path does not come back, so it keeps the
    // loop's values in registers around it instead of spilling them for a rejoin that never happens.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static InvalidOperationException Failure(string what, int got, uint batch) =>
        new($"{what} {got} (batch {batch})");
}

/// <summary>Type argument for the live kernel's copy of <see cref="NopLoop"/>'s loop.</summary>
internal struct LiveCopy;

/// <summary>Type argument for the reference engine's copy of <see cref="NopLoop"/>'s loop.</summary>
internal struct EngineCopy;
