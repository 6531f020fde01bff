using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TokenFactory.Tensors;

/// <summary>
/// Q4_K weights x Q8_K activations in register tiles (AVX-512BW). Nibbles (u8) times activation codes (s8) go through
/// <c>vpmaddubsw</c> into i16 pairs (|pair| ≤ 3810) and <c>vpmaddwd</c> against the sub-block's 6-bit scale into i32,
/// so each 256-block's integer sum Σ sc·(q·a) is exact; the block is then scaled exactly as <see cref="VecDotScalar.KQuant"/>
/// does (<c>sum += dw·da·isum − dmin·da·msum</c>, lane-wise for 16 (row, token) pairs), so results equal the scalar
/// kernel bit for bit. Activations come from <see cref="ActivationPacking.Q8_K"/> (sub-blocks in order 0,2,1,3,4,6,5,7,
/// matching a 64-byte load of nibbles: low nibbles are sub-blocks 4i and 4i+2, high ones 4i+1 and 4i+3).
/// </summary>
internal static unsafe class GemmQ4_K
{
    /// <summary>
    /// Bytes ahead of the decode kernel's position that it prefetches in each of its 4 row streams (about 3 tiles of
    /// 2048-wide rows): on the Zen 5 box one core's decode read rate went from 16 GB/s (768 B) to 23-28 GB/s (24 KiB).
    /// TOKENFACTORY_PREFETCH overrides it (bytes) for tuning on other machines.
    /// </summary>
    internal static readonly int PrefetchDistance =
        int.TryParse(Environment.GetEnvironmentVariable("TOKENFACTORY_PREFETCH"), out int d) ? d : 24576;

    public const int BlockBytes = 144;

    /// <summary>Per-row, per-block scratch of <see cref="PrepareRows4"/>, in bytes, for <paramref name="nsb"/> blocks.</summary>
    public static int ScratchBytes(int nsb) => nsb * (4 * 256 + 16 + 16 + 128);

    public static bool IsSupported => Avx512F.IsSupported && Avx512BW.IsSupported && Sse41.IsSupported;

    private static readonly Vector512<short> s_idx0 = Index(0, 2), s_idx1 = Index(1, 3), s_idx2 = Index(4, 6), s_idx3 = Index(5, 7);

    private static Vector512<short> Index(int lo, int hi) => Vector512.Create(Vector256.Create((short)lo), Vector256.Create((short)hi));

    /// <summary>The 8 scales (bytes 0-7) and 8 mins (bytes 8-15) of a Q4_K block, as ggml's get_scale_min_k4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Unpack(byte* packed, out ulong scales, out ulong mins)
    {
        uint u0 = *(uint*)packed, u1 = *(uint*)(packed + 4), u2 = *(uint*)(packed + 8);
        uint sc03 = u0 & 0x3f3f3f3fu, m03 = u1 & 0x3f3f3f3fu;
        uint sc47 = (u2 & 0x0f0f0f0fu) | (((u0 >> 6) & 0x03030303u) << 4);
        uint m47 = ((u2 >> 4) & 0x0f0f0f0fu) | (((u1 >> 6) & 0x03030303u) << 4);
        scales = sc03 | ((ulong)sc47 << 32);
        mins = m03 | ((ulong)m47 << 32);
    }

    /// <summary>The four i16 scale vectors of one block (steps 0/1 x low/high nibbles).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ScaleVectors(ulong scales, out Vector512<short> s0, out Vector512<short> s1, out Vector512<short> s2, out Vector512<short> s3)
    {
        Vector512<short> s = Sse41.ConvertToVector128Int16(Vector128.CreateScalar(scales).AsByte()).ToVector256Unsafe().ToVector512Unsafe();
        s0 = Avx512BW.PermuteVar32x16(s, s_idx0);
        s1 = Avx512BW.PermuteVar32x16(s, s_idx1);
        s2 = Avx512BW.PermuteVar32x16(s, s_idx2);
        s3 = Avx512BW.PermuteVar32x16(s, s_idx3);
    }

