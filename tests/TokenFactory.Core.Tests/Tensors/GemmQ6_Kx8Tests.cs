using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Tests.Tensors;

/// <summary>
/// The Q6_K group kernels, prefill tile and decode, called directly on a repacked group: both must give the scalar
/// kernel's bits, including at the int16 bound (every code 63 against activations of ±127, scales at both int8 ends).
/// </summary>
public sealed unsafe class GemmQ6_Kx8Tests
{
    [SkippableTheory]
    [InlineData(1, false, 8)]
    [InlineData(3, false, 5)]
    [InlineData(2, true, 8)]
    public void Tile_and_decode_match_the_scalar_kernel_bit_for_bit(int blocks, bool extreme, int rowCount)
    {
        Skip.If(!GemmQ6_Kx8.IsSupported, "needs AVX-512BW (the Q6_K group kernels); MatMul uses the row kernels there, whose own tests cover them");
        var rng = new Random(blocks * 11 + (extreme ? 1 : 0));
        int k = 256 * blocks, rowBytes = 210 * blocks;
        byte[][] rows = new byte[rowCount][];
        for (int r = 0; r < rowCount; r++)
        {
            rows[r] = extreme ? TestRows.RandomWeightRow(rng, GgmlType.Q6_K, blocks) : TestRows.Quantize(GgmlType.Q6_K, TestRows.WeightLike(rng, k));
            if (extreme)
                for (int b = 0; b < blocks; b++)
                {
                    rows[r].AsSpan(210 * b, 192).Fill(0xFF); // every code 63 (value 31)
                    for (int j = 0; j < 16; j++)
                        rows[r][210 * b + 192 + j] = (byte)(j % 2 == 0 ? 127 : 0x80); // scales 127 and -128
                }
        }
        float[][] x = new float[8][];
        for (int t = 0; t < 8; t++)
            x[t] = extreme ? Enumerable.Repeat(t % 2 == 0 ? 1f : -1f, k).ToArray() : TestRows.Floats(rng, k);

        byte* packed = (byte*)NativeMemory.AlignedAlloc((nuint)GemmQ6_Kx8.PackedBytes(8, blocks), 64);
        using var acts = new TileActivations(x, k, ActivationPacking.KLayout.Quads);
        sbyte* codes = acts.Codes;
        float* scales = acts.Scales;
        int* sums = acts.Sums;
        try
        {
            byte[] all = rows.SelectMany(r => r).ToArray();
            fixed (byte* src = all)
                GemmQ6_Kx8.Pack(src, rowCount, rowBytes, blocks, packed);

            float* tile = stackalloc float[64], decode = stackalloc float[64];
            GemmQ6_Kx8.Tile8x8(packed, codes, k, scales, sums, blocks, tile, 8, null);
            for (int t = 0; t < 8; t++)
            {
                long at = LegacyGemmX8.TokenIndex(t, 0, blocks);
                GemmQ6_Kx8.Group8x1(packed, codes + t * k, scales + at, sums + 8 * at, blocks, decode + 8 * t);
            }
            // The few-token tiles (they finish tokens in pairs).
            var few = FewTokenTiles.RunAll(2, pairs: true, (t0, count, o) =>
            {
                long at = LegacyGemmX8.TokenIndex(t0, 0, blocks);
                GemmQ6_Kx8.TileFew(packed, codes + t0 * k, k, scales + at, sums + 8 * at, blocks, o, 8, t0 == 0 ? packed : null, count);
            });
            for (int t = 0; t < 8; t++)
            {
                byte[] a = TestRows.Quantize(GgmlType.Q8_K, x[t]);
                for (int r = 0; r < 8; r++)
                {
                    // Padding rows (past rowCount) have zero scales and d: they compute 0.
                    float expected = r < rowCount ? VecDot.DotScalar(GgmlType.Q6_K, rows[r], a, k) : 0f;
                    FewTokenTiles.AssertCovering(few, t, r, expected, "Q6_K");
                    Assert.True(expected == tile[8 * t + r], $"tile t={t} r={r}: {expected} vs {tile[8 * t + r]}");
                    Assert.True(expected == decode[8 * t + r], $"decode t={t} r={r}: {expected} vs {decode[8 * t + r]}");
                    if (extreme && r < rowCount)
                        Assert.True(Math.Abs(expected) > 0, "the extreme case must not cancel to zero");
                }
            }
        }
        finally
        {
            NativeMemory.AlignedFree(packed);
        }
    }

    [SkippableFact]
    public void Both_top_bit_extractions_move_each_bit_pair_to_bits_4_and_5()
    {
        Skip.If(!Avx512BW.IsSupported, "needs AVX-512BW");
        byte[] bytes = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        for (int at = 0; at < 256; at += 64)
        {
            var x = Vector512.Create(bytes.AsSpan(at, 64));
            for (int j = 0; j < 4; j++)
            {
                Vector512<byte> shifted = GemmQ6_Kx8.TopBitsShift(x, j), either = GemmQ6_Kx8.TopBits(x, j);
                for (int i = 0; i < 64; i++)
                {
                    byte expected = (byte)((((at + i) >> (2 * j)) & 3) << 4);
                    Assert.Equal(expected, shifted[i]);
                    Assert.Equal(expected, either[i]);
                }
            }
        }
    }
}
