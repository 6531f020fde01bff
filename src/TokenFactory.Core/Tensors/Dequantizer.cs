using System.Runtime.InteropServices;
using TokenFactory.Gguf;

namespace TokenFactory.Tensors;

/// <summary>
/// Converts one row of a GGUF tensor to float32. Each block formula follows ggml's published layouts
/// (see the per-type comments); arithmetic is done in float in the same order the spec writes it
/// (<c>d * q</c>, <c>d * q + m</c>, <c>(d * sc) * q - dmin * m</c>) so results are reproducible bit for bit.
/// </summary>
public static partial class Dequantizer
{
    public static bool IsSupported(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16
        or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q8_0 or GgmlType.Q8_1
        or GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K or GgmlType.Q8_K
        or GgmlType.IQ4_NL or GgmlType.IQ4_XS or GgmlType.MXFP4;

    /// <summary>Dequantizes <c>dst.Length</c> elements; <paramref name="src"/> must hold at least their row size in bytes.</summary>
    public static void DequantizeRow(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        int n = dst.Length;
        long rowSize = GgmlTypeInfo.RowSize(type, n);
        if (src.Length < rowSize)
            throw new ArgumentException($"{type} row of {n} elements needs {rowSize} bytes, got {src.Length}.", nameof(src));
        src = src[..(int)rowSize];

        switch (type)
        {
            case GgmlType.F32:
                MemoryMarshal.Cast<byte, float>(src).CopyTo(dst);
                return;
            case GgmlType.F16:
                FloatOps.HalfToFloat(MemoryMarshal.Cast<byte, ushort>(src), dst);
                return;
            case GgmlType.BF16:
                FloatOps.BFloat16ToFloat(MemoryMarshal.Cast<byte, ushort>(src), dst);
                return;
        }

        int bs = GgmlTypeInfo.BlockSize(type);
        int ts = GgmlTypeInfo.TypeSize(type);
        int blocks = n / bs;
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<byte> blk = src.Slice(b * ts, ts);
            Span<float> y = dst.Slice(b * bs, bs);
            switch (type)
            {
                case GgmlType.Q4_0: Q4_0(blk, y); break;
                case GgmlType.Q4_1: Q4_1(blk, y); break;
                case GgmlType.Q5_0: Q5_0(blk, y); break;
                case GgmlType.Q5_1: Q5_1(blk, y); break;
                case GgmlType.Q8_0: Q8_0(blk, y); break;
                case GgmlType.Q8_1: Q8_1(blk, y); break;
                case GgmlType.Q2_K: Q2_K(blk, y); break;
                case GgmlType.Q3_K: Q3_K(blk, y); break;
                case GgmlType.Q4_K: Q4_K(blk, y); break;
                case GgmlType.Q5_K: Q5_K(blk, y); break;
                case GgmlType.Q6_K: Q6_K(blk, y); break;
                case GgmlType.Q8_K: Q8_K(blk, y); break;
                case GgmlType.IQ4_NL: IQ4_NL(blk, y); break;
                case GgmlType.IQ4_XS: IQ4_XS(blk, y); break;
                case GgmlType.MXFP4: MXFP4(blk, y); break;
                default: throw new NotSupportedException($"Dequantizing {type} is not supported.");
            }
        }
    }
}
