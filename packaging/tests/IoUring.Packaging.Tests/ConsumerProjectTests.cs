using System.IO.Compression;
using System.Xml.Linq;
using IoUring.Abi.Model;
using Xunit;

namespace IoUring.Packaging.Tests;

/// <summary>
/// The packages as a .NET developer uses them: a fresh console project outside the checkout that
/// references them from the folder feed only (no project references), built and run.
/// </summary>
[Collection(PackageFeedCollection.Name)]
public sealed class ConsumerProjectTests
{
    private readonly PackageFeed feed;

    public ConsumerProjectTests(PackageFeed feed) => this.feed = feed;

    private string NewConsoleProject(string name, string properties, string packages, string program)
    {
        var dir = feed.NewProjectFolder(name);
        File.WriteAllText(Path.Combine(dir, name + ".csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
                <AllowUnsafeBlocks>true</AllowUnsafeBlocks>
                {properties}
              </PropertyGroup>
              <ItemGroup>
                {packages}
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(dir, "Program.cs"), program);
        return dir;
    }

    private ProcessResult Build(string dir, params string[] properties) =>
        feed.Run(dir, ["build", "-nologo", "-v", "quiet", .. properties.Select(p => "-p:" + p)]);

    private ProcessResult RunBuilt(string dir) =>
        feed.Process(dir, Path.Combine(dir, "bin", "Debug", "net10.0", Path.GetFileName(dir)), [], TimeSpan.FromMinutes(1));

    [Fact]
    public void AConsoleProjectReferencingTheRingPackageRunsANopOnTheHostKernel()
    {
        // A NOP on a plain ring, and setup attempts that are closed at once: nothing here can reach the
        // host kernel's CQE_MIXED waiting livelock, which needs a mixed ring, an overflow and a wait.
        var dir = NewConsoleProject("nop-consumer", string.Empty, $"""<PackageReference Include="IoUring.Ring" Version="{feed.Version}" />""", """
            using System.Runtime.CompilerServices;
            using IoUring.Bindings;
            using IoUring.Ring;

            Console.WriteLine($"sizeof(io_uring_sqe) = {Unsafe.SizeOf<io_uring_sqe>()}");
            var features = KernelFeatures.Probe();
            Console.WriteLine($"opcodes {features.OpcodeCount}, NOP {features.Supports(io_uring_op.IORING_OP_NOP)}, single issuer {features.Supports(IoUringSetupFlags.IORING_SETUP_SINGLE_ISSUER)}, register probe {features.Supports(io_uring_register_op.IORING_REGISTER_PROBE)}");
            if (Ring.Create(new LiveKernel(), 4, default, out var ring) is var rc and < 0)
            {
                Console.WriteLine($"io_uring_setup: {rc}");
                return 1;
            }

            using (ring)
            {
                unsafe
                {
                    Prep.Nop(ring!.GetSqe(), 42);
                    ring.Submit(1);
                    if (!ring.TryPeekCqe(out var cqe))
                    {
                        Console.WriteLine("no CQE");
                        return 1;
                    }

                    Console.WriteLine($"NOP: user_data {cqe->user_data}, res {cqe->res}");
                }
            }

            return 0;
            """);
        Build(dir).Check("build the consumer");
        var run = RunBuilt(dir).Check("run the consumer");
        Assert.Contains("sizeof(io_uring_sqe) = 64", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("NOP: user_data 42, res 0", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("NOP True", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("register probe True", run.Stdout, StringComparison.Ordinal);

        // The bindings came from the package's default kernel, with their documentation beside them.
        var bin = Path.Combine(dir, "bin", "Debug", "net10.0");
        Assert.True(File.Exists(Path.Combine(bin, "IoUring.Bindings.dll")));
        Assert.Contains("Since kernel", File.ReadAllText(Path.Combine(feed.NuGetPackages, "iouring.bindings", feed.Version, "kernels", "7.2", "IoUring.Bindings.xml")), StringComparison.Ordinal);

        // IoUring.Ring needs the default kernel's bindings, and an unknown kernel lists the known ones.
        var older = Build(dir, "IoUringKernel=6.1");
        Assert.NotEqual(0, older.ExitCode);
        Assert.Contains("IoUring.Ring is built on the bindings of 7.2", older.Stdout, StringComparison.Ordinal);
        var unknown = Build(dir, "IoUringKernel=5.4");
        Assert.NotEqual(0, unknown.ExitCode);
        Assert.Contains("IoUringKernel is '5.4', but the IoUring.Bindings package has the bindings of:", unknown.Stdout, StringComparison.Ordinal);
        Checkout.AppendToTestReport(feed.RepoRoot, $"packaging: a console project referencing IoUring.Ring {feed.Version} from the folder feed only: {run.Stdout.Trim().Replace('\n', ';')}");
    }

    [Fact]
    public void TheBindingsPackageGivesTheKernelThatIoUringKernelNames()
    {
        var program = """
            using IoUring.Bindings;
            Console.WriteLine($"IORING_OP_LAST = {(int)io_uring_op.IORING_OP_LAST}");
            """;
        var dir = NewConsoleProject("bindings-consumer", string.Empty, $"""<PackageReference Include="IoUring.Bindings" Version="{feed.Version}" />""", program);
        Build(dir).Check("build for the default kernel");
        var newest = RunBuilt(dir).Check("run");
        Build(dir, "IoUringKernel=6.1").Check("build for 6.1");
        var oldest = RunBuilt(dir).Check("run");
        Assert.Equal($"IORING_OP_LAST = {Opcodes("7.2")}", newest.Stdout.Trim());
        Assert.Equal($"IORING_OP_LAST = {Opcodes("6.1")}", oldest.Stdout.Trim());
        Checkout.AppendToTestReport(feed.RepoRoot, $"packaging: IoUring.Bindings by IoUringKernel: default {newest.Stdout.Trim()}, 6.1 {oldest.Stdout.Trim()} (as the snapshots say)");
    }

    [Fact]
    public void TheGeneratorPackageEmitsBindingsOfACorpusKernelOrOfTheProjectsOwnHeader()
    {
        var program = """
            using System.Runtime.CompilerServices;
            using IoUring.Bindings;
            Console.WriteLine($"sizeof(io_uring_sqe) = {Unsafe.SizeOf<io_uring_sqe>()}; IORING_OP_LAST = {(int)io_uring_op.IORING_OP_LAST}");
            """;
        var reference = $"""<PackageReference Include="IoUring.Bindings.Generator" Version="{feed.Version}" PrivateAssets="all" />""";
        var dir = NewConsoleProject("generator-consumer", "<IoUringKernel>6.12</IoUringKernel>", reference, program);
        Build(dir).Check("build from a corpus kernel");
        var fromCorpus = RunBuilt(dir).Check("run");
        Assert.Equal($"sizeof(io_uring_sqe) = 64; IORING_OP_LAST = {Opcodes("6.12")}", fromCorpus.Stdout.Trim());

        // A header of the project's own, extracted by the installed tool over the newest kernel's tree.
        var codegen = feed.InstallTool("IoUring.Codegen.Tool", "io_uring-codegen");
        var own = NewConsoleProject("own-header-consumer", string.Empty, reference, """
            using System.Runtime.CompilerServices;
            using IoUring.Bindings;
            Console.WriteLine($"sizeof(my_sqe) = {Unsafe.SizeOf<my_sqe>()}; offsetof(user_data) = {Marshal.OffsetOf<my_sqe>(nameof(my_sqe.user_data))}; MY_FLAG = {Constants.MY_RING_FLAG}");
            """.Replace("using IoUring.Bindings;", "using System.Runtime.InteropServices;\nusing IoUring.Bindings;", StringComparison.Ordinal));
        var header = Path.Combine(own, "my_io_uring.h");
        File.WriteAllText(header, """
            #ifndef MY_IO_URING_H
            #define MY_IO_URING_H
            #include <linux/types.h>

            /* A ring entry of a project's own, and a flag: a made-up UAPI the generator sees for the first time. */
            struct my_sqe {
            	__u8	opcode;
            	__u8	flags;
            	__u16	ioprio;
            	__s32	fd;
            	__u64	off;
            	__u32	len;
            	__u64	user_data;
            };

            #define MY_RING_FLAG	(1U << 3)
            #endif
            """);
        Build(own, $"IoUringHeader={header}", $"IoUringCodegen={codegen}").Check("build from the project's own header");
        var fromHeader = RunBuilt(own).Check("run");
        // The C layout: user_data follows a 4-byte len and is aligned to 8 on x86_64.
        Assert.Equal("sizeof(my_sqe) = 32; offsetof(user_data) = 24; MY_FLAG = 8", fromHeader.Stdout.Trim());

        // The same, from a snapshot of the project's own made with the tool.
        var snapshot = Path.Combine(own, "mine.abi.json");
        feed.Process(own, codegen, ["extract", "--header", header, "--name", "mine", "-o", snapshot]).Check("extract");
        Build(own, $"IoUringSnapshot={snapshot}").Check("build from the project's own snapshot");
        Assert.Equal(fromHeader.Stdout.Trim(), RunBuilt(own).Check("run").Stdout.Trim());
        Checkout.AppendToTestReport(feed.RepoRoot, $"packaging: IoUring.Bindings.Generator in a console project: kernel 6.12 ({fromCorpus.Stdout.Trim()}), its own header and its own snapshot ({fromHeader.Stdout.Trim()})");
    }

    [Fact]
    public void EveryPackageSaysItsLicenceReadmeRepositoryAndVersion()
    {
        foreach (var (_, id) in PackageFeed.Packages)
        {
            using var zip = ZipFile.OpenRead(feed.PackagePath(id));
            var nuspec = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
            using var stream = nuspec.Open();
            var metadata = XDocument.Load(stream).Root!.Elements().Single(e => e.Name.LocalName == "metadata");
            string? Field(string name) => metadata.Elements().SingleOrDefault(e => e.Name.LocalName == name)?.Value;
            Assert.Equal(id, Field("id"));
            Assert.Equal(feed.Version, Field("version"));
            Assert.Equal("MIT", Field("license"));
            Assert.Equal("README.md", Field("readme"));
            Assert.False(string.IsNullOrWhiteSpace(Field("description")), id);
            var repository = metadata.Elements().Single(e => e.Name.LocalName == "repository");
            Assert.Equal("git", repository.Attribute("type")?.Value);
            Assert.Matches("^[0-9a-f]{40}$", repository.Attribute("commit")?.Value ?? string.Empty);
            Assert.NotNull(zip.GetEntry("README.md"));
            Assert.NotNull(zip.GetEntry("LICENSE"));
        }
    }

    /// <summary>IORING_OP_LAST of a kernel, as its committed snapshot says.</summary>
    private long Opcodes(string kernel) =>
        Checkout.ReadSnapshot(feed.RepoRoot, kernel).Enums.Single(e => e.Name == "io_uring_op").Enumerators.Single(x => x.Name == "IORING_OP_LAST").Value is var v ? (long)v : 0;
}
