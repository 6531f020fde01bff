using TokenFactory.Compute;
using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Tests.Tensors;

/// <summary>The repacked Q8_0 layout and its kernels against their scalar twin and the file's rows.</summary>
public sealed unsafe class LegacyGemmX8Tests
{
    private static byte[] Rows(Random rng, int rows, int blocks)
    {
        var data = new byte[34 * blocks * rows];
        for (int r = 0; r < rows; r++)
            TestRows.RandomWeightRow(rng, GgmlType.Q8_0, blocks).CopyTo(data, 34 * blocks * r);
        return data;
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(8, 3)]
    [InlineData(13, 2)]
    [InlineData(24, 5)]
    public void Packing_keeps_every_code_offset_by_128_and_every_scale_and_zeroes_the_padding_rows(int rows, int blocks)
    {
        var rng = new Random(rows * 7 + blocks);
        byte[] src = Rows(rng, rows, blocks);
        var packed = new byte[LegacyGemmX8<Q8_0x8>.PackedBytes(rows, blocks)];
        fixed (byte* s = src)
        fixed (byte* p = packed)
            LegacyGemmX8<Q8_0x8>.Pack(s, rows, 34 * blocks, blocks, p);
        for (int g = 0; g < LegacyGemmX8.Groups(rows); g++)
            for (int b = 0; b < blocks; b++)
                for (int r = 0; r < 8; r++)
                {
                    int row = 8 * g + r, o = (g * blocks + b) * Q8_0x8.BlockBytes;
                    int srcBlock = 34 * (row * blocks + b);
                    Assert.Equal(row < rows ? BitConverter.ToUInt16(src, srcBlock) : 0, BitConverter.ToUInt16(packed, o + 2 * r));
                    for (int i = 0; i < 32; i++)
                        Assert.Equal(row < rows ? src[srcBlock + 2 + i] ^ 0x80 : 0, packed[o + 16 + 32 * (i / 4) + 4 * r + i % 4]); // stored + 128
                }
    }

    [SkippableTheory] // KernelChecks.Run skips without AVX-VNNI
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(7)]
    [InlineData(64)]
    public void Tile_and_decode_kernels_equal_the_scalar_twin_bit_for_bit(int blocks)
    {
        var rng = new Random(blocks);
        KernelChecks.Run<Q8_0x8>(Rows(rng, 8, blocks), 8, blocks, rng, (src, r, b, e) => (sbyte)src[34 * (r * blocks + b) + 2 + e]);
    }

    [SkippableFact]
    public void A_tensor_is_repacked_once_however_many_matrices_use_it_and_lookups_still_read_the_file()
    {
        Skip.If(!WeightMatrix.Repacks(GgmlType.Q8_0, 64), "nothing is repacked on this CPU (no AVX-VNNI)");
        var rng = new Random(3);
        byte[] data = Rows(rng, 9, 2);
        var writer = new GgufWriter();
        writer.AddTensor("w", [64, 9], GgmlType.Q8_0, data);
        using var file = GgufFile.FromBytes(writer.ToBytes());
        var info = file.GetTensorInfo("w");
        var a = new WeightMatrix(file, info);
        var b = new WeightMatrix(file, info);
        var lookup = new WeightMatrix(file, info, forMultiplication: false);
        Assert.True(a.Packed != null);
        Assert.True(a.Packed == b.Packed);
        Assert.True(lookup.Packed == null);
        Assert.Equal(LegacyGemmX8<Q8_0x8>.PackedBytes(9, 2), file.DerivedBytes);
        // What a multiplication streams (the bandwidth probe reads it): the repacked groups, or the rows as mapped.
        Assert.Equal(((nint)a.Packed, LegacyGemmX8<Q8_0x8>.PackedBytes(9, 2)), a.Streamed);
        Assert.Equal(((nint)lookup.Data, 9L * 68), lookup.Streamed);
        Assert.Equal(data.AsSpan(34 * 2 * 8, 68).ToArray(), a.Row(8).ToArray());
    }
}

