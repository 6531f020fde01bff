using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using TokenFactory.Kv;
using TokenFactory.Tensors;

namespace TokenFactory.Compute;

/// <summary>
/// The SIMD pieces of <see cref="PagedAttention"/>'s per-token kernel, with the numerics of the scalar reference (queries
/// and softmax weights rounded to half precision, softmax summed in double; the tests keep that reference): a work item
/// widens one KV head's cached keys (transposed, so 16 positions' scores are 64 FMAs with no horizontal sums) and values
/// once, and every query head of the group and every token of the item reuses them; value rows accumulate into
/// registers. Float accumulation order differs from the reference, so results agree to float rounding (a softmax weight
/// may round to the neighbouring half), not bit for bit. Head sizes that are not a multiple of 8 (or above 512: gemma4's global heads are 512), or CPUs
/// without AVX-512, take PagedAttention's scalar-order path instead.
/// </summary>
internal static partial class AttentionKernels
{
    /// <summary>Row stride of the transposed keys for a context of <paramref name="contextLength"/> positions.</summary>
    internal static int PaddedContext(int contextLength) => (contextLength + 15) / 16 * 16 + 16;

    /// <summary>Whether <see cref="AttendHeads"/> runs on this CPU for this head size (else the scalar-order kernels).</summary>
    internal static bool IsAccelerated(int headSize) => Vector512.IsHardwareAccelerated && headSize % 8 == 0 && headSize <= 512;

    /// <summary>Positions per channel-major run of keys that <see cref="WidenKeyRun"/> widens: one 512-bit vector.</summary>
    internal const int KeyRun = 16;

    /// <summary>
    /// One KV head's keys for the 16 positions from <paramref name="p0"/>, stored channel-major (16 halves per channel,
    /// as <see cref="KvBlockPool"/> keeps them in 16-position blocks), widened into columns p0..p0+15 of the transposed keys.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void WidenKeyRun(ushort* run, float* kt, int cp, int p0, int hs)
    {
        for (int i = 0; i < hs; i++)
            Widen(run + KeyRun * i, kt + i * cp + p0, 1);
    }

    /// <summary>Zeroes the transposed keys' columns from <paramref name="n"/> to the next multiple of 16 (read, never used).</summary>
    internal static unsafe void PadKeys(float* kt, int cp, int hs, int n)
    {
        int nPad = (n + 15) / 16 * 16;
        for (int i = 0; i < hs; i++)
            for (int p = n; p < nPad; p++)
                kt[i * cp + p] = 0;
    }

