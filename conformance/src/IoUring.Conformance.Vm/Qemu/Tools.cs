using System.Diagnostics;
using IoUring.Abi.Model;

namespace IoUring.Conformance.Vm;

/// <summary>Runs the host tools the VM stage needs (gcc, ldd, the agent, qemu's version query).</summary>
public static class Tools
{
    /// <summary>Runs a tool to completion (in <paramref name="workingDirectory"/>, default this process's) and returns its exit code with stdout and stderr together.</summary>
    public static (int Rc, string Output) Run(string tool, IEnumerable<string> args, TimeSpan? timeout = null, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = workingDirectory ?? string.Empty,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["LC_ALL"] = "C";
        Process p;
        try
        {
            p = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new ToolException($"{tool} could not be started ({e.Message}); 'io_uring-conformance vm check' lists what the VMs need and how to install it");
        }

        using (p)
        {
            p.StandardInput.Close();
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(timeout ?? TimeSpan.FromMinutes(5)))
            {
                p.Kill(entireProcessTree: true);
                p.WaitForExit();
                return (-1, $"{tool} did not finish within {(timeout ?? TimeSpan.FromMinutes(5)).TotalSeconds:0} s and was killed\n{stdout.Result}{stderr.Result}");
            }

            return (p.ExitCode, stdout.Result + stderr.Result);
        }
    }

    /// <summary>The full path of an executable found on PATH, or null.</summary>
    public static string? OnPath(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
