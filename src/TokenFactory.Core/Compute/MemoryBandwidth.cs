using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TokenFactory.Platform;

namespace TokenFactory.Compute;

/// <summary>
/// Measures this machine's memory read bandwidth with a streaming kernel: every pool thread sums its share of memory
/// far larger than the last-level cache (a buffer of its own, or a model's weights in place) with wide vector loads, as
/// a roofline for memory-bound decoding (tokens/s ≤ bandwidth ÷ bytes read per token). A roofline must be a ceiling,
/// so the read loop is the fastest of a few (<see cref="ReadVariants"/>: software prefetch at several distances,
/// temporal or not, or none) on this machine, chosen when a probe is made: a loop without prefetching once read slower
/// than decoding did, while on the Zen 5 VM the loop prefetching 4 KiB ahead read 51-65 GB/s where the plain one
/// read 71-79.
/// </summary>
public static unsafe class MemoryBandwidth
{
    /// <summary>Read bandwidth in bytes/s over a <paramref name="bytes"/>-byte buffer, best of <paramref name="passes"/>.</summary>
    public static double Measure(ComputePool pool, long bytes = 512L << 20, int passes = 5)
    {
        using var probe = new Probe(pool, bytes);
        return probe.Best(passes);
    }

    /// <summary>
    /// A read loop: software prefetch <see cref="PrefetchBytes"/> ahead of the loads (every line; 0: none), non-temporally
    /// (<c>prefetchnta</c>, as the decode kernels do on AMD CPUs) or into L1 (<c>prefetcht0</c>).
    /// </summary>
    public readonly record struct ReadVariant(int PrefetchBytes, bool NonTemporal = false)
    {
        public override string ToString() => PrefetchBytes <= 0 ? "no prefetch"
            : $"{(NonTemporal ? "non-temporal " : "")}prefetch {PrefetchBytes / 1024} KiB ahead";
    }

    /// <summary>The read loops a probe chooses from.</summary>
    public static IReadOnlyList<ReadVariant> ReadVariants { get; } =
        [new(0), new(4096), new(8192), new(16384), new(8192, NonTemporal: true)];

    /// <summary>Passes per variant when a probe chooses its read loop.</summary>
    internal const int CalibrationRounds = 3;

    /// <summary>The variant (row of <paramref name="seconds"/>: variant × round) whose median pass took least time.</summary>
    internal static int Fastest(double[,] seconds)
    {
        int best = 0;
        double bestMedian = double.MaxValue;
        var rounds = new double[seconds.GetLength(1)];
        for (int v = 0; v < seconds.GetLength(0); v++)
        {
            for (int r = 0; r < rounds.Length; r++)
                rounds[r] = seconds[v, r];
            Array.Sort(rounds);
            int mid = rounds.Length / 2;
            double median = rounds.Length % 2 == 1 ? rounds[mid] : (rounds[mid - 1] + rounds[mid]) / 2;
            if (median < bestMedian)
                (best, bestMedian) = (v, median);
        }
        return best;
    }

    /// <summary>
    /// Memory read by repeated single passes: a benchmark can take one reading between stretches of the work it compares
    /// with the machine's bandwidth, so both see the same neighbours. Either a buffer of its own, allocated and written
    /// once, or memory that already exists (<see cref="Probe(ComputePool, IReadOnlyList{ValueTuple{nint, long}})"/>: the
    /// weights a decode step reads, so that the roofline is measured over the very pages decoding streams).
    /// </summary>
    public sealed class Probe : IDisposable
    {
        private readonly ComputePool _pool;
        private readonly ReadWork _work;
        private byte* _buffer;
        private bool _disposed;

        public Probe(ComputePool pool, long bytes)
        {
            _pool = pool;
            Bytes = bytes & ~255L;
            ArgumentOutOfRangeException.ThrowIfLessThan(Bytes, 256L, nameof(bytes));
            _buffer = HugePageMemory.Allocate(Bytes);
            _work = new ReadWork([((nint)_buffer, Bytes)]);
            // First touch from the same threads that will read (commits the pages; also a warm-up pass).
            _work.Fill = true;
            pool.Run(_work);
            _work.Fill = false;
            Variant = ChooseReadVariant();
        }

        /// <summary>
        /// A probe over existing memory, read region by region, each region split between the pool's threads as a
        /// matmul splits its rows (a virtual machine's guest pages are not all equally fast: on the Zen 5 VM, of two
        /// 256 MiB buffers the first allocated read slower with every loop, by 4-24 % in two processes and 1-5 % in a
        /// third that allocated them in the other order, so a buffer of the probe's own measured other memory than the
        /// weights). The memory must stay mapped while the probe is used; it is only
        /// read, whole 256-byte chunks of each region.
        /// </summary>
        public Probe(ComputePool pool, IReadOnlyList<(nint Address, long Length)> regions)
        {
            _pool = pool;
            var chunks = new List<(nint, long)>();
            foreach (var (address, length) in regions)
            {
                if (address == 0 || length < 256)
                    continue;
                chunks.Add((address, length & ~255L));
                Bytes += length & ~255L;
            }
            ArgumentOutOfRangeException.ThrowIfLessThan(Bytes, 256L, nameof(regions));
            _work = new ReadWork([.. chunks]);
            pool.Run(_work); // warm-up: page faults of mapped memory not yet touched
            Variant = ChooseReadVariant();
        }

