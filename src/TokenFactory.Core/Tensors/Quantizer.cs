using System.Runtime.InteropServices;
using TokenFactory.Gguf;

namespace TokenFactory.Tensors;

/// <summary>
/// Converts float32 rows to GGUF storage types. The activation formats (Q8_0, Q8_1, Q8_K) reproduce ggml's reference
/// rounding exactly because llama.cpp quantizes activations that way before its dot products; the weight formats use
/// simple deterministic scale choices (the byte layout, not the search, is what other readers depend on).
/// </summary>
public static partial class Quantizer
{
    public static bool IsSupported(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16
        or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q8_0 or GgmlType.Q8_1
        or GgmlType.Q4_K or GgmlType.Q6_K or GgmlType.Q8_K
        or GgmlType.IQ4_NL or GgmlType.IQ4_XS or GgmlType.MXFP4;

    /// <summary>Quantizes <c>src.Length</c> elements (a whole number of blocks) into <paramref name="dst"/> (at least the row size).</summary>
    public static void QuantizeRow(GgmlType type, ReadOnlySpan<float> src, Span<byte> dst)
    {
        int n = src.Length;
        long rowSize = GgmlTypeInfo.RowSize(type, n);
        if (dst.Length < rowSize)
            throw new ArgumentException($"{type} row of {n} elements needs {rowSize} bytes, got {dst.Length}.", nameof(dst));
        dst = dst[..(int)rowSize];

        switch (type)
        {
            case GgmlType.F32:
                MemoryMarshal.AsBytes(src).CopyTo(dst);
                return;
            case GgmlType.F16:
                FloatOps.FloatToHalf(src, MemoryMarshal.Cast<byte, ushort>(dst));
                return;
            case GgmlType.BF16:
                FloatOps.FloatToBFloat16(src, MemoryMarshal.Cast<byte, ushort>(dst));
                return;
        }

        int bs = GgmlTypeInfo.BlockSize(type);
        int ts = GgmlTypeInfo.TypeSize(type);
        for (int b = 0; b < n / bs; b++)
        {
            ReadOnlySpan<float> x = src.Slice(b * bs, bs);
            Span<byte> y = dst.Slice(b * ts, ts);
            switch (type)
            {
                case GgmlType.Q8_0: Q8_0(x, y); break;
                case GgmlType.Q8_1: Q8_1(x, y); break;
                case GgmlType.Q8_K: Q8_K(x, y); break;
                case GgmlType.Q4_0: Q4_0(x, y); break;
                case GgmlType.Q4_1: Q4_1(x, y); break;
                case GgmlType.Q5_0: Q5_0(x, y); break;
                case GgmlType.Q5_1: Q5_1(x, y); break;
                case GgmlType.Q4_K: Q4_K(x, y); break;
                case GgmlType.Q5_K: Q5_K(x, y); break;
                case GgmlType.Q6_K: Q6_K(x, y); break;
                case GgmlType.IQ4_NL: IQ4_NL(x, y); break;
                case GgmlType.IQ4_XS: IQ4_XS(x, y); break;
                case GgmlType.MXFP4: MXFP4(x, y); break;
                default: throw new NotSupportedException($"Quantizing to {type} is not supported.");
            }
        }
    }
}
