using TokenFactory.Models;

namespace TokenFactory.Tests.Models;

/// <summary>The DeltaNet state update four rows at a time gives each row the bits of the row-by-row update.</summary>
public sealed class DeltaNetUpdateTests
{
    [Theory]
    [InlineData(32)]   // the test shapes' heads
    [InlineData(128)]  // Qwen3.5's
    [InlineData(36)]   // not a multiple of the vector width: row by row throughout
    [InlineData(40)]   // a multiple of 8 but not of 16: four-row blocks with 256-bit vectors, row by row with 512-bit ones
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

/// <summary>A Mamba-2 head's update four rows at a time gives each row the bits of the row-by-row update.</summary>
public sealed class MambaUpdateTests
{
    [Theory]
    [InlineData(32, 16)]  // the test shapes' state and head
    [InlineData(128, 64)] // Nemotron's
    [InlineData(128, 6)]  // a head of 6 channels: one four-row block, then two rows alone
    [InlineData(36, 8)]   // a state length that is not a multiple of the vector width: row by row throughout
    public void A_head_four_rows_at_a_time_matches_row_by_row_bit_for_bit(int n, int channels)
    {
        var rng = new Random(n + channels);
        float[] Random(int count) => [.. Enumerable.Range(0, count).Select(_ => (float)(rng.NextDouble() * 2 - 1))];
        float[] states = Random(channels * n), b = Random(n), c = Random(n), x = Random(channels);
        var reference = (float[])states.Clone();
        var y = new float[channels];
        var expected = new float[channels];
        for (int token = 0; token < 3; token++)
        {
            MambaMixer.ScanHead(states, b, c, 0.9f, 0.3f, 0.7f, x, y);
            MambaMixer.ScanHeadRows(reference, b, c, 0.9f, 0.3f, 0.7f, x, expected);
            Assert.Equal(expected, y);
            Assert.Equal(reference, states);
            Assert.Contains(y, v => v != 0);
        }
    }
}
