namespace TokenFactory.Kv;

/// <summary>
/// The paged KV cache: a fixed number of blocks of <see cref="BlockSize"/> positions, each holding every
/// layer's keys and values in half precision (llama.cpp's default cache type, which halves cache memory
/// and keeps attention numerically in step with it). Sequences own blocks through ref counts; a full block can be registered under the chained
/// hash of its tokens so later requests with the same prefix share it (prefix caching). Blocks nobody
/// references sit in one free queue: unregistered ones at the front (reused first), registered ones at
/// the back in release order, so the least recently used cached block is the first to be evicted.
/// Single-threaded: only the engine thread touches it.
/// </summary>
public sealed class KvBlockPool
{
    public const int DefaultBlockSize = 16;
    private const int None = -1;

    private readonly Half[][] _keys;
    private readonly Half[][] _values;
    private readonly int[] _refCount;
    private readonly ulong[] _hash;
    private readonly bool[] _registered;
    private readonly int[] _blockTokens;
    private readonly ulong[] _parentHash;
    private readonly Dictionary<ulong, int> _cached;
    // Free queue: a doubly linked list over block ids, allocation-free.
    private readonly int[] _prev;
    private readonly int[] _next;
    private int _head = None, _tail = None;

    public KvBlockPool(int layers, int kvDimension, int blockCount, int blockSize = DefaultBlockSize)
    {
        if (blockCount < 1)
            throw new TokenFactoryException("The KV cache needs at least one block; raise the KV cache memory.");
        if ((long)blockCount * blockSize * kvDimension > Array.MaxLength)
            throw new TokenFactoryException($"A KV cache of {blockCount} blocks is too large for one layer array; lower the KV cache memory.");
        Layers = layers;
        KvDimension = kvDimension;
        BlockCount = blockCount;
        BlockSize = blockSize;
        _keys = new Half[layers][];
        _values = new Half[layers][];
        for (int l = 0; l < layers; l++)
        {
            _keys[l] = new Half[blockCount * blockSize * kvDimension];
            _values[l] = new Half[blockCount * blockSize * kvDimension];
        }
        // Sized for every block up front: registering a block during a decode step must not grow (allocate) it.
        _cached = new Dictionary<ulong, int>(blockCount);
        _refCount = new int[blockCount];
        _hash = new ulong[blockCount];
        _registered = new bool[blockCount];
        _blockTokens = new int[blockCount * blockSize];
        _parentHash = new ulong[blockCount];
        _prev = new int[blockCount];
        _next = new int[blockCount];
        for (int b = 0; b < blockCount; b++)
            PushBack(b);
        FreeBlockCount = blockCount;
    }

    /// <summary>Bytes one block takes across all layers (keys and values).</summary>
    public static long BytesPerBlock(int layers, int kvDimension, int blockSize = DefaultBlockSize) =>
        2L * layers * blockSize * kvDimension * sizeof(short);

    /// <summary>A pool sized to a memory budget.</summary>
    public static KvBlockPool FromBudget(int layers, int kvDimension, long bytes, int blockSize = DefaultBlockSize) =>
        new(layers, kvDimension, (int)Math.Min(int.MaxValue, bytes / BytesPerBlock(layers, kvDimension, blockSize)), blockSize);

    public int Layers { get; }
    public int KvDimension { get; }
    public int BlockCount { get; }
    public int BlockSize { get; }
    public long CapacityTokens => (long)BlockCount * BlockSize;

    /// <summary>Blocks no sequence references (including cached ones that may be evicted).</summary>
    public int FreeBlockCount { get; private set; }

    /// <summary>Blocks currently holding a registered prefix (referenced or not).</summary>
    public int CachedBlockCount => _cached.Count;

    public int RefCount(int block) => _refCount[block];

    /// <summary>
    /// Keys of layer <paramref name="layer"/>, channel-major within each block: channel c of slot s of block b is at
    /// <c>BlockOffset(b) + c · BlockSize + s</c>, so attention widens a KV head's keys 16 positions per vector, already
    /// transposed the way its score loop reads them. Written through <see cref="WriteKey"/>.
    /// </summary>
    public Half[] Keys(int layer) => _keys[layer];

    /// <summary>Values of layer <paramref name="layer"/>: blocks × positions × kvDimension (row per position, see <see cref="Offset"/>).</summary>
    public Half[] Values(int layer) => _values[layer];

    /// <summary>Offset of (block, slot)'s value row in <see cref="Values"/>.</summary>
    public int Offset(int block, int slot) => (block * BlockSize + slot) * KvDimension;

