using IoUring.Abi.Model;

namespace IoUring.Conformance.Vm;

/// <summary>What booting a conformance VM needs on the host, each with how to get it.</summary>
public static class VmPrerequisites
{
    /// <summary>Every missing prerequisite as "what: how to get it"; empty when the kernels can boot.</summary>
    public static List<string> Missing(string repoRoot, VmCache cache, IEnumerable<string> kernels, IReadOnlyCollection<string>? arches = null)
    {
        var missing = new List<string>();
        foreach (var arch in (arches ?? [KernelImageLock.DefaultArch]).Select(VmArchitecture.Of))
        {
            if (Tools.OnPath(arch.QemuBinary) is null)
            {
                missing.Add($"{arch.QemuBinary}: apt-get install {arch.QemuPackage}");
            }

            if (!arch.IsHost && Tools.OnPath(arch.Gcc) is null)
            {
                missing.Add($"{arch.Gcc} (builds the {arch.DebianArch} VM's static init and links its agent): apt-get install {arch.GccPackage}");
            }
        }

        if (Tools.OnPath("gcc") is null)
        {
            missing.Add("gcc (builds the VM's static init): apt-get install gcc libc6-dev");
        }
        else if (!File.Exists(Tools.Run("gcc", ["-print-file-name=libc.a"]).Output.Trim()))
        {
            missing.Add("the static C library (gcc -static builds the VM's init): apt-get install libc6-dev");
        }

        if (Tools.OnPath("ldd") is null)
        {
            missing.Add("ldd (lists the runtime's shared libraries): apt-get install libc-bin");
        }

        try
        {
            AgentBuild.Locate(repoRoot);
        }
        catch (ToolException e)
        {
            missing.Add(e.Message);
        }

        try
        {
            var kernelLock = KernelImageLock.Load(Path.Combine(repoRoot, "conformance", KernelImageLock.FileName));
            foreach (var k in kernelLock.Select(kernels.ToList(), arches))
            {
                if (cache.TryGetVerified(k, out var problem) is null)
                {
                    missing.Add($"{problem}: run 'io_uring-conformance kernels fetch --locked' (./make.sh test fetches every locked kernel)");
                }
            }
        }
        catch (ToolException e)
        {
            missing.Add(e.Message);
        }

        return missing;
    }
}
