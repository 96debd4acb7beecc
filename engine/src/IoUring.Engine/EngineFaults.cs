namespace IoUring.Engine;

/// <summary>
/// Deliberate engine bugs, for showing that the conformance properties catch and shrink a wrong
/// engine (conformance/ has a test per fault). Never set outside those tests.
/// </summary>
[Flags]
public enum EngineFaults
{
    None = 0,

    /// <summary>A 32-byte CQE on a CQE_MIXED ring wraps across the end instead of being preceded by an F_SKIP filler.</summary>
    NoSkipFiller = 1,

    /// <summary>CQE_SKIP_SUCCESS on a failed chain head does not suppress the cancelled followers' CQEs.</summary>
    NoLinkCqeSuppression = 2,
}
