using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Tests.Tensors;

/// <summary>
/// The Q4_K kernels, 256-bit and 512-bit, prefill tiles and decode kernels, each on the layout it reads and called
/// directly on the same inputs: all must give the scalar kernel's bits, including at the int16 bound of the 512-bit
/// kernels (every nibble 15 against codes of 127).
/// </summary>
public sealed unsafe class GemmQ4_Kx8Tests
{
    [SkippableTheory]
    [InlineData(1, false)]
    [InlineData(3, false)]
    [InlineData(2, true)]
    public void Every_kernel_matches_the_scalar_kernel_bit_for_bit(int blocks, bool extreme)
    {
        bool narrow = GemmQ4_Kx8.IsSupported, wide = GemmQ4_Kx8.WideIsSupported;
        Skip.If(!narrow && !wide, "needs AVX-VNNI or AVX-512BW+VBMI (the Q4_K group kernels); MatMul uses the row kernels there, whose own tests cover them");
        var rng = new Random(blocks * 7 + (extreme ? 1 : 0));
        int k = 256 * blocks, rowBytes = 144 * blocks;
        byte[][] rows = new byte[8][];
        for (int r = 0; r < 8; r++)
        {
            rows[r] = extreme ? TestRows.RandomWeightRow(rng, GgmlType.Q4_K, blocks) : TestRows.Quantize(GgmlType.Q4_K, TestRows.WeightLike(rng, k));
            if (extreme)
                for (int b = 0; b < blocks; b++)
                {
                    rows[r].AsSpan(144 * b + 4, 12).Fill(0xFF); // every 6-bit scale and min at 63
                    rows[r].AsSpan(144 * b + 16, 128).Fill(0xFF); // every nibble 15
                }
        }
        float[][] x = new float[8][];
        for (int t = 0; t < 8; t++)
            x[t] = extreme ? Enumerable.Repeat(t % 2 == 0 ? 1f : -1f, k).ToArray() : TestRows.Floats(rng, k);

        byte* packed = (byte*)NativeMemory.AlignedAlloc((nuint)GemmQ4_Kx8.PackedBytes(8, blocks), 64);
        byte* packedWide = (byte*)NativeMemory.AlignedAlloc((nuint)GemmQ4_Kx8.PackedBytes(8, blocks), 64);
        byte* prepared = (byte*)NativeMemory.AlignedAlloc((nuint)(blocks * Math.Max(GemmQ4_Kx8.PreparedBytes, GemmQ4_Kx8.WidePreparedBytes)), 64);
        // The 256-bit kernels read activations in slot order, the 512-bit ones pair-interleaved (same scales and sums).
        using var slots = new TileActivations(x, k, ActivationPacking.KLayout.Slots);
        using var pairs = new TileActivations(x, k, ActivationPacking.KLayout.Pairs);
        sbyte* codes = slots.Codes, codesWide = pairs.Codes;
        float* scales = slots.Scales;
        int* sums = slots.Sums;
        try
        {
            byte[] all = rows.SelectMany(r => r).ToArray();
            fixed (byte* src = all)
            {
                GemmQ4_Kx8.Pack(src, 8, rowBytes, blocks, packed, wide: false);
                GemmQ4_Kx8.Pack(src, 8, rowBytes, blocks, packedWide, wide: true);
            }

            float* narrowTile = stackalloc float[64], narrowDecode = stackalloc float[64];
            if (narrow)
            {
                GemmQ4_Kx8.PrepareGroup(packed, blocks, prepared);
                GemmQ4_Kx8.Tile8x8(packed, prepared, codes, k, scales, sums, blocks, narrowTile, 8, null);
            }
            float* wideTile = stackalloc float[64], wideDecode = stackalloc float[64];
            if (wide)
            {
                GemmQ4_Kx8.PrepareGroupWide(packedWide, blocks, prepared);
                GemmQ4_Kx8.Tile8x8Wide(packedWide, prepared, codesWide, k, scales, sums, blocks, wideTile, 8, null);
            }
            for (int t = 0; t < 8; t++)
            {
                // Decode reads one token: its codes, and its scale and sums where the tile layout puts token t.
                long at = LegacyGemmX8.TokenIndex(t, 0, blocks);
                if (narrow)
                    GemmQ4_Kx8.Group8x1(packed, codes + t * k, scales + at, sums + 4 * at, blocks, narrowDecode + 8 * t);
                if (wide)
                    GemmQ4_Kx8.Group8x1Wide(packedWide, codesWide + t * k, scales + at, sums + 4 * at, blocks, wideDecode + 8 * t);
            }
            // The few-token tiles: the 256-bit ones read nothing past their tokens, the 512-bit ones finish tokens in pairs.
            var few = new Dictionary<(int T0, int Count), float[]>();
            var narrowFew = new Dictionary<(int T0, int Count), float[]>();
            if (narrow)
            {
                GemmQ4_Kx8.PrepareGroup(packed, blocks, prepared);
                narrowFew = FewTokenTiles.RunAll(2, pairs: false, (t0, count, o) =>
                {
                    long at = LegacyGemmX8.TokenIndex(t0, 0, blocks);
                    GemmQ4_Kx8.TileFew(packed, prepared, codes + t0 * k, k, scales + at, sums + 4 * at, blocks, o, 8, null, count);
                });
            }
            if (wide)
            {
                GemmQ4_Kx8.PrepareGroupWide(packedWide, blocks, prepared);
                few = FewTokenTiles.RunAll(2, pairs: true, (t0, count, o) =>
                {
                    long at = LegacyGemmX8.TokenIndex(t0, 0, blocks);
                    GemmQ4_Kx8.TileWideFew<GemmQ4_Kx8.Q4_KPair>(packedWide, prepared, codesWide + t0 * k, k, scales + at, sums + 4 * at, blocks, o, 8, t0 == 0 ? packedWide : null, count);
                });
            }
            for (int t = 0; t < 8; t++)
            {
                byte[] a = TestRows.Quantize(GgmlType.Q8_K, x[t]);
                for (int r = 0; r < 8; r++)
                {
                    float expected = VecDot.DotScalar(GgmlType.Q4_K, rows[r], a, k);
                    FewTokenTiles.AssertCovering(few, t, r, expected, "512-bit");
                    FewTokenTiles.AssertCovering(narrowFew, t, r, expected, "256-bit");
                    if (narrow)
                    {
                        Assert.True(expected == narrowTile[8 * t + r], $"256-bit tile t={t} r={r}: {expected} vs {narrowTile[8 * t + r]}");
                        Assert.True(expected == narrowDecode[8 * t + r], $"256-bit decode t={t} r={r}: {expected} vs {narrowDecode[8 * t + r]}");
                    }
                    if (wide)
                    {
                        Assert.True(expected == wideTile[8 * t + r], $"512-bit tile t={t} r={r}: {expected} vs {wideTile[8 * t + r]}");
                        Assert.True(expected == wideDecode[8 * t + r], $"512-bit decode t={t} r={r}: {expected} vs {wideDecode[8 * t + r]}");
                    }
                    if (extreme)
                        Assert.True(Math.Abs(expected) > 0, "the extreme case must not cancel to zero");
                }
            }
        }
        finally
        {
            NativeMemory.AlignedFree(packed);
            NativeMemory.AlignedFree(packedWide);
            NativeMemory.AlignedFree(prepared);
        }
    }

