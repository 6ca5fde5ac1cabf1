using System.Globalization;
using Exo.Gpu.Clustering.Backends.Nvml.Interop;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Backends.Nvml;

public sealed partial class NvmlGpuBackend
{
    /// <inheritdoc />
    public ValueTask<IReadOnlyList<GpuDevice>> DiscoverAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposeState) != 0, this);
        cancellationToken.ThrowIfCancellationRequested();
        if (!cancellationToken.CanBeCanceled)
        {
            Enter();
            try
            {
                return new ValueTask<IReadOnlyList<GpuDevice>>(Discover().Visible);
            }
            finally
            {
                Exit();
            }
        }

        return DiscoverOffThreadAsync(cancellationToken);
    }

    private static unsafe int? CudaAttribute(int attribute, int device)
    {
        var value = 0;
        return CudaNative.DeviceGetAttribute(&value, attribute, device) == 0 ? value : null;
    }

    private static int? Positive(long value) => value is > 0 and <= int.MaxValue ? (int)value : null;

    private unsafe static string FormatUuid(CuUuid* uuid)
    {
        var b = new ReadOnlySpan<byte>(uuid->Bytes, 16);
        return "GPU-" + Convert.ToHexStringLower(b[..4]) + "-" + Convert.ToHexStringLower(b[4..6]) + "-"
            + Convert.ToHexStringLower(b[6..8]) + "-" + Convert.ToHexStringLower(b[8..10]) + "-" + Convert.ToHexStringLower(b[10..]);
    }

    private async ValueTask<IReadOnlyList<GpuDevice>> DiscoverOffThreadAsync(CancellationToken cancellationToken) =>
        (await DiscoverTableAsync(cancellationToken).ConfigureAwait(false)).Visible;

    private async ValueTask<DiscoveredDevices> DiscoverTableAsync(CancellationToken cancellationToken)
    {
        Enter();
        var work = Task.Run(() =>
        {
            try
            {
                return Discover();
            }
            finally
            {
                Exit();
            }
        });
        return await work.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Enumerates NVML and CUDA, joins them and applies the visibility rules. Inside the call gate.</summary>
    private unsafe DiscoveredDevices Discover()
    {
        uint count = 0;
        var result = NvmlNative.DeviceGetCount(&count);
        if (result != NvmlReturn.Success)
        {
            throw new GpuBackendUnavailableException($"Discovery failed: nvmlDeviceGetCount_v2 returned {Describe(result)}.");
        }

        var facts = new List<NvmlFacts>((int)count);
        for (uint i = 0; i < count; i++)
        {
            if (ReadFacts(i) is { } f)
            {
                facts.Add(f);
            }
        }

        var cuda = EnumerateCuda(facts);
        var joined = Join(facts, cuda);
        var visibility = facts.ConvertAll(f => new VisibilityDevice(
            f.Index, f.Uuid, f.PciKey, f.Cuda?.ComputeCapability ?? f.ComputeCapability, f.Cuda?.MultiprocessorCount)
        {
            MigUuids = f.MigSlices.ConvertAll(m => m.Uuid!),
        });
        var byIndex = visibility.ToDictionary(v => v.NvmlIndex);
        var plan = WithoutMigDuplicates(CudaVisibility.Plan(
            visibility, joined?.ConvertAll(f => f is null ? null : byIndex[f.Index]), _requested, _process), facts);

        var entries = new DeviceEntry?[count];
        var visible = new List<DeviceEntry>(plan.Count);
        var factsByIndex = facts.ToDictionary(f => f.Index);
        foreach (var (device, ordinal) in plan)
        {
            var f = factsByIndex[device.NvmlIndex];

            // A MIG parent is never given one slice's total: NVML's, else what its MIG devices that CUDA lists hold together.
            var total = f.TotalMemoryBytes ?? (f.MigSlices.Count > 0 ? SliceMemory(f) : f.Cuda?.TotalMemoryBytes);
            if (total is not > 0)
            {
                var code = f.MemoryResult == NvmlReturn.Success ? NvmlReturn.NoData : f.MemoryResult;
                NvmlLog.DeviceSkipped(_logger, f.Index, f.MemoryFunction, new NvmlErrorName(code), (int)code);
                continue;
            }

            var gpu = new GpuDevice(f.Uuid, f.Index, f.Name, total.Value, GpuBackendKind.Nvml)
            {
                ComputeCapability = f.Cuda?.ComputeCapability ?? f.ComputeCapability,
                MultiprocessorCount = f.Cuda?.MultiprocessorCount,
                MaxSmClockMHz = f.MaxSmClockMHz,
                MaxMemoryClockMHz = f.MaxMemoryClockMHz ?? (f.Cuda?.MemoryClockKHz is int khz ? Positive(khz / 1000) : null),
                MemoryBusWidthBits = f.MemoryBusWidthBits ?? f.Cuda?.MemoryBusWidthBits,
                PciBusId = f.PciBusId,
                DriverVersion = DriverVersion,
                CudaOrdinal = ordinal,
                MigEnabled = f.MigEnabled,
            };
            var entry = new DeviceEntry(gpu, f.Handle);
            entries[f.Index] = entry;
            visible.Add(entry);
        }

        visible.Sort((a, b) => a.Device.Index.CompareTo(b.Device.Index));
        Volatile.Write(ref _noDeviceReason, visible.Count > 0 ? null : WhyNoDevice((int)count, facts.Count, plan.Count, cuda));
        var table = new DiscoveredDevices(entries, visible);
        lock (_discoveryGate)
        {
            foreach (var entry in visible)
            {
                _known[entry.Device.Uuid] = entry;
            }

            Volatile.Write(ref _table, table);
        }

        NvmlLog.Discovered(_logger, visible.Count, (int)count, _requested.VisibleDevices, _requested.Order);
        return table;
    }

    private unsafe NvmlFacts? ReadFacts(uint index)
    {
        nint handle = 0;
        var result = NvmlNative.DeviceGetHandleByIndex(index, &handle);
        if (result != NvmlReturn.Success)
        {
            NvmlLog.DeviceSkipped(_logger, (int)index, "nvmlDeviceGetHandleByIndex_v2", new NvmlErrorName(result), (int)result);
            return null;
        }

        byte* text = stackalloc byte[NvmlConstants.DeviceUuidV2BufferSize];
        result = NvmlNative.DeviceGetUuid(handle, text, NvmlConstants.DeviceUuidV2BufferSize);
        if (result != NvmlReturn.Success)
        {
            NvmlLog.DeviceSkipped(_logger, (int)index, "nvmlDeviceGetUUID", new NvmlErrorName(result), (int)result);
            return null;
        }

        var uuid = Utf8(text).Trim();
        if (uuid.Length == 0)
        {
            NvmlLog.DeviceSkipped(_logger, (int)index, "nvmlDeviceGetUUID", new NvmlErrorName(NvmlReturn.NoData), (int)NvmlReturn.NoData);
            return null;
        }

        result = NvmlNative.DeviceGetName(handle, text, NvmlConstants.DeviceNameV2BufferSize);
        if (result != NvmlReturn.Success)
        {
            NvmlLog.DeviceSkipped(_logger, (int)index, "nvmlDeviceGetName", new NvmlErrorName(result), (int)result);
            return null;
        }

        var name = Utf8(text).Trim();
        var facts = new NvmlFacts((int)index, handle, uuid, name.Length > 0 ? name : "NVIDIA GPU");
        var api = _nvml.Optional;

        NvmlPciInfo pci;
        result = NvmlNative.DeviceGetPciInfo(handle, &pci);
        if (Fact(result, uuid, "nvmlDeviceGetPciInfo_v3"))
        {
            facts.PciBusId = Utf8(pci.BusId);
            facts.PciKey = PciBusIds.Normalize(facts.PciBusId);
        }

        var (memoryResult, memoryFunction) = ReadMemory(handle, api, out var total, out _);
        facts.MemoryResult = memoryResult;
        facts.MemoryFunction = memoryFunction;
        if (Fact(memoryResult, uuid, memoryFunction) && total > 0)
        {
            facts.TotalMemoryBytes = total;
        }

        int major = 0, minor = 0;
        if (api.GetCudaComputeCapability != null && Fact(api.GetCudaComputeCapability(handle, &major, &minor), uuid, "nvmlDeviceGetCudaComputeCapability")
            && major >= 1 && minor >= 0)
        {
            facts.ComputeCapability = new ComputeCapability(major, minor);
        }

        uint value = 0;
        if (Fact(NvmlNative.DeviceGetMaxClockInfo(handle, NvmlConstants.ClockSm, &value), uuid, "nvmlDeviceGetMaxClockInfo(SM)"))
        {
            facts.MaxSmClockMHz = Positive(value);
        }

        if (Fact(NvmlNative.DeviceGetMaxClockInfo(handle, NvmlConstants.ClockMem, &value), uuid, "nvmlDeviceGetMaxClockInfo(MEM)"))
        {
            facts.MaxMemoryClockMHz = Positive(value);
        }

        if (api.GetMemoryBusWidth != null && Fact(api.GetMemoryBusWidth(handle, &value), uuid, "nvmlDeviceGetMemoryBusWidth"))
        {
            facts.MemoryBusWidthBits = Positive(value);
        }

        uint pending = 0;
        if (api.GetMigMode != null && Fact(api.GetMigMode(handle, &value, &pending), uuid, "nvmlDeviceGetMigMode"))
        {
            facts.MigEnabled = value == 1;
        }

        return facts;
    }

    private bool Fact(NvmlReturn result, string uuid, string function)
    {
        if (result == NvmlReturn.Success)
        {
            return true;
        }

        NvmlLog.FactUnavailable(_logger, uuid, function, new NvmlErrorName(result));
        return false;
    }

    /// <summary>The CUDA enumeration, one entry per ordinal (null where a query failed); null without a usable CUDA driver.</summary>
    private unsafe List<CudaFacts?>? EnumerateCuda(List<NvmlFacts> nvml)
    {
        if (_cuda is null)
        {
            return null;
        }

        if (_cudaSeesNoDevice)
        {
            return CudaNoDevice(nvml);
        }

        var count = 0;
        var result = CudaNative.DeviceGetCount(&count);
        if (result != 0)
        {
            NvmlLog.CudaUnavailable(_logger, string.Create(CultureInfo.InvariantCulture, $"cuDeviceGetCount returned {NvmlErrors.CudaName(result)} ({result})"));
            return null;
        }

        var list = new List<CudaFacts?>(Math.Max(count, 0));
        for (var ordinal = 0; ordinal < count; ordinal++)
        {
            list.Add(ReadCudaFacts(ordinal));
        }

        return list;
    }

    private unsafe CudaFacts? ReadCudaFacts(int ordinal)
    {
        var device = 0;
        if (CudaNative.DeviceGet(&device, ordinal) != 0)
        {
            return null;
        }

        var api = _cuda!.Optional;
        string? uuid = null;
        CuUuid raw;
        if ((api.DeviceGetUuidV2 != null && api.DeviceGetUuidV2(&raw, device) == 0) || (api.DeviceGetUuid != null && api.DeviceGetUuid(&raw, device) == 0))
        {
            uuid = FormatUuid(&raw);
        }

        byte* bus = stackalloc byte[PciBusIdBufferSize];
        var pci = CudaNative.DeviceGetPciBusId(bus, PciBusIdBufferSize, device) == 0 ? PciBusIds.Normalize(Utf8(bus)) : null;
        var major = CudaAttribute(CuDeviceAttribute.ComputeCapabilityMajor, device);
        var minor = CudaAttribute(CuDeviceAttribute.ComputeCapabilityMinor, device);
        nuint total = 0;
        return new CudaFacts(
            ordinal,
            uuid,
            pci,
            major is >= 1 && minor is >= 0 ? new ComputeCapability(major.Value, minor.Value) : null,
            CudaAttribute(CuDeviceAttribute.MultiprocessorCount, device) is int sm ? Positive(sm) : null,
            CudaAttribute(CuDeviceAttribute.MemoryClockRateKHz, device) is int khz ? Positive(khz) : null,
            CudaAttribute(CuDeviceAttribute.GlobalMemoryBusWidth, device) is int width ? Positive(width) : null,
            api.DeviceTotalMem != null && api.DeviceTotalMem(&total, device) == 0 && total > 0 ? Clamp(total) : null);
    }

    /// <summary>Joins each CUDA ordinal to an NVML device by UUID, else by PCI bus id; per ordinal, the NVML facts or null.</summary>
    private List<NvmlFacts?>? Join(List<NvmlFacts> nvml, List<CudaFacts?>? cuda)
    {
        if (cuda is null)
        {
            return null;
        }

        var joined = new List<NvmlFacts?>(cuda.Count);
        foreach (var c in cuda)
        {
            NvmlFacts? match = null;
            if (c is not null)
            {
                match = nvml.Find(f => f.Cuda is null && c.Uuid is not null && string.Equals(f.Uuid, c.Uuid, StringComparison.OrdinalIgnoreCase))
                    ?? nvml.Find(f => f.Cuda is null && c.PciBusId is not null && string.Equals(f.PciKey, c.PciBusId, StringComparison.Ordinal));
                if (match is null)
                {
                    NvmlLog.CudaDeviceUnmatched(_logger, c.Ordinal, c.Uuid, c.PciBusId);
                }
                else if (match.MigEnabled == true && !string.Equals(match.Uuid, c.Uuid, StringComparison.OrdinalIgnoreCase))
                {
                    // CUDA lists a MIG-enabled GPU's MIG devices, not the GPU: a slice of it, whose UUID is a MIG UUID.
                    var first = match.MigSlices.Count == 0;
                    match.MigSlices.Add(c with { Uuid = c.Uuid is { } u ? "MIG-" + u[4..] : null });
                    match = first ? match : null;
                }
                else
                {
                    match.Cuda = c;
                }
            }

            joined.Add(match);
        }

        return joined;
    }

    /// <summary>The result of one discovery: entries by NVML index (null where skipped or hidden) and the visible ones.</summary>
    private sealed class DiscoveredDevices(DeviceEntry?[] byIndex, List<DeviceEntry> visible)
    {
        public DeviceEntry?[] ByIndex { get; } = byIndex;

        public IReadOnlyList<DeviceEntry> VisibleEntries { get; } = visible;

        public IReadOnlyList<GpuDevice> Visible { get; } = visible.ConvertAll(e => e.Device);
    }

    private sealed class NvmlFacts(int index, nint handle, string uuid, string name)
    {
        public int Index { get; } = index;

        public nint Handle { get; } = handle;

        public string Uuid { get; } = uuid;

        public string Name { get; } = name;

        public string? PciBusId { get; set; }

        public string? PciKey { get; set; }

        public long? TotalMemoryBytes { get; set; }

        public ComputeCapability? ComputeCapability { get; set; }

        public int? MaxSmClockMHz { get; set; }

        public int? MaxMemoryClockMHz { get; set; }

        public int? MemoryBusWidthBits { get; set; }

        public bool? MigEnabled { get; set; }

        /// <summary>What the memory query returned (the reason given when the device is skipped for want of a total).</summary>
        public NvmlReturn MemoryResult { get; set; }

        /// <summary>The memory query's function name.</summary>
        public string MemoryFunction { get; set; } = "nvmlDeviceGetMemoryInfo";

        /// <summary>The CUDA device this NVML device is, joined by UUID or PCI bus id (never a MIG slice).</summary>
        public CudaFacts? Cuda { get; set; }

        /// <summary>For a MIG-enabled GPU, the MIG devices CUDA lists on it (their UUIDs <c>MIG-…</c>).</summary>
        public List<CudaFacts> MigSlices { get; } = [];
    }

    private sealed record CudaFacts(
        int Ordinal,
        string? Uuid,
        string? PciBusId,
        ComputeCapability? ComputeCapability,
        int? MultiprocessorCount,
        int? MemoryClockKHz,
        int? MemoryBusWidthBits,
        long? TotalMemoryBytes);
}