    /// <summary>
    /// One token's query heads of one KV group over positions 0..n-1, whose keys (transposed, row stride
    /// <paramref name="cp"/>) and values are already widened: <paramref name="group"/> query rows of
    /// <paramref name="hs"/> floats from <paramref name="q"/>, outputs likewise to <paramref name="o"/>. A token's
    /// result depends only on its own query and positions, never on what else the scratch holds.
    /// </summary>
    /// <remarks>
    /// Query heads go four at a time where the head size is a multiple of 64 (<see cref="AttendFour"/>), so every key
    /// and value vector loaded serves four FMAs; <paramref name="sp"/> and <paramref name="qp"/> hold
    /// <see cref="HeadBlock"/> rows (<see cref="ScoreScratch"/>, <c>HeadBlock · hs</c> floats).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static unsafe void AttendHeads(float* kt, int cp, float* vf, float* sp, float* qp, float* q, float* o, int group, int hs, int n, float scale,
        float* sinks = null)
    {
        int h = 0;
        if (hs % 64 == 0)
            for (; h + HeadBlock <= group; h += HeadBlock)
                AttendFour(kt, cp, vf, sp, qp, q + h * hs, o + h * hs, hs, n, scale, sinks == null ? null : sinks + h);
        if (h < group)
            AttendEach(kt, cp, vf, sp, qp, q + h * hs, o + h * hs, group - h, hs, n, scale, sinks == null ? null : sinks + h);
    }

    /// <summary>Head <paramref name="h"/>'s attention sink, or −∞ (no sink: the softmax is unchanged, bit for bit).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe float Sink(float* sinks, int h) => sinks == null ? float.NegativeInfinity : sinks[h];

    /// <summary>Query heads attended together by <see cref="AttendHeads"/>.</summary>
    internal const int HeadBlock = 4;

    /// <summary>Floats of score scratch <see cref="AttendHeads"/> needs for a padded context of <paramref name="cp"/>.</summary>
    internal static int ScoreScratch(int cp) => HeadBlock * cp;

    /// <summary>
    /// Four query heads (rows of <paramref name="hs"/> floats at <paramref name="q"/>) over the same positions: the four-row
    /// pass of <see cref="AttendRows{TRows}"/> (scores 64 positions x 4 heads per pass, 4 key loads serving 16 FMAs; softmax per
    /// head; weighted values 64 channels x 4 heads per pass), every row over all <paramref name="n"/> positions.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void AttendFour(float* kt, int cp, float* vf, float* sp, float* qp, float* q, float* o, int hs, int n, float scale, float* sinks)
    {
        var rows = default(AttentionRows);
        for (int r = 0; r < HeadBlock; r++)
            rows.Set(r, q + r * hs, o + r * hs, n, Sink(sinks, r));
        AttendRows<FourRows>(kt, cp, vf, sp, qp, rows, hs, scale);
    }

    /// <summary>Query heads one at a time (head sizes that are not a multiple of 64, and a group's last 1-3 heads).</summary>
    private static unsafe void AttendEach(float* kt, int cp, float* vf, float* sp, float* qp, float* q, float* o, int group, int hs, int n, float scale, float* sinks)
    {
        int chunks = hs / 16, nChunks = (n + 15) / 16;
        for (int h = 0; h < group; h++, q += hs, o += hs)
        {
            // Query rounded to half precision, as ggml does before its f16 dot products.
            RoundToHalf(q, qp, hs);
            // Scores, 16 positions per vector, 8 vectors at a time (independent FMA chains).
            int c = 0;
            for (; c + 8 <= nChunks; c += 8)
            {
                float* k = kt + 16 * c;
                Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
                for (int i = 0; i < hs; i++, k += cp)
                {
                    Vector512<float> qb = Vector512.Create(qp[i]);
                    s0 = Vector512.FusedMultiplyAdd(qb, Vector512.Load(k), s0);
                    s1 = Vector512.FusedMultiplyAdd(qb, Vector512.Load(k + 16), s1);
                    s2 = Vector512.FusedMultiplyAdd(qb, Vector512.Load(k + 32), s2);
                    s3 = Vector512.FusedMultiplyAdd(qb, Vector512.Load(k + 48), s3);
                    s4 = Vector512.FusedMultiplyAdd(qb, Vector512.Load(k + 64), s4);
                    s5 = Vector512.FusedMultiplyAdd(qb, Vector512.Load(k + 80), s5);
                    s6 = Vector512.FusedMultiplyAdd(qb, Vector512.Load(k + 96), s6);
                    s7 = Vector512.FusedMultiplyAdd(qb, Vector512.Load(k + 112), s7);
                }
                float* d = sp + 16 * c;
                (s0 * scale).Store(d); (s1 * scale).Store(d + 16); (s2 * scale).Store(d + 32); (s3 * scale).Store(d + 48);
                (s4 * scale).Store(d + 64); (s5 * scale).Store(d + 80); (s6 * scale).Store(d + 96); (s7 * scale).Store(d + 112);
            }
            for (; c < nChunks; c++)
            {
                float* k = kt + 16 * c;
                Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
                for (int i = 0; i < hs; i += 4, k += 4 * cp)
                {
                    s0 = Vector512.FusedMultiplyAdd(Vector512.Create(qp[i]), Vector512.Load(k), s0);
                    s1 = Vector512.FusedMultiplyAdd(Vector512.Create(qp[i + 1]), Vector512.Load(k + cp), s1);
                    s2 = Vector512.FusedMultiplyAdd(Vector512.Create(qp[i + 2]), Vector512.Load(k + 2 * cp), s2);
                    s3 = Vector512.FusedMultiplyAdd(Vector512.Create(qp[i + 3]), Vector512.Load(k + 3 * cp), s3);
                }
                (((s0 + s1) + (s2 + s3)) * scale).Store(sp + 16 * c);
            }
            // Softmax (double sum), weights rounded to half precision.
            Softmax(sp, n, Sink(sinks, h));
            // Weighted values, accumulated in registers: 16 lanes x 4, even and odd positions in separate chains.
            for (int c0 = 0; c0 < chunks; c0 += 4)
            {
                int cc = Math.Min(4, chunks - c0);
                float* v = vf + 16 * c0;
                if (cc == 4)
                    Accumulate4(v, sp, n, hs, o + 16 * c0);
                else
                {
                    for (int j = 0; j < cc; j++)
                    {
                        Vector512<float> a = default;
                        for (int p = 0; p < n; p++)
                            a = Vector512.FusedMultiplyAdd(Vector512.Load(v + p * hs + 16 * j), Vector512.Create(sp[p]), a);
                        a.Store(o + 16 * c0 + 16 * j);
                    }
                }
            }
            if (hs % 16 != 0)
            {
                // The last 8 channels (head sizes of 16m + 8).
                float* v = vf + 16 * chunks;
                Vector256<float> a = default, b = default;
                int p = 0;
                for (; p + 2 <= n; p += 2)
                {
                    a = Vector256.FusedMultiplyAdd(Vector256.Load(v + p * hs), Vector256.Create(sp[p]), a);
                    b = Vector256.FusedMultiplyAdd(Vector256.Load(v + (p + 1) * hs), Vector256.Create(sp[p + 1]), b);
                }
                if (p < n)
                    a = Vector256.FusedMultiplyAdd(Vector256.Load(v + p * hs), Vector256.Create(sp[p]), a);
                (a + b).Store(o + 16 * chunks);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Accumulate4(float* v, float* w, int n, int stride, float* o)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
        int p = 0;
        for (; p + 2 <= n; p += 2, v += 2 * stride)
        {
            Vector512<float> wa = Vector512.Create(w[p]), wb = Vector512.Create(w[p + 1]);
            a0 = Vector512.FusedMultiplyAdd(Vector512.Load(v), wa, a0);
            a1 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 16), wa, a1);
            a2 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 32), wa, a2);
            a3 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 48), wa, a3);
            b0 = Vector512.FusedMultiplyAdd(Vector512.Load(v + stride), wb, b0);
            b1 = Vector512.FusedMultiplyAdd(Vector512.Load(v + stride + 16), wb, b1);
            b2 = Vector512.FusedMultiplyAdd(Vector512.Load(v + stride + 32), wb, b2);
            b3 = Vector512.FusedMultiplyAdd(Vector512.Load(v + stride + 48), wb, b3);
        }
        if (p < n)
        {
            Vector512<float> wa = Vector512.Create(w[p]);
            a0 = Vector512.FusedMultiplyAdd(Vector512.Load(v), wa, a0);
            a1 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 16), wa, a1);
            a2 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 32), wa, a2);
            a3 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 48), wa, a3);
        }
        (a0 + b0).Store(o);
        (a1 + b1).Store(o + 16);
        (a2 + b2).Store(o + 32);
        (a3 + b3).Store(o + 48);
    }

    /// <summary>
    /// x rounded to the nearest half-precision value (ties to even) and widened back, as (float)(Half)x does:
    /// normal halves drop 13 mantissa bits with round-to-even on the float's bits, subnormal halves (|x| &lt; 2^-14)
    /// round at a fixed 2^-24 step (adding and removing 0.5), |x| ≥ 65520 becomes ±infinity. NaN stays NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void RoundToHalf(float* src, float* dst, int n)
    {
        int i = 0;
        Vector512<float> half = Vector512.Create(0.5f), minNormal = Vector512.Create(6.10351562e-5f), overflow = Vector512.Create(65520f);
        Vector512<float> inf = Vector512.Create(float.PositiveInfinity), signMask = Vector512.Create(-0.0f);
        for (; i + 16 <= n; i += 16)
        {
            Vector512<float> x = Vector512.Load(src + i);
            Vector512<float> a = Vector512.Abs(x);
            Vector512<uint> bits = x.AsUInt32();
            Vector512<float> normal = ((bits + Vector512.Create(0x0FFFu) + ((bits >> 13) & Vector512.Create(1u))) & Vector512.Create(~0x1FFFu)).AsSingle();
            Vector512<float> sub = ((a + half) - half) | (x & signMask);
            Vector512<float> r = Vector512.ConditionalSelect(Vector512.LessThan(a, minNormal), sub, normal);
            r = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(a, overflow), inf | (x & signMask), r);
            r = Vector512.ConditionalSelect(Vector512.IsNaN(x), x, r);
            r.Store(dst + i);
        }
        for (; i < n; i++)
            dst[i] = (float)(Half)src[i];
    }

    /// <summary>
    /// In place: e = exp(s - max), normalised by their sum accumulated in double (as the reference does), then
    /// rounded to half precision. Vector512.Exp is within an ulp or so of MathF.Exp. An attention sink (gpt-oss) is one more
    /// logit in the normalisation that attends to nothing: it joins the max and the sum and takes weight from every position.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Softmax(float* s, int n, float sink)
    {
        int i = 0;
        Vector512<float> mv = Vector512.Create(float.NegativeInfinity);
        for (; i + 16 <= n; i += 16)
            mv = Vector512.Max(mv, Vector512.Load(s + i));
        float max = float.NegativeInfinity;
        for (int j = 0; j < 16; j++)
            max = MathF.Max(max, mv[j]);
        for (; i < n; i++)
            max = MathF.Max(max, s[i]);
        max = MathF.Max(max, sink);
        Vector512<float> m = Vector512.Create(max);
        Vector512<double> acc = default;
        double sum = 0;
        i = 0;
        for (; i + 16 <= n; i += 16)
        {
            Vector512<float> e = Vector512.Exp(Vector512.Load(s + i) - m);
            e.Store(s + i);
            (Vector512<double> lo, Vector512<double> hi) = Vector512.Widen(e);
            acc += lo + hi;
        }
        for (; i < n; i++)
        {
            s[i] = MathF.Exp(s[i] - max);
            sum += s[i];
        }
        sum += Vector512.Sum(acc);
        sum += MathF.Exp(sink - max); // 0 without a sink
        Vector512<float> inv = Vector512.Create((float)(1.0 / sum));
        for (i = 0; i + 16 <= n; i += 16)
            (Vector512.Load(s + i) * inv).Store(s + i);
        for (; i < n; i++)
            s[i] *= (float)(1.0 / sum);
        RoundToHalf(s, s, n);
    }

    /// <summary>Exact widening of a row of <paramref name="count"/> halves, a multiple of 8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void WidenRow(ushort* src, float* dst, int count)
    {
        Widen(src, dst, count / 16);
        if (count % 16 != 0)
        {
            int at = count / 16 * 16;
            HalfVectors.ToSingle(Vector256.WidenLower(Vector128.Load(src + at).ToVector256Unsafe())).Store(dst + at);
        }
    }

    /// <summary>Exact widening of <paramref name="chunks"/> x 16 halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void Widen(ushort* src, float* dst, int chunks)
    {
        for (int c = 0; c < chunks; c++)
            HalfVectors.ToSingle(Vector512.WidenLower(Vector256.Load(src + 16 * c).ToVector512Unsafe())).Store(dst + 16 * c);
    }
}