    [SkippableFact]
    public void Both_high_nibble_extractions_give_every_byte_its_high_nibble()
    {
        Skip.If(!GemmQ4_Kx8.WideIsSupported, "needs AVX-512BW and VBMI (the 512-bit Q4_K kernels)");
        byte[] bytes = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        for (int at = 0; at < 256; at += 64)
        {
            var x = Vector512.Create(bytes.AsSpan(at, 64));
            Vector512<byte> shifted = GemmQ4_Kx8.HighNibblesShift(x);
            Vector512<byte> gfni = Gfni.V512.IsSupported ? GemmQ4_Kx8.HighNibblesGfni(x) : shifted;
            for (int i = 0; i < 64; i++)
            {
                Assert.Equal((byte)((at + i) >> 4), shifted[i]);
                Assert.Equal((byte)((at + i) >> 4), gfni[i]);
            }
        }
    }

    [Fact]
    public void Q4KWide_turns_the_512_bit_kernels_off_or_on_where_they_can_run()
    {
        // False keeps the 256-bit kernels, unless they cannot run (no AVX-VNNI) and the 512-bit ones can.
        Assert.Equal(GemmQ4_Kx8.WideIsSupported && !GemmQ4_Kx8.IsSupported, GemmQ4_Kx8.ChooseWide(false));
        Assert.Equal(GemmQ4_Kx8.WideIsSupported, GemmQ4_Kx8.ChooseWide(true));
        Assert.Equal(GemmQ4_Kx8.WideIsSupported, GemmQ4_Kx8.UseWide); // the default
    }
}
