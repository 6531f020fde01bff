using System.Numerics.Tensors;

namespace TokenFactory.Models;

/// <summary>
/// One token through a causal depthwise convolution over channels, as Mamba-2 and gated DeltaNet mix their inputs: the output is
/// the kernel's taps over the sequence's last kernel-1 inputs (its rolling window, oldest first) and this input, plus the bias;
/// the window then slides by one.
/// </summary>
internal static class CausalConvolution
{
    /// <param name="taps">Kernel rows of <paramref name="input"/>.Length floats: tap i of every channel, oldest input first.</param>
    /// <param name="bias">Per channel, or empty.</param>
    public static void Step(ReadOnlySpan<float> taps, ReadOnlySpan<float> bias, int kernel, ReadOnlySpan<float> input, Span<float> window, Span<float> sum)
    {
        int channels = input.Length;
        sum.Clear();
        for (int i = 0; i < kernel - 1; i++)
            TensorPrimitives.MultiplyAdd(window.Slice(i * channels, channels), taps.Slice(i * channels, channels), sum, sum);
        TensorPrimitives.MultiplyAdd(input, taps.Slice((kernel - 1) * channels, channels), sum, sum);
        if (!bias.IsEmpty)
            TensorPrimitives.Add(sum, bias, sum);
        if (kernel > 1)
        {
            window[channels..].CopyTo(window);
            input.CopyTo(window[((kernel - 2) * channels)..]);
        }
    }

    /// <summary>x ← x · σ(x), per element.</summary>
    public static void Silu(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++)
            x[i] = x[i] / (1f + MathF.Exp(-x[i]));
    }

    /// <summary>The file's [kernel, channels] weight (each channel's taps contiguous) turned tap-major, so a tap is one vector over channels.</summary>
    public static float[] TapMajor(float[] weight, int kernel, int channels)
    {
        var taps = new float[kernel * channels];
        for (int ch = 0; ch < channels; ch++)
        {
            for (int i = 0; i < kernel; i++)
                taps[i * channels + ch] = weight[ch * kernel + i];
        }
        return taps;
    }
}
