namespace IoUring.Conformance.Liburing;

/// <summary>
/// A built liburing tree in the cache. liburing builds in place, so <see cref="BuildDir"/> is the
/// extracted upstream tree; the library is in <see cref="LibraryDir"/>, the test programs in
/// <see cref="TestDir"/>.
/// </summary>
public sealed record LiburingBuild
{
    /// <summary>The source package version built (e.g. 2.15-1).</summary>
    public required string Version { get; init; }

    /// <summary>The configured, built upstream tree (e.g. &lt;cache&gt;/liburing/2.15-1/src/liburing-2.15).</summary>
    public required string BuildDir { get; init; }

    /// <summary>BuildDir/src: liburing.a and liburing.so.* (a test that links the shared library finds it here).</summary>
    public string LibraryDir => Path.Combine(BuildDir, "src");

    /// <summary>BuildDir/test: the test programs, and the files some of them read beside themselves.</summary>
    public string TestDir => Path.Combine(BuildDir, "test");

    /// <summary>The options ./configure was given (always --use-libc: see <see cref="LiburingBuilder.ConfigureOptions"/>).</summary>
    public required IReadOnlyList<string> ConfigureOptions { get; init; }

    /// <summary>Every test program built (test/*.t), ordered by name.</summary>
    public required IReadOnlyList<LiburingTest> Tests { get; init; }

    /// <summary>True when the build was already there (the stamp matched) and nothing ran.</summary>
    public bool UpToDate { get; init; }
}

/// <summary>One of liburing's test programs: its name without ".t" (e.g. "nop") and the executable's full path.</summary>
public sealed record LiburingTest(string Name, string Path);
