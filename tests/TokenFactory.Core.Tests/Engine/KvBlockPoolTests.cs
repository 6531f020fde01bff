using TokenFactory.Engine.Batching;

namespace TokenFactory.Tests.Engine;

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
}
