using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TokenFactory.Tensors;

internal static partial class VecDotAvx2
{
    /// <summary>IQ4_NL against Q8_0: the 4-bit codes become int8 levels through one 16-entry byte shuffle, then Q8_0's arithmetic.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float IQ4_NL(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int blocks)
    {
        ref byte wr = ref MemoryMarshal.GetReference(w);
        ref byte ar = ref MemoryMarshal.GetReference(a);
        Vector128<sbyte> table = Vector128.Create(NonLinearCodes.Iq4);
        Vector256<float> acc = default;
        for (int b = 0; b < blocks; b++)
        {
            int ow = b * 18, oa = b * 34;
            Vector256<sbyte> x = Levels(table, Vector128.LoadUnsafe(ref wr, (nuint)(ow + 2)));
            Vector256<sbyte> y = Vector256.LoadUnsafe(ref ar, (nuint)(oa + 2)).AsSByte();
            float d = Half(ref wr, ow) * Half(ref ar, oa);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(MulSumI8(x, y)), Vector256.Create(d), acc);
        }
        return Vector256.Sum(acc);
    }

    /// <summary>MXFP4 against Q8_0: the doubled E2M1 levels through the same shuffle; the block scale is the activation's times 2^(e−128).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float MXFP4(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int blocks)
    {
        ref byte wr = ref MemoryMarshal.GetReference(w);
        ref byte ar = ref MemoryMarshal.GetReference(a);
        Vector128<sbyte> table = Vector128.Create(NonLinearCodes.Mxfp4Doubled);
        Vector256<float> acc = default;
        for (int b = 0; b < blocks; b++)
        {
            int ow = b * 17, oa = b * 34;
            Vector256<sbyte> x = Levels(table, Vector128.LoadUnsafe(ref wr, (nuint)(ow + 1)));
            Vector256<sbyte> y = Vector256.LoadUnsafe(ref ar, (nuint)(oa + 2)).AsSByte();
            float d = Half(ref ar, oa) * NonLinearCodes.E8M0Half(Unsafe.Add(ref wr, ow));
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(MulSumI8(x, y)), Vector256.Create(d), acc);
        }
        return Vector256.Sum(acc);
    }

    /// <summary>
    /// IQ4_XS against Q8_K: per sub-block of 32, the code-book shuffle and an exact integer sum, scaled by its 6-bit scale
    /// and summed in float in the scalar kernel's order (so both give the same bits).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float IQ4_XS(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int blocks)
    {
        ref byte wr = ref MemoryMarshal.GetReference(w);
        ref byte ar = ref MemoryMarshal.GetReference(a);
        Vector128<sbyte> table = Vector128.Create(NonLinearCodes.Iq4);
        float sum = 0;
        for (int b = 0; b < blocks; b++)
        {
            int ow = b * 136, oa = b * 292;
            float d = Half(ref wr, ow) * Unsafe.ReadUnaligned<float>(ref Unsafe.Add(ref ar, oa));
            int high = Unsafe.Add(ref wr, ow + 2) | (Unsafe.Add(ref wr, ow + 3) << 8);
            for (int ib = 0; ib < 8; ib++)
            {
                int ls = ((Unsafe.Add(ref wr, ow + 4 + ib / 2) >> (4 * (ib % 2))) & 0xF) | (((high >> (2 * ib)) & 3) << 4);
                Vector256<sbyte> x = Levels(table, Vector128.LoadUnsafe(ref wr, (nuint)(ow + 8 + 16 * ib)));
                Vector256<sbyte> y = Vector256.LoadUnsafe(ref ar, (nuint)(oa + 4 + 32 * ib)).AsSByte();
                sum += d * (ls - 32) * Vector256.Sum(MulSumI8(x, y));
            }
        }
        return sum;
    }

    /// <summary>16 bytes of codes → 32 int8 levels: low nibbles first (weights 0–15), then high nibbles (16–31).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Levels(Vector128<sbyte> table, Vector128<byte> codes)
    {
        Vector128<byte> low = codes & Vector128.Create((byte)0x0F);
        Vector128<byte> high = (codes.AsUInt16() >> 4).AsByte() & Vector128.Create((byte)0x0F);
        return Vector256.Create(Ssse3.Shuffle(table, low.AsSByte()), Ssse3.Shuffle(table, high.AsSByte()));
    }
}
