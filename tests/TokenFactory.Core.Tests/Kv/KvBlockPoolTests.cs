using TokenFactory.Kv;

namespace TokenFactory.Tests.Kv;

public sealed class KvBlockPoolTests
{
    private static int[] Block(int start) => Enumerable.Range(start, 16).ToArray();

    [Fact]
    public void Allocate_until_empty_then_release_returns_every_block()
    {
        var pool = new KvBlockPool(layers: 2, kvDimension: 8, blockCount: 4);
        var taken = Enumerable.Range(0, 4).Select(_ => pool.Allocate()).ToList();
        Assert.Equal(4, taken.Distinct().Count());
        Assert.Equal(-1, pool.Allocate());
        Assert.Equal(0, pool.FreeBlockCount);
        taken.ForEach(pool.Release);
        Assert.Equal(4, pool.FreeBlockCount);
        Assert.Throws<InvalidOperationException>(() => pool.Release(taken[0]));
    }

    [Fact]
    public void Registered_block_is_shared_by_chain_hash_and_token_check()
    {
        var pool = new KvBlockPool(2, 8, 4);
        int b = pool.Allocate();
        ulong h = BlockHash.Chain(BlockHash.Root, Block(0));
        pool.Register(b, BlockHash.Root, h, Block(0));
        Assert.True(pool.TryShare(BlockHash.Root, Block(0), out int shared, out ulong h2));
        Assert.Equal(b, shared);
        Assert.Equal(h, h2);
        Assert.Equal(2, pool.RefCount(b));
        Assert.False(pool.TryShare(BlockHash.Root, Block(1), out _, out _));
        Assert.False(pool.TryShare(h, Block(0), out _, out _)); // same tokens, different prefix
        pool.Release(b);
        pool.Release(b);
        Assert.Equal(4, pool.FreeBlockCount);
        // Unreferenced but still cached: a later request finds it without recomputing.
        Assert.True(pool.TryShare(BlockHash.Root, Block(0), out shared, out _));
        Assert.Equal(b, shared);
        Assert.Equal(3, pool.FreeBlockCount);
    }

    [Fact]
    public void Plain_free_blocks_are_used_before_cached_ones_and_cached_ones_are_evicted_least_recently_used_first()
    {
        var pool = new KvBlockPool(1, 8, 3);
        int a = pool.Allocate(), b = pool.Allocate(), c = pool.Allocate();
        pool.Register(a, BlockHash.Root, BlockHash.Chain(BlockHash.Root, Block(0)), Block(0));
        pool.Register(b, BlockHash.Root, BlockHash.Chain(BlockHash.Root, Block(100)), Block(100));
        pool.Release(a); // cached, released first: least recently used
        pool.Release(b);
        pool.Release(c); // plain
        Assert.Equal(2, pool.CachedBlockCount);
        Assert.Equal(c, pool.Allocate());
        Assert.Equal(a, pool.Allocate()); // evicts a's prefix
        Assert.Equal(1, pool.CachedBlockCount);
        Assert.False(pool.TryShare(BlockHash.Root, Block(0), out _, out _));
        Assert.True(pool.TryShare(BlockHash.Root, Block(100), out int still, out _));
        Assert.Equal(b, still);
    }

    [Fact]
    public void Keys_round_trip_through_scattered_blocks_without_overwriting_each_other()
    {
        const int layers = 2, kvDim = 24, positions = 37;
        var pool = new KvBlockPool(layers, kvDim, blockCount: 5);
        int[] table = [3, 0, 4]; // a sequence's blocks need not be consecutive, nor in order
        for (int l = 0; l < layers; l++)
            for (int p = 0; p < positions; p++)
                pool.WriteKey(l, table[p / pool.BlockSize], p % pool.BlockSize, Enumerable.Range(0, kvDim).Select(c => (float)Value(l, p, c)).ToArray());
        for (int l = 0; l < layers; l++)
            for (int p = 0; p < positions; p++)
                for (int c = 0; c < kvDim; c++)
                    Assert.Equal((Half)Value(l, p, c), pool.KeyAt(l, table[p / pool.BlockSize], p % pool.BlockSize, c));
    }

    [Fact]
    public void A_channel_of_a_blocks_positions_is_contiguous()
    {
        // PagedAttention widens 16 positions of one channel as one vector straight from Keys.
        var pool = new KvBlockPool(1, 8, 3);
        for (int p = 0; p < 40; p++)
            pool.WriteKey(0, p / 16, p % 16, Enumerable.Range(0, 8).Select(c => (float)(p * 8 + c)).ToArray());
        var keys = pool.Keys(0);
        for (int p0 = 0; p0 < 40; p0 += pool.BlockSize)
            for (int c = 0; c < 8; c++)
                for (int s = 0; s < pool.BlockSize && p0 + s < 40; s++)
                    Assert.Equal((Half)((p0 + s) * 8 + c), keys[pool.BlockOffset(p0 / 16) + c * pool.BlockSize + s]);
    }

    [Fact]
    public void WriteKey_rejects_a_key_wider_than_a_row_and_fills_the_leading_channels_of_a_narrower_one()
    {
        var pool = new KvBlockPool(1, 8, 1);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.WriteKey(0, 0, 0, new float[9]));
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.WriteKey(0, 0, 0, []));
        pool.WriteKey(0, 0, 3, [1, 2, 3, 4]); // a narrower layer's key (gemma4's sliding blocks)
        Assert.Equal([(Half)1, (Half)2, (Half)3, (Half)4, (Half)0], Enumerable.Range(0, 5).Select(c => pool.KeyAt(0, 0, 3, c)));
    }

    [Fact]
    public void Bytes_per_block_count_keys_and_values_of_every_layer_and_a_budget_buys_whole_blocks()
    {
        Assert.Equal(2L * 3 * 16 * 8 * sizeof(short), KvBlockPool.BytesPerBlock(3, 8));
        var pool = KvBlockPool.FromBudget(3, 8, 10 * KvBlockPool.BytesPerBlock(3, 8) + 100);
        Assert.Equal(10, pool.BlockCount);
        Assert.Equal(160, pool.CapacityTokens);
        Assert.Throws<TokenFactoryException>(() => KvBlockPool.FromBudget(3, 8, KvBlockPool.BytesPerBlock(3, 8) - 1));
    }

    private static int Value(int layer, int position, int channel) => layer * 1000 + position * 24 + channel;
}
