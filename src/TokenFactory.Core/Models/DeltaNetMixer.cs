using System.Numerics;
using System.Runtime.InteropServices;
using TokenFactory.Compute;

namespace TokenFactory.Models;

/// <summary>
/// A gated DeltaNet block (qwen35's linear attention) over a run of token rows. One matrix product per projection for all rows
/// gives the convolution inputs (queries, keys, values), the output gate z, and per value head the write strength β = σ(b) and
/// the decay g = softplus(a + dt_bias) · A. Each token then passes in order through its sequence's causal convolution and SiLU;
/// queries and keys are L2-normalised per key head, and every value head h (reading key head h mod key-heads, as llama.cpp
/// tiles them) updates its state S (value-size rows over key-size columns):
/// S ← e^g · S;  S ← S + β (v − S k) kᵀ;  o = S q / √d.
/// The output is RMS-normalised per head, gated by SiLU(z) and projected out.
/// <para>
/// The update is the recurrent form, token by token also for prompts (the arithmetic of llama.cpp's fused CPU kernel); a
/// chunked prefill is not implemented. Heads are spread over the compute pool: a head's state only sees its own tokens, in
/// order, so a token's result does not depend on what else shares the run.
/// </para>
/// </summary>
internal sealed class DeltaNetMixer : IParallelWork
{
    private readonly SsmConfig _s;
    private readonly float _epsilon;
    private readonly float[] _qkv, _conv, _z, _beta, _alpha, _y;
    private readonly int[] _slots;
    // The run the pool's workers update.
    private DeltaNetWeights? _w;
    private RecurrentState? _state;
    private int _layer, _n;

    public DeltaNetMixer(SsmConfig ssm, float rmsEpsilon, int maxTokens)
    {
        _s = ssm;
        _epsilon = rmsEpsilon;
        _qkv = new float[maxTokens * ssm.ConvChannels];
        _conv = new float[maxTokens * ssm.ConvChannels];
        _z = new float[maxTokens * ssm.InnerSize];
        _beta = new float[maxTokens * ssm.HeadCount];
        _alpha = new float[maxTokens * ssm.HeadCount];
        _y = new float[maxTokens * ssm.InnerSize];
        _slots = new int[maxTokens];
    }

    /// <param name="input">Normalised rows, <paramref name="n"/> × embedding.</param>
    /// <param name="slots">Per token, its sequence's slot in <paramref name="state"/>.</param>
    /// <param name="output">Receives <paramref name="n"/> rows × embedding (may be <paramref name="input"/>).</param>
    public void Run(MatMul matmul, DeltaNetWeights w, int layer, float[] input, int n, RecurrentState state, ReadOnlySpan<int> slots, float[] output)
    {
        var s = _s;
        int channels = s.ConvChannels, heads = s.HeadCount, d = s.StateSize;
        // Two shared runs (a shared run takes at most three matrices): the wide projections, then the two per-head ones.
        matmul.MultiplyShared([w.QkvProjection, w.GateProjection], input, n, [_qkv, _z]);
        matmul.MultiplyShared([w.BetaProjection, w.AlphaProjection], input, n, [_beta, _alpha]);
        for (int t = 0; t < n; t++)
        {
            var conv = _conv.AsSpan(t * channels, channels);
            CausalConvolution.Step(w.ConvTaps, default, s.ConvKernel, _qkv.AsSpan(t * channels, channels), state.Conv(layer, slots[t]), conv);
            CausalConvolution.Silu(conv);
            // Queries then keys, each head to unit length: x / √(Σx² + ε), as llama.cpp's rms_norm(ε/d)/√d computes it.
            for (int h = 0; h < 2 * s.GroupCount; h++)
                L2Normalize(conv.Slice(h * d, d), _epsilon);
            for (int h = 0; h < heads; h++)
            {
                int i = t * heads + h;
                _beta[i] = 1f / (1f + MathF.Exp(-_beta[i]));
                _alpha[i] = Softplus(_alpha[i] + w.DtBias[h]) * w.A[h];
            }
            _slots[t] = slots[t];
        }
        (_w, _state, _layer, _n) = (w, state, layer, n);
        try
        {
            matmul.Pool.Run(this);
        }
        finally
        {
            (_w, _state) = (null, null);
        }
        for (int t = 0; t < n; t++)
        {
            for (int h = 0; h < heads; h++)
            {
                var y = _y.AsSpan(t * s.InnerSize + h * d, d);
                Norms.RmsNorm(y, w.Norm, _epsilon, y);
            }
        }
        // SiLU(z) · y over all rows at once (z becomes the product).
        var z = _z.AsSpan(0, n * s.InnerSize);
        FusedOps.SiluMultiply(z, _y.AsSpan(0, z.Length));
        matmul.Multiply(w.OutProjection, _z, 0, n, output, 0);
    }

