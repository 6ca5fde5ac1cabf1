using System.Reflection;
using System.Runtime.InteropServices;

namespace Exo.Gpu.Clustering.Backends.Nvml.Interop;

/// <summary>
/// Loads NVML and the CUDA driver from the configured paths and binds the <see cref="LibraryImportAttribute"/> stubs of
/// <see cref="NvmlNative"/> and <see cref="CudaNative"/> to them through a <see cref="DllImportResolver"/>.
/// </summary>
/// <remarks>
/// <para>A P/Invoke stub resolves its target once per process, so the first library that loads and exports every required
/// symbol is bound for good: later backends naming the same library (by any path that <c>dlopen</c> resolves to the same
/// handle) share it; a later backend naming a different one gets <see cref="GpuBackendUnavailableException"/> rather than
/// silently reading the first. A failed load binds nothing, so a missing driver can be retried with another path.</para>
/// <para>Each load is checked for every required export before binding, so a wrong or ancient library is refused with
/// the names it lacks instead of failing later with <see cref="EntryPointNotFoundException"/>.</para>
/// </remarks>
internal static class NativeBinding
{
    private static readonly Lock Gate = new();
    private static BoundLibrary<NvmlOptionalApi>? s_nvml;
    private static BoundLibrary<CudaOptionalApi>? s_cuda;
    private static bool s_resolverRegistered;

    /// <summary>The names searched for NVML when no path is configured.</summary>
    public static IReadOnlyList<string> DefaultNvmlCandidates()
    {
        if (OperatingSystem.IsWindows())
        {
            var programFiles = Environment.GetEnvironmentVariable("ProgramW6432") ?? @"C:\Program Files";
            return ["nvml.dll", System.IO.Path.Combine(programFiles, "NVIDIA Corporation", "NVSMI", "nvml.dll")];
        }

        return OperatingSystem.IsLinux() ? ["libnvidia-ml.so.1"] : [];
    }

    /// <summary>The names searched for the CUDA driver when no path is configured.</summary>
    public static IReadOnlyList<string> DefaultCudaCandidates() =>
        OperatingSystem.IsWindows() ? ["nvcuda.dll"] : OperatingSystem.IsLinux() ? ["libcuda.so.1"] : [];

    /// <summary>Loads and binds NVML, or returns the library already bound when the candidates resolve to it.</summary>
    /// <exception cref="GpuBackendUnavailableException">Nothing loads, the library lacks a required export, or another NVML library is bound.</exception>
    public static BoundLibrary<NvmlOptionalApi> BindNvml(IReadOnlyList<string> candidates) =>
        Bind(ref s_nvml, "NVML (the NVIDIA management library)", candidates, NvmlNative.RequiredExports, NvmlOptionalApi.Probe);

    /// <summary>Loads and binds the CUDA driver, or returns the library already bound when the candidates resolve to it.</summary>
    /// <exception cref="GpuBackendUnavailableException">Nothing loads, the library lacks a required export, or another CUDA driver is bound.</exception>
    public static BoundLibrary<CudaOptionalApi> BindCuda(IReadOnlyList<string> candidates) =>
        Bind(ref s_cuda, "The CUDA driver library", candidates, CudaNative.RequiredExports, CudaOptionalApi.Probe);

    private static BoundLibrary<TOptional> Bind<TOptional>(
        ref BoundLibrary<TOptional>? slot, string what, IReadOnlyList<string> candidates, string[] required, Func<nint, TOptional> probe)
    {
        if (candidates.Count == 0)
        {
            throw new GpuBackendUnavailableException($"{what} is not available on {RuntimeInformation.OSDescription}: nothing to search.");
        }

        var (path, handle) = Load(what, candidates);
        var missing = Array.FindAll(required, name => !NativeLibrary.TryGetExport(handle, name, out _));
        lock (Gate)
        {
            var bound = slot;
            if (bound is not null && bound.Handle == handle)
            {
                NativeLibrary.Free(handle); // balance this load; the bound reference stays
                return bound;
            }

            if (missing.Length > 0)
            {
                NativeLibrary.Free(handle);
                throw new GpuBackendUnavailableException(
                    $"{what} at '{path}' is not usable: it does not export {string.Join(", ", missing)} (not an NVIDIA driver library, or one too old).");
            }

            if (bound is not null)
            {
                NativeLibrary.Free(handle);
                throw new GpuBackendUnavailableException(
                    $"{what} is already bound in this process to '{bound.Path}', so '{path}' cannot be used as well: the [LibraryImport] bindings are process-wide. Use one library path per process.");
            }

            if (!s_resolverRegistered)
            {
                NativeLibrary.SetDllImportResolver(typeof(NativeBinding).Assembly, Resolve);
                s_resolverRegistered = true;
            }

            bound = new BoundLibrary<TOptional>(path, handle, probe(handle));
            Volatile.Write(ref slot, bound);
            return bound;
        }
    }

    private static (string Path, nint Handle) Load(string what, IReadOnlyList<string> candidates)
    {
        var failures = new List<string>(candidates.Count);
        foreach (var candidate in candidates)
        {
            try
            {
                return (candidate, NativeLibrary.Load(candidate));
            }
            catch (DllNotFoundException e)
            {
                failures.Add($"'{candidate}' ({LoaderReason(e.Message)})");
            }
            catch (BadImageFormatException e)
            {
                failures.Add($"'{candidate}' ({LoaderReason(e.Message)})");
            }
        }

        throw new GpuBackendUnavailableException($"{what} could not be loaded. Searched: {string.Join("; ", failures)}.");
    }

    /// <summary>The loader's own words (dlerror's line) without the runtime's advice about strace and LD_DEBUG.</summary>
    private static string LoaderReason(string message)
    {
        var lines = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? "not found" : lines[^1];
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) => libraryName switch
    {
        NvmlNative.LibraryName => Volatile.Read(ref s_nvml)?.Handle ?? 0,
        CudaNative.LibraryName => Volatile.Read(ref s_cuda)?.Handle ?? 0,
        _ => 0,
    };
}
