using System.Diagnostics;
using System.Text;
using IoUring.Abi.Model;

namespace IoUring.Abi.Headers;

/// <summary>
/// apt with a private state (sources list, package lists, downloads) under the cache, pointed at the
/// Debian mirror the machine is already configured with. The machine's own apt state is never touched.
/// </summary>
public sealed class DebianArchive
{
    // Every architecture the targets need headers for; arch:all packages appear in each list anyway.
    public static readonly string[] Architectures = ["amd64", "i386", "arm64", "armhf"];

    private const string Keyring = "/usr/share/keyrings/debian-archive-keyring.gpg";

    private readonly string stateDir;

    public DebianArchive(string stateDir) => this.stateDir = stateDir;

    public string ArchivesDir => Path.Combine(stateDir, "archives");

    /// <summary>Writes the private sources list for the given suites and runs apt-get update.</summary>
    public void Update(IEnumerable<string> suites) => Update(suites, binaries: true, sources: false);

    /// <summary>
    /// As <see cref="Update(IEnumerable{string})"/> for source packages: the sources list names the
    /// suites' deb-src indexes only, which is all <see cref="SourceCandidate"/> and
    /// <see cref="DownloadSource"/> read.
    /// </summary>
    public void UpdateSources(IEnumerable<string> suites) => Update(suites, binaries: false, sources: true);

    private void Update(IEnumerable<string> suites, bool binaries, bool sources)
    {
        var mirror = FindMirror();
        Directory.CreateDirectory(Path.Combine(stateDir, "lists", "partial"));
        Directory.CreateDirectory(Path.Combine(ArchivesDir, "partial"));
        var trust = File.Exists(Keyring) ? $"signed-by={Keyring}" : "trusted=yes";
        var sb = new StringBuilder();
        foreach (var suite in suites.Distinct().OrderBy(s => s, StringComparer.Ordinal))
        {
            if (binaries)
            {
                sb.Append($"deb [arch={string.Join(",", Architectures)} {trust}] {mirror} {suite} main\n");
            }

            if (sources)
            {
                sb.Append($"deb-src [{trust}] {mirror} {suite} main\n");
            }
        }

        AtomicFile.WriteAllText(Path.Combine(stateDir, "sources.list"), sb.ToString());
        var (rc, output) = Apt("apt-get", ["update"]);
        // apt-get update exits 0 when indexes fail to download ("Err:" lines, "W: Failed to fetch"),
        // so its output is the only sign that the mirror was not reached.
        if (rc != 0 || output.Split('\n').Any(l => l.StartsWith("E: ", StringComparison.Ordinal) || l.StartsWith("Err:", StringComparison.Ordinal) || l.Contains("Failed to fetch", StringComparison.Ordinal)))
        {
            throw new RegistryUnreachableException($"apt-get update against {mirror} failed (exit {rc}):\n{Tail(output)}");
        }
    }

    /// <summary>The newest linux-libc-dev version the suite offers, or null when it offers none.</summary>
    public string? Candidate(string package, string suite) =>
        // "linux-libc-dev | 7.2.13-1 | http://mirror/debian sid/main amd64 Packages"
        NewestInSuite(package, suite, sources: false);

    /// <summary>
    /// The newest version of a source package the suite offers, with the files that make it up (the
    /// .dsc and its tarballs, each with its SHA-256 from the suite's Sources index), or null when the
    /// suite has no such source package. Needs <see cref="UpdateSources"/> first.
    /// </summary>
    public DebianSourcePackage? SourceCandidate(string package, string suite) =>
        // "liburing | 2.15-1 | http://mirror/debian sid/main Sources"
        NewestInSuite(package, suite, sources: true) is { } best ? SourceRecord(package, best) : null;

