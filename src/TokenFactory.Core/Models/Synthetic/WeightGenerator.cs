namespace TokenFactory.Models.Synthetic;

/// <summary>
/// Deterministic pseudo-random weights. Each (stream, row) pair seeds its own SplitMix64 sequence,
/// so rows can be generated in parallel and in any order with identical results; the approximately
/// normal values are a sum of four uniforms (pure integer and float arithmetic, no libm calls whose
/// last bits could differ between machines).
/// </summary>
internal sealed class WeightGenerator(ulong seed)
{
    private ulong _state = seed * 0x9E3779B97F4A7C15UL + 0x632BE59BD9B4E019UL;

    /// <summary>The next stream id.</summary>
    public ulong Next() => SplitMix(ref _state);

    public static void Fill(ulong stream, ulong row, Span<float> values, float mean, float std)
    {
        ulong state = stream ^ (row * 0xD1B54A32D192ED03UL);
        // Sum of four U(-1, 1) has variance 4/3.
        float scale = std / MathF.Sqrt(4f / 3f);
        for (int i = 0; i < values.Length; i++)
        {
            ulong r1 = SplitMix(ref state), r2 = SplitMix(ref state);
            float u = Unit((uint)r1) + Unit((uint)(r1 >> 32)) + Unit((uint)r2) + Unit((uint)(r2 >> 32));
            values[i] = mean + u * scale;
        }
    }

    private static float Unit(uint bits) => (bits >> 8) * (2f / (1 << 24)) - 1f;

    private static ulong SplitMix(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
