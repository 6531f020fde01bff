using TokenFactory.Compute;
using TokenFactory.Tests.Tensors;

namespace TokenFactory.Tests.Compute;

public sealed class FusedOpsTests
{
    [Fact]
    public void SiluMultiply_matches_scalar_twin_for_every_length()
    {
        var rng = new Random(3);
        for (int n = 0; n <= 256; n++)
        {
            float[] g = TestRows.Floats(rng, n, 8f), u = TestRows.Floats(rng, n, 2f);
            float[] a = (float[])g.Clone(), b = (float[])g.Clone();
            FusedOps.SiluMultiply(a, u);
            FusedOps.SiluMultiplyScalar(b, u);
            for (int i = 0; i < n; i++)
                Assert.True(Math.Abs(a[i] - b[i]) <= 4e-7f * Math.Max(1f, Math.Abs(b[i])), $"n={n} i={i}: {a[i]} vs {b[i]}");
        }
    }

    [Fact]
    public void ClampedSwiGluMultiply_matches_scalar_twin_for_every_length()
    {
        var rng = new Random(5);
        for (int n = 0; n <= 256; n++)
        {
            // Spreads past ±7, so both clamps are crossed at most lengths.
            float[] g = TestRows.Floats(rng, n, 12f), u = TestRows.Floats(rng, n, 12f);
            float[] a = (float[])g.Clone(), b = (float[])g.Clone();
            FusedOps.ClampedSwiGluMultiply(a, u);
            FusedOps.ClampedSwiGluMultiplyScalar(b, u);
            for (int i = 0; i < n; i++)
                Assert.True(Math.Abs(a[i] - b[i]) <= 4e-7f * Math.Max(1f, Math.Abs(b[i])), $"n={n} i={i}: {a[i]} vs {b[i]}");
        }
    }

    [Fact]
    public void GeluHalfTableMultiply_is_its_per_element_twin_bit_for_bit()
    {
        var rng = new Random(7);
        for (int n = 0; n <= 600; n += n < 40 ? 1 : 37)
        {
            // Spread past ±10 (the clamps) with a few exact boundaries and specials mixed in.
            float[] g = TestRows.Floats(rng, n, 8f), u = TestRows.Floats(rng, n, 2f);
            if (n > 5)
                (g[0], g[1], g[2], g[3], g[4]) = (-10f, 10f, 0f, -0f, 1e-8f);
            float[] a = (float[])g.Clone(), b = (float[])g.Clone();
            FusedOps.GeluHalfTableMultiply(a, u);
            FusedOps.GeluHalfTableMultiplyScalar(b, u);
            Assert.Equal(b, a);
        }
        // Every half-precision input of the table's range, once.
        var all = Enumerable.Range(0, 1 << 16).Select(bits => (float)BitConverter.UInt16BitsToHalf((ushort)bits)).Where(float.IsFinite).ToArray();
        var ones = Enumerable.Repeat(1f, all.Length).ToArray();
        float[] table = (float[])all.Clone(), direct = (float[])all.Clone();
        FusedOps.GeluHalfTableMultiply(table, ones);
        FusedOps.GeluHalfTableMultiplyScalar(direct, ones);
        Assert.Equal(direct, table);
    }

    [Fact]
    public void SigmoidMultiply_matches_scalar_twin_for_every_length_and_is_the_output_gate()
    {
        var rng = new Random(6);
        for (int n = 0; n <= 256; n++)
        {
            float[] x = TestRows.Floats(rng, n, 4f), gate = TestRows.Floats(rng, n, 8f);
            float[] a = (float[])x.Clone(), b = (float[])x.Clone();
            FusedOps.SigmoidMultiply(a, gate);
            FusedOps.SigmoidMultiplyScalar(b, gate);
            for (int i = 0; i < n; i++)
            {
                Assert.True(Math.Abs(a[i] - b[i]) <= 4e-7f * Math.Max(1f, Math.Abs(b[i])), $"n={n} i={i}: {a[i]} vs {b[i]}");
                Assert.Equal(x[i] / (1f + MathF.Exp(-gate[i])), b[i], 1e-6f);
            }
        }
    }

    [Theory]
    [InlineData(1f, 2f, 1f / (1f + 0.18231852f) * 3f)]   // inside the limits: g·σ(1.702g)·(u + 1)
    [InlineData(20f, 2f, 7f / (1f + 6.6963e-6f) * 3f)]    // gate clamped to 7
    [InlineData(-3f, 9f, -3f / (1f + 165.008997f) * 8f)]   // up clamped to 7; a negative gate is not clamped
    [InlineData(0.5f, -30f, 0.5f / (1f + 0.42698773f) * -6f)] // up clamped to -7
    public void ClampedSwiGlu_is_gpt_oss_activation(float gate, float up, float expected)
    {
        float[] g = [gate], v = [gate];
        FusedOps.ClampedSwiGluMultiplyScalar(g, [up]);
        FusedOps.ClampedSwiGluMultiply(v, [up]);
        Assert.Equal(expected, g[0], 1e-4f);
        Assert.Equal(expected, v[0], 1e-4f);
    }

    [Fact]
    public void RmsNorm_sum_of_squares_matches_scalar_for_every_length()
    {
        var rng = new Random(4);
        for (int n = 0; n <= 256; n++)
        {
            float[] x = TestRows.Floats(rng, n, 3f);
            double reference = 0;
            for (int i = 0; i < n; i++)
                reference += x[i] * x[i];
            double simd = Norms.SumOfSquares(x);
            Assert.True(Math.Abs(simd - reference) <= 1e-12 * Math.Max(1, reference), $"n={n}: {simd} vs {reference}");
        }
    }
}