/// <summary>Repacking must not leave the file's copy of the weights resident as well (Linux: read from smaps).</summary>
public sealed class RepackedMemoryTests
{
    [SkippableFact]
    public void The_mapped_pages_of_a_repacked_tensor_are_released()
    {
        Skip.If(!OperatingSystem.IsLinux() || !WeightMatrix.Repacks(GgmlType.Q8_0, 4096), "needs Linux (smaps) and a CPU that repacks Q8_0 (AVX-VNNI)");
        string path = Path.Combine(TestPaths.TempDir(), "repack.gguf");
        var rng = new Random(5);
        const int rows = 512, blocks = 128; // 4096 columns: 2.2 MB of Q8_0
        var data = new byte[34 * blocks * rows];
        rng.NextBytes(data);
        for (int i = 0; i < data.Length; i += 34)
            BitConverter.TryWriteBytes(data.AsSpan(i, 2), (ushort)0x2C00); // finite scales
        var writer = new GgufWriter();
        writer.AddTensor("w", [32 * blocks, rows], GgmlType.Q8_0, data);
        File.WriteAllBytes(path, writer.ToBytes());
        using var file = GgufFile.Open(path);
        var info = file.GetTensorInfo("w");
        long before = MappedRssKb(path);
        var w = new WeightMatrix(file, info);
        long after = MappedRssKb(path);
        Assert.True(file.DerivedBytes > 0);
        // Packing read every page of the 2.2 MB tensor; afterwards only the header and the partial pages at the
        // tensor's ends may stay resident.
        Assert.True(after <= 64, $"file pages resident: {before} kB before packing, {after} kB after");
        var lookup = new float[32 * blocks];
        w.DequantizeRow(rows - 1, lookup); // the file's rows still read fine
        Assert.Contains(lookup, v => v != 0);
    }

    private static long MappedRssKb(string path)
    {
        long total = 0;
        bool inFile = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            if (line.Length > 0 && char.IsAsciiHexDigit(line[0]) && line.Contains('-'))
                inFile = line.EndsWith(path, StringComparison.Ordinal);
            else if (inFile && line.StartsWith("Rss:", StringComparison.Ordinal))
                total += long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        }
        return total;
    }
}

/// <summary>Q4_0 in 8-row groups: the kernels against their scalar twin, and the twin against the file's own codes.</summary>
public sealed class Q4_0x8Tests
{
    [SkippableTheory] // KernelChecks.Run skips without AVX-VNNI
    [InlineData(1, 1)]
    [InlineData(8, 2)]
    [InlineData(11, 7)]
    [InlineData(16, 3)]
    [InlineData(21, 2)]
    public void Kernels_equal_the_scalar_twin_which_reads_the_files_codes(int rows, int blocks)
    {
        var rng = new Random(rows * 13 + blocks);
        var src = new byte[18 * blocks * rows];
        for (int r = 0; r < rows; r++)
            TestRows.RandomWeightRow(rng, GgmlType.Q4_0, blocks).CopyTo(src, 18 * blocks * r);
        KernelChecks.Run<Q4_0x8>(src, rows, blocks, rng, (file, r, b, e) =>
        {
            int q = file[18 * (r * blocks + b) + 2 + e % 16];
            return (e < 16 ? q & 15 : q >> 4) - 8;
        });
    }

    /// <summary>
    /// The largest 16-bit sums the 16-row tiles make: every code 15 against activations all at −127 (and all at 127), eight pair
    /// sums of 2 · 15 · 127 in a lane; a saturating or wrapping sum would show as a wrong result.
    /// </summary>
    [SkippableTheory]
    [InlineData(-1f)]
    [InlineData(1f)]
    public void The_largest_codes_against_the_largest_activations_stay_exact(float activation)
    {
        KernelChecks.RunAtExtremes<Q4_0x8>(18, block =>
        {
            BitConverter.TryWriteBytes(block[..2], (ushort)0x2C00);
            block[2..].Fill(0xFF);
        }, 15 - 8, activation);
    }
}

