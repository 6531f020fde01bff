namespace TokenFactory.Compute;

/// <summary>
/// Hands out the row groups <c>[0, groups)</c> of one parallel matmul to its threads. Each thread owns a contiguous
/// range and takes it front to back, a few groups at a time, so it streams through adjacent memory and the prefetchers
/// keep running from one take to the next. A thread whose range is done takes the back half of the fullest range left
/// and goes on with that. Threads therefore finish within one take of each other, however a noisy neighbour slows one
/// of them, and each thread restarts its stream only a few times per matmul.
/// <para>
/// This replaced chunks of 1/16 of the groups dealt out in order: those left the threads up to one chunk apart at the
/// end of every matmul, and every chunk started a new stream.
/// </para>
/// </summary>
internal sealed class GroupRanges
{
    // Slot t packs thread t's range as begin | end << 32, 8 longs (a cache line) apart so threads do not share lines.
    private const int Stride = 8;
    private readonly long[] _slots;
    private int _threads;
    private int _step;

    public GroupRanges(int threads) => _slots = new long[Math.Max(1, threads) * Stride];

    /// <summary>Splits <paramref name="groups"/> evenly over <paramref name="threads"/>; each take is <paramref name="step"/> groups.</summary>
    public void Reset(int groups, int threads, int step)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(threads * Stride, _slots.Length, nameof(threads));
        _threads = threads;
        _step = Math.Max(1, step);
        for (int t = 0; t < threads; t++)
            Volatile.Write(ref _slots[t * Stride], Pack((int)((long)groups * t / threads), (int)((long)groups * (t + 1) / threads)));
    }

    /// <summary>The next groups <c>[begin, end)</c> for <paramref name="thread"/>; false once every range is empty.</summary>
    public bool Take(int thread, out int begin, out int end)
    {
        ref long own = ref _slots[thread * Stride];
        while (true)
        {
            long v = Volatile.Read(ref own);
            (int b, int e) = Unpack(v);
            if (b < e)
            {
                int next = Math.Min(e, b + _step);
                if (Interlocked.CompareExchange(ref own, Pack(next, e), v) == v)
                {
                    (begin, end) = (b, next);
                    return true;
                }
                continue; // a thief shortened the range meanwhile
            }
            if (!StealHalf(thread, ref own))
            {
                begin = end = 0;
                return false;
            }
        }
    }

    /// <summary>Moves the back half of the fullest other range (all of it when at most one take is left) into <paramref name="own"/>.</summary>
    private bool StealHalf(int thread, ref long own)
    {
        while (true)
        {
            int victim = -1, most = 0;
            for (int t = 0; t < _threads; t++)
            {
                if (t == thread)
                    continue;
                (int b, int e) = Unpack(Volatile.Read(ref _slots[t * Stride]));
                if (e - b > most)
                    (victim, most) = (t, e - b);
            }
            if (victim < 0)
                return false;
            ref long slot = ref _slots[victim * Stride];
            long v = Volatile.Read(ref slot);
            (int vb, int ve) = Unpack(v);
            if (vb >= ve)
                continue;
            int mid = ve - vb <= _step ? vb : vb + (ve - vb) / 2;
            if (Interlocked.CompareExchange(ref slot, Pack(vb, mid), v) != v)
                continue;
            Interlocked.Exchange(ref own, Pack(mid, ve));
            return true;
        }
    }

    private static long Pack(int begin, int end) => (uint)begin | (long)end << 32;

    private static (int Begin, int End) Unpack(long v) => ((int)v, (int)(v >> 32));
}
