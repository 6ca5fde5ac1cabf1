using Exo.Gpu.Clustering.Distribution;

namespace Exo.Gpu.Clustering.Tests.Distribution;

public class LayerPartitionTests
{
    private const long GiB = 1L << 30;

    [Fact]
    public void PartitionLayers_ProportionalToMemory_ContiguousInDeviceOrder()
    {
        var plan = WorkloadDistributor.PartitionLayers(64, [80 * GiB, 40 * GiB, 48 * GiB, 16 * GiB]);
        plan.Counts.Sum().Should().Be(64);
        plan.Counts.Should().Equal(28, 14, 17, 5);
        plan.Ranges.Should().Equal(new ItemRange(0, 0, 28), new ItemRange(1, 28, 14), new ItemRange(2, 42, 17), new ItemRange(3, 59, 5));
    }

    [Fact]
    public void PartitionLayers_TinyDevice_StillGetsOneLayer()
    {
        // By share the 1 GiB device would get 0 of 10 layers; every device gets at least one when layers >= devices.
        var plan = WorkloadDistributor.PartitionLayers(10, [100 * GiB, 100 * GiB, 1 * GiB]);
        plan.Counts.Should().Equal(5, 4, 1);
    }

    [Fact]
    public void PartitionLayers_FewerLayersThanDevices_ProportionalSomeGetNone()
    {
        var plan = WorkloadDistributor.PartitionLayers(2, [10 * GiB, 80 * GiB, 40 * GiB]);
        plan.Counts.Should().Equal(0, 1, 1);
    }

    [Fact]
    public void Regression_RoundingOverflow_LeftoverLayerGoesWhereItFits()
    {
        // 1.9 and 6.2 GiB, 7 layers of 1 GiB: quotas 1.64 / 5.36. Plain largest remainder gives 2/5, but device 0
        // holds one layer (the CUDA OOM of exo PR #2227). With the layer size, device 0 is capped and the rest moves.
        long[] memory = [19 * GiB / 10, 62 * GiB / 10];
        WorkloadDistributor.PartitionLayers(7, memory).Counts.Should().Equal(new long[] { 2, 5 }, "without a layer size the plain split overflows device 0");
        WorkloadDistributor.PartitionLayers(7, memory, GiB).Counts.Should().Equal(1, 6);
    }

    [Fact]
    public void PartitionLayers_BytesPerLayer_CappedDeviceAndFullDeviceSkipped()
    {
        // 7.6 / 1.7 / 2.8 GiB, 10 layers of 1 GiB: plain gives 6/2/2 (device 1 holds 1). Capped: 1 on device 1, the
        // other 9 by share (6.58 / 2.42); device 2 is full at 2, so the leftover goes to device 0.
        long[] memory = [76 * GiB / 10, 17 * GiB / 10, 28 * GiB / 10];
        WorkloadDistributor.PartitionLayers(10, memory).Counts.Should().Equal(6, 2, 2);
        WorkloadDistributor.PartitionLayers(10, memory, GiB).Counts.Should().Equal(7, 1, 2);
    }

    [Fact]
    public void Regression_ExoPr2227_LeftoverLayerNotOnDeviceWithLeastSlack()
    {
        // 16 / 69 / 69 GiB, 179 layers of 0.5 GiB: quotas 18.60 / 80.20 / 80.20, floors 18 / 80 / 80, one layer left.
        // Plain largest remainder gives it to device 0 (remainder .60), the device with the least memory left after its
        // floor (7 GiB against 29 GiB). Slack-aware rounding gives it to a device with the most room.
        long[] memory = [16 * GiB, 69 * GiB, 69 * GiB];
        WorkloadDistributor.PartitionLayers(179, memory).Counts.Should().Equal(new long[] { 19, 80, 80 }, "without a layer size: plain largest remainder");

        var plan = WorkloadDistributor.PartitionLayers(179, memory, GiB / 2);
        plan.Counts.Should().Equal(18, 81, 80);
        plan.Ranges.Should().Equal(new ItemRange(0, 0, 18), new ItemRange(1, 18, 81), new ItemRange(2, 99, 80));
    }

