namespace TokenFactory.Tensors;

// The 32-element "legacy" quants. Nibble j of the 16 qs bytes: low nibble = element j, high nibble = element j + 16.
public static partial class Dequantizer
{
    // Q4_0 (18 bytes): fp16 d | qs[16].  x = d * (q - 8)
    private static void Q4_0(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Fp16.Read(b, 0);
        ReadOnlySpan<byte> qs = b.Slice(2, 16);
        for (int j = 0; j < 16; j++)
        {
            y[j] = ((qs[j] & 0xF) - 8) * d;
            y[j + 16] = ((qs[j] >> 4) - 8) * d;
        }
    }

    // Q4_1 (20 bytes): fp16 d | fp16 m | qs[16].  x = d * q + m
    private static void Q4_1(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Fp16.Read(b, 0), m = Fp16.Read(b, 2);
        ReadOnlySpan<byte> qs = b.Slice(4, 16);
        for (int j = 0; j < 16; j++)
        {
            y[j] = (qs[j] & 0xF) * d + m;
            y[j + 16] = (qs[j] >> 4) * d + m;
        }
    }

    // Q5_0 (22 bytes): fp16 d | qh (uint32 LE, bit i = 5th bit of element i) | qs[16].  x = d * (q - 16)
    private static void Q5_0(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Fp16.Read(b, 0);
        uint qh = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(b.Slice(2, 4));
        ReadOnlySpan<byte> qs = b.Slice(6, 16);
        for (int j = 0; j < 16; j++)
        {
            int h0 = (int)((qh >> j) & 1) << 4;
            int h1 = (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (((qs[j] & 0xF) | h0) - 16) * d;
            y[j + 16] = (((qs[j] >> 4) | h1) - 16) * d;
        }
    }

    // Q5_1 (24 bytes): fp16 d | fp16 m | qh (uint32 LE) | qs[16].  x = d * q + m
    private static void Q5_1(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Fp16.Read(b, 0), m = Fp16.Read(b, 2);
        uint qh = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(b.Slice(4, 4));
        ReadOnlySpan<byte> qs = b.Slice(8, 16);
        for (int j = 0; j < 16; j++)
        {
            int h0 = (int)((qh >> j) & 1) << 4;
            int h1 = (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = ((qs[j] & 0xF) | h0) * d + m;
            y[j + 16] = ((qs[j] >> 4) | h1) * d + m;
        }
    }

    // Q8_0 (34 bytes): fp16 d | int8 qs[32].  x = d * q
    private static void Q8_0(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Fp16.Read(b, 0);
        for (int j = 0; j < 32; j++)
            y[j] = (sbyte)b[2 + j] * d;
    }

    // Q8_1 (36 bytes): fp16 d | fp16 s (= d * sum(q), used only by dot products) | int8 qs[32].  x = d * q
    private static void Q8_1(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Fp16.Read(b, 0);
        for (int j = 0; j < 32; j++)
            y[j] = (sbyte)b[4 + j] * d;
    }
}
