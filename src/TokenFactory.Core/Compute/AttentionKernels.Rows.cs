using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace TokenFactory.Compute;

/// <summary>How many query rows one <see cref="AttentionKernels.AttendRows{TRows}"/> pass takes (a JIT-time constant).</summary>
internal interface IRowCount
{
    static abstract int Count { get; }
}

internal readonly struct OneRow : IRowCount
{
    public static int Count => 1;
}

internal readonly struct TwoRows : IRowCount
{
    public static int Count => 2;
}

internal readonly struct ThreeRows : IRowCount
{
    public static int Count => 3;
}

internal readonly struct FourRows : IRowCount
{
    public static int Count => 4;
}

/// <summary>
/// Up to four query rows attended in one pass over the same widened keys and values: each row its own query, output,
/// number of positions and sink. Rows may be heads of one token or of consecutive tokens of one sequence (a prompt's
/// 16-token item), which is what lets a model with 1-3 query heads per KV head still read its keys and values once per four
/// rows instead of once per row.
/// </summary>
internal unsafe struct AttentionRows
{
    public float* Q0, Q1, Q2, Q3;
    public float* O0, O1, O2, O3;
    public int N0, N1, N2, N3;
    public float Sink0, Sink1, Sink2, Sink3;

    public void Set(int r, float* q, float* o, int n, float sink)
    {
        switch (r)
        {
            case 0: Q0 = q; O0 = o; N0 = n; Sink0 = sink; break;
            case 1: Q1 = q; O1 = o; N1 = n; Sink1 = sink; break;
            case 2: Q2 = q; O2 = o; N2 = n; Sink2 = sink; break;
            default: Q3 = q; O3 = o; N3 = n; Sink3 = sink; break;
        }
    }
}

