using System.Buffers.Binary;
using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Tests.Tensors;

// Blocks built byte by byte from the published layouts, with the expected values worked out by hand.
public sealed class DequantizerKnownAnswerTests
{
    private static float[] Dequant(GgmlType type, byte[] block)
    {
        var y = new float[GgmlTypeInfo.BlockSize(type)];
        Dequantizer.DequantizeRow(type, block, y);
        return y;
    }

    private static byte[] Block(GgmlType type) => new byte[GgmlTypeInfo.TypeSize(type)];

    [Fact]
    public void Q4_0_low_nibbles_are_the_first_16_elements_and_codes_are_offset_by_8()
    {
        byte[] b = Block(GgmlType.Q4_0);
        TestRows.WriteHalf(b, 0, 0.5f);
        b[2] = 0x1F; // element 0 = 15, element 16 = 1
        float[] y = Dequant(GgmlType.Q4_0, b);
        Assert.Equal(3.5f, y[0]);
        Assert.Equal(-3.5f, y[16]);
        Assert.Equal(-4f, y[1]);
    }

    [Fact]
    public void Q4_1_adds_the_min_to_unsigned_codes()
    {
        byte[] b = Block(GgmlType.Q4_1);
        TestRows.WriteHalf(b, 0, 0.25f);
        TestRows.WriteHalf(b, 2, -1f);
        b[4] = 0x4C; // element 0 = 12, element 16 = 4
        float[] y = Dequant(GgmlType.Q4_1, b);
        Assert.Equal(2f, y[0]);
        Assert.Equal(0f, y[16]);
        Assert.Equal(-1f, y[1]);
    }

