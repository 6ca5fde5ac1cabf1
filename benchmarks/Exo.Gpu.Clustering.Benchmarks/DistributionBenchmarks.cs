using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Exo.Gpu.Clustering.Distribution;

namespace Exo.Gpu.Clustering.Benchmarks;

/// <summary>
/// Split 1,000,000 items over 64 devices of mixed memory (80/40/48/16 GiB repeated): the exact, zero-copy split
/// (counts and slices) against the earlier design, which gave each device <c>max(1, floor(N·p))</c>, the rest to the
/// largest device, and copied each device's items into a new list.
/// </summary>
[MemoryDiagnoser]
public class DistributionBenchmarks
{
    private const int ItemCount = 1_000_000;
    private const int DeviceCount = 64;

    private int[] _items = null!;
    private double[] _weights = null!;
    private ReadOnlyMemory<int>[] _slices = null!;
    private ItemRange[] _ranges = null!;

    [GlobalSetup]
    public void Setup()
    {
        _items = Enumerable.Range(0, ItemCount).ToArray();
        double[] gib = [80, 40, 48, 16];
        _weights = Enumerable.Range(0, DeviceCount).Select(i => gib[i % gib.Length] * (1L << 30)).ToArray();
        _slices = new ReadOnlyMemory<int>[DeviceCount];
        _ranges = new ItemRange[DeviceCount];
    }

    /// <summary>The earlier design: inexact shares, then a copy of every device's items into its own list.</summary>
    [Benchmark(Baseline = true)]
    public List<int>[] CopyIntoLists()
    {
        var total = _weights.Sum();
        var counts = new int[DeviceCount];
        var largest = 0;
        var assigned = 0;
        for (var i = 0; i < DeviceCount; i++)
        {
            counts[i] = Math.Max(1, (int)(ItemCount * (_weights[i] / total)));
            assigned += counts[i];
            largest = _weights[i] > _weights[largest] ? i : largest;
        }

        counts[largest] += ItemCount - assigned;
        var lists = new List<int>[DeviceCount];
        var offset = 0;
        for (var i = 0; i < DeviceCount; i++)
        {
            var list = new List<int>(counts[i]);
            CollectionsMarshal.SetCount(list, counts[i]);
            _items.AsSpan(offset, counts[i]).CopyTo(CollectionsMarshal.AsSpan(list));
            lists[i] = list;
            offset += counts[i];
        }

        return lists;
    }

    /// <summary>Hamilton counts and one zero-copy slice per device into a reused array: nothing allocated.</summary>
    [Benchmark]
    public int SplitHamilton() => WorkloadDistributor.Split<int>(_items, _weights, _slices);

    /// <summary>Webster counts and slices.</summary>
    [Benchmark]
    public int SplitWebster() => WorkloadDistributor.Split<int>(_items, _weights, _slices, ApportionmentMethod.Webster);

    /// <summary>D'Hondt counts and slices.</summary>
    [Benchmark]
    public int SplitDHondt() => WorkloadDistributor.Split<int>(_items, _weights, _slices, ApportionmentMethod.DHondt);

    /// <summary>Hamilton with a cap on every device (water-filling), counts and slices.</summary>
    [Benchmark]
    public int SplitHamiltonCapped() => WorkloadDistributor.Split<int>(_items, _weights, _slices, caps: Caps);

    /// <summary>Counts and (offset, count) ranges, no items at all.</summary>
    [Benchmark]
    public long SplitRanges() => WorkloadDistributor.SplitRanges(ItemCount, _weights, _ranges);

    /// <summary>The convenient form: an immutable plan object (allocates the plan).</summary>
    [Benchmark]
    public DistributionPlan Plan() => WorkloadDistributor.Plan(ItemCount, _weights);

    private static ReadOnlySpan<long> Caps => [30_000, 14_000, 17_000, 20_000, 30_000, 14_000, 17_000, 20_000, 30_000, 14_000, 17_000, 20_000, 30_000, 14_000, 17_000, 20_000,
        30_000, 14_000, 17_000, 20_000, 30_000, 14_000, 17_000, 20_000, 30_000, 14_000, 17_000, 20_000, 30_000, 14_000, 17_000, 20_000,
        30_000, 14_000, 17_000, 20_000, 30_000, 14_000, 17_000, 20_000, 30_000, 14_000, 17_000, 20_000, 30_000, 14_000, 17_000, 20_000,
        30_000, 14_000, 17_000, 20_000, 30_000, 14_000, 17_000, 20_000, 30_000, 14_000, 17_000, 20_000, 30_000, 14_000, 17_000, 20_000];
}