internal static unsafe partial class AttentionKernels
{
    /// <summary>
    /// <typeparamref name="TRows"/> rows of <paramref name="rows"/> (head size <paramref name="hs"/>, a multiple of 64) over positions
    /// 0..n_r−1 of the widened keys (transposed, row stride <paramref name="cp"/>) and values. Every row gets the same arithmetic
    /// whatever the count and whatever the other rows are: each score is one FMA chain over the channels, × scale; the softmax
    /// over the row's own positions (<see cref="Softmax"/>); each output channel one FMA chain over the positions in order, the
    /// positions past the row's own (up to the longest row's) adding exact zeros. So a row's result does not depend on how the
    /// rows were grouped, which keeps a token's bits independent of its batch. The score and value loops are the same
    /// 16-accumulator outer-product shape; one shared helper for both measured 6-16 % slower (same bits), so they stay written out.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void AttendRows<TRows>(float* kt, int cp, float* vf, float* sp, float* qp, in AttentionRows rows, int hs, float scale)
        where TRows : struct, IRowCount
    {
        int count = TRows.Count;
        int n = rows.N0;
        if (count > 1)
            n = Math.Max(n, rows.N1);
        if (count > 2)
            n = Math.Max(n, rows.N2);
        if (count > 3)
            n = Math.Max(n, rows.N3);
        float* q0 = qp, q1 = qp + hs, q2 = qp + 2 * hs, q3 = qp + 3 * hs;
        RoundToHalf(rows.Q0, q0, hs);
        if (count > 1)
            RoundToHalf(rows.Q1, q1, hs);
        if (count > 2)
            RoundToHalf(rows.Q2, q2, hs);
        if (count > 3)
            RoundToHalf(rows.Q3, q3, hs);
        float* w0 = sp, w1 = sp + cp, w2 = sp + 2 * cp, w3 = sp + 3 * cp;
        int nChunks = (n + 15) / 16, c = 0;
        for (; c + 4 <= nChunks; c += 4)
        {
            float* k = kt + 16 * c;
            Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default, a10 = default, a11 = default, a12 = default, a13 = default;
            Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default, a30 = default, a31 = default, a32 = default, a33 = default;
            for (int i = 0; i < hs; i++, k += cp)
            {
                Vector512<float> k0 = Vector512.Load(k), k1 = Vector512.Load(k + 16), k2 = Vector512.Load(k + 32), k3 = Vector512.Load(k + 48);
                Vector512<float> b = Vector512.Create(q0[i]);
                a00 = Vector512.FusedMultiplyAdd(b, k0, a00); a01 = Vector512.FusedMultiplyAdd(b, k1, a01);
                a02 = Vector512.FusedMultiplyAdd(b, k2, a02); a03 = Vector512.FusedMultiplyAdd(b, k3, a03);
                if (count > 1)
                {
                    b = Vector512.Create(q1[i]);
                    a10 = Vector512.FusedMultiplyAdd(b, k0, a10); a11 = Vector512.FusedMultiplyAdd(b, k1, a11);
                    a12 = Vector512.FusedMultiplyAdd(b, k2, a12); a13 = Vector512.FusedMultiplyAdd(b, k3, a13);
                }
                if (count > 2)
                {
                    b = Vector512.Create(q2[i]);
                    a20 = Vector512.FusedMultiplyAdd(b, k0, a20); a21 = Vector512.FusedMultiplyAdd(b, k1, a21);
                    a22 = Vector512.FusedMultiplyAdd(b, k2, a22); a23 = Vector512.FusedMultiplyAdd(b, k3, a23);
                }
                if (count > 3)
                {
                    b = Vector512.Create(q3[i]);
                    a30 = Vector512.FusedMultiplyAdd(b, k0, a30); a31 = Vector512.FusedMultiplyAdd(b, k1, a31);
                    a32 = Vector512.FusedMultiplyAdd(b, k2, a32); a33 = Vector512.FusedMultiplyAdd(b, k3, a33);
                }
            }
            int d = 16 * c;
            (a00 * scale).Store(w0 + d); (a01 * scale).Store(w0 + d + 16); (a02 * scale).Store(w0 + d + 32); (a03 * scale).Store(w0 + d + 48);
            if (count > 1)
            {
                (a10 * scale).Store(w1 + d); (a11 * scale).Store(w1 + d + 16); (a12 * scale).Store(w1 + d + 32); (a13 * scale).Store(w1 + d + 48);
            }
            if (count > 2)
            {
                (a20 * scale).Store(w2 + d); (a21 * scale).Store(w2 + d + 16); (a22 * scale).Store(w2 + d + 32); (a23 * scale).Store(w2 + d + 48);
            }
            if (count > 3)
            {
                (a30 * scale).Store(w3 + d); (a31 * scale).Store(w3 + d + 16); (a32 * scale).Store(w3 + d + 32); (a33 * scale).Store(w3 + d + 48);
            }
        }
        for (; c < nChunks; c++)
        {
            float* k = kt + 16 * c;
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int i = 0; i < hs; i++, k += cp)
            {
                Vector512<float> kv = Vector512.Load(k);
                a0 = Vector512.FusedMultiplyAdd(Vector512.Create(q0[i]), kv, a0);
                if (count > 1)
                    a1 = Vector512.FusedMultiplyAdd(Vector512.Create(q1[i]), kv, a1);
                if (count > 2)
                    a2 = Vector512.FusedMultiplyAdd(Vector512.Create(q2[i]), kv, a2);
                if (count > 3)
                    a3 = Vector512.FusedMultiplyAdd(Vector512.Create(q3[i]), kv, a3);
            }
            (a0 * scale).Store(w0 + 16 * c);
            if (count > 1)
                (a1 * scale).Store(w1 + 16 * c);
            if (count > 2)
                (a2 * scale).Store(w2 + 16 * c);
            if (count > 3)
                (a3 * scale).Store(w3 + 16 * c);
        }
        RowWeights(w0, rows.N0, n, rows.Sink0);
        if (count > 1)
            RowWeights(w1, rows.N1, n, rows.Sink1);
        if (count > 2)
            RowWeights(w2, rows.N2, n, rows.Sink2);
        if (count > 3)
            RowWeights(w3, rows.N3, n, rows.Sink3);
        for (int c0 = 0; c0 < hs; c0 += 64)
        {
            float* v = vf + c0;
            Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default, a10 = default, a11 = default, a12 = default, a13 = default;
            Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default, a30 = default, a31 = default, a32 = default, a33 = default;
            for (int p = 0; p < n; p++, v += hs)
            {
                Vector512<float> v0 = Vector512.Load(v), v1 = Vector512.Load(v + 16), v2 = Vector512.Load(v + 32), v3 = Vector512.Load(v + 48);
                Vector512<float> b = Vector512.Create(w0[p]);
                a00 = Vector512.FusedMultiplyAdd(v0, b, a00); a01 = Vector512.FusedMultiplyAdd(v1, b, a01);
                a02 = Vector512.FusedMultiplyAdd(v2, b, a02); a03 = Vector512.FusedMultiplyAdd(v3, b, a03);
                if (count > 1)
                {
                    b = Vector512.Create(w1[p]);
                    a10 = Vector512.FusedMultiplyAdd(v0, b, a10); a11 = Vector512.FusedMultiplyAdd(v1, b, a11);
                    a12 = Vector512.FusedMultiplyAdd(v2, b, a12); a13 = Vector512.FusedMultiplyAdd(v3, b, a13);
                }
                if (count > 2)
                {
                    b = Vector512.Create(w2[p]);
                    a20 = Vector512.FusedMultiplyAdd(v0, b, a20); a21 = Vector512.FusedMultiplyAdd(v1, b, a21);
                    a22 = Vector512.FusedMultiplyAdd(v2, b, a22); a23 = Vector512.FusedMultiplyAdd(v3, b, a23);
                }
                if (count > 3)
                {
                    b = Vector512.Create(w3[p]);
                    a30 = Vector512.FusedMultiplyAdd(v0, b, a30); a31 = Vector512.FusedMultiplyAdd(v1, b, a31);
                    a32 = Vector512.FusedMultiplyAdd(v2, b, a32); a33 = Vector512.FusedMultiplyAdd(v3, b, a33);
                }
            }
            float* d = rows.O0 + c0;
            a00.Store(d); a01.Store(d + 16); a02.Store(d + 32); a03.Store(d + 48);
            if (count > 1)
            {
                d = rows.O1 + c0;
                a10.Store(d); a11.Store(d + 16); a12.Store(d + 32); a13.Store(d + 48);
            }
            if (count > 2)
            {
                d = rows.O2 + c0;
                a20.Store(d); a21.Store(d + 16); a22.Store(d + 32); a23.Store(d + 48);
            }
            if (count > 3)
            {
                d = rows.O3 + c0;
                a30.Store(d); a31.Store(d + 16); a32.Store(d + 32); a33.Store(d + 48);
            }
        }
    }

    /// <summary><see cref="AttendRows{TRows}"/> for 1-4 rows, the count chosen at run time.</summary>
    internal static void AttendRows(int count, float* kt, int cp, float* vf, float* sp, float* qp, in AttentionRows rows, int hs, float scale)
    {
        switch (count)
        {
            case 1: AttendRows<OneRow>(kt, cp, vf, sp, qp, rows, hs, scale); break;
            case 2: AttendRows<TwoRows>(kt, cp, vf, sp, qp, rows, hs, scale); break;
            case 3: AttendRows<ThreeRows>(kt, cp, vf, sp, qp, rows, hs, scale); break;
            default: AttendRows<FourRows>(kt, cp, vf, sp, qp, rows, hs, scale); break;
        }
    }

    /// <summary>A row's scores become its softmax weights over its own <paramref name="own"/> positions; those after it, up to <paramref name="n"/>, weigh exactly 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RowWeights(float* w, int own, int n, float sink)
    {
        Softmax(w, own, sink);
        for (int p = own; p < n; p++)
            w[p] = 0;
    }
}