    /// <summary>Updates this thread's value heads over every token of the run, in order.</summary>
    void IParallelWork.Execute(int thread, int threadCount)
    {
        var s = _s;
        int heads = s.HeadCount, d = s.StateSize, channels = s.ConvChannels, keys = s.GroupCount * d;
        int h0 = heads * thread / threadCount, h1 = heads * (thread + 1) / threadCount;
        float scale = 1f / MathF.Sqrt(d);
        for (int t = 0; t < _n; t++)
        {
            var conv = _conv.AsSpan(t * channels, channels);
            var state = _state!.Ssm(_layer, _slots[t]);
            for (int h = h0; h < h1; h++)
            {
                int kh = h % s.GroupCount;
                Update(state.Slice(h * d * d, d * d), conv.Slice(kh * d, d), conv.Slice(keys + kh * d, d), conv.Slice(2 * keys + h * d, d),
                    MathF.Exp(_alpha[t * heads + h]), _beta[t * heads + h], scale, _y.AsSpan(t * s.InnerSize + h * d, d));
            }
        }
    }

    /// <summary>
    /// One head, one token. Row j of <paramref name="state"/> maps keys to value j: it decays, then moves toward v_j along k by
    /// β times its error, then reads the query.
    /// </summary>
    internal static void Update(Span<float> state, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, float decay, float beta, float scale, Span<float> o)
    {
        int d = v.Length;
        // A row length that is a multiple of the vector width (at least 4 floats) is a multiple of 4 rows too.
        if (Vector.IsHardwareAccelerated && d >= Vector<float>.Count && d % Vector<float>.Count == 0)
        {
            for (int j = 0; j < d; j += 4)
                UpdateFour(state.Slice(j * d, 4 * d), q, k, v.Slice(j, 4), decay, beta, scale, o.Slice(j, 4));
            return;
        }
        UpdateRows(state, q, k, v, decay, beta, scale, o);
    }

    /// <summary><see cref="Update"/> one row at a time (other row lengths, and the tests' reference).</summary>
    internal static void UpdateRows(Span<float> state, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, float decay, float beta, float scale, Span<float> o)
    {
        int d = v.Length;
        for (int j = 0; j < d; j++)
        {
            var row = state.Slice(j * d, d);
            float error = (v[j] - DecayAndDot(row, decay, k)) * beta;
            o[j] = AddAndDot(row, error, k, q) * scale;
        }
    }

