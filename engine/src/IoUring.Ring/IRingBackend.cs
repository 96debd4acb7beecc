using IoUring.Bindings;

namespace IoUring.Ring;

/// <summary>
/// The kernel side of io_uring as the client sees it: the three system calls and the mapping of the
/// ring regions. Return values follow the system calls: a non-negative result, or a negative errno.
/// </summary>
public unsafe interface IRingBackend
{
    string Name { get; }

    /// <summary>io_uring_setup(2): a ring descriptor, or -errno. Fills <paramref name="p"/> as the kernel does.</summary>
    int Setup(uint entries, io_uring_params* p);

    /// <summary>io_uring_enter(2).</summary>
    int Enter(int fd, uint toSubmit, uint minComplete, uint flags, void* arg, nuint argSize);

    /// <summary>io_uring_register(2).</summary>
    int Register(int fd, uint opcode, void* arg, uint nrArgs);

    /// <summary>mmap(2) of a ring region at an IORING_OFF_* offset: the address, or -errno.</summary>
    nint Map(int fd, ulong offset, nuint length);

    void Unmap(nint address, nuint length);

    int Close(int fd);
}

/// <summary>The errno values the io_uring boundary returns (Linux, every architecture of interest).</summary>
public static class Errno
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int EALREADY = 114;
    public const int EBADF = 9;
    public const int EAGAIN = 11;
    public const int ESPIPE = 29;
    public const int EPIPE = 32;
    public const int ENOMEM = 12;
    public const int EFAULT = 14;
    public const int EBUSY = 16;
    public const int EEXIST = 17;
    public const int EINVAL = 22;
    public const int ENXIO = 6;
    public const int E2BIG = 7;
    public const int EOVERFLOW = 75;
    public const int EOPNOTSUPP = 95;
    public const int ECANCELED = 125;
    public const int EBADR = 53;
    public const int ETIME = 62;
    public const int ENOBUFS = 105;
    public const int EACCES = 13;
    public const int EMFILE = 24;
    public const int EBADFD = 77;
    public const int ERANGE = 34;
    public const int ENOTSOCK = 88;
    public const int EMSGSIZE = 90;
    public const int ENFILE = 23;
    public const int EISCONN = 106;
    public const int EINPROGRESS = 115;
    public const int EFBIG = 27;
    public const int ENAMETOOLONG = 36;
    public const int ECHILD = 10;
}