    /// <summary>
    /// The newest version apt-cache madison lists for <paramref name="package"/> in the suite's main
    /// component: among its source packages (<paramref name="sources"/>), or among any of its lines.
    /// </summary>
    private string? NewestInSuite(string package, string suite, bool sources)
    {
        var (rc, output) = Apt("apt-cache", ["madison", package]);
        if (rc != 0)
        {
            throw new ToolException($"apt-cache madison {package} failed (exit {rc}):\n{Tail(output)}");
        }

        string? best = null;
        foreach (var line in output.Split('\n'))
        {
            var parts = line.Split('|', StringSplitOptions.TrimEntries);
            if (parts.Length < 3 || parts[0] != package)
            {
                continue;
            }

            var where = parts[2].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (where.Length < 2 || where[1] != suite + "/main" || (sources && (where.Length < 3 || where[2] != "Sources")))
            {
                continue;
            }

            if (best is null || CompareVersions(parts[1], best) > 0)
            {
                best = parts[1];
            }
        }

        return best;
    }

    /// <summary>
    /// One version of a source package as the Sources indexes describe it (apt-cache showsrc), or null
    /// when no index has that version.
    /// </summary>
    public DebianSourcePackage? SourceRecord(string package, string version)
    {
        var (rc, output) = Apt("apt-cache", ["showsrc", package]);
        if (rc != 0)
        {
            throw new ToolException($"apt-cache showsrc {package} failed (exit {rc}):\n{Tail(output)}");
        }

        return ParseSourceRecords(output).FirstOrDefault(r => r.Package == package && r.Version == version);
    }

    /// <summary>The records of apt-cache showsrc's output (blank-line separated, each with its Checksums-Sha256 files).</summary>
    public static List<DebianSourcePackage> ParseSourceRecords(string showsrc)
    {
        var records = new List<DebianSourcePackage>();
        foreach (var block in showsrc.Replace("\r", string.Empty, StringComparison.Ordinal).Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            string? package = null, version = null;
            var files = new List<DebianSourceFile>();
            var inChecksums = false;
            foreach (var line in block.Split('\n'))
            {
                if (line.StartsWith(' ') || line.StartsWith('\t'))
                {
                    // " <sha256> <size> <name>" lines continue the Checksums-Sha256 field.
                    var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                    if (inChecksums && words.Length == 3 && long.TryParse(words[1], out var size))
                    {
                        files.Add(new DebianSourceFile(words[2], words[0], size));
                    }

                    continue;
                }

                inChecksums = line.StartsWith("Checksums-Sha256:", StringComparison.Ordinal);
                if (line.StartsWith("Package:", StringComparison.Ordinal))
                {
                    package = line["Package:".Length..].Trim();
                }
                else if (line.StartsWith("Version:", StringComparison.Ordinal))
                {
                    version = line["Version:".Length..].Trim();
                }
            }

            if (package is not null && version is not null)
            {
                records.Add(new DebianSourcePackage(package, version, files));
            }
        }

        return records;
    }

    /// <summary>
    /// Downloads every file of source package <paramref name="package"/> = <paramref name="version"/>
    /// (apt-get source --download-only, which checks them against the Sources index) into
    /// <paramref name="dir"/>, unpacking nothing, and returns the record they were checked against.
    /// </summary>
    public DebianSourcePackage DownloadSource(string package, string version, string dir)
    {
        var record = SourceRecord(package, version)
            ?? throw new RegistryUnreachableException($"the mirror's Sources indexes have no {package} {version}");
        Directory.CreateDirectory(dir);
        var (rc, output) = Apt("apt-get", ["source", "--download-only", $"{package}={version}"], dir);
        var missing = record.Files.Where(f => !File.Exists(Path.Combine(dir, f.Name))).Select(f => f.Name).ToList();
        if (rc != 0 || missing.Count > 0)
        {
            throw new RegistryUnreachableException($"apt-get source --download-only {package}={version} failed (exit {rc}{(missing.Count > 0 ? ", missing " + string.Join(", ", missing) : string.Empty)}):\n{Tail(output)}");
        }

        return record;
    }

