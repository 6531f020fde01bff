using System.Buffers.Binary;
using TokenFactory.Gguf;

namespace TokenFactory.Tensors;

/// <summary>
/// Decodes one weight block into its integer codes and integer sub-block scales, so that
/// x = d * sc * q - dmin * m (K-quants, per 16 elements) or x = d * q + m (32-element formats).
/// The scalar dot products are built on this; the SIMD kernels must agree with them.
/// </summary>
internal static class BlockCodes
{
    /// <summary>Q4_0/Q4_1/Q5_0/Q5_1/Q8_0. <paramref name="m"/> is 0 for the symmetric formats (whose offset is folded into q).</summary>
    public static void Legacy(GgmlType type, ReadOnlySpan<byte> b, Span<int> q, out float d, out float m)
    {
        d = Fp16.Read(b, 0);
        m = 0;
        switch (type)
        {
            case GgmlType.Q8_0:
                for (int j = 0; j < 32; j++)
                    q[j] = (sbyte)b[2 + j];
                return;
            case GgmlType.Q4_0:
                Nibbles(b.Slice(2, 16), 0, q, -8);
                return;
            case GgmlType.Q4_1:
                m = Fp16.Read(b, 2);
                Nibbles(b.Slice(4, 16), 0, q, 0);
                return;
            case GgmlType.Q5_0:
                Nibbles(b.Slice(6, 16), BinaryPrimitives.ReadUInt32LittleEndian(b.Slice(2, 4)), q, -16);
                return;
            case GgmlType.Q5_1:
                m = Fp16.Read(b, 2);
                Nibbles(b.Slice(8, 16), BinaryPrimitives.ReadUInt32LittleEndian(b.Slice(4, 4)), q, 0);
                return;
            default:
                throw new NotSupportedException($"{type} is not a 32-element weight format.");
        }
    }

    private static void Nibbles(ReadOnlySpan<byte> qs, uint qh, Span<int> q, int offset)
    {
        for (int j = 0; j < 16; j++)
        {
            q[j] = ((qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4)) + offset;
            q[j + 16] = ((qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4)) + offset;
        }
    }

    /// <summary>Q2_K..Q6_K: 256 codes, 16 scales and 16 mins (one per 16 elements), and the fp16 super-scales.</summary>
    public static void KQuant(GgmlType type, ReadOnlySpan<byte> b, Span<int> q, Span<int> sc, Span<int> m, out float d, out float dmin)
    {
        dmin = 0;
        m.Clear();
        switch (type)
        {
            case GgmlType.Q2_K:
                d = Fp16.Read(b, 80);
                dmin = Fp16.Read(b, 82);
                for (int j = 0; j < 16; j++)
                {
                    sc[j] = b[j] & 0xF;
                    m[j] = b[j] >> 4;
                }
                for (int i = 0; i < 256; i++)
                {
                    // element i: half i/128, shift 2*((i%128)/32), byte (i%32)
                    int half = i >> 7, k = (i & 127) >> 5, l = i & 31;
                    q[i] = (b[16 + 32 * half + l] >> (2 * k)) & 3;
                }
                return;
            case GgmlType.Q3_K:
                d = Fp16.Read(b, 108);
                for (int j = 0; j < 16; j++)
                    sc[j] = KQuantScales.Q3Scale(b.Slice(96, 12), j);
                for (int i = 0; i < 256; i++)
                {
                    int half = i >> 7, k = (i & 127) >> 5, l = i & 31;
                    int low = (b[32 + 32 * half + l] >> (2 * k)) & 3;
                    bool high = (b[l] & (1 << (4 * half + k))) != 0;
                    q[i] = low - (high ? 0 : 4);
                }
                return;
            case GgmlType.Q4_K:
            case GgmlType.Q5_K:
                d = Fp16.Read(b, 0);
                dmin = Fp16.Read(b, 2);
                for (int j = 0; j < 8; j++)
                {
                    KQuantScales.Unpack6(b.Slice(4, 12), j, out int s, out int mm);
                    sc[2 * j] = sc[2 * j + 1] = s;
                    m[2 * j] = m[2 * j + 1] = mm;
                }
                bool five = type == GgmlType.Q5_K;
                int qsOffset = five ? 48 : 16;
                for (int i = 0; i < 256; i++)
                {
                    // element i: group g = i/64 uses qs[32g..]; first 32 = low nibbles, next 32 = high nibbles
                    int g = i >> 6, hi = (i >> 5) & 1, l = i & 31;
                    int v = (b[qsOffset + 32 * g + l] >> (4 * hi)) & 0xF;
                    if (five && (b[16 + l] & (1 << (2 * g + hi))) != 0)
                        v += 16;
                    q[i] = v;
                }
                return;
            case GgmlType.Q6_K:
                d = Fp16.Read(b, 208);
                for (int j = 0; j < 16; j++)
                    sc[j] = (sbyte)b[192 + j];
                for (int i = 0; i < 256; i++)
                {
                    int half = i >> 7, run = (i & 127) >> 5, l = i & 31;
                    int lowByte = b[64 * half + l + 32 * (run & 1)];
                    int low = (lowByte >> (4 * (run >> 1))) & 0xF;
                    int high = (b[128 + 32 * half + l] >> (2 * run)) & 3;
                    q[i] = (low | (high << 4)) - 32;
                }
                return;
            default:
                throw new NotSupportedException($"{type} is not a K-quant weight format.");
        }
    }
}
