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
    public void Packing_keeps_every_code_and_scale_and_zeroes_the_padding_rows(int rows, int blocks)
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
                        Assert.Equal(row < rows ? src[srcBlock + 2 + i] : 0, packed[o + 16 + 32 * (i / 4) + 4 * r + i % 4]);
                }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(7)]
    [InlineData(64)]
    public void Tile_and_decode_kernels_equal_the_scalar_twin_bit_for_bit(int blocks)
    {
        if (!LegacyGemmX8.IsSupported)
            return; // no VNNI: MatMul uses the row kernels, covered by MatMulTests
        var rng = new Random(blocks);
        int k = 32 * blocks;
        byte[] src = Rows(rng, 8, blocks);
        var packed = new byte[LegacyGemmX8<Q8_0x8>.PackedBytes(8, blocks)];
        var codes = new byte[4 * k];
        var scales = new float[4 * blocks];
        float[] x = TestRows.Floats(rng, 4 * k, 3f);
        x[5] = 0; // an all-but-one-zero block still rounds like the reference
        var groupScales = new float[8 * blocks];
        var offsets = new int[8 * blocks];
        var tile = new float[4 * 8];
        var single = new float[8];
        fixed (byte* s = src, p = packed, a = codes)
        fixed (float* xs = x, d = scales, gs = groupScales, t = tile, one = single)
        fixed (int* off = offsets)
        {
            LegacyGemmX8<Q8_0x8>.Pack(s, 8, 34 * blocks, blocks, p);
            for (int tok = 0; tok < 4; tok++)
                ActivationPacking.Q8_0(xs + tok * k, k, a + tok * k, d + tok * blocks);
            LegacyGemmX8<Q8_0x8>.PrepareGroup(p, blocks, gs, off);
            LegacyGemmX8<Q8_0x8>.Tile8x4(p, gs, off, a, k, d, blocks, t, 8, p);
            for (int tok = 0; tok < 4; tok++)
            {
                LegacyGemmX8<Q8_0x8>.Group8x1(p, a + tok * k, d + tok * blocks, blocks, one);
                for (int r = 0; r < 8; r++)
                {
                    float expected = LegacyGemmX8<Q8_0x8>.DotScalar(p, r, a + tok * k, d + tok * blocks, blocks);
                    Assert.Equal(expected, tile[8 * tok + r]);
                    Assert.Equal(expected, single[r]);
                }
            }
        }
    }

    [Fact]
    public void A_tensor_is_repacked_once_however_many_matrices_use_it_and_lookups_still_read_the_file()
    {
        if (!WeightMatrix.Repacks(GgmlType.Q8_0, 64))
            return; // nothing is repacked on this CPU
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
        Assert.Equal(data.AsSpan(34 * 2 * 8, 68).ToArray(), a.Row(8).ToArray());
    }
}

/// <summary>Repacking must not leave the file's copy of the weights resident as well (Linux: read from smaps).</summary>
public sealed class RepackedMemoryTests
{
    [Fact]
    public void The_mapped_pages_of_a_repacked_tensor_are_released()
    {
        if (!OperatingSystem.IsLinux() || !WeightMatrix.Repacks(GgmlType.Q8_0, 4096))
            return; // nothing is repacked (or no smaps) here
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

/// <summary>Q4_0 in 8-row groups: the kernels against their scalar twin, and the twin against the file's own rows.</summary>
public sealed unsafe class Q4_0x8Tests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(8, 2)]
    [InlineData(11, 7)]
    public void Kernels_equal_the_scalar_twin_which_equals_the_dequantized_rows(int rows, int blocks)
    {
        if (!LegacyGemmX8.IsSupported)
            return; // no VNNI: MatMul uses the row kernels, covered by MatMulTests
        var rng = new Random(rows * 13 + blocks);
        int k = 32 * blocks;
        var src = new byte[18 * blocks * rows];
        for (int r = 0; r < rows; r++)
            TestRows.RandomWeightRow(rng, GgmlType.Q4_0, blocks).CopyTo(src, 18 * blocks * r);
        var packed = new byte[LegacyGemmX8<Q4_0x8>.PackedBytes(rows, blocks)];
        var codes = new byte[8 * k];
        var scales = new float[8 * blocks];
        float[] x = TestRows.Floats(rng, 8 * k, 2f);
        var groupScales = new float[8 * blocks];
        var offsets = new int[8 * blocks];
        var tile = new float[8 * 8];
        var single = new float[8];
        fixed (byte* s = src, p = packed, a = codes)
        fixed (float* xs = x, d = scales, gs = groupScales, t = tile, one = single)
        fixed (int* off = offsets)
        {
            LegacyGemmX8<Q4_0x8>.Pack(s, rows, 18 * blocks, blocks, p);
            for (int tok = 0; tok < 8; tok++)
                ActivationPacking.Q8_0(xs + tok * k, k, a + tok * k, d + tok * blocks);
            LegacyGemmX8<Q4_0x8>.PrepareGroup(p, blocks, gs, off);
            LegacyGemmX8<Q4_0x8>.Tile8x8<PreparedTile>(p, gs, off, a, k, d, blocks, t, 8, null);
            // A group's first tile works out the same scales and offsets itself, and the same results.
            var firstScales = new float[8 * blocks];
            var firstOffsets = new int[8 * blocks];
            var firstTile = new float[8 * 8];
            fixed (float* fs = firstScales, ft = firstTile)
            fixed (int* fo = firstOffsets)
                LegacyGemmX8<Q4_0x8>.Tile8x8<PreparingTile>(p, fs, fo, a, k, d, blocks, ft, 8, null);
            Assert.Equal(groupScales, firstScales);
            Assert.Equal(offsets, firstOffsets);
            Assert.Equal(tile, firstTile);
            for (int tok = 0; tok < 8; tok++)
            {
                LegacyGemmX8<Q4_0x8>.Group8x1(p, a + tok * k, d + tok * blocks, blocks, one);
                for (int r = 0; r < Math.Min(rows, 8); r++)
                {
                    float expected = LegacyGemmX8<Q4_0x8>.DotScalar(p, r, a + tok * k, d + tok * blocks, blocks);
                    Assert.Equal(expected, tile[8 * tok + r]);
                    Assert.Equal(expected, single[r]);
                    // The twin reads the codes the file holds: Σ (q-8)·a block by block, scaled as the kernels do.
                    float reference = 0;
                    for (int b = 0; b < blocks; b++)
                    {
                        int isum = 0;
                        for (int e = 0; e < 32; e++)
                        {
                            int qb = src[18 * (r * blocks + b) + 2 + e % 16];
                            isum += ((e < 16 ? qb & 15 : qb >> 4) - 8) * (codes[tok * k + 32 * b + e] - 128);
                        }
                        reference = MathF.FusedMultiplyAdd(isum, Fp16.ToFloat(BitConverter.ToUInt16(src, 18 * (r * blocks + b))) * scales[tok * blocks + b], reference);
                    }
                    Assert.Equal(reference, expected);
                }
            }
        }
    }
}
