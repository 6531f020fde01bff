namespace TokenFactory.Platform;

/// <summary>
/// Many buffers freed together (a file's repacked weights), carved out of slabs that are huge pages from end to end
/// (<see cref="HugePageMemory"/>, whole multiples of 2 MiB). A buffer of its own per tensor left every tensor under 2 MiB,
/// and each larger one's tail past its last whole huge page, on 4 KiB pages, where the hardware prefetchers stop at each
/// page's end and every page costs a TLB entry: qwen3-0.6b's Q8_0 file, loaded, had 287 of its 464 MB of anonymous memory
/// on huge pages (its 1.1 MB key and value matrices and the 1.3 MB tails of its 3.3 MB feed-forward ones were not). A buffer goes into the first slab with room for it, so a
/// slab's end is filled by later, smaller buffers; slab space no buffer takes is address space only (a page is in memory
/// once written), so what memory it costs is the unused part of each slab's last written huge page.
/// </summary>
internal sealed unsafe class HugePageArena : IDisposable
{
    /// <summary>A new slab's size; a buffer of half that or more that fits no slab's room gets one of its own size in whole huge pages (its rest is room for others).</summary>
    public const long SlabBytes = 64L << 20;

    private const long HugePage = 2L << 20;
    private const long Alignment = 64;

    private readonly Lock _lock = new();
    private readonly List<IntPtr> _slabs = [];
    private readonly List<(IntPtr Next, long Left)> _room = []; // the unused end of each slab, in the order they were made
    private bool _disposed;

    /// <summary>Address space taken by the slabs so far.</summary>
    public long ReservedBytes { get; private set; }

    /// <summary>A 64-byte-aligned buffer of <paramref name="bytes"/> bytes, valid until the arena is disposed.</summary>
    public byte* Allocate(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        long size = (Math.Max(bytes, 1) + Alignment - 1) / Alignment * Alignment;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            int i = 0;
            while (i < _room.Count && _room[i].Left < size)
                i++;
            if (i == _room.Count)
            {
                long slab = size >= SlabBytes / 2 ? (size + HugePage - 1) / HugePage * HugePage : SlabBytes;
                byte* p = HugePageMemory.Allocate(slab);
                _slabs.Add((IntPtr)p);
                ReservedBytes += slab;
                _room.Add(((IntPtr)p, slab));
            }
            var (next, left) = _room[i];
            _room[i] = (next + (nint)size, left - size);
            return (byte*)next;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var slab in _slabs)
                HugePageMemory.Free((byte*)slab);
            _slabs.Clear();
            _room.Clear();
            _disposed = true;
        }
    }
}
