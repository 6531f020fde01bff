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
