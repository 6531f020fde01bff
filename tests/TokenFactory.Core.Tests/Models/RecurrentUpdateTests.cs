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

/// <summary>The Mamba-2 state update four rows at a time gives each row the bits of the row-by-row update.</summary>
public sealed class MambaUpdateTests
{
    [Theory]
    [InlineData(32)]   // the test shapes' state
    [InlineData(128)]  // Nemotron's
    public void Four_rows_at_a_time_match_row_by_row_bit_for_bit(int n)
    {
        var rng = new Random(n);
        float[] Random(int count) => [.. Enumerable.Range(0, count).Select(_ => (float)(rng.NextDouble() * 2 - 1))];
        float[] rows = Random(4 * n), b = Random(n), c = Random(n), xdt = Random(4);
        var reference = (float[])rows.Clone();
        var y = new float[4];
        for (int token = 0; token < 3; token++)
        {
            MambaMixer.UpdateFour(rows, b, c, 0.9f, xdt[0], xdt[1], xdt[2], xdt[3], y);
            for (int r = 0; r < 4; r++)
                Assert.Equal(MambaMixer.Update(reference.AsSpan(r * n, n), b, c, 0.9f, xdt[r]), y[r]);
            Assert.Equal(reference, rows);
        }
    }
}
