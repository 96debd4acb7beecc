using IoUring.Conformance.Vm;
using Xunit;
using Xunit.Abstractions;

namespace IoUring.Conformance.Vm.Tests;

/// <summary>A VM of C programs runs every program it is given, however many: the VM's init once read at most 255 and dropped the rest without a word.</summary>
public sealed class CProgramVmTests
{
    private const int Programs = 300;

    private readonly ITestOutputHelper output;

    public CProgramVmTests(ITestOutputHelper output) => this.output = output;

    [NeedsFact("kernel:7.2")]
    public async Task AWorkloadOfThreeHundredProgramsRunsEveryOne()
    {
        Needs.Require("kernel:7.2");
        var dir = Directory.CreateTempSubdirectory("iouring-cprogram-vm-");
        try
        {
            // The smallest static program: exit(0) by system call, no C library, so 300 of them stay small.
            var source = Path.Combine(dir.FullName, "exit0.c");
            File.WriteAllText(source, "void _start(void) { __asm__ volatile(\"mov $60, %eax\\n\\txor %edi, %edi\\n\\tsyscall\"); }\n");
            var binary = Path.Combine(dir.FullName, "exit0");
            var psi = new System.Diagnostics.ProcessStartInfo("gcc") { RedirectStandardError = true };
            foreach (var a in new[] { "-static", "-nostdlib", "-O2", "-o", binary, source })
            {
                psi.ArgumentList.Add(a);
            }

            using (var gcc = System.Diagnostics.Process.Start(psi)!)
            {
                var errors = gcc.StandardError.ReadToEnd();
                gcc.WaitForExit();
                Assert.True(gcc.ExitCode == 0, errors);
            }

            var kernel = KernelImageLock.Load(TestEnvironment.LockPath).Find("7.2");
            var programs = Enumerable.Range(0, Programs).Select(i => ($"exit0-{i:D3}", binary)).ToList();
            var run = await CProgramVm.RunAsync(new VmCache(), kernel, programs, [], new QemuOptions { Timeout = TimeSpan.FromSeconds(300) }, output.WriteLine);

            Assert.False(run.Failed, string.Join("; ", run.Problems));
            Assert.Equal(Programs, run.Results.Count);
            Assert.All(run.Results.Values, r => Assert.Equal("0", r.Exit));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
