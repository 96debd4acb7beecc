using System;

namespace IoUring.Abi.Model;

/// <summary>
/// An error the user can act on (bad input, missing tool, unreachable mirror). The message says what
/// went wrong, where, and how to fix it. Every stage throws it for input it refuses (the model, the
/// header fetcher, the diff, the VM runner), so it lives at the bottom of the tower, beside nothing but
/// itself; what to do with it is the callers' business: the two command lines print "error: ..." and
/// exit 1, the source generator reports a diagnostic, the VM prerequisites check names what is missing.
/// </summary>
public class ToolException : Exception
{
    public ToolException(string message)
        : base(message)
    {
    }
}