    /// <summary>
    /// Four consecutive rows of <see cref="Update"/> side by side (row length a multiple of the vector width): each row's
    /// one accumulator was a chain of dependent adds that left the vector units waiting on their latency; four rows give
    /// four chains and share each load of k and q. Every row runs exactly <see cref="DecayAndDot"/>'s and
    /// <see cref="AddAndDot"/>'s operations in their order, so its bits do not change.
    /// </summary>
    private static void UpdateFour(Span<float> rows, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, float decay, float beta, float scale, Span<float> o)
    {
        int d = k.Length;
        var r0 = MemoryMarshal.Cast<float, Vector<float>>(rows[..d]);
        var r1 = MemoryMarshal.Cast<float, Vector<float>>(rows.Slice(d, d));
        var r2 = MemoryMarshal.Cast<float, Vector<float>>(rows.Slice(2 * d, d));
        var r3 = MemoryMarshal.Cast<float, Vector<float>>(rows.Slice(3 * d, d));
        var vk = MemoryMarshal.Cast<float, Vector<float>>(k);
        var vq = MemoryMarshal.Cast<float, Vector<float>>(q);
        var factor = new Vector<float>(decay);
        Vector<float> a0 = Vector<float>.Zero, a1 = Vector<float>.Zero, a2 = Vector<float>.Zero, a3 = Vector<float>.Zero;
        for (int i = 0; i < vk.Length; i++)
        {
            var kk = vk[i];
            var n0 = r0[i] * factor;
            var n1 = r1[i] * factor;
            var n2 = r2[i] * factor;
            var n3 = r3[i] * factor;
            r0[i] = n0;
            r1[i] = n1;
            r2[i] = n2;
            r3[i] = n3;
            a0 += n0 * kk;
            a1 += n1 * kk;
            a2 += n2 * kk;
            a3 += n3 * kk;
        }
        var s0 = new Vector<float>((v[0] - Vector.Sum(a0)) * beta);
        var s1 = new Vector<float>((v[1] - Vector.Sum(a1)) * beta);
        var s2 = new Vector<float>((v[2] - Vector.Sum(a2)) * beta);
        var s3 = new Vector<float>((v[3] - Vector.Sum(a3)) * beta);
        a0 = a1 = a2 = a3 = Vector<float>.Zero;
        for (int i = 0; i < vk.Length; i++)
        {
            var kk = vk[i];
            var qq = vq[i];
            var n0 = r0[i] + s0 * kk;
            var n1 = r1[i] + s1 * kk;
            var n2 = r2[i] + s2 * kk;
            var n3 = r3[i] + s3 * kk;
            r0[i] = n0;
            r1[i] = n1;
            r2[i] = n2;
            r3[i] = n3;
            a0 += n0 * qq;
            a1 += n1 * qq;
            a2 += n2 * qq;
            a3 += n3 * qq;
        }
        o[0] = Vector.Sum(a0) * scale;
        o[1] = Vector.Sum(a1) * scale;
        o[2] = Vector.Sum(a2) * scale;
        o[3] = Vector.Sum(a3) * scale;
    }

    /// <summary>row ← row · decay; returns row · k.</summary>
    private static float DecayAndDot(Span<float> row, float decay, ReadOnlySpan<float> k)
    {
        int i = 0, n = row.Length;
        float sum = 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            var vr = MemoryMarshal.Cast<float, Vector<float>>(row);
            var vk = MemoryMarshal.Cast<float, Vector<float>>(k);
            var acc = Vector<float>.Zero;
            var scale = new Vector<float>(decay);
            for (int v = 0; v < vr.Length; v++)
            {
                var next = vr[v] * scale;
                vr[v] = next;
                acc += next * vk[v];
            }
            sum = Vector.Sum(acc);
            i = vr.Length * Vector<float>.Count;
        }
        for (; i < n; i++)
        {
            row[i] *= decay;
            sum += row[i] * k[i];
        }
        return sum;
    }

    /// <summary>row ← row + step · k; returns row · q.</summary>
    private static float AddAndDot(Span<float> row, float step, ReadOnlySpan<float> k, ReadOnlySpan<float> q)
    {
        int i = 0, n = row.Length;
        float sum = 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            var vr = MemoryMarshal.Cast<float, Vector<float>>(row);
            var vk = MemoryMarshal.Cast<float, Vector<float>>(k);
            var vq = MemoryMarshal.Cast<float, Vector<float>>(q);
            var acc = Vector<float>.Zero;
            var s = new Vector<float>(step);
            for (int v = 0; v < vr.Length; v++)
            {
                var next = vr[v] + s * vk[v];
                vr[v] = next;
                acc += next * vq[v];
            }
            sum = Vector.Sum(acc);
            i = vr.Length * Vector<float>.Count;
        }
        for (; i < n; i++)
        {
            row[i] += step * k[i];
            sum += row[i] * q[i];
        }
        return sum;
    }

    private static void L2Normalize(Span<float> x, float epsilon)
    {
        double sum = 0;
        foreach (float v in x)
            sum += (double)v * v;
        float scale = 1f / MathF.Sqrt((float)sum + epsilon);
        for (int i = 0; i < x.Length; i++)
            x[i] *= scale;
    }

    /// <summary>log(1 + e^x), linear above 20 as the reference kernels do.</summary>
    private static float Softplus(float x) => x > 20f ? x : (float)Math.Log(1.0 + Math.Exp(x));
}
