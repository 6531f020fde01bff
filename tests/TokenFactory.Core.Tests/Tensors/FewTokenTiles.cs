namespace TokenFactory.Tests.Tensors;

/// <summary>
/// Runs a few-token tile kernel at every count and every start of an 8-token run it may take, and checks each token's
/// results against the reference: the kernels' tests share this instead of each writing the loops out.
/// </summary>
internal static unsafe class FewTokenTiles
{
    /// <summary>One tile call: tokens <paramref name="t0"/>.. (<paramref name="count"/> of them) into 8 × count floats at <paramref name="o"/>.</summary>
    public delegate void Tile(int t0, int count, float* o);

    /// <summary>
    /// Every count from <paramref name="minCount"/> to 7 at every start where it fits in the run; with
    /// <paramref name="pairs"/> an odd count also needs the token after it (the K-quant tiles finish tokens in pairs and
    /// read that token's scale).
    /// </summary>
    public static Dictionary<(int T0, int Count), float[]> RunAll(int minCount, bool pairs, Tile tile)
    {
        var results = new Dictionary<(int T0, int Count), float[]>();
        for (int count = minCount; count <= 7; count++)
        {
            for (int t0 = 0; t0 + count + (pairs ? count & 1 : 0) <= 8; t0++)
            {
                var o = new float[8 * count];
                fixed (float* po = o)
                    tile(t0, count, po);
                results[(t0, count)] = o;
            }
        }
        return results;
    }

    /// <summary>Asserts that every tile covering token <paramref name="t"/> gave row <paramref name="r"/> exactly <paramref name="expected"/>.</summary>
    public static void AssertCovering(Dictionary<(int T0, int Count), float[]> tiles, int t, int r, float expected, string kernel)
    {
        foreach (var ((t0, count), o) in tiles)
        {
            if (t >= t0 && t < t0 + count)
                Assert.True(expected == o[8 * (t - t0) + r], $"{kernel} {count}-token tile from {t0}, t={t} r={r}: {expected} vs {o[8 * (t - t0) + r]}");
        }
    }
}
