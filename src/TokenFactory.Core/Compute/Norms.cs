using System.Numerics.Tensors;

namespace TokenFactory.Compute;

public static class Norms
{
    /// <summary>
    /// RMSNorm then elementwise weight. The sum of squares is accumulated in double, as llama.cpp
    /// does, because at 4096+ features a float sum loses enough precision to move logits.
    /// </summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float epsilon, Span<float> destination)
    {
        double sum = 0;
        for (int i = 0; i < x.Length; i++)
            sum += x[i] * x[i];
        float scale = 1.0f / MathF.Sqrt((float)(sum / x.Length) + epsilon);
        TensorPrimitives.Multiply(x, scale, destination);
        TensorPrimitives.Multiply(destination[..x.Length], weight, destination);
    }
}
