using TokenFactory.Models;

namespace TokenFactory.Tests.Models;

/// <summary>The vectorised squared ReLU of Nemotron-H's feed-forward blocks against its scalar definition, at every length around the vector widths.</summary>
public sealed class ReluSquaredTests
{
    [Fact]
    public void Gives_the_scalar_definition_bit_for_bit()
    {
        var rng = new Random(5);
        for (int n = 0; n <= 70; n++)
        {
            var x = new float[n];
            for (int i = 0; i < n; i++)
                x[i] = i % 7 == 0 ? -0f : (float)(rng.NextDouble() * 8 - 4);
            var expected = x.Select(v => v > 0 ? v * v : 0f).ToArray();
            ExpertFeedForward.ReluSquared(x);
            for (int i = 0; i < n; i++)
                Assert.Equal(BitConverter.SingleToInt32Bits(expected[i]), BitConverter.SingleToInt32Bits(x[i]));
        }
    }
}