    /// <summary>Offset of block <paramref name="block"/> in <see cref="Keys"/> and <see cref="Values"/>.</summary>
    public int BlockOffset(int block) => block * BlockSize * KvDimension;

    /// <summary>
    /// Stores a position's key (rounded to half precision) in its block's channel-major layout. A layer with narrower keys than
    /// the pool's rows (gemma4's sliding blocks) fills the leading channels.
    /// </summary>
    public void WriteKey(int layer, int block, int slot, ReadOnlySpan<float> key)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(key.Length, KvDimension);
        ArgumentOutOfRangeException.ThrowIfZero(key.Length);
        var keys = _keys[layer].AsSpan(BlockOffset(block) + slot, (key.Length - 1) * BlockSize + 1);
        for (int c = 0; c < key.Length; c++)
            keys[c * BlockSize] = (Half)key[c];
    }

    /// <summary>Channel <paramref name="channel"/> of a stored key (tests and the scalar attention path).</summary>
    public Half KeyAt(int layer, int block, int slot, int channel) => _keys[layer][BlockOffset(block) + channel * BlockSize + slot];

    /// <summary>Takes a free block (evicting the least recently used cached one if that is what is left); -1 when none.</summary>
    public int Allocate()
    {
        int b = _head;
        if (b == None)
            return None;
        Unlink(b);
        if (_registered[b])
            Unregister(b);
        _refCount[b] = 1;
        return b;
    }

    /// <summary>Drops one reference; at zero the block becomes free (and evictable if it is cached).</summary>
    public void Release(int block)
    {
        if (_refCount[block] <= 0)
            throw new InvalidOperationException($"KV block {block} released more often than it was taken.");
        if (--_refCount[block] > 0)
            return;
        if (_registered[block])
            PushBack(block);
        else
            PushFront(block);
    }

    /// <summary>
    /// Looks up the block holding <paramref name="tokens"/> after the prefix whose chain hash is
    /// <paramref name="parentHash"/>; on a hit takes a reference to it. Tokens are compared too, so a hash
    /// collision can never serve the wrong keys.
    /// </summary>
    public bool TryShare(ulong parentHash, ReadOnlySpan<int> tokens, out int block, out ulong hash)
    {
        hash = BlockHash.Chain(parentHash, tokens);
        if (!_cached.TryGetValue(hash, out block) || _parentHash[block] != parentHash
            || !_blockTokens.AsSpan(block * BlockSize, BlockSize).SequenceEqual(tokens))
        {
            block = None;
            return false;
        }
        if (_refCount[block]++ == 0)
            Unlink(block);
        return true;
    }

    /// <summary>Whether <see cref="TryShare"/> would find the block (no reference taken).</summary>
    public bool Contains(ulong parentHash, ReadOnlySpan<int> tokens) =>
        _cached.TryGetValue(BlockHash.Chain(parentHash, tokens), out int block) && _parentHash[block] == parentHash
        && _blockTokens.AsSpan(block * BlockSize, BlockSize).SequenceEqual(tokens);

    /// <summary>Registers a full block the caller owns under its chain hash; a no-op if that prefix is already cached elsewhere.</summary>
    public void Register(int block, ulong parentHash, ulong hash, ReadOnlySpan<int> tokens)
    {
        if (_registered[block] || _cached.ContainsKey(hash))
            return;
        _registered[block] = true;
        _hash[block] = hash;
        _parentHash[block] = parentHash;
        tokens.CopyTo(_blockTokens.AsSpan(block * BlockSize, BlockSize));
        _cached[hash] = block;
    }

    private void Unregister(int b)
    {
        _registered[b] = false;
        _cached.Remove(_hash[b]);
    }

    private void PushBack(int b)
    {
        _prev[b] = _tail;
        _next[b] = None;
        if (_tail != None)
            _next[_tail] = b;
        else
            _head = b;
        _tail = b;
        FreeBlockCount++;
    }

    private void PushFront(int b)
    {
        _next[b] = _head;
        _prev[b] = None;
        if (_head != None)
            _prev[_head] = b;
        else
            _tail = b;
        _head = b;
        FreeBlockCount++;
    }

    private void Unlink(int b)
    {
        if (_prev[b] != None)
            _next[_prev[b]] = _next[b];
        else
            _head = _next[b];
        if (_next[b] != None)
            _prev[_next[b]] = _prev[b];
        else
            _tail = _prev[b];
        _prev[b] = _next[b] = None;
        FreeBlockCount--;
    }
}