    /// <summary>"all" for an architecture-independent package version, else null.</summary>
    public bool IsArchitectureIndependent(string package, string version)
    {
        var (rc, output) = Apt("apt-cache", ["show", $"{package}={version}"]);
        if (rc != 0)
        {
            throw new ToolException($"apt-cache show {package}={version} failed (exit {rc}):\n{Tail(output)}");
        }

        return output.Split('\n').Any(l => l.Trim() == "Architecture: all");
    }

    /// <summary>
    /// One field of a package version's control record (e.g. Depends), or null when the record has no
    /// such field. Folded continuation lines are joined.
    /// </summary>
    public string? ControlField(string package, string version, string field)
    {
        var (rc, output) = Apt("apt-cache", ["show", $"{package}={version}"]);
        if (rc != 0)
        {
            throw new RegistryUnreachableException($"apt-cache show {package}={version} failed (exit {rc}):\n{Tail(output)}");
        }

        // apt-cache show prints one record per architecture or source, blank-line separated; the first
        // is the one asked for.
        string? value = null;
        var seenRecord = false;
        foreach (var line in output.Split('\n'))
        {
            if (line.Length == 0)
            {
                if (seenRecord)
                {
                    break;
                }

                continue;
            }

            seenRecord = true;
            if (value is not null)
            {
                if (!line.StartsWith(' ') && !line.StartsWith('\t'))
                {
                    break;
                }

                value += " " + line.Trim();
            }
            else if (line.StartsWith(field + ":", StringComparison.Ordinal))
            {
                value = line[(field.Length + 1)..].Trim();
            }
        }

        return value;
    }

    /// <summary>Downloads package:arch=version into the archives folder and returns the file's path.</summary>
    public string Download(string package, string arch, string version)
    {
        Directory.CreateDirectory(ArchivesDir);
        var spec = arch == "all" ? $"{package}={version}" : $"{package}:{arch}={version}";
        var (rc, output) = Apt("apt-get", ["download", spec], ArchivesDir);
        var file = Path.Combine(ArchivesDir, DebFileName(package, version, arch));
        if (rc != 0 || !File.Exists(file))
        {
            throw new RegistryUnreachableException($"apt-get download {spec} failed (exit {rc}):\n{Tail(output)}");
        }

        return file;
    }

    public static string DebFileName(string package, string version, string arch)
    {
        // apt escapes the epoch colon in file names.
        var v = version.Replace(":", "%3a", StringComparison.Ordinal);
        return $"{package}_{v}_{arch}.deb";
    }

    /// <summary>Extracts a .deb's files (not its maintainer scripts) into a folder.</summary>
    public static void Extract(string deb, string into)
    {
        Directory.CreateDirectory(into);
        var (rc, output) = Run("dpkg-deb", ["-x", deb, into], null);
        if (rc != 0)
        {
            throw new ToolException($"dpkg-deb -x {deb} failed (exit {rc}): {Tail(output)}; delete the file to download it again");
        }
    }

    public static int CompareVersions(string a, string b)
    {
        if (a == b)
        {
            return 0;
        }

        var (rc, _) = Run("dpkg", ["--compare-versions", a, "gt", b], null);
        return rc == 0 ? 1 : -1;
    }

