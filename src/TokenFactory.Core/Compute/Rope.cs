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
/// </summary>
public sealed class Rope
{
    private readonly float[] _factors;

    /// <param name="linearScale">Position multiplier (1 / the linear scaling factor).</param>
    /// <param name="freqFactors">Per-pair divisors of the angle (Llama 3 scaling stores them as <c>rope_freqs.weight</c>).</param>
    public Rope(int dimensions, float freqBase, RopeStyle style, float linearScale = 1f, float[]? freqFactors = null)
    {
        Dimensions = dimensions;
        FreqBase = freqBase;
        Style = style;
        LinearScale = linearScale;
        _factors = new float[dimensions / 2];
        for (int i = 0; i < _factors.Length; i++)
            _factors[i] = freqFactors != null ? freqFactors[i] : 1f;
    }

    public int Dimensions { get; }
    public float FreqBase { get; }
    public RopeStyle Style { get; }
    public float LinearScale { get; }

    /// <summary>Rotates every head of <paramref name="x"/> (heads × headSize floats) for position <paramref name="position"/>.</summary>
    public void Apply(Span<float> x, int headCount, int headSize, int position)
    {
        float thetaScale = MathF.Pow(FreqBase, -2.0f / Dimensions);
        Span<float> cos = stackalloc float[Dimensions / 2];
        Span<float> sin = stackalloc float[Dimensions / 2];
        float theta = position;
        for (int i = 0; i < Dimensions / 2; i++)
        {
            float t = LinearScale * (theta / _factors[i]);
            cos[i] = MathF.Cos(t);
            sin[i] = MathF.Sin(t);
            theta *= thetaScale;
        }
        int half = Dimensions / 2;
        for (int h = 0; h < headCount; h++)
        {
            var head = x.Slice(h * headSize, headSize);
            for (int i = 0; i < half; i++)
            {
                int a = Style == RopeStyle.Normal ? 2 * i : i;
                int b = Style == RopeStyle.Normal ? 2 * i + 1 : i + half;
                float x0 = head[a], x1 = head[b];
                head[a] = x0 * cos[i] - x1 * sin[i];
                head[b] = x0 * sin[i] + x1 * cos[i];
            }
        }
    }
}