/// <summary>
/// IQ4_NL and MXFP4 in 8-row groups (their codes through a byte-shuffle code book): the kernels against their scalar twin, and the
/// twin against the file's own codes and scales, MXFP4's scale bytes including the subnormal ones (0 and 1) and the largest.
/// </summary>
public sealed class NonLinearX8Tests
{
    [SkippableTheory] // KernelChecks.Run skips without AVX-VNNI
    [InlineData(1, 1)]
    [InlineData(8, 2)]
    [InlineData(11, 7)]
    public void IQ4_NL_kernels_equal_the_scalar_twin_which_reads_the_files_codes(int rows, int blocks)
    {
        var rng = new Random(rows * 17 + blocks);
        var src = new byte[18 * blocks * rows];
        for (int r = 0; r < rows; r++)
            TestRows.RandomWeightRow(rng, GgmlType.IQ4_NL, blocks).CopyTo(src, 18 * blocks * r);
        KernelChecks.Run<IQ4_NLx8>(src, rows, blocks, rng, (file, r, b, e) =>
        {
            int q = file[18 * (r * blocks + b) + 2 + e % 16];
            return NonLinearCodes.Iq4[e < 16 ? q & 15 : q >> 4];
        });
    }

    [SkippableTheory]
    [InlineData(1, 1)]
    [InlineData(8, 2)]
    [InlineData(11, 7)]
    public void MXFP4_kernels_equal_the_scalar_twin_which_reads_the_files_codes_and_scales(int rows, int blocks)
    {
        var rng = new Random(rows * 19 + blocks);
        var src = new byte[17 * blocks * rows];
        rng.NextBytes(src);
        byte[] special = [0, 1, 2, 120, 127, 128, 135];
        for (int i = 0; i < rows * blocks; i++)
            src[17 * i] = special[i % special.Length]; // scales from subnormal to 2^7, where float products stay finite
        KernelChecks.Run<MXFP4x8>(src, rows, blocks, rng,
            (file, r, b, e) =>
            {
                int q = file[17 * (r * blocks + b) + 1 + e % 16];
                return NonLinearCodes.Mxfp4Doubled[e < 16 ? q & 15 : q >> 4];
            },
            (file, r, b) => NonLinearCodes.E8M0Half(file[17 * (r * blocks + b)]));
    }

    /// <summary>MXFP4's largest code (level 12 + 12 = 24, nibble 7) against activations all at ±127: four pair sums a lane, then widened.</summary>
    [SkippableTheory]
    [InlineData(-1f)]
    [InlineData(1f)]
    public void MXFP4_largest_codes_against_the_largest_activations_stay_exact(float activation)
    {
        KernelChecks.RunAtExtremes<MXFP4x8>(17, block =>
        {
            block[0] = 127;
            block[1..].Fill(0x77);
        }, NonLinearCodes.Mxfp4Doubled[7], activation, (file, r, b) => NonLinearCodes.E8M0Half(127));
    }

    [Fact]
    public void The_16_row_tiles_run_for_the_formats_whose_codes_fit_16_bit_sums_and_only_those()
    {
        Assert.Equal(LegacyGemmX8.WideSupported, LegacyGemmX8<Q4_0x8>.Wide);
        Assert.Equal(LegacyGemmX8.WideSupported, LegacyGemmX8<MXFP4x8>.Wide);
        Assert.False(LegacyGemmX8<Q8_0x8>.Wide);   // codes up to 255
        Assert.False(LegacyGemmX8<IQ4_NLx8>.Wide); // codes up to 241
    }
}

/// <summary>
/// Shared checks for a format: the 8x8, 8x4, 8x2 and single-token kernels equal the scalar twin bit for bit, and the twin
/// equals Σ value·a block by block, computed from the file's own bytes.
/// </summary>
internal static unsafe class KernelChecks
{
    /// <param name="fileScale">Row r's block b scale read from the file (default: the fp16 at the block's start).</param>
    /// <param name="activations">The 8 tokens' activations (default: random in ±3 with one zero).</param>
    /// <summary>
    /// The largest sums the 16-row tiles make: 16 rows of 4 blocks, each block written by <paramref name="writeBlock"/> (every
    /// element <paramref name="code"/>), against activations all at <paramref name="activation"/> (±1, scaled to ±127).
    /// Skipped where those tiles do not run.
    /// </summary>
    public static void RunAtExtremes<TFormat>(int blockBytes, SpanAction writeBlock, int code, float activation, Func<byte[], int, int, float>? fileScale = null)
        where TFormat : struct, ILegacyGroupFormat
    {
        Skip.If(!LegacyGemmX8<TFormat>.Wide, "the 16-row tiles do not run here (no AVX-512BW, or turned off)");
        const int rows = 16, blocks = 4;
        var src = new byte[blockBytes * blocks * rows];
        for (int i = 0; i < rows * blocks; i++)
            writeBlock(src.AsSpan(blockBytes * i, blockBytes));
        float[] x = Enumerable.Repeat(activation, 8 * 32 * blocks).ToArray();
        Run<TFormat>(src, rows, blocks, new Random(1), (file, r, b, e) => code, fileScale, activations: x);
    }

