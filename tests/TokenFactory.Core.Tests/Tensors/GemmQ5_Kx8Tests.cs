using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Tests.Tensors;

/// <summary>
/// The Q5_K group kernels, prefill tile and decode, called directly on a repacked group: both must give the scalar
/// kernel's bits, including at the int16 bound (every code 31, every scale 63, activations at full scale).
/// </summary>
public sealed unsafe class GemmQ5_Kx8Tests
{
    [SkippableTheory]
    [InlineData(1, false, 8)]
    [InlineData(3, false, 6)]
    [InlineData(2, true, 8)]
    public void Tile_and_decode_match_the_scalar_kernel_bit_for_bit(int blocks, bool extreme, int rowCount)
    {
        Skip.If(!GemmQ5_Kx8.IsSupported, "needs AVX-512BW and VBMI (the Q5_K group kernels); MatMul uses the row kernels there, whose own tests cover them");
        var rng = new Random(blocks * 13 + (extreme ? 1 : 0));
        int k = 256 * blocks, rowBytes = 176 * blocks;
        byte[][] rows = new byte[rowCount][];
        for (int r = 0; r < rowCount; r++)
        {
            rows[r] = extreme ? TestRows.RandomWeightRow(rng, GgmlType.Q5_K, blocks) : TestRows.Quantize(GgmlType.Q5_K, TestRows.WeightLike(rng, k));
            if (extreme)
                for (int b = 0; b < blocks; b++)
                    rows[r].AsSpan(176 * b + 4, 172).Fill(0xFF); // every scale and min 63, every code 31
        }
        float[][] x = new float[8][];
        for (int t = 0; t < 8; t++)
            x[t] = extreme ? Enumerable.Repeat(t % 2 == 0 ? 1f : -1f, k).ToArray() : TestRows.Floats(rng, k);

        byte* packed = (byte*)NativeMemory.AlignedAlloc((nuint)GemmQ5_Kx8.PackedBytes(8, blocks), 64);
        byte* prepared = (byte*)NativeMemory.AlignedAlloc((nuint)(blocks * GemmQ5_Kx8.PreparedBytes), 64);
        using var acts = new TileActivations(x, k, ActivationPacking.KLayout.Pairs);
        sbyte* codes = acts.Codes;
        float* scales = acts.Scales;
        int* sums = acts.Sums;
        try
        {
            byte[] all = rows.SelectMany(r => r).ToArray();
            fixed (byte* src = all)
                GemmQ5_Kx8.Pack(src, rowCount, rowBytes, blocks, packed);

            float* tile = stackalloc float[64], decode = stackalloc float[64];
            GemmQ4_Kx8.PrepareGroupWide(packed, blocks, prepared, GemmQ5_Kx8.BlockBytes);
            GemmQ5_Kx8.Tile8x8(packed, prepared, codes, k, scales, sums, blocks, tile, 8, null);
            for (int t = 0; t < 8; t++)
            {
                long at = LegacyGemmX8.TokenIndex(t, 0, blocks);
                GemmQ5_Kx8.Group8x1(packed, codes + t * k, scales + at, sums + 4 * at, blocks, decode + 8 * t);
            }
            // The few-token tiles (they finish tokens in pairs).
            var few = FewTokenTiles.RunAll(2, pairs: true, (t0, count, o) =>
            {
                long at = LegacyGemmX8.TokenIndex(t0, 0, blocks);
                GemmQ5_Kx8.TileFew(packed, prepared, codes + t0 * k, k, scales + at, sums + 4 * at, blocks, o, 8, null, count);
            });
            for (int t = 0; t < 8; t++)
            {
                byte[] a = TestRows.Quantize(GgmlType.Q8_K, x[t]);
                for (int r = 0; r < 8; r++)
                {
                    float expected = r < rowCount ? VecDot.DotScalar(GgmlType.Q5_K, rows[r], a, k) : 0f;
                    FewTokenTiles.AssertCovering(few, t, r, expected, "Q5_K");
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
            NativeMemory.AlignedFree(prepared);
        }
    }

    [SkippableFact]
    public void Both_fifth_bit_extractions_move_bit_c_to_bit_4()
    {
        Skip.If(!Avx512BW.IsSupported, "needs AVX-512BW");
        byte[] bytes = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        for (int at = 0; at < 256; at += 64)
        {
            var x = Vector512.Create(bytes.AsSpan(at, 64));
            for (int c = 0; c < 8; c++)
            {
                Vector512<byte> shifted = GemmQ5_Kx8.FifthBitShift(x, c), either = GemmQ5_Kx8.FifthBit(x, c);
                for (int i = 0; i < 64; i++)
                {
                    byte expected = (byte)((((at + i) >> c) & 1) << 4);
                    Assert.Equal(expected, shifted[i]);
                    Assert.Equal(expected, either[i]);
                }
            }
        }
    }
}
