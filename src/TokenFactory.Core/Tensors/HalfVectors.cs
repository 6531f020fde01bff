using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TokenFactory.Tensors;

/// <summary>
/// Exact fp16 -> fp32 widening on integer lanes (.NET exposes no F16C/vcvtph2ps intrinsic).
/// Moving the 15 exponent+mantissa bits up by 13 and multiplying by 2^112 rebias the exponent; the product is exact for
/// normals and subnormals alike. Inf/NaN get the all-ones exponent instead; the sign is OR-ed back last.
/// </summary>
internal static class HalfVectors
{
    private const uint Pow2_112 = 0x77800000u;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToSingle(Vector256<uint> h)
    {
        Vector256<uint> sign = (h & Vector256.Create(0x8000u)) << 16;
        Vector256<uint> em = h & Vector256.Create(0x7FFFu);
        Vector256<uint> shifted = em << 13;
        Vector256<float> finite = shifted.AsSingle() * Vector256.Create(Pow2_112).AsSingle();
        Vector256<uint> special = shifted | Vector256.Create(0x7F800000u);
        Vector256<uint> isSpecial = Vector256.GreaterThanOrEqual(em, Vector256.Create(0x7C00u));
        return (Vector256.ConditionalSelect(isSpecial, special, finite.AsUInt32()) | sign).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToSingle(Vector512<uint> h)
    {
        Vector512<uint> sign = (h & Vector512.Create(0x8000u)) << 16;
        Vector512<uint> em = h & Vector512.Create(0x7FFFu);
        Vector512<uint> shifted = em << 13;
        Vector512<float> finite = shifted.AsSingle() * Vector512.Create(Pow2_112).AsSingle();
        Vector512<uint> special = shifted | Vector512.Create(0x7F800000u);
        Vector512<uint> isSpecial = Vector512.GreaterThanOrEqual(em, Vector512.Create(0x7C00u));
        return (Vector512.ConditionalSelect(isSpecial, special, finite.AsUInt32()) | sign).AsSingle();
    }

    /// <summary>
    /// 8 fp16 values (block scales of weights) widened exactly, for finite values (normal, subnormal, ±0): moved to the
    /// upper 16 bits of each lane, an arithmetic shift by 3 lines the half's exponent and mantissa up with float's, the
    /// mask drops the copies of the sign and the low bits, and 2^112 rebiases the exponent (exact, subnormals included).
    /// Inf/NaN come out finite, so this is for block scales, never for data that may overflow.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Vector256<float> FiniteToSingle(ushort* halves)
    {
        Vector256<int> high = Avx2.ConvertToVector256Int32(halves) << 16;
        return ((high >> 3) & Vector256.Create(unchecked((int)0x8FFFE000))).AsSingle() * Vector256.Create(Pow2_112).AsSingle();
    }
}
