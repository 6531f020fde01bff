using System.Runtime.Intrinsics;

namespace TokenFactory.Compute;

/// <summary>How a head's features are paired for rotation.</summary>
public enum RopeStyle
{
    /// <summary>Adjacent pairs (x[2i], x[2i+1]): llama GGUFs, whose converter permuted Q/K to this order.</summary>
    Normal,

    /// <summary>Split halves (x[i], x[i + d/2]): GPT-NeoX, Qwen2/3.</summary>
    NeoX,
}

/// <summary>
/// Rotary position embedding, applied in place. The angle for pair i is computed by repeated
/// multiplication by freq_base^(-2/d) in float, the same recurrence llama.cpp uses, so angles
/// match it bit for bit at long positions.
/// <para>
/// An instance keeps the cosines and sines of the last position it rotated, because a forward pass rotates the
/// queries and keys of every layer at the same position (two calls per layer, one table); so it is not for
/// concurrent use. The rotation is vectorised with the scalar formula's products and sums (no fused multiply-add),
/// so both give the same bits.
/// </para>
/// </summary>
public sealed class Rope
{
    /// <summary>
    /// YaRN (context extension by interpolating low frequencies and extrapolating high ones): pair i's angle blends the
    /// scaled and unscaled angle by a ramp between the correction dimensions, and cosines and sines take a magnitude factor.
    /// </summary>
    /// <param name="Factor">The context multiplier (the angle scale is its inverse).</param>
    /// <param name="OriginalContext">The context the model was trained at.</param>
    /// <param name="AttentionFactor">Multiplies the magnitude factor (llama.cpp's attn_factor after its YaRN corrections).</param>
    public sealed record Yarn(float Factor, int OriginalContext, float BetaFast, float BetaSlow, float AttentionFactor);

    private readonly Yarn? _yarn;
    private readonly float _low, _high, _mscale;
    private readonly float[] _factors;
    private readonly float[] _cos, _sin;            // per pair
    private readonly float[] _cosPairs, _sinPairs;  // per feature, Normal style: (c, c) and (-s, s) for each pair
    private int _position = -1;

    /// <param name="linearScale">Position multiplier (1 / the linear scaling factor).</param>
    /// <param name="freqFactors">Per-pair divisors of the angle (Llama 3 scaling stores them as <c>rope_freqs.weight</c>).</param>
    /// <param name="yarn">YaRN scaling (then <paramref name="linearScale"/> must be 1: the factor is the yarn's).</param>
    public Rope(int dimensions, float freqBase, RopeStyle style, float linearScale = 1f, float[]? freqFactors = null, Yarn? yarn = null)
    {
        if (yarn is not null)
        {
            _yarn = yarn;
            linearScale = 1f / yarn.Factor;
            // Correction dimensions: the pair indices whose wavelengths span beta_fast and beta_slow turns over the original context.
            float CorrectionDim(float beta) => dimensions * MathF.Log(yarn.OriginalContext / (beta * 2 * MathF.PI)) / (2 * MathF.Log(freqBase));
            _low = MathF.Max(0, MathF.Floor(CorrectionDim(yarn.BetaFast)));
            _high = MathF.Min(dimensions - 1, MathF.Ceiling(CorrectionDim(yarn.BetaSlow)));
            _mscale = yarn.AttentionFactor * (1.0f + 0.1f * MathF.Log(1.0f / linearScale));
        }
        Dimensions = dimensions;
        FreqBase = freqBase;
        Style = style;
        LinearScale = linearScale;
        _factors = new float[dimensions / 2];
        for (int i = 0; i < _factors.Length; i++)
            _factors[i] = freqFactors != null ? freqFactors[i] : 1f;
        _cos = new float[dimensions / 2];
        _sin = new float[dimensions / 2];
        _cosPairs = new float[dimensions / 2 * 2];
        _sinPairs = new float[dimensions / 2 * 2];
    }

    public int Dimensions { get; }
    public float FreqBase { get; }
    public RopeStyle Style { get; }
    public float LinearScale { get; }

    /// <summary>Rotates every head of <paramref name="x"/> (heads × headSize floats) for position <paramref name="position"/>.</summary>
    public void Apply(Span<float> x, int headCount, int headSize, int position)
    {
        if (position != _position)
            Angles(position);
        int half = Dimensions / 2;
        for (int h = 0; h < headCount; h++)
        {
            var head = x.Slice(h * headSize, headSize);
            if (Style == RopeStyle.Normal)
                RotatePairs(head[..(2 * half)]);
            else
                RotateHalves(head[..half], head.Slice(half, half));
        }
    }

    private void Angles(int position)
    {
        float thetaScale = MathF.Pow(FreqBase, -2.0f / Dimensions);
        float theta = position;
        for (int i = 0; i < _cos.Length; i++)
        {
            float t = LinearScale * (theta / _factors[i]);
            if (_yarn is not null)
            {
                // Blend toward the unscaled angle where the ramp says (high frequencies), keep the scaled one elsewhere.
                float extrapolated = theta / _factors[i];
                float y = (i - _low) / MathF.Max(0.001f, _high - _low);
                float mix = 1 - MathF.Min(1, MathF.Max(0, y));
                t = t * (1 - mix) + extrapolated * mix;
                _cos[i] = MathF.Cos(t) * _mscale;
                _sin[i] = MathF.Sin(t) * _mscale;
            }
            else
            {
                _cos[i] = MathF.Cos(t);
                _sin[i] = MathF.Sin(t);
            }
            _cosPairs[2 * i] = _cosPairs[2 * i + 1] = _cos[i];
            _sinPairs[2 * i] = -_sin[i];
            _sinPairs[2 * i + 1] = _sin[i];
            theta *= thetaScale;
        }
        _position = position;
    }

    // (x0, x1) -> (x0·c − x1·s, x0·s + x1·c): with the pair swapped, x·(c, c) + swap(x)·(−s, s); x0·c + x1·(−s) is the
    // same float as x0·c − x1·s, and x1·c + x0·s as x0·s + x1·c.
    private void RotatePairs(Span<float> head)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var swap = Vector512.Create(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
            for (; i + 16 <= head.Length; i += 16)
            {
                var v = Vector512.Create<float>(head.Slice(i, 16));
                var swapped = Vector512.Shuffle(v, swap);
                (v * Vector512.Create<float>(_cosPairs.AsSpan(i, 16)) + swapped * Vector512.Create<float>(_sinPairs.AsSpan(i, 16))).CopyTo(head.Slice(i, 16));
            }
        }
        for (; i < head.Length; i += 2)
        {
            float x0 = head[i], x1 = head[i + 1], c = _cos[i / 2], s = _sin[i / 2];
            head[i] = x0 * c - x1 * s;
            head[i + 1] = x0 * s + x1 * c;
        }
    }

    private void RotateHalves(Span<float> lo, Span<float> hi)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= lo.Length; i += 16)
            {
                var x0 = Vector512.Create<float>(lo.Slice(i, 16));
                var x1 = Vector512.Create<float>(hi.Slice(i, 16));
                var c = Vector512.Create<float>(_cos.AsSpan(i, 16));
                var s = Vector512.Create<float>(_sin.AsSpan(i, 16));
                (x0 * c - x1 * s).CopyTo(lo.Slice(i, 16));
                (x0 * s + x1 * c).CopyTo(hi.Slice(i, 16));
            }
        }
        for (; i < lo.Length; i++)
        {
            float x0 = lo[i], x1 = hi[i];
            lo[i] = x0 * _cos[i] - x1 * _sin[i];
            hi[i] = x0 * _sin[i] + x1 * _cos[i];
        }
    }
}
