using System.Numerics.Tensors;
using TokenFactory.Kv;

namespace TokenFactory.Tests.Compute;

/// <summary>
/// The scalar reference the attention kernels are compared with: causal grouped-query attention, one (token, head) at a
/// time, in the plain order of llama.cpp's CPU path without flash attention: the query and the softmax weights rounded to
/// half precision before their dot products with the half-precision cache, the softmax summed in double.
/// </summary>
internal static class ReferenceAttention
{
    /// <summary>
    /// Attends <paramref name="tokens"/> queries (rows of heads × headSize in <paramref name="q"/>) at positions
    /// <paramref name="startPosition"/>.. of one sequence whose positions live in <paramref name="table"/>'s blocks; with a
    /// <paramref name="window"/>, each over its last that-many positions only; with <paramref name="sinks"/>, head h's softmax
    /// has one more logit, sinks[h], that attends to nothing.
    /// </summary>
    public static float[] Run(KvBlockPool pool, IReadOnlyList<int> table, int layer, float[] q, int tokens, int startPosition, int heads, int kvHeads, int headSize,
        int window = 0, float[]? sinks = null)
    {
        var output = new float[q.Length];
        float scale = 1f / MathF.Sqrt(headSize);
        for (int t = 0; t < tokens; t++)
        {
            for (int h = 0; h < heads; h++)
            {
                int kvh = h / (heads / kvHeads), n = startPosition + t + 1, qOffset = (t * heads + h) * headSize;
                var query = new float[headSize];
                for (int i = 0; i < headSize; i++)
                    query[i] = (float)(Half)q[qOffset + i];
                int lo = window > 0 ? Math.Max(0, n - window) : 0;
                var scores = new float[n];
                var row = new float[headSize];
                for (int p = lo; p < n; p++)
                {
                    for (int i = 0; i < headSize; i++)
                        row[i] = (float)pool.KeyAt(layer, table[p / pool.BlockSize], p % pool.BlockSize, kvh * headSize + i);
                    scores[p] = TensorPrimitives.Dot(query, row) * scale;
                }
                float sink = sinks?[h] ?? float.NegativeInfinity;
                float max = MathF.Max(TensorPrimitives.Max(scores.AsSpan(lo)), sink);
                double sum = 0;
                for (int p = lo; p < n; p++)
                {
                    scores[p] = MathF.Exp(scores[p] - max);
                    sum += scores[p];
                }
                sum += Math.Exp(sink - max);
                for (int p = lo; p < n; p++)
                    scores[p] = (float)(Half)(scores[p] * (float)(1.0 / sum));
                var o = output.AsSpan(qOffset, headSize);
                var values = pool.Values(layer).AsSpan();
                for (int p = lo; p < n; p++)
                {
                    TensorPrimitives.ConvertToSingle(values.Slice(pool.Offset(table[p / pool.BlockSize], p % pool.BlockSize) + kvh * headSize, headSize), row);
                    TensorPrimitives.MultiplyAdd(row, scores[p], o, o);
                }
            }
        }
        return output;
    }
}