    [Fact]
    public void Q5_0_takes_the_fifth_bit_of_element_i_from_bit_i_of_qh()
    {
        byte[] b = Block(GgmlType.Q5_0);
        TestRows.WriteHalf(b, 0, 1f);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(2), (1u << 0) | (1u << 16) | (1u << 31));
        b[6] = 0x21;
        float[] y = Dequant(GgmlType.Q5_0, b);
        Assert.Equal(1f, y[0]);   // (1 | 16) - 16
        Assert.Equal(2f, y[16]);  // (2 | 16) - 16
        Assert.Equal(-16f, y[1]);
        Assert.Equal(0f, y[31]);  // (0 | 16) - 16
    }

    [Fact]
    public void Q5_1_adds_the_min_to_five_bit_codes()
    {
        byte[] b = Block(GgmlType.Q5_1);
        TestRows.WriteHalf(b, 0, 0.5f);
        TestRows.WriteHalf(b, 2, 2f);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), 1u << 17);
        b[9] = 0x30; // element 17 = 3 | 16 = 19
        float[] y = Dequant(GgmlType.Q5_1, b);
        Assert.Equal(2f + 9.5f, y[17]);
        Assert.Equal(2f, y[0]);
    }

    [Fact]
    public void Q8_0_and_Q8_1_codes_are_signed_bytes()
    {
        byte[] b = Block(GgmlType.Q8_0);
        TestRows.WriteHalf(b, 0, 0.5f);
        b[2] = 0x81; // -127
        b[33] = 7;
        float[] y = Dequant(GgmlType.Q8_0, b);
        Assert.Equal(-63.5f, y[0]);
        Assert.Equal(3.5f, y[31]);

        byte[] c = Block(GgmlType.Q8_1);
        TestRows.WriteHalf(c, 0, 2f);
        TestRows.WriteHalf(c, 2, 1000f); // s does not take part in dequantization
        c[4] = 0xFE;
        Assert.Equal(-4f, Dequant(GgmlType.Q8_1, c)[0]);
    }

    [Fact]
    public void Q2_K_uses_low_nibble_scale_high_nibble_min_and_2_bit_fields_by_shift()
    {
        byte[] b = Block(GgmlType.Q2_K);
        b[0] = 0x23;      // sub-block 0: scale 3, min 2
        b[2] = 0x11;      // sub-block 2 (elements 32..47): scale 1, min 1
        b[16] = 0b0110;   // element 0 = 2, element 32 = 1
        TestRows.WriteHalf(b, 80, 1f);
        TestRows.WriteHalf(b, 82, 0.5f);
        float[] y = Dequant(GgmlType.Q2_K, b);
        Assert.Equal(3f * 2 - 0.5f * 2, y[0]);
        Assert.Equal(-1f, y[1]);
        Assert.Equal(1f * 1 - 0.5f, y[32]);
        Assert.Equal(0f, y[16]); // sub-block 1 has scale 0, min 0
    }

    [Fact]
    public void Q3_K_unpacks_biased_6_bit_scales_and_the_hmask_bit()
    {
        byte[] b = Block(GgmlType.Q3_K);
        TestRows.WriteHalf(b, 108, 1f);
        // scale 0 = 37 (-> +5): low nibble 5 in byte 0, high bits 2 in byte 8 bits 0-1
        b[96 + 0] = 0x05;
        b[96 + 8] = 0x02;
        // scale 9 = 29 (-> -3): low nibble 13 in the high nibble of byte 1, high bits 1 in byte 9 bits 4-5
        b[96 + 1] = 0xD0;
        b[96 + 9] = 0x10;
        b[32 + 0] = 0b11;   // element 0 low bits = 3
        b[0] = 0x01;        // element 0 hmask bit 0 set -> no -4
        b[32 + 48] = 0x02;  // element 144 (2nd half, l = 16) low bits = 2; hmask[16] bit 4 clear -> -4
        float[] y = Dequant(GgmlType.Q3_K, b);
        Assert.Equal(15f, y[0]);
        Assert.Equal(-20f, y[1]);     // 5 * (0 - 4)
        Assert.Equal(128f, y[16]);    // scale 0 - 32 = -32, code -4
        Assert.Equal(6f, y[144]);     // -3 * (2 - 4)
    }

    [Fact]
    public void Q4_K_unpacks_6_bit_scales_and_mins_including_the_split_upper_four()
    {
        byte[] b = Block(GgmlType.Q4_K);
        TestRows.WriteHalf(b, 0, 1f);
        TestRows.WriteHalf(b, 2, 0.5f);
        b[4 + 0] = 10 | (2 << 6);  // scale 0 = 10; top bits of scale 4 = 2
        b[4 + 4] = 3 | (1 << 6);   // min 0 = 3;   top bits of min 4 = 1
        b[4 + 8] = 0x57;           // scale 4 low = 7 -> 39; min 4 low = 5 -> 21
        b[16 + 0] = 0x2B;          // element 0 = 11 (sub-block 0), element 32 = 2 (sub-block 1: scale 0, min 0)
        b[16 + 64] = 0x05;         // element 128 = 5 (sub-block 4)
        float[] y = Dequant(GgmlType.Q4_K, b);
        Assert.Equal(10f * 11 - 1.5f, y[0]);
        Assert.Equal(-1.5f, y[1]);
        Assert.Equal(0f, y[32]);
        Assert.Equal(39f * 5 - 10.5f, y[128]);
        Assert.Equal(-10.5f, y[129]);
        Assert.Equal(0f, y[160]);
    }

    [Fact]
    public void Q5_K_adds_16_from_qh_bit_2i_or_2i_plus_1()
    {
        byte[] b = Block(GgmlType.Q5_K);
        TestRows.WriteHalf(b, 0, 1f);
        b[4 + 0] = 1;  // scale 0
        b[4 + 1] = 1;  // scale 1
        b[4 + 2] = 2;  // scale 2
        b[16 + 0] = 0b11;  // qh[0]: element 0 and element 32 get +16
        b[16 + 1] = 0b100; // qh[1]: element 65 (group 1, low nibble) gets +16
        b[48 + 0] = 0x21;
        float[] y = Dequant(GgmlType.Q5_K, b);
        Assert.Equal(17f, y[0]);
        Assert.Equal(18f, y[32]);
        Assert.Equal(32f, y[65]);
        Assert.Equal(0f, y[64]);
    }

    [Fact]
    public void Q6_K_combines_ql_nibbles_with_qh_pairs_and_signed_scales()
    {
        byte[] b = Block(GgmlType.Q6_K);
        b[0] = 0x9A;   // element 0 low = 0xA, element 64 low = 9
        b[32] = 0x47;  // element 32 low = 7, element 96 low = 4
        b[128] = 1 | (2 << 2) | (1 << 4) | (3 << 6);
        b[192 + 0] = 0xFD; // -3
        b[192 + 2] = 5;
        b[192 + 4] = 1;
        b[192 + 6] = 1;
        TestRows.WriteHalf(b, 208, 2f);
        float[] y = Dequant(GgmlType.Q6_K, b);
        Assert.Equal(36f, y[0]);     // 2 * -3 * (26 - 32)
        Assert.Equal(70f, y[32]);    // 2 * 5 * (39 - 32)
        Assert.Equal(-14f, y[64]);   // 2 * 1 * (25 - 32)
        Assert.Equal(40f, y[96]);    // 2 * 1 * (52 - 32)
        Assert.Equal(192f, y[1]);    // 2 * -3 * (0 - 32)
        Assert.Equal(0f, y[16]);     // scale 1 = 0
    }

    [Fact]
    public void Q8_K_has_a_float32_scale()
    {
        byte[] b = Block(GgmlType.Q8_K);
        BinaryPrimitives.WriteSingleLittleEndian(b, 0.25f);
        b[4 + 3] = unchecked((byte)-8);
        Assert.Equal(-2f, Dequant(GgmlType.Q8_K, b)[3]);
    }

    [Fact]
    public void Plain_float_rows_convert_exactly()
    {
        float[] x = [1f, -2.5f, 65504f, 1e-7f];
        byte[] f32 = new byte[16];
        Quantizer.QuantizeRow(GgmlType.F32, x, f32);
        Assert.Equal(x, TestRows.Dequantize(GgmlType.F32, f32, 4));

        byte[] f16 = [0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00, 0x00, 0x7C]; // 1, -2, smallest subnormal, +inf
        Assert.Equal([1f, -2f, MathF.Pow(2, -24), float.PositiveInfinity], TestRows.Dequantize(GgmlType.F16, f16, 4));

        byte[] bf16 = [0x80, 0x3F, 0x20, 0xC0]; // 1, -2.5
        Assert.Equal([1f, -2.5f], TestRows.Dequantize(GgmlType.BF16, bf16, 2));
    }

    [Fact]
    public void Dequantize_rejects_a_short_source_and_a_partial_block()
    {
        Assert.Throws<ArgumentException>(() => Dequantizer.DequantizeRow(GgmlType.Q4_K, new byte[143], new float[256]));
        Assert.Throws<ArgumentException>(() => Dequantizer.DequantizeRow(GgmlType.Q8_0, new byte[34], new float[31]));
    }
}
