namespace TokenFactory.Router.Routing;

/// <summary>
/// What the router believes a replica holds in its prefix cache: the chained block hashes of the prompts it sent
/// there (the same 16-token chained hash as the replica's <c>KvBlockPool</c>), least recently sent evicted first
/// once there are more than the replica's cache has blocks. A belief, not a mirror: the replica also evicts for
/// its own reasons, so a hit here is an expected saving, which the routing score weighs against load.
/// </summary>
public sealed class PrefixIndex(int capacityBlocks)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<ulong, LinkedListNode<ulong>> _nodes = [];
    private readonly LinkedList<ulong> _order = new(); // most recently sent first
    private int _capacity = Math.Max(1, capacityBlocks);

    public int Count
    {
        get
        {
            lock (_lock)
                return _nodes.Count;
        }
    }

    /// <summary>Follows the replica's reported cache size (its KV blocks in all).</summary>
    public int Capacity
    {
        get
        {
            lock (_lock)
                return _capacity;
        }
        set
        {
            lock (_lock)
            {
                _capacity = Math.Max(1, value);
                Trim();
            }
        }
    }

    /// <summary>How many of the leading blocks of a prompt the replica is believed to hold (a chain: the first miss ends it).</summary>
    public int MatchedBlocks(ReadOnlySpan<ulong> chain)
    {
        lock (_lock)
        {
            int i = 0;
            while (i < chain.Length && _nodes.ContainsKey(chain[i]))
                i++;
            return i;
        }
    }

    /// <summary>
    /// A prompt was sent there: its blocks become the most recently used, the head most of all, so eviction takes a
    /// chain from its tail (as a replica's cache does: without its head a chain's later blocks are worth nothing).
    /// </summary>
    public void Add(ReadOnlySpan<ulong> chain)
    {
        lock (_lock)
        {
            for (int i = chain.Length - 1; i >= 0; i--)
            {
                ulong hash = chain[i];
                if (_nodes.TryGetValue(hash, out var node))
                    _order.Remove(node);
                else
                    _nodes[hash] = node = new LinkedListNode<ulong>(hash);
                _order.AddFirst(node);
            }
            Trim();
        }
    }

    /// <summary>The replica restarted or was replaced: it holds nothing.</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _nodes.Clear();
            _order.Clear();
        }
    }

    private void Trim()
    {
        while (_nodes.Count > _capacity)
        {
            var last = _order.Last!;
            _order.RemoveLast();
            _nodes.Remove(last.Value);
        }
    }
}
