using Exo.Gpu.Clustering.Backends.Nvml;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Tests.Backends.Nvml;

public class CudaVisibilityTests
{
    private static readonly VisibilityDevice[] Four =
    [
        new(0, "GPU-a0000000-1111-2222-3333-000000000100", "00000000:18:00.0", new ComputeCapability(9, 0), 132),
        new(1, "GPU-a0000001-1111-2222-3333-000000000101", "00000000:28:00.0", new ComputeCapability(9, 0), 132),
        new(2, "GPU-b0000002-1111-2222-3333-000000000102", "00000000:38:00.0", new ComputeCapability(9, 0), 132),
        new(3, "GPU-c0000003-1111-2222-3333-000000000103", "00000000:48:00.0", new ComputeCapability(9, 0), 132),
    ];

    [Theory]
    [InlineData(null, new[] { 0, 1, 2, 3 })] // unset: every device
    [InlineData("", new int[0])] // set but empty: none
    [InlineData("-1", new int[0])]
    [InlineData("2", new[] { 2 })]
    [InlineData("2,0", new[] { 2, 0 })] // enumerated in list order
    [InlineData(" 3 , 1 ", new[] { 3, 1 })]
    [InlineData("0,2,-1,1", new[] { 0, 2 })] // an invalid entry ends the list (CUDA's documented example)
    [InlineData("1,9,0", new[] { 1 })] // out of range ends it
    [InlineData("1,1,0", new[] { 1 })] // a repeated device ends it
    [InlineData("0,,1", new[] { 0 })] // an empty entry ends it
    [InlineData("abc,0", new int[0])]
    [InlineData("GPU-b0000002-1111-2222-3333-000000000102", new[] { 2 })] // full UUID
    [InlineData("GPU-c", new[] { 3 })] // a unique prefix, including GPU-
    [InlineData("gpu-B0000002", new[] { 2 })] // any case
    [InlineData("GPU-a000000,2", new int[0])] // an ambiguous prefix ends the list
    [InlineData("GPU-ffff", new int[0])] // no match
    [InlineData("b0000002", new int[0])] // a UUID needs its GPU- prefix
    [InlineData("3,GPU-a0000001", new[] { 3, 1 })] // indices and UUIDs mixed
    [InlineData("MIG-GPU-a0000001-1111-2222-3333-000000000101/1/2", new[] { 1 })] // a MIG instance selects its GPU
    [InlineData("MIG-7e1b3e2a-5b1c-5f3e-9e63-4c5a5d7e0001,0", new int[0])] // a MIG instance UUID cannot be mapped here: ends
    public void Select_EachForm_FollowsCudaRules(string? value, int[] expected)
    {
        CudaVisibility.Select(value, Four).Should().Equal(expected);
    }

    [Fact]
    public void Select_RandomValidListsWithOneInvalidEntry_KeepsExactlyThePrefix()
    {
        var random = new Random(20260101);
        var devices = Enumerable.Range(0, 16).Select(i => new VisibilityDevice(i, $"GPU-{i:x8}-0000-0000-0000-000000000000", null, null, null)).ToArray();
        string[] invalid = ["-1", "16", "x", "", "GPU-zz", "MIG-1234"];
        for (var run = 0; run < 5_000; run++)
        {
            var picked = devices.Select(d => d.NvmlIndex).OrderBy(_ => random.Next()).Take(random.Next(0, 17)).ToList();
            var entries = picked.Select(i => random.Next(2) == 0 ? i.ToString(System.Globalization.CultureInfo.InvariantCulture) : devices[i].Uuid[..(12 + random.Next(0, 10))]).ToList();
            var cut = random.Next(0, entries.Count + 1);
            var withInvalid = entries.Take(cut).Append(invalid[random.Next(invalid.Length)]).Concat(entries.Skip(cut)).ToList();

            CudaVisibility.Select(string.Join(',', entries), devices).Should().Equal(picked);
            CudaVisibility.Select(string.Join(',', withInvalid), devices).Should().Equal(picked.Take(cut));
        }
    }

