using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TokenFactory.Gguf;

namespace TokenFactory.Tensors;

/// <summary>
/// Quantizes activation rows for the tiled matrix kernels (<see cref="LegacyGemmX8"/>, <see cref="GemmQ4_Kx8"/>) in a split
/// layout: int8 codes in one array, float scales (and Q8_K block sums) in others. The codes and scales are bit for bit
/// what <see cref="Quantizer.QuantizeRow"/> writes for Q8_0 / Q8_K (ggml's reference rounding); only the layout differs.
/// AVX-512 (F + BW) with a scalar twin built on the reference quantizer.
/// </summary>
internal static unsafe class ActivationPacking
{
    public static bool IsAccelerated => Avx512F.IsSupported && Avx512BW.IsSupported;

    // ---- Q8_0 ---------------------------------------------------------------------------------------------------

    /// <summary>
    /// Q8_0 codes of <paramref name="n"/> floats (a multiple of 32), each block's scale as the float value of its fp16
    /// field, and each block's code sum (the kernels take the weights' zero point back through it).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q8_0(float* x, int n, sbyte* codes, float* scales, int* sums)
    {
        if (!IsAccelerated)
        {
            Q8_0Scalar(x, n, codes, scales, sums);
            return;
        }
        Vector512<float> half = Vector512.Create(0.5f);
        Vector512<float> one = Vector512.Create(1f);
        Vector512<float> signMask = Vector512.Create(-0.0f);
        for (int b = 0; b < n / 32; b++)
        {
            Vector512<float> v0 = Vector512.Load(x + 32 * b), v1 = Vector512.Load(x + 32 * b + 16);
            float amax = MaxAcross(Vector512.Max(Vector512.Abs(v0), Vector512.Abs(v1)));
            float d = amax / 127f;
            float id = d != 0 ? 1f / d : 0f;
            scales[b] = Fp16.Round(d);
            Vector512<float> vid = Vector512.Create(id);
            Vector512<int> r0 = RoundHalfAway(v0 * vid, half, one, signMask);
            Vector512<int> r1 = RoundHalfAway(v1 * vid, half, one, signMask);
            Vector256.Create(Avx512F.ConvertToVector128SByte(r0), Avx512F.ConvertToVector128SByte(r1)).Store(codes + 32 * b);
            sums[b] = Vector512.Sum(r0 + r1);
        }
    }

