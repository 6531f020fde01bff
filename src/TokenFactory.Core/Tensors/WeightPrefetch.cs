using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using TokenFactory.Platform;

namespace TokenFactory.Tensors;

/// <summary>
/// How the decode kernels prefetch the weights they stream: <c>prefetchnta</c> on AMD CPUs, <c>prefetcht0</c> elsewhere
/// (<see cref="KernelOptions.PrefetchNta"/> chooses). Decoding reads every weight once per token, hundreds of megabytes, so
/// nothing it prefetches is read again before it would be evicted. On Zen, a line that leaves L2 is written into the
/// L3 (a victim cache), so temporal prefetches make every streamed line cost an L2-to-L3 write as well; a non-temporal
/// one is kept out of that path. Zen 5 VM, tinyllama shapes, the model's matmuls alternating in one process (median of
/// 14 rounds): Q4_K 1.11-1.14x and Q8_0 1.11x the bytes per second of <c>prefetcht0</c>, where the streaming kernel read
/// no faster with it (77.2 against 77.4 GB/s). Not measured on an Intel CPU, which keeps what was measured there.
/// </summary>
internal static unsafe class WeightPrefetch
{
    /// <summary>Whether <see cref="Line"/> prefetches non-temporally; a JIT-time constant once the class is initialised.</summary>
    public static readonly bool NonTemporal = KernelOptions.Current.PrefetchNta ?? IsAmd();

    /// <summary>
    /// Bytes ahead of their position that the decode kernels prefetch (<see cref="KernelOptions.PrefetchBytes"/>): Q8_0,
    /// Q4_0, the 256-bit Q4_K kernel and F16/BF16 rows.
    /// </summary>
    public static readonly int Distance = KernelOptions.Current.PrefetchBytes;

    /// <summary>
    /// Bytes ahead that the 512-bit Q4_K and Q6_K decode kernels prefetch (<see cref="KernelOptions.WidePrefetchBytes"/>). Twice
    /// <see cref="Distance"/>: over 256 MiB of Q4_K groups, two threads, while the streaming kernel read 70-78 GB/s (the
    /// fast spells of this shared machine), 4 KiB ahead read 56-68 GB/s and 8 KiB 68-70; L2-only prefetches 8-16 KiB
    /// ahead read 60-66, and with the stream at 37-46 GB/s all of them read the same.
    /// </summary>
    public static readonly int WideDistance = KernelOptions.Current.WidePrefetchBytes;

    /// <summary>Prefetches the cache line at <paramref name="p"/> for a read that comes soon and only once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Line(byte* p)
    {
        if (NonTemporal)
            Sse.PrefetchNonTemporal(p);
        else
            Sse.Prefetch0(p);
    }

    /// <summary>AMD or Hygon (Zen cores) from the CPUID vendor string.</summary>
    internal static bool IsAmd()
    {
        if (!X86Base.IsSupported)
            return false;
        (_, int ebx, int ecx, int edx) = X86Base.CpuId(0, 0);
        Span<byte> vendor = stackalloc byte[12];
        BitConverter.TryWriteBytes(vendor, ebx);
        BitConverter.TryWriteBytes(vendor[4..], edx);
        BitConverter.TryWriteBytes(vendor[8..], ecx);
        return vendor.SequenceEqual("AuthenticAMD"u8) || vendor.SequenceEqual("HygonGenuine"u8);
    }
}
