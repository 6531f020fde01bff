using TokenFactory.Compute;

namespace TokenFactory.Tests.Models;

public sealed class RopeTests
{
    [Fact]
    public void Position_zero_is_the_identity()
    {
        var x = Enumerable.Range(1, 16).Select(i => (float)i).ToArray();
        new Rope(8, 10000f, RopeStyle.Normal).Apply(x, 2, 8, 0);
        Assert.Equal(Enumerable.Range(1, 16).Select(i => (float)i), x);
    }

    [Theory]
    [InlineData(RopeStyle.Normal)]
    [InlineData(RopeStyle.NeoX)]
    public void Pairs_rotate_by_position_times_frequency(RopeStyle style)
    {
        const int d = 8;
        var x = new float[d];
        for (int i = 0; i < d; i++)
            x[i] = i + 1;
        var original = (float[])x.Clone();
        new Rope(d, 100f, style).Apply(x, 1, d, 3);
        for (int i = 0; i < d / 2; i++)
        {
            int a = style == RopeStyle.Normal ? 2 * i : i;
            int b = style == RopeStyle.Normal ? 2 * i + 1 : i + d / 2;
            double theta = 3 * Math.Pow(100, -2.0 * i / d);
            Assert.Equal(original[a] * Math.Cos(theta) - original[b] * Math.Sin(theta), x[a], 4);
            Assert.Equal(original[a] * Math.Sin(theta) + original[b] * Math.Cos(theta), x[b], 4);
        }
    }

    [Fact]
    public void Frequency_factors_and_linear_scale_divide_the_angle()
    {
        var plain = new float[] { 1, 0, 1, 0 };
        var scaled = (float[])plain.Clone();
        var factored = (float[])plain.Clone();
        new Rope(4, 10000f, RopeStyle.Normal).Apply(plain, 1, 4, 2);
        new Rope(4, 10000f, RopeStyle.Normal, linearScale: 0.5f).Apply(scaled, 1, 4, 4);
        new Rope(4, 10000f, RopeStyle.Normal, freqFactors: [2f, 2f]).Apply(factored, 1, 4, 4);
        Assert.Equal(plain, scaled);
        Assert.Equal(plain[0], factored[0], 5);
        Assert.Equal(plain[1], factored[1], 5);
    }

    /// <summary>The float recurrence and formula the rotation is defined by, one pair at a time.</summary>
    private static void ScalarRope(float[] x, int heads, int headSize, int dims, float freqBase, RopeStyle style, int position)
    {
        float thetaScale = MathF.Pow(freqBase, -2.0f / dims), theta = position;
        for (int i = 0; i < dims / 2; i++, theta *= thetaScale)
        {
            float c = MathF.Cos(1f * (theta / 1f)), s = MathF.Sin(1f * (theta / 1f));
            for (int h = 0; h < heads; h++)
            {
                int a = h * headSize + (style == RopeStyle.Normal ? 2 * i : i);
                int b = h * headSize + (style == RopeStyle.Normal ? 2 * i + 1 : i + dims / 2);
                float x0 = x[a], x1 = x[b];
                x[a] = x0 * c - x1 * s;
                x[b] = x0 * s + x1 * c;
            }
        }
    }

    [Theory]
    [InlineData(RopeStyle.Normal, 64, 64)]
    [InlineData(RopeStyle.NeoX, 64, 64)]
    [InlineData(RopeStyle.Normal, 128, 128)]
    [InlineData(RopeStyle.NeoX, 128, 128)]
    [InlineData(RopeStyle.Normal, 80, 40)]   // partial rotary, vector body plus scalar tail
    [InlineData(RopeStyle.NeoX, 80, 40)]
    public void The_vectorised_rotation_gives_the_scalar_formulas_bits_at_every_position_in_any_order(RopeStyle style, int headSize, int dims)
    {
        var rope = new Rope(dims, 10000f, style);
        var rng = new Random(headSize + dims);
        // Repeats and jumps back: the table of the last position must be rebuilt whenever the position changes.
        foreach (int position in new[] { 0, 1, 1, 7, 4096, 3, 3, 100_000 })
        {
            var x = Enumerable.Range(0, 3 * headSize).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
            var expected = (float[])x.Clone();
            ScalarRope(expected, 3, headSize, dims, 10000f, style, position);
            rope.Apply(x, 3, headSize, position);
            Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), x.Select(BitConverter.SingleToInt32Bits));
        }
    }
}