    [Fact]
    public void PartitionLayers_SeveralLeftovers_MostSlackFirstOnePerDevice()
    {
        // 10 / 10 / 21 GiB, 20 layers of 0.5 GiB: floors 4 / 4 / 10 leave 8 / 8 / 16 GiB, two layers left. The first goes
        // to device 2 (most slack); each device takes at most one leftover (quota rule), so the second goes to device 0
        // (tie with device 1 on slack and remainder: lower index).
        long[] memory = [10 * GiB, 10 * GiB, 21 * GiB];
        WorkloadDistributor.PartitionLayers(20, memory).Counts.Should().Equal(5, 5, 10);
        WorkloadDistributor.PartitionLayers(20, memory, GiB / 2).Counts.Should().Equal(5, 4, 11);
    }

    [Fact]
    public void PartitionLayers_RandomCases_ExactWithinMemoryAtLeastOneEach()
    {
        var random = new Random(901);
        for (var n = 0; n < 3000; n++)
        {
            var k = random.Next(1, 12);
            var memory = Enumerable.Range(0, k).Select(_ => random.NextInt64(1, 200) * GiB / 2).ToArray();
            var bytesPerLayer = random.Next(2) == 0 ? 0 : random.NextInt64(1, 4) * GiB / 4;
            var capacity = bytesPerLayer == 0 ? 500 : memory.Sum(m => m / bytesPerLayer);
            var layers = random.Next(0, (int)Math.Min(500, capacity) + 1);
            DistributionPlan plan;
            try
            {
                plan = WorkloadDistributor.PartitionLayers(layers, memory, bytesPerLayer);
            }
            catch (InsufficientCapacityException e)
            {
                // Only when a device cannot hold the one layer it must get.
                memory.Should().Contain(m => m < bytesPerLayer, e.Message);
                layers.Should().BeGreaterThanOrEqualTo(k);
                continue;
            }

            plan.Counts.Sum().Should().Be(layers);
            plan.Ranges.Sum(r => r.Count).Should().Be(layers);
            for (var i = 0; i < k; i++)
            {
                if (layers >= k)
                {
                    plan.Counts[i].Should().BeGreaterThanOrEqualTo(1);
                }

                if (bytesPerLayer > 0)
                {
                    (plan.Counts[i] * bytesPerLayer).Should().BeLessThanOrEqualTo(memory[i]);
                }
            }
        }
    }

    [Fact]
    public void PartitionLayers_DoesNotFit_ThrowsNamingMemory()
    {
        var act = () => WorkloadDistributor.PartitionLayers(100, [10 * GiB, 10 * GiB], GiB / 4);
        var thrown = act.Should().Throw<InsufficientCapacityException>().Which;
        thrown.ParamName.Should().Be("memoryBytes");
        thrown.Items.Should().Be(100);
        thrown.Capacity.Should().Be(80);
    }

    [Fact]
    public void PartitionLayers_DeviceCannotHoldOneLayer_ThrowsNamingTheDevice()
    {
        var act = () => WorkloadDistributor.PartitionLayers(4, [10 * GiB, GiB / 2], GiB);
        act.Should().Throw<InsufficientCapacityException>().WithMessage("Device 1 has *").Which.ParamName.Should().Be("memoryBytes");
    }

    [Fact]
    public void PartitionLayers_BadArguments_ThrowNamingThem()
    {
        FluentActions.Invoking(() => WorkloadDistributor.PartitionLayers(-1, [GiB]))
            .Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("layers");
        FluentActions.Invoking(() => WorkloadDistributor.PartitionLayers(4, []))
            .Should().Throw<ArgumentException>().Which.ParamName.Should().Be("memoryBytes");
        FluentActions.Invoking(() => WorkloadDistributor.PartitionLayers(4, [GiB, 0]))
            .Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("memoryBytes");
        FluentActions.Invoking(() => WorkloadDistributor.PartitionLayers(4, [GiB], -1))
            .Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("bytesPerLayer");
    }
}
