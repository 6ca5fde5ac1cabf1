using System.Runtime.InteropServices;
using System.Text;

namespace Exo.Gpu.Clustering.Tests.Backends.Nvml;

/// <summary>
/// Drives the fake libnvidia-ml / libcuda built from <c>native/fake_gpu.c</c> through its exported <c>fake_*</c> control
/// functions (called through function pointers, so the same helper serves both builds).
/// </summary>
internal sealed unsafe class FakeGpuLibrary
{
    /// <summary>NVML return codes and event types the tests script.</summary>
    public const int Success = 0;
    public const int NotSupported = 3;
    public const int NoPermission = 4;
    public const int Timeout = 10;
    public const int GpuIsLost = 15;
    public const int ArgumentVersionMismatch = 25;
    public const int Unknown = 999;
    public const ulong SingleBitEcc = 0x1;
    public const ulong DoubleBitEcc = 0x2;
    public const ulong XidCriticalError = 0x8;

    private readonly nint _handle;

    private FakeGpuLibrary(string path)
    {
        Path = path;
        _handle = NativeLibrary.Load(path);
    }

    /// <summary>Every symbol (the build the backend tests bind).</summary>
    public static FakeGpuLibrary Main { get; } = new(System.IO.Path.Combine(AppContext.BaseDirectory, "libexofakegpu.so"));

    /// <summary>The older driver, without nvmlDeviceGetMemoryInfo_v2, ...ClocksEventReasons and ...TemperatureV.</summary>
    public static FakeGpuLibrary OldDriver { get; } = new(System.IO.Path.Combine(AppContext.BaseDirectory, "libexofakegpu_old.so"));

    public string Path { get; }

    public bool IsOldDriver => ((delegate* unmanaged<int>)Export("fake_is_old_driver"))() != 0;

    public int InitCount => ((delegate* unmanaged<int>)Export("fake_init_count"))();

    public int LiveEventSets => ((delegate* unmanaged<int>)Export("fake_live_event_sets"))();

    public int QueueLength => ((delegate* unmanaged<int>)Export("fake_queue_length"))();

    public int BlockedCalls => ((delegate* unmanaged<int>)Export("fake_blocked_calls"))();

    public bool Exports(string name) => NativeLibrary.TryGetExport(_handle, name, out _);

    /// <summary>Forgets calls, injections and queued events, and makes <paramref name="count"/> default devices.</summary>
    public void Reset(int count) => ((delegate* unmanaged<int, void>)Export("fake_reset"))(count);

    public void Set(int device, string key, long value)
    {
        fixed (byte* k = Utf8(key))
        {
            var result = ((delegate* unmanaged<int, byte*, long, int>)Export("fake_set_i64"))(device, k, value);
            result.Should().Be(0, $"the fake knows {key} for device {device}");
        }
    }

    public void Set(int device, string key, string value)
    {
        fixed (byte* k = Utf8(key))
        fixed (byte* v = Utf8(value))
        {
            var result = ((delegate* unmanaged<int, byte*, byte*, int>)Export("fake_set_str"))(device, k, v);
            result.Should().Be(0, $"the fake knows {key} for device {device}");
        }
    }

    public void SetUtilizationSeries(int device, params uint[] values)
    {
        fixed (uint* v = values)
        {
            ((delegate* unmanaged<int, uint*, int, int>)Export("fake_set_utilization_series"))(device, v, values.Length).Should().Be(0);
        }
    }

    /// <summary>CUDA ordinal k is NVML device <paramref name="nvmlIndices"/>[k]; fewer entries hide devices from CUDA.</summary>
    public void SetCudaOrder(params int[] nvmlIndices)
    {
        fixed (int* o = nvmlIndices)
        {
            ((delegate* unmanaged<int*, int, int>)Export("fake_set_cuda_order"))(o, nvmlIndices.Length).Should().Be(0);
        }
    }

    /// <summary><paramref name="function"/> ("*" for all) on <paramref name="device"/> (-1 for all) returns <paramref name="code"/> after <paramref name="after"/> calls, <paramref name="times"/> times (-1 forever).</summary>
    public void Inject(string function, int device, int code, int after = 0, int times = -1)
    {
        fixed (byte* f = Utf8(function))
        {
            ((delegate* unmanaged<byte*, int, int, int, int, int>)Export("fake_inject"))(f, device, code, after, times)
                .Should().Be(0, $"the fake knows {function}");
        }
    }

    /// <summary>Makes <paramref name="function"/> on <paramref name="device"/> hang until <see cref="Unblock"/>.</summary>
    public void Block(string function, int device)
    {
        fixed (byte* f = Utf8(function))
        {
            ((delegate* unmanaged<byte*, int, int>)Export("fake_block"))(f, device).Should().Be(0);
        }
    }

    public void Unblock() => ((delegate* unmanaged<void>)Export("fake_unblock"))();

    public void PushEvent(int device, ulong type, ulong data) =>
        ((delegate* unmanaged<int, ulong, ulong, void>)Export("fake_push_event"))(device, type, data);

    public void PushWaitResult(int code) => ((delegate* unmanaged<int, void>)Export("fake_push_wait_result"))(code);

    public long Calls(string function)
    {
        fixed (byte* f = Utf8(function))
        {
            var n = ((delegate* unmanaged<byte*, long>)Export("fake_calls"))(f);
            n.Should().BeGreaterThanOrEqualTo(0, $"the fake counts {function}");
            return n;
        }
    }

    public long SizeOf(string type)
    {
        fixed (byte* t = Utf8(type))
        {
            return ((delegate* unmanaged<byte*, long>)Export("fake_sizeof"))(t);
        }
    }

    public long OffsetOf(string field)
    {
        fixed (byte* f = Utf8(field))
        {
            return ((delegate* unmanaged<byte*, long>)Export("fake_offsetof"))(f);
        }
    }

    public uint StructVersion(string name)
    {
        fixed (byte* n = Utf8(name))
        {
            return ((delegate* unmanaged<byte*, uint>)Export("fake_struct_version"))(n);
        }
    }

    /// <summary>The UUID the fake gives default device <paramref name="index"/>.</summary>
    public static string DefaultUuid(int index) => $"GPU-{0xa0000000u + (uint)index:x8}-1111-2222-3333-{0x100u + (uint)index:x12}";

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text + "\0");

    private nint Export(string name) => NativeLibrary.GetExport(_handle, name);
}
