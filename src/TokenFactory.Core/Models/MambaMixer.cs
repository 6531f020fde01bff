using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using TokenFactory.Compute;

namespace TokenFactory.Models;

/// <summary>
/// A Mamba-2 block over a run of token rows: the input projection (one matrix product for all rows)
/// splits into the gate z, the convolution inputs xBC and the step sizes dt; each token then passes
/// in order through the causal depthwise convolution (its sequence's rolling window), SiLU, and the
/// selective scan (per head: state ← state·exp(softplus(dt+bias)·A) + B·x·softplus(..), y = C·state,
/// B and C shared by the heads of a group), plus the D skip; y is gated by SiLU(z), RMS-normalised
/// per group, and projected out (one matrix product). Tokens of one sequence must come in order; each
/// token's state slot is given, so tokens of many sequences can share a run.
/// <para>
/// The scan is the recurrent update, token by token (also for prompts), the same arithmetic as
/// llama.cpp's CPU scan; a chunked (state-space-duality) prefill is not implemented. Its cost is
/// small next to the projections: heads × head-dim × state multiply-adds per token, spread over the
/// compute pool by heads (a head's state only ever sees its own tokens, in order).
/// </para>
/// </summary>
internal sealed class MambaMixer : IParallelWork
{
    private readonly SsmConfig _s;
    private readonly float _epsilon;
    private readonly float[] _zxbcdt, _xbc, _y, _gate;
    private readonly int[] _slots;
    // The run the pool's workers scan.
    private MambaWeights? _w;
    private RecurrentState? _state;
    private int _layer, _n;

    public MambaMixer(SsmConfig ssm, float rmsEpsilon, int maxTokens)
    {
        _s = ssm;
        _epsilon = rmsEpsilon;
        _zxbcdt = new float[maxTokens * ssm.InProjection];
        _xbc = new float[maxTokens * ssm.ConvChannels];
        _y = new float[maxTokens * ssm.InnerSize];
        _gate = new float[ssm.InnerSize];
        _slots = new int[maxTokens];
    }

    /// <param name="input">Normalised rows, <paramref name="n"/> × embedding.</param>
    /// <param name="slots">Per token, its sequence's slot in <paramref name="state"/>.</param>
    /// <param name="output">Receives <paramref name="n"/> rows × embedding (may be <paramref name="input"/>).</param>
    public void Run(MatMul matmul, MambaWeights w, int mambaLayer, float[] input, int n, RecurrentState state, ReadOnlySpan<int> slots, float[] output)
    {
        var s = _s;
        int inProj = s.InProjection, inner = s.InnerSize;
        matmul.Multiply(w.InProjection, input, 0, n, _zxbcdt, 0);
        for (int t = 0; t < n; t++)
        {
            Convolve(w, _zxbcdt.AsSpan(t * inProj + inner, s.ConvChannels), state.Conv(mambaLayer, slots[t]), _xbc.AsSpan(t * s.ConvChannels, s.ConvChannels));
            _slots[t] = slots[t];
        }
        (_w, _state, _layer, _n) = (w, state, mambaLayer, n);
        try
        {
            matmul.Pool.Run(this);
        }
        finally
        {
            (_w, _state) = (null, null);
        }
        for (int t = 0; t < n; t++)
            GateAndNormalize(w, _zxbcdt.AsSpan(t * inProj, inner), _y.AsSpan(t * inner, inner));
        matmul.Multiply(w.OutProjection, _y, 0, n, output, 0);
    }

    /// <summary>Scans this thread's heads over every token of the run, in order.</summary>
    void IParallelWork.Execute(int thread, int threadCount)
    {
        var s = _s;
        int h0 = s.HeadCount * thread / threadCount, h1 = s.HeadCount * (thread + 1) / threadCount;
        for (int t = 0; t < _n; t++)
        {
            var dt = _zxbcdt.AsSpan(t * s.InProjection + s.InnerSize + s.ConvChannels, s.HeadCount);
            Scan(_w!, dt, _xbc.AsSpan(t * s.ConvChannels, s.ConvChannels), _state!.Ssm(_layer, _slots[t]), _y.AsSpan(t * s.InnerSize, s.InnerSize), h0, h1);
        }
    }

