using System.Runtime.InteropServices;

namespace Exo.Gpu.Clustering.Backends.Nvml.Interop;

/// <summary>A native library bound for the process: its path, its handle and its probed optional symbols.</summary>
/// <typeparam name="TOptional">The optional-symbol table.</typeparam>
/// <param name="Path">The path or name it was loaded from.</param>
/// <param name="Handle">The handle <see cref="NativeLibrary.Load(string)"/> returned; never freed.</param>
/// <param name="Optional">The optional symbols, probed once.</param>
internal sealed record BoundLibrary<TOptional>(string Path, nint Handle, TOptional Optional);
