using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Tests.Tensors;

public sealed unsafe class ActivationPackingTests
{
    /// <summary>Random rows, all-zero blocks and exact rounding ties (x·id = k + 0.5).</summary>
    private static IEnumerable<float[]> Rows(int n, int seed)
    {
        var rng = new Random(seed);
        yield return TestRows.Floats(rng, n);
        yield return TestRows.WeightLike(rng, n);
        var ties = new float[n];
        for (int i = 0; i < n; i++)
            ties[i] = i % 32 == 0 ? 127f : (i % 7 - 3) + 0.5f * ((i % 3) - 1);
        yield return ties;
        var mixed = TestRows.Floats(rng, n, 1e-3f);
        for (int i = 0; i < n / 2; i++)
            mixed[i] = 0;
        if (n > 0)
            mixed[n - 1] = -mixed.Max(MathF.Abs) * 2; // negative extreme: Q8_K's sign rule
        yield return mixed;
    }

    [Fact]
    public void Q8_0_packing_matches_reference_quantizer()
    {
        for (int n = 0; n <= 256; n += 32)
            foreach (float[] x in Rows(n, n))
            {
                sbyte[] c1 = new sbyte[n], c2 = new sbyte[n];
                float[] s1 = new float[n / 32 + 1], s2 = new float[n / 32 + 1];
                int[] u1 = new int[n / 32 + 1], u2 = new int[n / 32 + 1];
                fixed (float* xp = x)
                fixed (sbyte* p1 = c1, p2 = c2)
                fixed (float* q1 = s1, q2 = s2)
                fixed (int* m1 = u1, m2 = u2)
                {
                    ActivationPacking.Q8_0(xp, n, p1, q1, m1);
                    ActivationPacking.Q8_0Scalar(xp, n, p2, q2, m2);
                }
                Assert.Equal(c2, c1);
                Assert.Equal(s2, s1);
                Assert.Equal(u2, u1);
                // And the scalar twin is the reference layout, split, with each block's code sum.
                byte[] reference = TestRows.Quantize(GgmlType.Q8_0, x);
                for (int b = 0; b < n / 32; b++)
                {
                    Assert.Equal((float)BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(reference, 34 * b)), s2[b]);
                    int sum = 0;
                    for (int j = 0; j < 32; j++)
                    {
                        Assert.Equal((sbyte)reference[34 * b + 2 + j], c2[32 * b + j]);
                        sum += (sbyte)reference[34 * b + 2 + j];
                    }
                    Assert.Equal(sum, u2[b]);
                }
            }
    }

    /// <summary>Packs <paramref name="x"/> with the SIMD packer and its scalar twin, asserts they agree, returns the scalar's codes, scales and sums.</summary>
    private static (sbyte[] Codes, float[] Scales, int[] Sums) SimdAndScalarAgree(float[] x,
        delegate*<float*, int, sbyte*, float*, int*, void> simd, delegate*<float*, int, sbyte*, float*, int*, void> scalar)
    {
        int n = x.Length, nb = n / 256;
        sbyte[] c1 = new sbyte[n], c2 = new sbyte[n];
        float[] s1 = new float[nb + 1], s2 = new float[nb + 1];
        int[] p1 = new int[8 * nb + 1], p2 = new int[8 * nb + 1];
        fixed (float* xp = x)
        fixed (sbyte* a1 = c1, a2 = c2)
        fixed (float* q1 = s1, q2 = s2)
        fixed (int* r1 = p1, r2 = p2)
        {
            simd(xp, n, a1, q1, r1);
            scalar(xp, n, a2, q2, r2);
        }
        Assert.Equal(c2, c1);
        Assert.Equal(s2, s1);
        Assert.Equal(p2, p1);
        return (c2, s2, p2);
    }

    [Fact]
    public void Q8_K_packing_matches_reference_quantizer()
    {
        foreach (int n in new[] { 0, 256, 512, 768 })
            foreach (float[] x in Rows(n, n + 1))
                SimdAndScalarAgree(x, &ActivationPacking.Q8_K, &ActivationPacking.Q8_KScalar);
    }

    [Fact]
    public void Q8_K_pair_layout_matches_reference_quantizer()
    {
        foreach (int n in new[] { 0, 256, 512, 768 })
            foreach (float[] x in Rows(n, n + 2))
            {
                int nb = n / 256;
                var (c2, _, p2) = SimdAndScalarAgree(x, &ActivationPacking.Q8_KPairs, &ActivationPacking.Q8_KPairsScalar);
                // Chunk c of pair j: low sub-block elements 4c, 4c+1, high 4c, 4c+1, low 4c+2, 4c+3, high 4c+2, 4c+3.
                byte[] reference = TestRows.Quantize(GgmlType.Q8_K, x);
                int[] element = [0, 1, 0, 1, 2, 3, 2, 3];
                int[] high = [0, 0, 1, 1, 0, 0, 1, 1];
                for (int b = 0; b < nb; b++)
                    for (int j = 0; j < 4; j++)
                        for (int c = 0; c < 8; c++)
                            for (int k = 0; k < 8; k++)
                            {
                                int sub = 2 * j + high[k], e = 4 * c + element[k];
                                Assert.Equal((sbyte)reference[292 * b + 4 + 32 * sub + e], c2[256 * b + 64 * j + 8 * c + k]);
                            }
            }
    }

    [Fact]
    public void Q8_K_quad_layout_matches_reference_quantizer()
    {
        foreach (int n in new[] { 0, 256, 512, 768 })
            foreach (float[] x in Rows(n, n + 3))
            {
                int nb = n / 256;
                var (c2, _, p2) = SimdAndScalarAgree(x, &ActivationPacking.Q8_KQuads, &ActivationPacking.Q8_KQuadsScalar);
                // Chunk c of a quad (32 codes): low 16 elements 4c, 4c+1, high 4c, 4c+1, low 4c+2, 4c+3, high 4c+2, 4c+3;
                // per quad one int of the two 16-element sums (ggml's bsums) as int16s.
                byte[] reference = TestRows.Quantize(GgmlType.Q8_K, x);
                int[] element = [0, 1, 0, 1, 2, 3, 2, 3];
                int[] high = [0, 0, 1, 1, 0, 0, 1, 1];
                for (int b = 0; b < nb; b++)
                    for (int q = 0; q < 8; q++)
                    {
                        for (int c = 0; c < 4; c++)
                            for (int k = 0; k < 8; k++)
                                Assert.Equal((sbyte)reference[292 * b + 4 + 32 * q + 16 * high[k] + 4 * c + element[k]], c2[256 * b + 32 * q + 8 * c + k]);
                        short lowSum = BitConverter.ToInt16(reference, 292 * b + 260 + 4 * q), highSum = BitConverter.ToInt16(reference, 292 * b + 262 + 4 * q);
                        Assert.Equal((lowSum & 0xFFFF) | (highSum << 16), p2[8 * b + q]);
                    }
            }
    }
}
