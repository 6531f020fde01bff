using System.Runtime.CompilerServices;

namespace TokenFactory.Tensors;

/// <summary>
/// The packed sub-block scale formats of the K-quants.
/// Q4_K/Q5_K: eight 6-bit scales and eight 6-bit mins in 12 bytes. Bytes 0-3 hold scales 0-3 in their low 6 bits,
/// bytes 4-7 hold mins 0-3 likewise; the top 2 bits of bytes 0-3 / 4-7 carry the high 2 bits of scales 4-7 / mins 4-7,
/// whose low 4 bits live in bytes 8-11 (scale in the low nibble, min in the high nibble).
/// Q3_K: sixteen 6-bit scales, biased by 32, in 12 bytes. Scale i has its low 4 bits in byte i (i &lt; 8, low nibble)
/// or byte i-8 (high nibble), and its high 2 bits in byte 8 + i%4 at bit 2*(i/4).
/// </summary>
internal static class KQuantScales
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Unpack6(ReadOnlySpan<byte> packed, int j, out int scale, out int min)
    {
        if (j < 4)
        {
            scale = packed[j] & 63;
            min = packed[j + 4] & 63;
        }
        else
        {
            scale = (packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4);
            min = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
        }
    }

    /// <summary>Inverse of <see cref="Unpack6"/>; every value must be in 0..63.</summary>
    public static void Pack6(ReadOnlySpan<byte> scales, ReadOnlySpan<byte> mins, Span<byte> packed)
    {
        for (int j = 0; j < 4; j++)
        {
            packed[j] = (byte)(scales[j] | ((scales[j + 4] >> 4) << 6));
            packed[j + 4] = (byte)(mins[j] | ((mins[j + 4] >> 4) << 6));
            packed[j + 8] = (byte)((scales[j + 4] & 0xF) | ((mins[j + 4] & 0xF) << 4));
        }
    }

    /// <summary>Q3_K scale <paramref name="i"/> (0..15) with the bias removed: -32..31.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Q3Scale(ReadOnlySpan<byte> packed, int i)
    {
        int low = i < 8 ? packed[i] & 0xF : packed[i - 8] >> 4;
        int high = (packed[8 + (i & 3)] >> (2 * (i >> 2))) & 3;
        return (low | (high << 4)) - 32;
    }
}
