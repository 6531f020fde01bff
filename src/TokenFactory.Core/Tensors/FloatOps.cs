using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace TokenFactory.Tensors;

/// <summary>Row-wise conversions between float32 and the 16-bit float formats GGUF stores.</summary>
public static class FloatOps
{
    /// <summary>Exact widening of fp16 bit patterns (TensorPrimitives vectorises it).</summary>
    public static void HalfToFloat(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        if (dst.Length < src.Length)
            throw new ArgumentException("Destination is shorter than the source.", nameof(dst));
        TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<ushort, Half>(src), dst);
    }

    /// <summary>Narrowing to fp16 with round-to-nearest-even (overflow gives infinity), like ggml's converters.</summary>
    public static void FloatToHalf(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        if (dst.Length < src.Length)
            throw new ArgumentException("Destination is shorter than the source.", nameof(dst));
        TensorPrimitives.ConvertToHalf(src, MemoryMarshal.Cast<ushort, Half>(dst));
    }

    /// <summary>Exact widening of bf16 bit patterns.</summary>
    public static void BFloat16ToFloat(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        int n = src.Length;
        if (dst.Length < n)
            throw new ArgumentException("Destination is shorter than the source.", nameof(dst));
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref ushort s = ref MemoryMarshal.GetReference(src);
            ref float d = ref MemoryMarshal.GetReference(dst);
            for (; i + 16 <= n; i += 16)
            {
                (Vector256<uint> lo, Vector256<uint> hi) = Vector256.Widen(Vector256.LoadUnsafe(ref s, (nuint)i));
                (lo << 16).AsSingle().StoreUnsafe(ref d, (nuint)i);
                (hi << 16).AsSingle().StoreUnsafe(ref d, (nuint)(i + 8));
            }
        }
        for (; i < n; i++)
            dst[i] = BFloat16Bits.ToFloat(src[i]);
    }

    /// <summary>Narrowing to bf16 with round-to-nearest-even; NaNs stay (quiet) NaNs.</summary>
    public static void FloatToBFloat16(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        if (dst.Length < src.Length)
            throw new ArgumentException("Destination is shorter than the source.", nameof(dst));
        for (int i = 0; i < src.Length; i++)
            dst[i] = BFloat16Bits.FromFloat(src[i]);
    }
}
