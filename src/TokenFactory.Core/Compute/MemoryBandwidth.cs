using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TokenFactory.Compute;

/// <summary>
/// Measures this machine's memory read bandwidth with a streaming kernel: every pool thread sums its share of a
/// buffer far larger than the last-level cache with wide vector loads, prefetching ahead as the decode kernels do
/// (without it this kernel read slower than decoding did, which would make the roofline a floor). The best of a few
/// passes is reported, as a roofline for memory-bound decoding (tokens/s ≤ bandwidth ÷ bytes read per token).
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
    /// A buffer allocated and written once, for repeated single read passes: a benchmark can take one reading between
    /// stretches of the work it compares with the machine's bandwidth, so both see the same neighbours.
    /// </summary>
    public sealed class Probe : IDisposable
    {
        private readonly ComputePool _pool;
        private readonly ReadWork _work;
        private byte* _buffer;

        public Probe(ComputePool pool, long bytes)
        {
            _pool = pool;
            Bytes = bytes & ~255L;
            ArgumentOutOfRangeException.ThrowIfLessThan(Bytes, 256L, nameof(bytes));
            _buffer = HugePageMemory.Allocate(Bytes);
            _work = new ReadWork(_buffer, Bytes);
            // First touch from the same threads that will read (commits the pages; also a warm-up pass).
            _work.Fill = true;
            pool.Run(_work);
            _work.Fill = false;
        }

        public long Bytes { get; }

        /// <summary>One read pass over the whole buffer by every pool thread; bytes/s.</summary>
        public double Pass()
        {
            ObjectDisposedException.ThrowIf(_buffer == null, this);
            long t0 = Stopwatch.GetTimestamp();
            _pool.Run(_work);
            return Bytes / Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }

        /// <summary>The best of <paramref name="passes"/> single passes; bytes/s.</summary>
        public double Best(int passes)
        {
            double best = 0;
            for (int p = 0; p < passes; p++)
                best = Math.Max(best, Pass());
            return best;
        }

        public void Dispose()
        {
            if (_buffer == null)
                return;
            GC.KeepAlive(_work.Sink);
            HugePageMemory.Free(_buffer);
            _buffer = null;
        }
    }

    private sealed class ReadWork(byte* buffer, long bytes) : IParallelWork
    {
        // Read here, not in Execute: a static read there, compiled before its class is initialised, kept a class-init
        // check in front of the loop, and around it the JIT kept the four accumulators on the stack.
        private readonly int _ahead = Tensors.LegacyGemmX8.PrefetchDistance;
        public bool Fill;
        public long Sink;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]

        public void Execute(int thread, int threadCount)
        {
            long chunks = bytes / 256;
            long start = chunks * thread / threadCount * 256, end = chunks * (thread + 1) / threadCount * 256;
            byte* p = buffer + start, stop = buffer + end;
            if (Fill)
            {
                new Span<byte>(p, (int)Math.Min(int.MaxValue, end - start)).Fill((byte)thread);
                for (long o = int.MaxValue; o < end - start; o += int.MaxValue)
                    new Span<byte>(p + o, (int)Math.Min(int.MaxValue, end - start - o)).Fill((byte)thread);
                return;
            }
            Vector512<long> a0 = default, a1 = default, a2 = default, a3 = default;
            int ahead = _ahead;
            bool prefetch = Sse.IsSupported;
            for (; p < stop; p += 256)
            {
                if (prefetch)
                {
                    Sse.Prefetch0(p + ahead);
                    Sse.Prefetch0(p + ahead + 64);
                    Sse.Prefetch0(p + ahead + 128);
                    Sse.Prefetch0(p + ahead + 192);
                }
                a0 += Vector512.Load((long*)p);
                a1 += Vector512.Load((long*)(p + 64));
                a2 += Vector512.Load((long*)(p + 128));
                a3 += Vector512.Load((long*)(p + 192));
            }
            Interlocked.Add(ref Sink, Vector512.Sum((a0 + a1) + (a2 + a3)));
        }
    }
}