    /// <summary>
    /// Unpacks the scales of <paramref name="nsb"/> blocks of 4 rows into <paramref name="scratch"/>
    /// (<see cref="ScratchBytes"/>): per block 16 scale vectors, dw[4], dmin[4], mins[8][4].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PrepareRows4(byte* r0, byte* r1, byte* r2, byte* r3, int nsb, byte* scratch)
    {
        byte** rows = stackalloc byte*[4] { r0, r1, r2, r3 };
        for (int sb = 0; sb < nsb; sb++)
        {
            Vector512<short>* sv = (Vector512<short>*)(scratch + sb * 1024);
            float* dw = (float*)(scratch + nsb * 1024 + sb * 16);
            float* dmin = (float*)(scratch + nsb * 1040 + sb * 16);
            int* mins = (int*)(scratch + nsb * 1056 + sb * 128);
            for (int r = 0; r < 4; r++)
            {
                byte* blk = rows[r] + BlockBytes * sb;
                Unpack(blk + 4, out ulong sc, out ulong m);
                ScaleVectors(sc, out sv[4 * r], out sv[4 * r + 1], out sv[4 * r + 2], out sv[4 * r + 3]);
                dw[r] = Fp16.ToFloat(*(ushort*)blk);
                dmin[r] = Fp16.ToFloat(*(ushort*)(blk + 2));
                for (int j = 0; j < 8; j++)
                    mins[4 * j + r] = (int)((m >> (8 * j)) & 0xFF);
            }
        }
    }