    /// <summary>Scalar twin of <see cref="Q8_0(float*, int, sbyte*, float*, int*)"/>, through the reference quantizer.</summary>
    public static void Q8_0Scalar(float* x, int n, sbyte* codes, float* scales, int* sums)
    {
        Span<byte> block = stackalloc byte[34];
        for (int b = 0; b < n / 32; b++)
        {
            Quantizer.QuantizeRow(GgmlType.Q8_0, new ReadOnlySpan<float>(x + 32 * b, 32), block);
            scales[b] = Fp16.Read(block, 0);
            int sum = 0;
            for (int j = 0; j < 32; j++)
            {
                codes[32 * b + j] = (sbyte)block[2 + j];
                sum += (sbyte)block[2 + j];
            }
            sums[b] = sum;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float MaxAcross(Vector512<float> v)
    {
        Vector256<float> m = Vector256.Max(v.GetLower(), v.GetUpper());
        Vector128<float> m2 = Vector128.Max(m.GetLower(), m.GetUpper());
        m2 = Vector128.Max(m2, Vector128.Shuffle(m2, Vector128.Create(2, 3, 0, 1)));
        m2 = Vector128.Max(m2, Vector128.Shuffle(m2, Vector128.Create(1, 0, 3, 2)));
        return m2.ToScalar();
    }

    /// <summary>C's roundf (halves away from zero) of 16 floats in the int8 range, as int32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> RoundHalfAway(Vector512<float> v, Vector512<float> half, Vector512<float> one, Vector512<float> signMask)
    {
        Vector512<float> t = Avx512F.RoundScale(v, 0x0B); // truncate toward zero
        Vector512<float> frac = Vector512.Abs(v - t);      // exact for |v| < 2^23
        Vector512<float> bump = Vector512.GreaterThanOrEqual(frac, half) & ((v & signMask) | one);
        return Avx512F.ConvertToVector512Int32WithTruncation(t + bump);
    }

    // ---- Q8_K ---------------------------------------------------------------------------------------------------

    /// <summary>How a 256-block's codes and sums are laid out for the kernel that reads them.</summary>
    public enum KLayout : byte
    {
        /// <summary>Sub-blocks of 32 in slot order (<see cref="SubBlockSlot"/>), 8 sums of 32 codes.</summary>
        Slots,

        /// <summary>Sub-block pairs interleaved for the 512-bit Q4_K kernels (<see cref="GemmQ4_Kx8.ChunkByte"/>), 8 sums of 32.</summary>
        Pairs,

        /// <summary>Quads (two 16-element sub-blocks) interleaved for the Q6_K kernels (<see cref="GemmQ6_Kx8.ChunkByte"/>), 8 pairs of 16-element sums as int16.</summary>
        Quads,
    }

    /// <summary>
    /// Q8_K of <paramref name="n"/> floats (a multiple of 256): codes (int8) reordered within each 256-block as
    /// sub-blocks 0,2,1,3,4,6,5,7 of 32 (sub-block pairs share a 64-byte load in some kernels; <see cref="GemmQ4_Kx8"/> addresses them by slot), the block scale d, and
    /// per block the 8 sums of each 32 codes (pairs of ggml's 16-element bsums) as int32.
    /// </summary>
    public static void Q8_K(float* x, int n, sbyte* codes, float* scales, int* pairSums) => Q8_KBlocks(x, n, codes, scales, pairSums, KLayout.Slots);

    /// <summary>
    /// <see cref="Q8_K(float*, int, sbyte*, float*, int*)"/> with each 256-block's codes laid out for
    /// <see cref="GemmQ4_Kx8"/>'s 512-bit kernels instead: sub-block pair j (sub-blocks 2j, 2j+1) in bytes 64j..64j+63
    /// as 8 chunks of 8 bytes interleaving the two sub-blocks (<see cref="GemmQ4_Kx8.ChunkByte"/>). Needs VBMI, as those
    /// kernels do; scales and sums as the other layout has them.
    /// </summary>
    public static void Q8_KPairs(float* x, int n, sbyte* codes, float* scales, int* pairSums) => Q8_KBlocks(x, n, codes, scales, pairSums, KLayout.Pairs);

    /// <summary>
    /// Q8_K laid out for <see cref="GemmQ6_Kx8"/>: each 32 codes (a quad: two 16-element sub-blocks) as 4 chunks of 8
    /// bytes interleaving the two (<see cref="GemmQ6_Kx8.ChunkByte"/>), the block scale d, and per block and quad the
    /// two 16-element sums (ggml's bsums) as an int16 pair in one int.
    /// </summary>
    public static void Q8_KQuads(float* x, int n, sbyte* codes, float* scales, int* quadSums) => Q8_KBlocks(x, n, codes, scales, quadSums, KLayout.Quads);

    /// <summary>Q8_K of <paramref name="n"/> floats in <paramref name="layout"/>; per block a scale and 8 ints of sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Q8_KBlocks(float* x, int n, sbyte* codes, float* scales, int* sums, KLayout layout)
    {
        if (!IsAccelerated || (layout != KLayout.Slots && !Avx512Vbmi.IsSupported))
        {
            Q8_KBlocksScalar(x, n, codes, scales, sums, layout);
            return;
        }
        Vector512<byte> control = layout == KLayout.Quads ? s_quadInterleave : s_pairInterleave;
        for (int b = 0; b < n / 256; b++)
        {
            float* xb = x + 256 * b;
            Vector512<float> amaxV = Vector512<float>.Zero;
            for (int i = 0; i < 256; i += 16)
                amaxV = Vector512.Max(amaxV, Vector512.Abs(Vector512.Load(xb + i)));
            float amax = MaxAcross(amaxV);
            sbyte* cb = codes + 256 * b;
            if (amax == 0)
            {
                new Span<byte>(cb, 256).Clear();
                scales[b] = 0;
                new Span<int>(sums + 8 * b, 8).Clear();
                continue;
            }
            // The first element of largest magnitude gives the sign, as the reference's strict '>' scan does.
            float max = 0;
            for (int i = 0; i < 256; i++)
            {
                if (MathF.Abs(xb[i]) == amax)
                {
                    max = xb[i];
                    break;
                }
            }
            float iscale = -127f / max;
            Vector512<float> vs = Vector512.Create(iscale);
            Vector512<int> cap = Vector512.Create(127);
            for (int sub = 0; sub < 8; sub++)
            {
                int dst = layout == KLayout.Slots ? SubBlockSlot(sub) : sub;
                Vector512<int> r0 = Vector512.Min(Avx512F.ConvertToVector512Int32(Vector512.Load(xb + 32 * sub) * vs), cap);      // round-to-even
                Vector512<int> r1 = Vector512.Min(Avx512F.ConvertToVector512Int32(Vector512.Load(xb + 32 * sub + 16) * vs), cap);
                Vector256.Create(Avx512F.ConvertToVector128SByte(r0), Avx512F.ConvertToVector128SByte(r1)).Store(cb + 32 * dst);
                sums[8 * b + sub] = layout == KLayout.Quads
                    ? (Vector512.Sum(r0) & 0xFFFF) | (Vector512.Sum(r1) << 16)
                    : Vector512.Sum(r0 + r1);
            }
            scales[b] = 1f / iscale;
            if (layout == KLayout.Slots)
                continue;
            for (int i = 0; i < 256; i += 64)
                Avx512Vbmi.PermuteVar64x8(Vector512.Load((byte*)cb + i), control).Store((byte*)cb + i);
        }
    }

    // vpermb indices within 64 codes: output byte 8c + k of a pair (quad) takes its element of the low or high sub-block.
    private static readonly Vector512<byte> s_pairInterleave = Interleave(KLayout.Pairs), s_quadInterleave = Interleave(KLayout.Quads);

    private static Vector512<byte> Interleave(KLayout layout)
    {
        Span<byte> index = stackalloc byte[64];
        for (int i = 0; i < 64; i++)
            index[i] = (byte)SourceIndex(layout, i);
        return Vector512.Create<byte>(index);
    }

    /// <summary>Which natural-order code of its 64 (its pair, or its two quads) byte <paramref name="i"/> of an interleaved run holds.</summary>
    private static int SourceIndex(KLayout layout, int i)
    {
        if (layout == KLayout.Pairs)
        {
            (int e, bool high) = GemmQ4_Kx8.ChunkByte(i / 8, i % 8);
            return (high ? 32 : 0) + e;
        }
        (int e16, bool high16) = GemmQ6_Kx8.ChunkByte(i % 32 / 8, i % 8);
        return 32 * (i / 32) + (high16 ? 16 : 0) + e16;
    }

    /// <summary>Where sub-block <paramref name="sub"/> (32 codes) of a 256-block is stored: order 0,2,1,3,4,6,5,7.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int SubBlockSlot(int sub) => (sub & 4) | ((sub & 1) << 1) | ((sub >> 1) & 1);

    /// <summary>Scalar twin of <see cref="Q8_K(float*, int, sbyte*, float*, int*)"/>, through the reference quantizer.</summary>
    public static void Q8_KScalar(float* x, int n, sbyte* codes, float* scales, int* pairSums) => Q8_KBlocksScalar(x, n, codes, scales, pairSums, KLayout.Slots);

    /// <summary>Scalar twin of <see cref="Q8_KPairs(float*, int, sbyte*, float*, int*)"/>, through the reference quantizer.</summary>
    public static void Q8_KPairsScalar(float* x, int n, sbyte* codes, float* scales, int* pairSums) => Q8_KBlocksScalar(x, n, codes, scales, pairSums, KLayout.Pairs);

    /// <summary>Scalar twin of <see cref="Q8_KQuads(float*, int, sbyte*, float*, int*)"/>, through the reference quantizer.</summary>
    public static void Q8_KQuadsScalar(float* x, int n, sbyte* codes, float* scales, int* quadSums) => Q8_KBlocksScalar(x, n, codes, scales, quadSums, KLayout.Quads);

    private static void Q8_KBlocksScalar(float* x, int n, sbyte* codes, float* scales, int* sums, KLayout layout)
    {
        Span<byte> block = stackalloc byte[292];
        for (int b = 0; b < n / 256; b++)
        {
            Quantizer.QuantizeRow(GgmlType.Q8_K, new ReadOnlySpan<float>(x + 256 * b, 256), block);
            scales[b] = BitConverter.ToSingle(block);
            for (int sub = 0; sub < 8; sub++)
            {
                short low = BitConverter.ToInt16(block.Slice(260 + 4 * sub)), high = BitConverter.ToInt16(block.Slice(262 + 4 * sub));
                sums[8 * b + sub] = layout == KLayout.Quads ? (low & 0xFFFF) | (high << 16) : low + high;
            }
            for (int i = 0; i < 256; i++)
            {
                int natural = layout switch
                {
                    KLayout.Slots => 32 * SubBlockSlot(i / 32) + i % 32, // the slot order is its own inverse
                    _ => 64 * (i / 64) + SourceIndex(layout, i % 64),
                };
                codes[256 * b + i] = (sbyte)block[4 + natural];
            }
        }
    }
}