    /// <summary>One token through the causal depthwise convolution (its sequence's window), then SiLU.</summary>
    private void Convolve(MambaWeights w, ReadOnlySpan<float> input, Span<float> window, Span<float> sum)
    {
        CausalConvolution.Step(w.ConvTaps, w.ConvBias, _s.ConvKernel, input, window, sum);
        CausalConvolution.Silu(sum);
    }

    private void Scan(MambaWeights w, ReadOnlySpan<float> dtRaw, ReadOnlySpan<float> xbc, Span<float> ssm, Span<float> y, int h0, int h1)
    {
        var s = _s;
        int headDim = s.HeadDim, n = s.StateSize, headsPerGroup = s.HeadCount / s.GroupCount;
        var x = xbc[..s.InnerSize];
        var bAll = xbc.Slice(s.InnerSize, s.GroupCount * n);
        var cAll = xbc.Slice(s.InnerSize + s.GroupCount * n, s.GroupCount * n);
        for (int h = h0; h < h1; h++)
        {
            float dt = Softplus(dtRaw[h] + w.DtBias[h]);
            float dA = MathF.Exp(dt * w.A[h]);
            int g = h / headsPerGroup;
            ScanHead(ssm.Slice(h * headDim * n, headDim * n), bAll.Slice(g * n, n), cAll.Slice(g * n, n), dA, dt, w.D[h],
                x.Slice(h * headDim, headDim), y.Slice(h * headDim, headDim));
        }
    }