    /// <summary>
    /// The mirror the machine's apt uses (deb822 .sources or sources.list); the project names no
    /// mirror host of its own. IO_URING_CODEGEN_MIRROR overrides it.
    /// </summary>
    public static string FindMirror()
    {
        var env = Environment.GetEnvironmentVariable("IO_URING_CODEGEN_MIRROR");
        if (!string.IsNullOrWhiteSpace(env))
        {
            return env.Trim();
        }

        var candidates = new List<string>();
        if (Directory.Exists("/etc/apt/sources.list.d"))
        {
            foreach (var f in Directory.GetFiles("/etc/apt/sources.list.d", "*.sources").OrderBy(f => f, StringComparer.Ordinal))
            {
                foreach (var block in File.ReadAllText(f).Split("\n\n"))
                {
                    var fields = block.Split('\n').Where(l => l.Contains(':') && !l.TrimStart().StartsWith('#'))
                        .Select(l => (Key: l[..l.IndexOf(':')].Trim(), Value: l[(l.IndexOf(':') + 1)..].Trim()))
                        .ToList();
                    var suites = fields.FirstOrDefault(x => x.Key == "Suites").Value ?? string.Empty;
                    var uris = fields.FirstOrDefault(x => x.Key == "URIs").Value;
                    var types = fields.FirstOrDefault(x => x.Key == "Types").Value ?? "deb";
                    if (uris is not null && types.Split(' ').Contains("deb") && !suites.Contains("security", StringComparison.Ordinal))
                    {
                        candidates.AddRange(uris.Split(' ', StringSplitOptions.RemoveEmptyEntries));
                    }
                }
            }
        }

        if (File.Exists("/etc/apt/sources.list"))
        {
            foreach (var line in File.ReadAllLines("/etc/apt/sources.list"))
            {
                var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(w => !w.StartsWith('[') && !w.EndsWith(']')).ToArray();
                if (words.Length >= 3 && words[0] == "deb" && !words[2].Contains("security", StringComparison.Ordinal))
                {
                    candidates.Add(words[1]);
                }
            }
        }

        return candidates.FirstOrDefault(u => u.StartsWith("http", StringComparison.Ordinal))
            ?? throw new RegistryUnreachableException("no Debian mirror is configured in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list; configure apt, or set IO_URING_CODEGEN_MIRROR to a mirror URI");
    }

    private (int Rc, string Output) Apt(string tool, string[] args, string? cwd = null)
    {
        var options = new[]
        {
            $"-o=Dir::Etc::SourceList={Path.Combine(stateDir, "sources.list")}",
            "-o=Dir::Etc::SourceParts=/dev/null",
            $"-o=Dir::State::Lists={Path.Combine(stateDir, "lists")}",
            $"-o=Dir::Cache={Path.Combine(stateDir, "cache")}",
            $"-o=Dir::Cache::Archives={ArchivesDir}",
            "-o=Dir::State::status=/dev/null",
            "-o=APT::Architecture=amd64",
            $"-o=APT::Architectures={string.Join(",", Architectures)}",
            "-o=Acquire::Languages=none",
            "-o=APT::Sandbox::User=root",
            "-o=Debug::NoLocking=1",
            "-q",
        };
        Directory.CreateDirectory(Path.Combine(stateDir, "cache"));
        return Run(tool, options.Concat(args).ToArray(), cwd);
    }

    private static (int Rc, string Output) Run(string tool, string[] args, string? cwd)
    {
        var psi = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = cwd ?? Environment.CurrentDirectory,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["LC_ALL"] = "C";
        try
        {
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            var stdout = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, stdout + stderr.Result);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new ToolException($"{tool} could not be started ({e.Message}); this needs a Debian system with apt and dpkg");
        }
    }

    private static string Tail(string s)
    {
        var lines = s.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return string.Join("\n", lines.Skip(Math.Max(0, lines.Length - 6)).Select(l => "  " + l));
    }
}

/// <summary>One version of a Debian source package and the files it is made of.</summary>
public sealed record DebianSourcePackage(string Package, string Version, IReadOnlyList<DebianSourceFile> Files);

/// <summary>A file of a source package (.dsc, .orig.tar.*, .debian.tar.*) as its Sources index names it.</summary>
public sealed record DebianSourceFile(string Name, string Sha256, long Size);

/// <summary>The Debian mirror could not be reached or did not have what was asked.</summary>
public sealed class RegistryUnreachableException : ToolException
{
    public RegistryUnreachableException(string message)
        : base(message)
    {
    }
}
