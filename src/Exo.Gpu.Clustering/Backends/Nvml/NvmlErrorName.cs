namespace Exo.Gpu.Clustering.Backends.Nvml;

/// <summary>An NVML return code that logs as its header name (<c>NVML_ERROR_NO_PERMISSION</c>), formatted only when logged.</summary>
/// <param name="Code">The code.</param>
internal readonly record struct NvmlErrorName(Interop.NvmlReturn Code)
{
    /// <inheritdoc />
    public override string ToString() => NvmlErrors.Name(Code);
}
