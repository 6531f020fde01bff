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
}
