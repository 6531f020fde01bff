using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace TokenFactory.Compute;

public static class Norms
{
    /// <summary>
    /// RMSNorm then elementwise weight. The sum of squares is accumulated in double, as llama.cpp
    /// does, because at 4096+ features a float sum loses enough precision to move logits.
    /// </summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float epsilon, Span<float> destination)
    {
        float scale = 1.0f / MathF.Sqrt((float)(SumOfSquares(x) / x.Length) + epsilon);
        TensorPrimitives.Multiply(x, scale, destination);
        TensorPrimitives.Multiply(destination[..x.Length], weight, destination);
    }

    /// <summary>
    /// LayerNorm: (x − mean) / √(variance + ε), then elementwise weight and bias (BERT's norms). Sums in double, as llama.cpp
    /// does, so long rows do not lose the small variance of a nearly constant input.
    /// </summary>
    public static void LayerNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float epsilon, Span<float> destination)
    {
        double sum = 0;
        foreach (float v in x)
            sum += v;
        float mean = (float)(sum / x.Length);
        var d = destination[..x.Length];
        TensorPrimitives.Subtract(x, mean, d);
        float scale = 1.0f / MathF.Sqrt((float)(SumOfSquares(d) / x.Length) + epsilon);
        TensorPrimitives.Multiply(d, scale, d);
        TensorPrimitives.Multiply(d, weight, d);
        TensorPrimitives.Add(d, bias, d);
    }

    /// <summary>Σ x², each square formed in float (as the scalar loop does) and summed in double lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static double SumOfSquares(ReadOnlySpan<float> x)
    {
        int i = 0, n = x.Length;
        double sum = 0;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            ref float r = ref MemoryMarshal.GetReference(x);
            Vector512<double> a0 = default, a1 = default;
            for (; i + 16 <= n; i += 16)
            {
                Vector512<float> v = Vector512.LoadUnsafe(ref r, (nuint)i);
                (Vector512<double> lo, Vector512<double> hi) = Vector512.Widen(v * v);
                a0 += lo;
                a1 += hi;
            }
            sum = Vector512.Sum(a0 + a1);
        }
        for (; i < n; i++)
            sum += x[i] * x[i];
        return sum;
    }
}