    [Fact]
    public void Plan_SettingsAreTheProcesses_TakesTheDriverEnumerationAsIs()
    {
        var settings = new CudaVisibilitySettings("1", CudaDeviceOrder.FastestFirst);
        VisibilityDevice?[] cuda = [Four[3]]; // the driver already applied "1" to its own order

        var plan = CudaVisibility.Plan(Four, cuda, settings, settings);

        plan.Should().Equal((Four[3], (int?)0));
    }

    [Fact]
    public void Plan_Override_IndicesCountInTheDriversFastestFirstOrder()
    {
        VisibilityDevice?[] cuda = [Four[2], Four[0], Four[3], Four[1]];

        var plan = CudaVisibility.Plan(Four, cuda, new("1,0", CudaDeviceOrder.FastestFirst), new(null, CudaDeviceOrder.FastestFirst));

        plan.Should().Equal((Four[0], (int?)0), (Four[2], (int?)1));
    }

    [Fact]
    public void Plan_OverridePciBusIdOrder_IndicesCountInBusOrder()
    {
        VisibilityDevice[] scrambled = [Four[0] with { PciBusId = "00000000:48:00.0" }, Four[1] with { PciBusId = "00000000:18:00.0" }, Four[2], Four[3] with { PciBusId = "00000001:01:00.0" }];
        VisibilityDevice?[] cuda = [.. scrambled];

        var plan = CudaVisibility.Plan(scrambled, cuda, new(null, CudaDeviceOrder.PciBusId), new(null, CudaDeviceOrder.FastestFirst));

        plan.Select(p => (p.Device.NvmlIndex, p.CudaOrdinal)).Should().Equal((1, 0), (2, 1), (0, 2), (3, 3));
    }

    [Fact]
    public void Plan_WithoutCuda_EmulatesFastestFirstAndGivesNoOrdinals()
    {
        VisibilityDevice[] mixed =
        [
            new(0, "GPU-0", "00000000:18:00.0", new ComputeCapability(8, 0), 108),
            new(1, "GPU-1", "00000000:28:00.0", new ComputeCapability(9, 0), 114),
            new(2, "GPU-2", "00000000:38:00.0", new ComputeCapability(9, 0), 132),
            new(3, "GPU-3", "00000000:08:00.0", new ComputeCapability(8, 6), 84),
        ];
        var process = new CudaVisibilitySettings(null, CudaDeviceOrder.FastestFirst);

        var all = CudaVisibility.Plan(mixed, null, process, process);
        var first = CudaVisibility.Plan(mixed, null, new("0", CudaDeviceOrder.FastestFirst), process);

        all.Select(p => p.Device.NvmlIndex).Should().Equal(2, 1, 3, 0);
        all.Should().OnlyContain(p => p.CudaOrdinal == null);
        first.Should().ContainSingle().Which.Device.NvmlIndex.Should().Be(2);
    }

    [Fact]
    public void Plan_OverrideWhileTheProcessHidDevices_EmulatesTheFullOrder()
    {
        VisibilityDevice?[] cuda = [Four[3]]; // the process runs with CUDA_VISIBLE_DEVICES=3

        var plan = CudaVisibility.Plan(Four, cuda, new("GPU-a0000001", CudaDeviceOrder.FastestFirst), new("3", CudaDeviceOrder.FastestFirst));

        plan.Should().Equal((Four[1], (int?)0));
    }

    [Theory]
    [InlineData("00000000:18:00.0", "00000000:18:00.0")]
    [InlineData("0000:b3:00.1", "00000000:B3:00.1")]
    [InlineData("b3:1f.7", "00000000:B3:1F.7")]
    [InlineData(" 00000001:01:02.3 ", "00000001:01:02.3")]
    [InlineData("0000:100:00.0", null)]
    [InlineData("0000:18:00", null)]
    [InlineData("0000:18:20.0", null)]
    [InlineData("0000:18:00.8", null)]
    [InlineData("zz:18:00.0", null)]
    [InlineData("", null)]
    [InlineData(null, null)]
    public void PciBusIds_Normalize_OneFormOrNull(string? value, string? expected)
    {
        PciBusIds.Normalize(value).Should().Be(expected);
    }

