using TokenFactory.Tensors;

namespace TokenFactory.Tests.Tensors;

public sealed class Fp16Tests
{
    /// <summary>Round must be exactly what storing into an fp16 field and reading it back gives, bit for bit.</summary>
    private static void AssertRoundsAsHalf(float x)
    {
        float expected = (float)(Half)x;
        float actual = Fp16.Round(x);
        if (BitConverter.SingleToUInt32Bits(expected) != BitConverter.SingleToUInt32Bits(actual) && !(float.IsNaN(expected) && float.IsNaN(actual)))
            Assert.Fail($"{x:R} (0x{BitConverter.SingleToUInt32Bits(x):X8}): {expected:R} vs {actual:R}"); // the message only on failure: 10^8 calls
    }

    [Fact]
    public void Every_float_of_the_exponents_at_fp16s_edges_rounds_as_a_half_store_does()
    {
        // Every mantissa, both signs, of the exponents where the fast path starts and ends, and just outside them
        // (subnormal halves below, infinity above), and of 1.x: 14 × 2^23 floats, every tie among them.
        foreach (uint exponent in new uint[] { 112, 113, 114, 127, 141, 142, 143 })
        {
            for (uint mantissa = 0; mantissa < 1u << 23; mantissa++)
            {
                uint bits = exponent << 23 | mantissa;
                AssertRoundsAsHalf(BitConverter.UInt32BitsToSingle(bits));
                AssertRoundsAsHalf(BitConverter.UInt32BitsToSingle(bits | 0x80000000));
            }
        }
    }

    [Fact]
    public void Random_and_special_floats_round_as_a_half_store_does()
    {
        var rng = new Random(16);
        for (int i = 0; i < 2_000_000; i++)
            AssertRoundsAsHalf(BitConverter.UInt32BitsToSingle((uint)rng.NextInt64(0, 1L << 32)));
        foreach (float x in new[] { 0f, -0f, 65504f, 65519.996f, 65520f, -65520f, 6.1035156e-5f, 6.1035152e-5f, 5.9604645e-8f, 1e-10f,
            float.Epsilon, float.MaxValue, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 1f / 127, 3.75f / 127 })
            AssertRoundsAsHalf(x);
    }
}
