using System.Numerics.Tensors;
using TokenFactory.Compute;

namespace TokenFactory.Models;

/// <summary>
/// Turns one token's raw Q/K/V projections into what attention consumes: biases (qwen2), per-head
/// q/k RMSNorm (qwen3), then RoPE at the token's position (YaRN where configured), and the query's attention temperature
/// (mistral3), before they enter the paged cache.
/// </summary>
internal static class AttentionInputs
{
    /// <param name="g">The block's attention shape (<see cref="ModelConfig.AttentionOf"/>).</param>
    /// <param name="valueNorm">Ones as wide as a head when values are RMS-normalised per head (gemma4); else empty.</param>
    public static void Prepare(LayerWeights layer, ModelConfig c, AttentionGeometry g, Rope rope, Span<float> q, Span<float> k, Span<float> v, int position,
        ReadOnlySpan<float> valueNorm = default)
    {
        if (layer.KeyBias != null)
            TensorPrimitives.Add(k, layer.KeyBias, k);
        if (layer.ValueBias != null)
            TensorPrimitives.Add(v, layer.ValueBias, v);
        if (layer.KeyNorm != null)
            NormalizeHeads(k, g.KvHeads, g.HeadSize, layer.KeyNorm, c.RmsEpsilon);
        if (!valueNorm.IsEmpty)
            NormalizeHeads(v, g.KvHeads, g.HeadSize, valueNorm[..g.HeadSize], c.RmsEpsilon);
        if (c.UsesRope)
            rope.Apply(k, g.KvHeads, g.HeadSize, position);
        PrepareQuery(layer, c, g, rope, q, position);
    }

    /// <summary>The query's part of <see cref="Prepare"/> (all of it for gemma4's shared-KV blocks, which read an earlier block's keys).</summary>
    public static void PrepareQuery(LayerWeights layer, ModelConfig c, AttentionGeometry g, Rope rope, Span<float> q, int position)
    {
        if (layer.QueryBias != null)
            TensorPrimitives.Add(q, layer.QueryBias, q);
        if (layer.QueryNorm != null)
            NormalizeHeads(q, g.Heads, g.HeadSize, layer.QueryNorm, c.RmsEpsilon);
        if (!c.UsesRope)
            return;
        rope.Apply(q, g.Heads, g.HeadSize, position);
        if (c.AttentionTemperatureScale != 0f)
        {
            // As llama.cpp computes it: in double, from the float position, then stored as a float multiplier of the query.
            float scale = (float)(Math.Log(Math.Floor((float)position / c.AttentionTemperatureFloor) + 1.0) * c.AttentionTemperatureScale + 1.0);
            TensorPrimitives.Multiply(q, scale, q);
        }
    }

    private static void NormalizeHeads(Span<float> x, int heads, int headSize, ReadOnlySpan<float> weight, float epsilon)
    {
        for (int h = 0; h < heads; h++)
        {
            var head = x.Slice(h * headSize, headSize);
            Norms.RmsNorm(head, weight, epsilon, head);
        }
    }
}
