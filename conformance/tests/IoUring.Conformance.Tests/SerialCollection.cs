using Xunit;

namespace IoUring.Conformance.Tests;

/// <summary>
/// Every test here drives the live kernel or maps memory in this process; they run one at a time so
/// that the leak check sees only its own descriptors and mappings.
/// </summary>
[CollectionDefinition("serial", DisableParallelization = true)]
public sealed class SerialCollection
{
}
