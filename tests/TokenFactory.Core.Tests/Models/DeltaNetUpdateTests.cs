using TokenFactory.Models;

namespace TokenFactory.Tests.Models;

/// <summary>The DeltaNet state update four rows at a time gives each row the bits of the row-by-row update.</summary>
public sealed class DeltaNetUpdateTests
{
    [Theory]
    [InlineData(32)]   // the test shapes' heads
    [InlineData(128)]  // Qwen3.5's
    [InlineData(36)]   // not a multiple of the vector width: row by row throughout
    [InlineData(40)]   // a multiple of 8 but not of 16: four-row blocks where the vector width allows, then the tail
    public void Four_rows_at_a_time_match_row_by_row_bit_for_bit(int d)
    {
        var rng = new Random(d);
        float[] Random(int n) => [.. Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1))];
        float[] state = Random(d * d), q = Random(d), k = Random(d), v = Random(d);
        var reference = (float[])state.Clone();
        var o = new float[d];
        var expected = new float[d];
        for (int token = 0; token < 3; token++)
        {
            DeltaNetMixer.Update(state, q, k, v, 0.93f, 0.41f, 0.125f, o);
            DeltaNetMixer.UpdateRows(reference, q, k, v, 0.93f, 0.41f, 0.125f, expected);
            Assert.Equal(expected, o);
            Assert.Equal(reference, state);
            Assert.Contains(o, x => x != 0);
        }
    }
}