    public delegate void SpanAction(Span<byte> block);

    public static void Run<TFormat>(byte[] src, int rows, int blocks, Random rng, Func<byte[], int, int, int, int> fileValue,
        Func<byte[], int, int, float>? fileScale = null, float[]? activations = null)
        where TFormat : struct, ILegacyGroupFormat
    {
        fileScale ??= (file, r, b) => Fp16.ToFloat(BitConverter.ToUInt16(file, TFormat.RowBlockBytes * (r * blocks + b)));
        Skip.If(!LegacyGemmX8.IsSupported, "needs AVX-VNNI (the Q8_0/Q4_0 group kernels); MatMul uses the row kernels there, covered by MatMulTests");
        int k = 32 * blocks;
        // At least two groups, for the 16-row tiles (a group past the rows is padding: zero scales).
        var packed = new byte[LegacyGemmX8<TFormat>.PackedBytes(Math.Max(rows, 16), blocks)];
        var codes = new sbyte[8 * k];
        var scales = new float[8 * blocks];
        var sums = new int[8 * blocks];
        var da = new float[8 * blocks];    // the kernels' layout (LegacyGemmX8.TokenIndex)
        var seeds = new int[8 * blocks];
        float[] x = activations ?? TestRows.Floats(rng, 8 * k, 3f);
        if (activations is null)
            x[5] = 0;
        var tile8 = new float[8 * 8];
        var padded = new float[8 * 8];
        var single = new float[8];
        fixed (byte* s = src, p = packed)
        fixed (sbyte* a = codes)
        fixed (float* xs = x, sc = scales, d = da, t8 = tile8, tp = padded, one = single)
        fixed (int* m = sums, z = seeds)
        {
            LegacyGemmX8<TFormat>.Pack(s, rows, TFormat.RowBlockBytes * blocks, blocks, p);
            for (int tok = 0; tok < 8; tok++)
            {
                ActivationPacking.Q8_0(xs + tok * k, k, a + tok * k, sc + tok * blocks, m + tok * blocks);
                for (int b = 0; b < blocks; b++)
                {
                    long at = LegacyGemmX8.TokenIndex(tok, b, blocks);
                    da[at] = scales[tok * blocks + b];
                    seeds[at] = -TFormat.ZeroPoint * sums[tok * blocks + b];
                }
            }
            LegacyGemmX8<TFormat>.Tile8x8(p, a, k, d, z, blocks, t8, 8, null);
            // A tile of 5 tokens padded with 3 copies of the last (a token's result does not depend on its tile-mates): the same values again.
            var paddedCodes = (sbyte[])codes.Clone();
            var paddedDa = (float[])da.Clone();
            var paddedSeeds = (int[])seeds.Clone();
            for (int tok = 5; tok < 8; tok++)
            {
                Array.Copy(codes, 4 * k, paddedCodes, tok * k, k);
                for (int b = 0; b < blocks; b++)
                {
                    paddedDa[LegacyGemmX8.TokenIndex(tok, b, blocks)] = da[LegacyGemmX8.TokenIndex(4, b, blocks)];
                    paddedSeeds[LegacyGemmX8.TokenIndex(tok, b, blocks)] = seeds[LegacyGemmX8.TokenIndex(4, b, blocks)];
                }
            }
            fixed (sbyte* pa = paddedCodes)
            fixed (float* pd = paddedDa)
            fixed (int* pz = paddedSeeds)
                LegacyGemmX8<TFormat>.Tile8x8(p, pa, k, pd, pz, blocks, tp, 8, p);
            // The few-token tiles (3-7 tokens) at every start of the 8-token run they fit in, and the 2-token tile at any but the
            // run's last.
            byte* group = p; // fixed locals cannot be captured
            sbyte* codesAll = a;
            float* scalesAll = d;
            int* seedsAll = z;
            var few = FewTokenTiles.RunAll(3, pairs: false, (t0, count, o) =>
                LegacyGemmX8<TFormat>.TileFew(group, codesAll + t0 * k, k, scalesAll + t0, seedsAll + t0, blocks, o, 8, t0 % 2 == 0 ? group : null, count));
            // The 16-row tiles of 3-8 tokens (both groups), where they run for this format.
            bool wide = LegacyGemmX8<TFormat>.Wide;
            long groupBytes = (long)blocks * TFormat.BlockBytes;
            var sixteen = new Dictionary<(int T0, int Count), float[]>();
            if (wide)
            {
                for (int count = 3; count <= 8; count++)
                {
                    for (int t0 = 0; t0 + count <= 8; t0++)
                    {
                        var o = new float[16 * count];
                        fixed (float* po = o)
                            LegacyGemmX8<TFormat>.Tile16(p, p + groupBytes, a + t0 * k, k, d + t0, z + t0, blocks, po, 16, t0 % 2 == 0 ? p : null, t0 % 2 == 0 ? p + groupBytes : null, count);
                        sixteen[(t0, count)] = o;
                    }
                }
            }
            var tile2 = new float[7][];
            for (int t0 = 0; t0 < 7; t0++)
            {
                tile2[t0] = new float[16];
                fixed (float* t2 = tile2[t0])
                    LegacyGemmX8<TFormat>.Tile8x2(p, a + t0 * k, k, d + t0, z + t0, blocks, t2, 8);
            }
            for (int tok = 0; tok < 8; tok++)
            {
                LegacyGemmX8<TFormat>.Group8x1(p, a + tok * k, d + tok, z + tok, blocks, one);
                for (int r = 0; r < Math.Min(rows, 8); r++)
                {
                    float expected = LegacyGemmX8<TFormat>.DotScalar(p, r, a + tok * k, sc + tok * blocks, blocks);
                    Assert.Equal(expected, tile8[8 * tok + r]);
                    if (tok <= 4)
                        Assert.Equal(expected, padded[8 * tok + r]);
                    else
                        Assert.Equal(padded[8 * 4 + r], padded[8 * tok + r]);
                    Assert.Equal(expected, single[r]);
                    FewTokenTiles.AssertCovering(few, tok, r, expected, typeof(TFormat).Name);
                    foreach (var ((t0, count), o) in sixteen)
                    {
                        if (tok >= t0 && tok < t0 + count)
                            Assert.True(expected == o[16 * (tok - t0) + r], $"{typeof(TFormat).Name} 16-row tile of {count} from {t0}, t={tok} r={r}: {expected} vs {o[16 * (tok - t0) + r]}");
                    }
                    if (tok < 7)
                        Assert.Equal(expected, tile2[tok][r]);
                    if (tok > 0)
                        Assert.Equal(expected, tile2[tok - 1][8 + r]);
                    float reference = 0;
                    for (int b = 0; b < blocks; b++)
                    {
                        int isum = 0;
                        for (int e = 0; e < 32; e++)
                            isum += fileValue(src, r, b, e) * codes[tok * k + 32 * b + e];
                        float dw = fileScale(src, r, b);
                        reference = MathF.FusedMultiplyAdd(isum, dw * scales[tok * blocks + b], reference);
                    }
                    Assert.Equal(reference, expected);
                }
                // The 16-row tiles' second group: rows 8-15 (past the matrix's rows, padding with zero scales).
                for (int r = 8; r < 16; r++)
                {
                    float expected = LegacyGemmX8<TFormat>.DotScalar(p + groupBytes, r - 8, a + tok * k, sc + tok * blocks, blocks);
                    foreach (var ((t0, count), o) in sixteen)
                    {
                        if (tok >= t0 && tok < t0 + count)
                            Assert.True(expected == o[16 * (tok - t0) + r], $"{typeof(TFormat).Name} 16-row tile of {count} from {t0}, t={tok} r={r}: {expected} vs {o[16 * (tok - t0) + r]}");
                    }
                }
            }
        }
    }
}
