using System.IO;
using System.Security.Cryptography;
using System.Text;

namespace IoUring.Abi.Model;

/// <summary>The SHA-256 that the lock and the snapshots record for a file, as lower-case hex.</summary>
public static class FileHash
{
    public static string Sha256(string path)
    {
        using var sha = SHA256.Create();
        using var stream = File.OpenRead(path);
        var hash = sha.ComputeHash(stream);
        var sb = new StringBuilder(hash.Length * 2);
        foreach (var b in hash)
        {
            sb.Append(b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
        }

        return sb.ToString();
    }
}
