using IoUring.Bindings;
using IoUring.Ring;

namespace IoUring.Engine;

/// <summary>
/// FGETXATTR, FSETXATTR, GETXATTR and SETXATTR: extended attributes of the request's file, or of a path
/// (from the working directory, following symbolic links). The prep copies the name (at most 255 bytes,
/// not empty: -ERANGE) and, for a set, the value (at most 64 KiB: -E2BIG), and checks the flags, each
/// before anything is looked up; every call then runs from io-wq as the system call of the same name on
/// those copies. The call's error is only the result: it does not break a chain.
/// </summary>
internal sealed unsafe partial class EngineRing
{
    // XATTR_NAME_MAX + 1: the name's buffer, NUL included.
    private const int XattrNameBytes = 256;

    // XATTR_SIZE_MAX.
    private const uint XattrSizeMax = 65536;

    // XATTR_CREATE | XATTR_REPLACE.
    private const uint XattrFlags = 3;

    /// <summary>
    /// __io_getxattr_prep and __io_setxattr_prep: the name at addr, the value at addr2, its size in len,
    /// the flags in xattr_flags, the path (GETXATTR, SETXATTR) at addr3. A fixed file is refused first
    /// by the path calls, and by all four where the kernel predates fixed files for them.
    /// </summary>
    private int PrepareXattr(ref Request r, io_uring_sqe* sqe)
    {
        var byPath = r.Kind is OpKind.GetXattr or OpKind.SetXattr;
        if ((r.SqeFlags & (byte)IoUringSqeFlags.IOSQE_FIXED_FILE) != 0 && (byPath || !profile.XattrTakesFixedFile))
        {
            return -Errno.EBADF;
        }

        r.OpFlags = sqe->xattr_flags;
        var set = r.Kind is OpKind.SetXattr or OpKind.FsetXattr;
        if (set ? (r.OpFlags & ~XattrFlags) != 0 : r.OpFlags != 0)
        {
            return -Errno.EINVAL;
        }

        // import_xattr_name: strncpy_from_user into 256 bytes; empty, or no NUL in them, is -ERANGE.
        var length = CopyString(sqe->addr, XattrNameBytes, out r.Path2);
        if (length < 0)
        {
            return length;
        }

        if (length is 0 or XattrNameBytes)
        {
            return -Errno.ERANGE;
        }

        if (set && r.Len != 0)
        {
            if (r.Len > XattrSizeMax)
            {
                return -Errno.E2BIG;
            }

            r.Value = new byte[r.Len];
            fixed (byte* value = r.Value)
            {
                if (Posix.CopyFromUser(value, sqe->addr2, r.Len) != 0)
                {
                    return -Errno.EFAULT;
                }
            }
        }

        r.ForceAsync = true;
        return byPath ? GetName(sqe->addr3, allowEmpty: false, out r.Path) : 0;
    }

    /// <summary>The call itself, from io-wq, on the copied name (and value); the file's absence is -EBADF.</summary>
    private void ExecuteXattrNow(ref Request r)
    {
        if (r.Kind is OpKind.FgetXattr or OpKind.FsetXattr && !FileOf(ref r))
        {
            r.Fail(-Errno.EBADF);
            return;
        }

        fixed (byte* path = r.Path, name = r.Path2, value = r.Value)
        {
            r.Res = r.Kind switch
            {
                OpKind.FgetXattr => (int)Posix.Result(Posix.fgetxattr(r.File, name, (nint)r.Off, r.Len)),
                OpKind.GetXattr => (int)Posix.Result(Posix.getxattr(path, name, (nint)r.Off, r.Len)),
                OpKind.FsetXattr => (int)Posix.Result(Posix.fsetxattr(r.File, name, value, r.Len, (int)r.OpFlags)),
                _ => (int)Posix.Result(Posix.setxattr(path, name, value, r.Len, (int)r.OpFlags)),
            };
        }
    }
}