    [Theory]
    [InlineData(null, CudaDeviceOrder.FastestFirst)]
    [InlineData("FASTEST_FIRST", CudaDeviceOrder.FastestFirst)]
    [InlineData("PCI_BUS_ID", CudaDeviceOrder.PciBusId)]
    [InlineData(" PCI_BUS_ID ", CudaDeviceOrder.PciBusId)]
    [InlineData("pci_bus_id", CudaDeviceOrder.FastestFirst)]
    public void ParseOrder_CudaSpelling(string? value, CudaDeviceOrder expected)
    {
        CudaVisibilitySettings.ParseOrder(value).Should().Be(expected);
    }
}

/// <summary>The visibility rules through the backend and the fake driver.</summary>
[Collection(FakeGpuTests.Name)]
public class NvmlVisibilityTests
{
    private static readonly FakeGpuLibrary Fake = FakeGpuLibrary.Main;

    [Theory]
    [InlineData("", new int[0], new int[0])]
    [InlineData("-1", new int[0], new int[0])]
    [InlineData("0", new[] { 2 }, new[] { 0 })] // CUDA index 0 is NVML device 2
    [InlineData("3,0", new[] { 1, 2 }, new[] { 0, 1 })] // CUDA 3 = NVML 1 (ordinal 0), CUDA 0 = NVML 2 (ordinal 1)
    [InlineData("GPU-a0000003", new[] { 3 }, new[] { 0 })]
    [InlineData("GPU-a0000001-1111-2222-3333-000000000101,1", new[] { 0, 1 }, new[] { 1, 0 })]
    [InlineData("1,-1,2", new[] { 0 }, new[] { 0 })]
    public async Task DiscoverAsync_CudaVisibleDevicesOverride_SelectsAsCudaWould(string value, int[] nvmlIndices, int[] ordinals)
    {
        Fake.Reset(4);
        Fake.SetCudaOrder(2, 0, 3, 1); // the driver's FASTEST_FIRST order differs from NVML's
        await using var backend = NvmlTestContext.Create(NvmlTestContext.Options(value));

        var devices = await backend.DiscoverAsync(CancellationToken.None);

        devices.Select(d => d.Index).Should().Equal(nvmlIndices, "DiscoverAsync lists by NVML index");
        devices.Select(d => d.CudaOrdinal ?? -1).Should().Equal(ordinals);
    }

    [Fact]
    public async Task DiscoverAsync_PciBusIdOrder_IndicesCountByBus()
    {
        Fake.Reset(3);
        Fake.Set(0, "pci.bus", 0x40);
        Fake.Set(1, "pci.bus", 0x10);
        Fake.Set(2, "pci.bus", 0x20);
        Fake.SetCudaOrder(0, 1, 2);
        await using var backend = NvmlTestContext.Create(NvmlTestContext.Options("0,2", CudaDeviceOrder.PciBusId));

        var devices = await backend.DiscoverAsync(CancellationToken.None);

        devices.Select(d => (d.Index, d.CudaOrdinal)).Should().Equal((0, 1), (1, 0));
    }

    [Fact]
    public async Task DiscoverAsync_SettingsEqualTheProcesses_TrustsTheDriver()
    {
        Fake.Reset(4);
        Fake.SetCudaOrder(3); // the driver, started with CUDA_VISIBLE_DEVICES=2, sees one device
        var options = NvmlTestContext.Options("2");
        options.ProcessEnvironment = name => name == "CUDA_VISIBLE_DEVICES" ? "2" : null;
        await using var backend = NvmlTestContext.Create(options);

        var devices = await backend.DiscoverAsync(CancellationToken.None);

        devices.Should().ContainSingle().Which.Should().Match<GpuDevice>(d => d.Index == 3 && d.CudaOrdinal == 0,
            "the driver applied the list itself; applying \"2\" again would pick another device");
    }

    [Fact]
    public async Task DiscoverAsync_CudaSeesNoDevice_ListsNone()
    {
        Fake.Reset(2);
        Fake.SetCudaOrder(); // cuInit returns CUDA_ERROR_NO_DEVICE, as with CUDA_VISIBLE_DEVICES=-1
        var options = NvmlTestContext.Options("-1");
        options.ProcessEnvironment = name => name == "CUDA_VISIBLE_DEVICES" ? "-1" : null;
        await using var backend = NvmlTestContext.Create(options);

        (await backend.DiscoverAsync(CancellationToken.None)).Should().BeEmpty();
    }
}
