using System.Text.Json.Serialization;

namespace IoUring.Engine;

/// <summary>
/// A <see cref="KernelProfile"/> as a file: how a probed profile reaches an engine in another process
/// (the engine library under a preloaded C program). Generated, not reflected, so it works in code
/// compiled ahead of time; enums by name.
/// </summary>
[JsonSourceGenerationOptions(WriteIndented = true, UseStringEnumConverter = true, RespectNullableAnnotations = true)]
[JsonSerializable(typeof(KernelProfile))]
public sealed partial class ProfileJson : JsonSerializerContext;