    /// <summary>
    /// 4 rows x 4 tokens: <c>result[4t + r] = W[r] · a[t]</c>. <paramref name="a"/>: 4 rows of codes <paramref name="k"/>
    /// bytes apart; <paramref name="daX"/>: per block 16 floats, lane 4t+r = da[t]; <paramref name="psX"/>: per block
    /// [8 pair sums][16], lane 4t+r = the token's pair sum.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile4x4(byte* w0, byte* w1, byte* w2, byte* w3, byte* scratch, sbyte* a, int k, float* daX, int* psX, int nsb, float* result)
    {
        Vector512<byte> low4 = Vector512.Create((byte)0x0F);
        Vector512<float> sum = default;
        sbyte* a0 = a, a1 = a + k, a2 = a + 2 * k, a3 = a + 3 * k;
        for (int sb = 0; sb < nsb; sb++)
        {
            Vector512<short>* sv = (Vector512<short>*)(scratch + sb * 1024);
            Vector512<int> c00 = default, c01 = default, c02 = default, c03 = default;
            Vector512<int> c10 = default, c11 = default, c12 = default, c13 = default;
            Vector512<int> c20 = default, c21 = default, c22 = default, c23 = default;
            Vector512<int> c30 = default, c31 = default, c32 = default, c33 = default;
            int ow = BlockBytes * sb + 16, oa = 256 * sb;
            for (int i = 0; i < 2; i++)
            {
                Vector512<byte> q0 = Vector512.Load(w0 + ow + 64 * i), q1 = Vector512.Load(w1 + ow + 64 * i);
                Vector512<byte> q2 = Vector512.Load(w2 + ow + 64 * i), q3 = Vector512.Load(w3 + ow + 64 * i);
                for (int h = 0; h < 2; h++)
                {
                    Vector512<byte> x0, x1, x2, x3;
                    if (h == 0)
                    {
                        x0 = q0 & low4; x1 = q1 & low4; x2 = q2 & low4; x3 = q3 & low4;
                    }
                    else
                    {
                        x0 = (q0.AsUInt16() >> 4).AsByte() & low4; x1 = (q1.AsUInt16() >> 4).AsByte() & low4;
                        x2 = (q2.AsUInt16() >> 4).AsByte() & low4; x3 = (q3.AsUInt16() >> 4).AsByte() & low4;
                    }
                    int si = 2 * i + h;
                    Vector512<short> s0 = sv[si], s1 = sv[4 + si], s2 = sv[8 + si], s3 = sv[12 + si];
                    int o = oa + 128 * i + 64 * h;
                    Vector512<sbyte> y = Vector512.Load(a0 + o);
                    c00 += Mad(x0, y, s0); c10 += Mad(x1, y, s1); c20 += Mad(x2, y, s2); c30 += Mad(x3, y, s3);
                    y = Vector512.Load(a1 + o);
                    c01 += Mad(x0, y, s0); c11 += Mad(x1, y, s1); c21 += Mad(x2, y, s2); c31 += Mad(x3, y, s3);
                    y = Vector512.Load(a2 + o);
                    c02 += Mad(x0, y, s0); c12 += Mad(x1, y, s1); c22 += Mad(x2, y, s2); c32 += Mad(x3, y, s3);
                    y = Vector512.Load(a3 + o);
                    c03 += Mad(x0, y, s0); c13 += Mad(x1, y, s1); c23 += Mad(x2, y, s2); c33 += Mad(x3, y, s3);
                }
            }
            Vector512<int> isum = Reduce16(c00, c10, c20, c30, c01, c11, c21, c31, c02, c12, c22, c32, c03, c13, c23, c33);
            int* mins = (int*)(scratch + nsb * 1056 + sb * 128);
            int* ps = psX + 128 * sb;
            Vector512<int> msum = default;
            for (int j = 0; j < 8; j++)
                msum += Avx512F.BroadcastVector128ToVector512(mins + 4 * j) * Vector512.Load(ps + 16 * j);
            Vector512<float> da = Vector512.Load(daX + 16 * sb);
            Vector512<float> s1f = Avx512F.BroadcastVector128ToVector512((float*)(scratch + nsb * 1024 + sb * 16)) * da;
            Vector512<float> s2f = Avx512F.BroadcastVector128ToVector512((float*)(scratch + nsb * 1040 + sb * 16)) * da;
            sum += s1f * Avx512F.ConvertToVector512Single(isum) - s2f * Avx512F.ConvertToVector512Single(msum);
        }
        sum.Store(result);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Mad(Vector512<byte> x, Vector512<sbyte> y, Vector512<short> s)
        => Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x, y), s);

    /// <summary>Lane i of the result is the sum of all lanes of the i-th argument.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<int> Reduce16(
        Vector512<int> v0, Vector512<int> v1, Vector512<int> v2, Vector512<int> v3, Vector512<int> v4, Vector512<int> v5, Vector512<int> v6, Vector512<int> v7,
        Vector512<int> v8, Vector512<int> v9, Vector512<int> v10, Vector512<int> v11, Vector512<int> v12, Vector512<int> v13, Vector512<int> v14, Vector512<int> v15)
    {
        Vector512<int> w1 = Half(Reduce4(v0, v1, v2, v3), Reduce4(v4, v5, v6, v7));
        Vector512<int> w2 = Half(Reduce4(v8, v9, v10, v11), Reduce4(v12, v13, v14, v15));
        return Half(w1, w2);

        static Vector512<int> Half(Vector512<int> a, Vector512<int> b)
            => Avx512F.Shuffle4x128(a, b, 0x88) + Avx512F.Shuffle4x128(a, b, 0xDD);
    }

    /// <summary>Per 128-bit lane L: [Σ a(L), Σ b(L), Σ c(L), Σ d(L)].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Reduce4(Vector512<int> a, Vector512<int> b, Vector512<int> c, Vector512<int> d)
    {
        Vector512<int> ab = Avx512F.UnpackLow(a, b) + Avx512F.UnpackHigh(a, b);
        Vector512<int> cd = Avx512F.UnpackLow(c, d) + Avx512F.UnpackHigh(c, d);
        // Add as int32: a 64-bit add would carry between the two sums it holds.
        return Avx512F.UnpackLow(ab.AsInt64(), cd.AsInt64()).AsInt32() + Avx512F.UnpackHigh(ab.AsInt64(), cd.AsInt64()).AsInt32();
    }

    /// <summary>4 rows x 1 token (decode): <c>result[r] = W[r] · a</c>; <paramref name="da"/>, <paramref name="ps"/>: the token's block scales and pair sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows4x1(byte* w0, byte* w1, byte* w2, byte* w3, sbyte* a, float* da, int* ps, int nsb, float* result)
    {
        Vector512<byte> low4 = Vector512.Create((byte)0x0F);
        Vector128<float> sum = default;
        for (int sb = 0; sb < nsb; sb++)
        {
            int ob = BlockBytes * sb;
            int pf = PrefetchDistance;
            Sse.Prefetch0(w0 + ob + pf); Sse.Prefetch0(w0 + ob + pf + 64); Sse.Prefetch0(w0 + ob + pf + 128);
            Sse.Prefetch0(w1 + ob + pf); Sse.Prefetch0(w1 + ob + pf + 64); Sse.Prefetch0(w1 + ob + pf + 128);
            Sse.Prefetch0(w2 + ob + pf); Sse.Prefetch0(w2 + ob + pf + 64); Sse.Prefetch0(w2 + ob + pf + 128);
            Sse.Prefetch0(w3 + ob + pf); Sse.Prefetch0(w3 + ob + pf + 64); Sse.Prefetch0(w3 + ob + pf + 128);
            Vector512<int> c0 = Block(w0 + ob, a + 256 * sb, low4, out ulong m0);
            Vector512<int> c1 = Block(w1 + ob, a + 256 * sb, low4, out ulong m1);
            Vector512<int> c2 = Block(w2 + ob, a + 256 * sb, low4, out ulong m2);
            Vector512<int> c3 = Block(w3 + ob, a + 256 * sb, low4, out ulong m3);
            Vector128<int> msum = MinSums(m0, m1, m2, m3, ps + 8 * sb);
            Vector512<int> t = Reduce4(c0, c1, c2, c3);
            Vector256<int> t2 = t.GetLower() + t.GetUpper();
            Vector128<int> isum = t2.GetLower() + t2.GetUpper();
            // d (low half) and dmin (high half) of each row's block, widened together.
            Vector128<int> dd = Vector128.Create(*(int*)(w0 + ob), *(int*)(w1 + ob), *(int*)(w2 + ob), *(int*)(w3 + ob));
            Vector128<float> dw = HalfVectors.FiniteHighToSingle(dd << 16);
            Vector128<float> dmin = HalfVectors.FiniteHighToSingle(dd);
            Vector128<float> d = Vector128.Create(da[sb]);
            sum += dw * d * Vector128.ConvertToSingle(isum) - dmin * d * Vector128.ConvertToSingle(msum);
        }
        sum.Store(result);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Block(byte* blk, sbyte* a, Vector512<byte> low4, out ulong mins)
    {
        Unpack(blk + 4, out ulong sc, out mins);
        ScaleVectors(sc, out Vector512<short> s0, out Vector512<short> s1, out Vector512<short> s2, out Vector512<short> s3);
        Vector512<byte> q = Vector512.Load(blk + 16);
        Vector512<int> acc = Mad(q & low4, Vector512.Load(a), s0);
        acc += Mad((q.AsUInt16() >> 4).AsByte() & low4, Vector512.Load(a + 64), s1);
        q = Vector512.Load(blk + 80);
        acc += Mad(q & low4, Vector512.Load(a + 128), s2);
        acc += Mad((q.AsUInt16() >> 4).AsByte() & low4, Vector512.Load(a + 192), s3);
        return acc;
    }

    private static readonly Vector512<int> s_lane0Of128 = Vector512.Create(0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12);

    /// <summary>Σ_j min_j · pairSum_j for 4 rows at once (mins ≤ 63 and |pair sums| ≤ 4064 fit i16, so vpmaddwd is exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> MinSums(ulong m0, ulong m1, ulong m2, ulong m3, int* ps)
    {
        Vector512<short> mins = Avx512BW.ConvertToVector512Int16(Vector256.Create(m0, m1, m2, m3).AsByte());
        Vector128<short> p = Avx512F.VL.ConvertToVector128Int16(Vector256.Load(ps));
        Vector256<short> p2 = Vector256.Create(p, p);
        Vector512<int> v = Avx512BW.MultiplyAddAdjacent(mins, Vector512.Create(p2, p2));
        v += Avx512F.Shuffle(v, 0b01_00_11_10);
        v += Avx512F.Shuffle(v, 0b10_11_00_01);
        return Avx512F.PermuteVar16x32(v, s_lane0Of128).GetLower().GetLower();
    }
}
