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
        bytes &= ~255L;
        byte* buffer = HugePageMemory.Allocate(bytes);
        try
        {
            var work = new ReadWork(buffer, bytes);
            // First touch from the same threads that will read (commits the pages; also a warm-up pass).
            work.Fill = true;
            pool.Run(work);
            work.Fill = false;
            double best = 0;
            for (int p = 0; p < passes; p++)
            {
                long t0 = Stopwatch.GetTimestamp();
                pool.Run(work);
                double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                best = Math.Max(best, bytes / seconds);
            }
            GC.KeepAlive(work.Sink);
            return best;
        }
        finally
        {
            HugePageMemory.Free(buffer);
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
