namespace IoUring.Conformance.Liburing;

/// <summary>A kernel behaviour the engine does not have, which some of liburing's tests rely on.</summary>
public sealed record EngineLimitation(string Name, string Behaviour);

/// <summary>
/// The one table of liburing tests that fail on the engine for a kernel behaviour it lacks, by that
/// behaviour. A test fails on the engine for one of three reasons: it asked for something the engine
/// does not model (the engine names it in its log, and the runner reads it: no table needed), a
/// behaviour listed here, or an engine bug. The runner reports a failure of a listed test as
/// explained, and any other failure without an unmodelled request as a difference to fix; a listed
/// test that passes is reported too, so the table cannot go stale unseen.
/// </summary>
public static class EngineLimitations
{
    public static readonly EngineLimitation Time = new(
        "time",
        "the engine sleeps only for its own timers (IORING_OP_TIMEOUT) and for a wait's timeout, and its timers fire only while the ring is entered (nothing runs in the background while the program sleeps): everything else it runs completes inside the enter that submits it, so a wait with no timeout that nothing armed can satisfy ends at once as if timed out (the kernel would wait for another thread), and min_wait is not honoured");

    public static readonly EngineLimitation Tasks = new(
        "tasks",
        "the engine has no notion of the task that submits: IORING_SETUP_SINGLE_ISSUER's owner check (-EEXIST for another task) and DEFER_TASKRUN's rule that only the submitting task runs its task work are not enforced");

    public static readonly EngineLimitation Fork = new(
        "fork",
        "the engine's rings are the process's private memory: after fork(2) parent and child each hold a copy of the engine and the ring, where the kernel's ring is shared memory and one io_uring instance");

    public static readonly EngineLimitation Background = new(
        "background",
        "the engine runs only inside the program's calls into the ring: a completion that a file's wake-up makes ready (another thread's send to a socket a read waits on) is posted at the ring's next enter or wait; the kernel posts it from task work as soon as the waiting task returns to user space, so a program that spins on the CQ without entering the ring never sees it");

    public static readonly EngineLimitation Workers = new(
        "workers",
        "the engine's io-wq is a queue it runs in the submitting thread, not kernel threads: a program that looks for io-wq's workers (threads named iou-wrk-* in /proc/self/task) finds none");

    /// <summary>Each listed test and the behaviour its engine failure comes from (read from the test's source and its output on the engine).</summary>
    public static readonly IReadOnlyDictionary<string, EngineLimitation> ByTest = new Dictionary<string, EngineLimitation>(StringComparer.Ordinal)
    {
        ["232c93d07b74"] = Background,
        ["across-fork"] = Fork,
        ["io-cancel"] = Fork,
        ["io-wq-unused-exit"] = Workers,

        // Writes 65 short messages 1 ms apart before it waits, and expects a multishot READ to have
        // taken each on its own (the kernel reads each from task work as the write returns); the engine
        // reads them when the test enters the ring, 32 bytes a buffer across messages.
        ["read-mshot"] = Background,

        // Blocks in read(2) on the ring's registered eventfd while another thread writes the file a
        // POLL_ADD waits on: the kernel completes the poll and signals meanwhile; the engine, not entered,
        // does neither.
        ["ce593a6c480a"] = Background,

        // Writes the ring's own eventfd, reads it back, then waits: the kernel's multishot poll took the
        // write's wake-up before the read (its CQE, then the ring's signal turning it one-shot, then its
        // last CQE); the engine sees the wake-up at the wait, the eventfd already read empty, and no last
        // CQE follows. Without the read in between the engine gives the kernel's two CQEs
        // (EventfdRegistrationTests).
        ["poll-mshot-wake"] = Background,

        // Arms a multishot poll on a pipe, then writes and reads the pipe eight times without entering
        // the ring and peeks at the CQ: the kernel posted a CQE from task work at each write's return
        // (overflowing its two-entry CQ, which ends the multishot); the engine, never entered while the
        // pipe held data, posts none.
        ["poll-mshot-overflow"] = Background,
        ["defer-taskrun"] = Tasks,
        ["single-issuer"] = Tasks,
        ["reg-wait"] = Time,
        ["timeout-new"] = Time,
    };

    public static IReadOnlyList<EngineLimitation> All { get; } = [Time, Tasks, Fork, Background, Workers];
}