        public long Bytes { get; }

        /// <summary>The read loop that read fastest when this probe was made, which every pass uses.</summary>
        public ReadVariant Variant { get; }

        /// <summary>
        /// Reads its memory with each of <see cref="ReadVariants"/> in turn, <see cref="CalibrationRounds"/> times, and
        /// keeps the one with the highest median. Alternating puts every variant through the same neighbours' bursts;
        /// the median drops a single lucky or unlucky pass.
        /// </summary>
        private ReadVariant ChooseReadVariant()
        {
            var seconds = new double[ReadVariants.Count, CalibrationRounds];
            for (int r = 0; r < CalibrationRounds; r++)
            {
                for (int v = 0; v < ReadVariants.Count; v++)
                {
                    _work.Variant = ReadVariants[v];
                    long t0 = Stopwatch.GetTimestamp();
                    _pool.Run(_work);
                    seconds[v, r] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                }
            }
            return _work.Variant = ReadVariants[Fastest(seconds)];
        }

        /// <summary>One read pass over all of its memory by every pool thread; bytes/s.</summary>
        public double Pass()
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            long t0 = Stopwatch.GetTimestamp();
            _pool.Run(_work);
            return Bytes / Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }

        /// <summary>The best of <paramref name="passes"/> single passes; bytes/s.</summary>
        public double Best(int passes) => BestPass.Of(passes, Pass);

        public void Dispose()
        {
            if (_disposed)
                return;
            _disposed = true;
            GC.KeepAlive(_work.Sink);
            if (_buffer != null)
                HugePageMemory.Free(_buffer);
            _buffer = null;
        }
    }

    private sealed class ReadWork((nint Address, long Length)[] regions) : IParallelWork
    {
        // Set by the probe once it has chosen (ChooseReadVariant); until then (the warm-up pass) the plain loop. Passed
        // to the loop as arguments: a static read inside it, compiled before its class was initialised, once kept a
        // class-init check in front of the loop and the four accumulators on the stack around it.
        public ReadVariant Variant = new(0);
        public bool Fill;
        public long Sink;

        public void Execute(int thread, int threadCount)
        {
            long sum = 0;
            foreach (var (address, length) in regions)
            {
                long chunks = length / 256;
                long start = chunks * thread / threadCount * 256, end = chunks * (thread + 1) / threadCount * 256;
                byte* p = (byte*)address + start;
                if (Fill)
                    FillShare(p, end - start, (byte)thread);
                else
                    sum += Read(p, p + (end - start));
            }
            Interlocked.Add(ref Sink, sum);
        }

        private static void FillShare(byte* p, long bytes, byte value)
        {
            for (long o = 0; o < bytes; o += int.MaxValue)
                new Span<byte>(p + o, (int)Math.Min(int.MaxValue, bytes - o)).Fill(value);
        }

        private long Read(byte* p, byte* stop)
        {
            int ahead = Variant.PrefetchBytes;
            if (ahead <= 0 || !Sse.IsSupported)
                return ReadLoop<NoPrefetch>(p, stop, 0);
            return Variant.NonTemporal ? ReadLoop<NonTemporalPrefetch>(p, stop, ahead) : ReadLoop<L1Prefetch>(p, stop, ahead);
        }

        /// <summary>The read loop, specialised per prefetch kind by the JIT (a struct type argument), so each variant is its own tight loop.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static long ReadLoop<TPrefetch>(byte* p, byte* stop, int ahead) where TPrefetch : struct, IPrefetch
        {
            Vector512<long> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; p < stop; p += 256)
            {
                TPrefetch.Line(p + ahead);
                TPrefetch.Line(p + ahead + 64);
                TPrefetch.Line(p + ahead + 128);
                TPrefetch.Line(p + ahead + 192);
                a0 += Vector512.Load((long*)p);
                a1 += Vector512.Load((long*)(p + 64));
                a2 += Vector512.Load((long*)(p + 128));
                a3 += Vector512.Load((long*)(p + 192));
            }
            return Vector512.Sum((a0 + a1) + (a2 + a3));
        }
    }

    private interface IPrefetch
    {
        static abstract void Line(byte* p);
    }

    private readonly struct NoPrefetch : IPrefetch
    {
        public static void Line(byte* p)
        {
        }
    }

    private readonly struct L1Prefetch : IPrefetch
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Line(byte* p) => Sse.Prefetch0(p);
    }

    private readonly struct NonTemporalPrefetch : IPrefetch
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Line(byte* p) => Sse.PrefetchNonTemporal(p);
    }
}
