using TokenFactory.Compute;

namespace TokenFactory.Tests.Compute;

public sealed class MemoryBandwidthTests
{
    [Fact]
    public void A_probe_reads_its_whole_buffer_on_every_pass_until_disposed()
    {
        using var pool = new ComputePool(2);
        var probe = new MemoryBandwidth.Probe(pool, (8L << 20) + 100); // rounded down to whole 256-byte chunks
        Assert.Equal(8L << 20, probe.Bytes);
        double first = probe.Pass(), second = probe.Pass();
        Assert.True(first > 1e8 && second > 1e8, $"{first} {second} bytes/s");
        Assert.True(probe.Best(3) > 1e8);
        probe.Dispose();
        probe.Dispose(); // twice is fine
        Assert.Throws<ObjectDisposedException>(() => probe.Pass());
    }

    [Fact]
    public void A_probe_reads_with_one_of_the_variants()
    {
        using var pool = new ComputePool(2);
        using var probe = new MemoryBandwidth.Probe(pool, 4L << 20);
        Assert.Contains(probe.Variant, MemoryBandwidth.ReadVariants);
        Assert.Contains(new MemoryBandwidth.ReadVariant(0), MemoryBandwidth.ReadVariants); // the plain loop is always a candidate
        Assert.Contains(MemoryBandwidth.ReadVariants, v => v.NonTemporal); // as the decode kernels prefetch on AMD
        Assert.Equal("non-temporal prefetch 8 KiB ahead", new MemoryBandwidth.ReadVariant(8192, NonTemporal: true).ToString());
        Assert.Equal("no prefetch", new MemoryBandwidth.ReadVariant(0).ToString());
    }

    [Fact]
    public void The_variant_with_the_shortest_median_pass_is_chosen()
    {
        // Variant 1 has the single fastest pass but a slow median; variant 2 is steadily fastest.
        double[,] seconds =
        {
            { 0.010, 0.011, 0.012 },
            { 0.002, 0.020, 0.020 },
            { 0.008, 0.009, 0.007 },
            { 0.009, 0.030, 0.008 },
        };
        Assert.Equal(2, MemoryBandwidth.Fastest(seconds));
        Assert.Equal(0, MemoryBandwidth.Fastest(new double[,] { { 0.005, 0.005 }, { 0.004, 0.007 } })); // even rounds: mean of the middle two
    }

    [Fact]
    public unsafe void A_probe_over_existing_memory_reads_whole_chunks_of_each_region_and_leaves_it_as_it_was()
    {
        using var pool = new ComputePool(2);
        byte[] data = new byte[3 << 20];
        new Random(5).NextBytes(data);
        byte[] copy = (byte[])data.Clone();
        fixed (byte* p = data)
        {
            (nint, long)[] regions = [((nint)p, 1L << 20), ((nint)(p + (1 << 20)), (2L << 20) - 100), (0, 4096), ((nint)p, 255)];
            using var probe = new MemoryBandwidth.Probe(pool, regions);
            Assert.Equal((1L << 20) + ((2L << 20) - 256), probe.Bytes); // rounded down per region; null and tiny ones skipped
            Assert.True(probe.Pass() > 1e8);
            Assert.Contains(probe.Variant, MemoryBandwidth.ReadVariants);
        }
        Assert.Equal(copy, data); // only read
        Assert.Throws<ArgumentOutOfRangeException>(() => new MemoryBandwidth.Probe(pool, [(0, 1L << 20)]));
    }

    [Fact]
    public void A_buffer_smaller_than_one_chunk_is_refused()
    {
        using var pool = new ComputePool(1);
        Assert.Throws<ArgumentOutOfRangeException>(() => new MemoryBandwidth.Probe(pool, 255));
    }
}