    /// <summary>
    /// One head's rows (one per channel p): state_p ← state_p·dA + B·(x_p·dt), y_p = C·state_p + x_p·D. Four rows at a time
    /// where the state length allows (<see cref="UpdateFour"/>), else row by row (<see cref="ScanHeadRows"/>); the same bits.
    /// </summary>
    internal static void ScanHead(Span<float> states, ReadOnlySpan<float> b, ReadOnlySpan<float> c, float dA, float dt, float d, ReadOnlySpan<float> x, Span<float> y)
    {
        int n = b.Length, rows = x.Length, p = 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count && n % Vector<float>.Count == 0)
        {
            for (; p + 4 <= rows; p += 4)
            {
                UpdateFour(states.Slice(p * n, 4 * n), b, c, dA, x[p] * dt, x[p + 1] * dt, x[p + 2] * dt, x[p + 3] * dt, y.Slice(p, 4));
                for (int r = 0; r < 4; r++)
                    y[p + r] += x[p + r] * d;
            }
        }
        ScanHeadRows(states, b, c, dA, dt, d, x, y, p);
    }

    /// <summary><see cref="ScanHead"/> one row at a time from row <paramref name="first"/> (the rows left, and the tests' reference).</summary>
    internal static void ScanHeadRows(Span<float> states, ReadOnlySpan<float> b, ReadOnlySpan<float> c, float dA, float dt, float d, ReadOnlySpan<float> x, Span<float> y, int first = 0)
    {
        int n = b.Length;
        for (int p = first; p < x.Length; p++)
            y[p] = Update(states.Slice(p * n, n), b, c, dA, x[p] * dt) + x[p] * d;
    }

    /// <summary>
    /// <see cref="Update"/> for four consecutive state rows (row length a multiple of the vector width), into
    /// <c>y[0..3]</c>: one accumulator per row was a chain of dependent adds that left the vector units waiting on their
    /// latency; four rows give four chains and share each load of B and C. Every row runs <see cref="Update"/>'s operations
    /// in its order, so its bits do not change.
    /// </summary>
    private static void UpdateFour(Span<float> rows, ReadOnlySpan<float> b, ReadOnlySpan<float> c, float dA, float xdt0, float xdt1, float xdt2, float xdt3, Span<float> y)
    {
        int n = b.Length;
        var s0 = MemoryMarshal.Cast<float, Vector<float>>(rows[..n]);
        var s1 = MemoryMarshal.Cast<float, Vector<float>>(rows.Slice(n, n));
        var s2 = MemoryMarshal.Cast<float, Vector<float>>(rows.Slice(2 * n, n));
        var s3 = MemoryMarshal.Cast<float, Vector<float>>(rows.Slice(3 * n, n));
        var vb = MemoryMarshal.Cast<float, Vector<float>>(b);
        var vc = MemoryMarshal.Cast<float, Vector<float>>(c);
        var decay = new Vector<float>(dA);
        Vector<float> t0 = new(xdt0), t1 = new(xdt1), t2 = new(xdt2), t3 = new(xdt3);
        Vector<float> a0 = Vector<float>.Zero, a1 = Vector<float>.Zero, a2 = Vector<float>.Zero, a3 = Vector<float>.Zero;
        for (int v = 0; v < vb.Length; v++)
        {
            var bb = vb[v];
            var cc = vc[v];
            var n0 = s0[v] * decay + bb * t0;
            var n1 = s1[v] * decay + bb * t1;
            var n2 = s2[v] * decay + bb * t2;
            var n3 = s3[v] * decay + bb * t3;
            s0[v] = n0;
            s1[v] = n1;
            s2[v] = n2;
            s3[v] = n3;
            a0 += n0 * cc;
            a1 += n1 * cc;
            a2 += n2 * cc;
            a3 += n3 * cc;
        }
        y[0] = Vector.Sum(a0);
        y[1] = Vector.Sum(a1);
        y[2] = Vector.Sum(a2);
        y[3] = Vector.Sum(a3);
    }

    /// <summary>state ← state·dA + B·xdt; returns C·state.</summary>
    private static float Update(Span<float> state, ReadOnlySpan<float> b, ReadOnlySpan<float> c, float dA, float xdt)
    {
        int i = 0, n = state.Length;
        float sum = 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            var vs = MemoryMarshal.Cast<float, Vector<float>>(state);
            var vb = MemoryMarshal.Cast<float, Vector<float>>(b);
            var vc = MemoryMarshal.Cast<float, Vector<float>>(c);
            var decay = new Vector<float>(dA);
            var step = new Vector<float>(xdt);
            var acc = Vector<float>.Zero;
            for (int v = 0; v < vs.Length; v++)
            {
                var next = vs[v] * decay + vb[v] * step;
                vs[v] = next;
                acc += next * vc[v];
            }
            sum = Vector.Sum(acc);
            i = vs.Length * Vector<float>.Count;
        }
        for (; i < n; i++)
        {
            float next = state[i] * dA + b[i] * xdt;
            state[i] = next;
            sum += next * c[i];
        }
        return sum;
    }

    /// <summary>log(1 + e^x), linear above 20 as the reference kernels do.</summary>
    private static float Softplus(float x) => x > 20f ? x : (float)Math.Log(1.0 + Math.Exp(x));

    /// <summary>y ← RMSNorm_group(y · SiLU(z)) · weight.</summary>
    private void GateAndNormalize(MambaWeights w, ReadOnlySpan<float> z, Span<float> y)
    {
        var gate = _gate.AsSpan();
        z.CopyTo(gate);
        FusedOps.SiluMultiply(gate, y);
        int groupSize = _s.InnerSize / _s.GroupCount;
        for (int g = 0; g < _s.GroupCount; g++)
            Norms.RmsNorm(gate.Slice(g * groupSize, groupSize), w.Norm.AsSpan(g * groupSize, groupSize), _epsilon, y.Slice(g * groupSize, groupSize));
    }
}
