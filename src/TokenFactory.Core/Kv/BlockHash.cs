namespace TokenFactory.Kv;

/// <summary>
/// Chained 64-bit hash of a block of tokens and the hash of everything before it, so equal hashes mean
/// equal whole prefixes (up to collisions, which <see cref="KvBlockPool.TryShare"/> guards against by
/// also comparing the tokens and the parent hash).
/// </summary>
public static class BlockHash
{
    /// <summary>The parent hash of a sequence's first block.</summary>
    public const ulong Root = 0x9E3779B97F4A7C15;

    public static ulong Chain(ulong parent, ReadOnlySpan<int> tokens)
    {
        ulong h = Mix(parent ^ (ulong)tokens.Length);
        foreach (int t in tokens)
            h = Mix(h ^ (uint)t);
        return h;
    }

    // splitmix64's finalizer: every input bit affects every output bit.
    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }
}
