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
            var b = bAll.Slice(g * n, n);
            var c = cAll.Slice(g * n, n);
            for (int p = 0; p < headDim; p++)
            {
                int i = h * headDim + p;
                y[i] = Update(ssm.Slice(i * n, n), b, c, dA, x[i] * dt) + x[i] * w.D[h];
            }
        }
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
