namespace TokenFactory.Tensors;

// The 256-element K-quant super-blocks. Byte offsets are listed per type; all multi-byte fields are little-endian.
public static partial class Dequantizer
{
    // Q2_K (84 bytes): scales[16] (low nibble = scale, high nibble = min, per 16 elements) | qs[64] | fp16 d | fp16 dmin.
    // Each 128-element half uses 32 qs bytes; the 2-bit field at shift 2k of byte l covers elements 32k + l.
    // x = (d * sc) * q - (dmin * m)
    private static void Q2_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        ReadOnlySpan<byte> scales = b[..16];
        ReadOnlySpan<byte> qs = b.Slice(16, 64);
        float d = Fp16.Read(b, 80), dmin = Fp16.Read(b, 82);
        int o = 0, s = 0;
        for (int half = 0; half < 2; half++)
        {
            ReadOnlySpan<byte> q = qs.Slice(32 * half, 32);
            for (int shift = 0; shift < 8; shift += 2)
            {
                for (int part = 0; part < 2; part++)
                {
                    int sc = scales[s++];
                    float dl = d * (sc & 0xF), ml = dmin * (sc >> 4);
                    for (int l = 0; l < 16; l++)
                        y[o++] = dl * ((q[16 * part + l] >> shift) & 3) - ml;
                }
            }
        }
    }

    // Q3_K (110 bytes): hmask[32] | qs[64] (low 2 bits) | scales[12] (16 six-bit scales, see KQuantScales) | fp16 d.
    // Element 32k + l of each 128-half takes bits at shift 2k of qs byte l and, as its 3rd bit, bit (4*half + k) of hmask[l];
    // a clear hmask bit means "subtract 4". x = (d * (sc - 32)) * q
    private static void Q3_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        ReadOnlySpan<byte> hmask = b[..32];
        ReadOnlySpan<byte> qs = b.Slice(32, 64);
        ReadOnlySpan<byte> scales = b.Slice(96, 12);
        float d = Fp16.Read(b, 108);
        int o = 0, s = 0, m = 1;
        for (int half = 0; half < 2; half++)
        {
            ReadOnlySpan<byte> q = qs.Slice(32 * half, 32);
            for (int shift = 0; shift < 8; shift += 2, m <<= 1)
            {
                for (int part = 0; part < 2; part++)
                {
                    float dl = d * KQuantScales.Q3Scale(scales, s++);
                    for (int l = 16 * part; l < 16 * part + 16; l++)
                        y[o++] = dl * (((q[l] >> shift) & 3) - ((hmask[l] & m) != 0 ? 0 : 4));
                }
            }
        }
    }

    // Q4_K (144 bytes): fp16 d | fp16 dmin | scales[12] (6-bit scale/min pairs) | qs[128].
    // Each 64 elements use 32 qs bytes: low nibbles are the first 32 (sub-block 2i), high nibbles the next 32 (2i+1).
    // x = (d * sc) * q - (dmin * m)
    private static void Q4_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Fp16.Read(b, 0), dmin = Fp16.Read(b, 2);
        ReadOnlySpan<byte> scales = b.Slice(4, 12);
        ReadOnlySpan<byte> qs = b.Slice(16, 128);
        for (int i = 0; i < 4; i++)
        {
            KQuantScales.Unpack6(scales, 2 * i, out int sc1, out int m1);
            KQuantScales.Unpack6(scales, 2 * i + 1, out int sc2, out int m2);
            float d1 = d * sc1, dm1 = dmin * m1, d2 = d * sc2, dm2 = dmin * m2;
            ReadOnlySpan<byte> q = qs.Slice(32 * i, 32);
            Span<float> yy = y.Slice(64 * i, 64);
            for (int l = 0; l < 32; l++)
            {
                yy[l] = d1 * (q[l] & 0xF) - dm1;
                yy[l + 32] = d2 * (q[l] >> 4) - dm2;
            }
        }
    }

    // Q5_K (176 bytes): fp16 d | fp16 dmin | scales[12] | qh[32] | qs[128]. Like Q4_K, plus a 5th bit:
    // for the 64 elements of group i, bit 2i of qh[l] extends the low-nibble element l, bit 2i+1 the high-nibble one.
    private static void Q5_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Fp16.Read(b, 0), dmin = Fp16.Read(b, 2);
        ReadOnlySpan<byte> scales = b.Slice(4, 12);
        ReadOnlySpan<byte> qh = b.Slice(16, 32);
        ReadOnlySpan<byte> qs = b.Slice(48, 128);
        for (int i = 0; i < 4; i++)
        {
            KQuantScales.Unpack6(scales, 2 * i, out int sc1, out int m1);
            KQuantScales.Unpack6(scales, 2 * i + 1, out int sc2, out int m2);
            float d1 = d * sc1, dm1 = dmin * m1, d2 = d * sc2, dm2 = dmin * m2;
            int u1 = 1 << (2 * i), u2 = 2 << (2 * i);
            ReadOnlySpan<byte> q = qs.Slice(32 * i, 32);
            Span<float> yy = y.Slice(64 * i, 64);
            for (int l = 0; l < 32; l++)
            {
                yy[l] = d1 * ((q[l] & 0xF) + ((qh[l] & u1) != 0 ? 16 : 0)) - dm1;
                yy[l + 32] = d2 * ((q[l] >> 4) + ((qh[l] & u2) != 0 ? 16 : 0)) - dm2;
            }
        }
    }

    // Q6_K (210 bytes): ql[128] (low 4 bits) | qh[64] (high 2 bits) | int8 scales[16] | fp16 d.
    // Per 128-half: ql 64 bytes, qh 32 bytes, 8 scales. Element l (0..31) of the four 32-runs:
    //   run 0: ql[l] low nibble,    qh[l] bits 0-1      run 1: ql[l+32] low nibble, qh[l] bits 2-3
    //   run 2: ql[l] high nibble,   qh[l] bits 4-5      run 3: ql[l+32] high nibble, qh[l] bits 6-7
    // scale index = 2*run + l/16.  x = (d * sc) * (q - 32)
    private static void Q6_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Fp16.Read(b, 208);
        for (int half = 0; half < 2; half++)
        {
            ReadOnlySpan<byte> ql = b.Slice(64 * half, 64);
            ReadOnlySpan<byte> qh = b.Slice(128 + 32 * half, 32);
            ReadOnlySpan<byte> sc = b.Slice(192 + 8 * half, 8);
            Span<float> yy = y.Slice(128 * half, 128);
            for (int l = 0; l < 32; l++)
            {
                int s = l / 16;
                int q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                yy[l] = d * (sbyte)sc[s] * q1;
                yy[l + 32] = d * (sbyte)sc[s + 2] * q2;
                yy[l + 64] = d * (sbyte)sc[s + 4] * q3;
                yy[l + 96] = d * (sbyte)sc[s + 6] * q4;
            }
        }
    }

    // Q8_K (292 bytes): float32 d | int8 qs[256] | int16 bsums[16] (sum of each 16 qs, for dot products).  x = d * q
    private static void Q8_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = System.Buffers.Binary.BinaryPrimitives.ReadSingleLittleEndian(b);
        for (int j = 0; j < 256; j++)
            y[j] = d * (sbyte)b[4 + j];
    }
}
