namespace TokenFactory.Models;

/// <summary>
/// Copies of hybrid models' recurrent state (every Mamba block's convolution window and SSM state) taken after a prompt's
/// first N tokens, keyed by the chained hash of those tokens' KV blocks, so a later prompt with the same leading tokens
/// resumes there instead of recomputing them (prefix caching for Nemotron-H). A Mamba block's state after a prefix depends on
/// nothing else, so a restored slot holds the same bits the computation would have produced.
/// <para>
/// Memory is bounded: at most <see cref="Capacity"/> snapshots of <see cref="RecurrentState.BytesPerSlot"/> each, allocated as
/// they are first needed and reused; when full, the least recently saved or restored one gives way. Engine thread only.
/// </para>
/// </summary>
public sealed class RecurrentSnapshots
{
    private readonly RecurrentState _states;
    private readonly Dictionary<ulong, LinkedListNode<Entry>> _byHash = [];
    private readonly LinkedList<Entry> _lru = []; // most recently used last

    private sealed class Entry(ulong hash, float[] data)
    {
        public ulong Hash { get; set; } = hash;
        public float[] Data { get; } = data;
    }

    /// <param name="budgetBytes">Memory the snapshots may take; fewer bytes than one snapshot means none is kept.</param>
    public RecurrentSnapshots(RecurrentState states, long budgetBytes)
    {
        _states = states;
        Capacity = (int)Math.Min(int.MaxValue, Math.Max(0, budgetBytes) / Math.Max(1, states.BytesPerSlot));
    }

    /// <summary>Most snapshots kept at once.</summary>
    public int Capacity { get; }

    public int Count => _byHash.Count;

    /// <summary>Bytes the snapshots hold now.</summary>
    public long Bytes => (long)_lru.Count * _states.BytesPerSlot;

    public long Saves { get; private set; }
    public long Restores { get; private set; }
    public long Evictions { get; private set; }

    public bool Contains(ulong hash) => _byHash.ContainsKey(hash);

    /// <summary>Keeps a copy of <paramref name="slot"/>'s state under <paramref name="hash"/> (refreshes it if already kept).</summary>
    public void Save(ulong hash, int slot)
    {
        if (Capacity == 0)
            return;
        if (_byHash.TryGetValue(hash, out var known))
        {
            Touch(known);
            return;
        }
        LinkedListNode<Entry> node;
        if (_lru.Count < Capacity)
        {
            node = _lru.AddLast(new Entry(hash, new float[_states.BytesPerSlot / sizeof(float)]));
        }
        else
        {
            node = _lru.First!;
            _byHash.Remove(node.Value.Hash);
            node.Value.Hash = hash;
            Touch(node);
            Evictions++;
        }
        _states.CopyTo(slot, node.Value.Data);
        _byHash[hash] = node;
        Saves++;
    }

    /// <summary>Puts the state kept under <paramref name="hash"/> into <paramref name="slot"/>; false when none is kept.</summary>
    public bool TryRestore(ulong hash, int slot)
    {
        if (!_byHash.TryGetValue(hash, out var node))
            return false;
        _states.CopyFrom(node.Value.Data, slot);
        Touch(node);
        Restores++;
        return true;
    }

    private void Touch(LinkedListNode<Entry> node)
    {
        _lru.Remove(node);
        _lru.AddLast(node);
    }
}
