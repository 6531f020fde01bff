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
    public void A_buffer_smaller_than_one_chunk_is_refused()
    {
        using var pool = new ComputePool(1);
        Assert.Throws<ArgumentOutOfRangeException>(() => new MemoryBandwidth.Probe(pool, 255));
    }
}
