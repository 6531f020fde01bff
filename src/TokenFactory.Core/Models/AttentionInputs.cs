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
    public static void Prepare(LayerWeights layer, ModelConfig c, Rope rope, Span<float> q, Span<float> k, Span<float> v, int position)
    {
        if (layer.QueryBias != null)
            TensorPrimitives.Add(q, layer.QueryBias, q);
        if (layer.KeyBias != null)
            TensorPrimitives.Add(k, layer.KeyBias, k);
        if (layer.ValueBias != null)
            TensorPrimitives.Add(v, layer.ValueBias, v);
        if (layer.QueryNorm != null)
            NormalizeHeads(q, c.HeadCount, c.HeadSize, layer.QueryNorm, c.RmsEpsilon);
        if (layer.KeyNorm != null)
            NormalizeHeads(k, c.KvHeadCount, c.HeadSize, layer.KeyNorm, c.RmsEpsilon);
        if (!c.UsesRope)
            return;
        rope.Apply(q, c.HeadCount, c.HeadSize, position);
        rope.Apply(k, c.KvHeadCount, c.HeadSize, position);
        if (c.AttentionTemperatureScale != 0f)
        {
            // As llama.cpp computes it: in double, from the float position, then stored as a float multiplier of the query.
            float scale = (float)(Math.Log(Math.Floor((float)position / c.AttentionTemperatureFloor) + 1.0) * c.AttentionTemperatureScale + 1.0);
            TensorPrimitives.Multiply(q, scale, q);
        }
    }

    private static void NormalizeHeads(Span<float> x, int heads, int headSize, float[] weight, float epsilon)
    {
        for (int h = 0; h < heads; h++)
        {
            var head = x.Slice(h * headSize, headSize);
            Norms.RmsNorm(head, weight, epsilon, head);
        }
    }
}
