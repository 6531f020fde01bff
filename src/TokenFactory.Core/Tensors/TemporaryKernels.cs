using System.Runtime.InteropServices;

namespace TokenFactory.Tensors;

// Temporary F32/F16-only stand-ins until the quantization kernels land; deleted at merge.
public static class Dequantizer
{
    public static void DequantizeRow(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        switch (type)
        {
            case GgmlType.F32: MemoryMarshal.Cast<byte, float>(src)[..dst.Length].CopyTo(dst); break;
            case GgmlType.F16:
                var h = MemoryMarshal.Cast<byte, Half>(src);
                for (int i = 0; i < dst.Length; i++) dst[i] = (float)h[i];
                break;
            default: throw new NotSupportedException(type.ToString());
        }
    }
}

public static class Quantizer
{
    public static void QuantizeRow(GgmlType type, ReadOnlySpan<float> src, Span<byte> dst)
    {
        switch (type)
        {
            case GgmlType.F32: MemoryMarshal.Cast<float, byte>(src).CopyTo(dst); break;
            case GgmlType.F16:
                var h = MemoryMarshal.Cast<byte, Half>(dst);
                for (int i = 0; i < src.Length; i++) h[i] = (Half)src[i];
                break;
            default: throw new NotSupportedException(type.ToString());
        }
    }
}

public static class VecDot
{
    public static GgmlType ActivationType(GgmlType weightType) => weightType;

    public static float Dot(GgmlType weightType, ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int n)
    {
        double s = 0;
        switch (weightType)
        {
            case GgmlType.F32:
                var wf = MemoryMarshal.Cast<byte, float>(w); var af = MemoryMarshal.Cast<byte, float>(a);
                for (int i = 0; i < n; i++) s += wf[i] * af[i];
                return (float)s;
            case GgmlType.F16:
                var wh = MemoryMarshal.Cast<byte, Half>(w); var ah = MemoryMarshal.Cast<byte, Half>(a);
                for (int i = 0; i < n; i++) s += (float)wh[i] * (float)ah[i];
                return (float)s;
            default: throw new NotSupportedException(weightType.ToString());
        }
    }
}
