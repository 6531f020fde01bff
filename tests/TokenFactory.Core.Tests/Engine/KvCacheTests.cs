using TokenFactory.Engine;

namespace TokenFactory.Tests.Engine;

public sealed class KvCacheTests
{
    [Fact]
    public void Keys_round_trip_across_runs_without_overwriting_each_other()
    {
        const int layers = 2, ctx = 37, kvDim = 24;
        var cache = new KvCache(layers, ctx, kvDim);
        for (int l = 0; l < layers; l++)
            for (int p = 0; p < ctx; p++)
                cache.WriteKey(l, p, Enumerable.Range(0, kvDim).Select(c => (float)Value(l, p, c)).ToArray());
        for (int l = 0; l < layers; l++)
            for (int p = 0; p < ctx; p++)
                for (int c = 0; c < kvDim; c++)
                    Assert.Equal((Half)Value(l, p, c), cache.KeyAt(l, p, c));
    }

    [Fact]
    public void A_channel_of_a_run_of_positions_is_contiguous()
    {
        // GroupedAttention widens 16 positions of one channel as one vector straight from AllKeys.
        var cache = new KvCache(1, 40, 8);
        for (int p = 0; p < 40; p++)
            cache.WriteKey(0, p, Enumerable.Range(0, 8).Select(c => (float)(p * 8 + c)).ToArray());
        var keys = cache.AllKeys(0);
        for (int p0 = 0; p0 < 40; p0 += KvCache.KeyBlock)
            for (int c = 0; c < 8; c++)
                for (int s = 0; s < KvCache.KeyBlock && p0 + s < 40; s++)
                    Assert.Equal((Half)((p0 + s) * 8 + c), keys[cache.KeyOffset(p0, c) + s]);
    }

    [Fact]
    public void WriteKey_rejects_a_key_of_the_wrong_width()
    {
        var cache = new KvCache(1, 4, 8);
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.WriteKey(0, 0, new float[7]));
    }

    [Fact]
    public void Bytes_counts_the_keys_rounded_up_to_whole_runs()
    {
        Assert.Equal(2L * (48 + 37) * 8 * sizeof(short), new KvCache(2, 37, 8).Bytes);
        Assert.Equal(0, new KvCache(0, 37, 8).Bytes);
    }

    private static int Value(int layer, int position, int channel) => layer * 1000 + position * 24 + channel;
}
