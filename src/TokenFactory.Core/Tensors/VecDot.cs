using System.Runtime.InteropServices;
using TokenFactory.Gguf;

namespace TokenFactory.Tensors;

/// <summary>
/// Row dot products the way llama.cpp's CPU backend computes matrix-vector products: the activation row is first
/// converted to the weight type's <see cref="ActivationType"/>, then blocks are multiplied in integers and scaled.
/// </summary>
public static class VecDot
{
    /// <summary>The format ggml converts the activation row to before dotting it with a row of <paramref name="weightType"/>.</summary>
    public static GgmlType ActivationType(GgmlType weightType) => weightType switch
    {
        GgmlType.F32 => GgmlType.F32,
        GgmlType.F16 => GgmlType.F16,
        GgmlType.BF16 => GgmlType.BF16,
        GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q5_0 or GgmlType.IQ4_NL or GgmlType.MXFP4 => GgmlType.Q8_0,
        GgmlType.Q4_1 or GgmlType.Q5_1 => GgmlType.Q8_1,
        GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K or GgmlType.IQ4_XS => GgmlType.Q8_K,
        _ => throw new NotSupportedException($"No dot product for weight type {weightType}."),
    };

    /// <summary>Dot product of <paramref name="n"/> elements, using the fastest kernel this CPU supports.
    /// Quantized activations must keep their int8 codes in -127..127, as ggml's quantizers (and ours) do.</summary>
    public static float Dot(GgmlType weightType, ReadOnlySpan<byte> weightRow, ReadOnlySpan<byte> activationRow, int n)
        => DotWith(VecDotIsaInfo.Best, weightType, weightRow, activationRow, n);

    /// <summary>The portable reference kernels, for tests and cross-checks.</summary>
    public static float DotScalar(GgmlType weightType, ReadOnlySpan<byte> weightRow, ReadOnlySpan<byte> activationRow, int n)
        => DotWith(VecDotIsa.Scalar, weightType, weightRow, activationRow, n);

    internal static float DotWith(VecDotIsa isa, GgmlType weightType, ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int n)
    {
        GgmlType at = ActivationType(weightType);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        long wSize = GgmlTypeInfo.RowSize(weightType, n), aSize = GgmlTypeInfo.RowSize(at, n);
        if (w.Length < wSize)
            throw new ArgumentException($"{weightType} row of {n} elements needs {wSize} bytes, got {w.Length}.", nameof(w));
        if (a.Length < aSize)
            throw new ArgumentException($"{at} row of {n} elements needs {aSize} bytes, got {a.Length}.", nameof(a));
        w = w[..(int)wSize];
        a = a[..(int)aSize];

        switch (weightType)
        {
            case GgmlType.F32:
                var xf = MemoryMarshal.Cast<byte, float>(w);
                var yf = MemoryMarshal.Cast<byte, float>(a);
                return isa switch
                {
                    VecDotIsa.Avx512 => VecDotAvx512.F32(xf, yf),
                    VecDotIsa.Avx2 => VecDotAvx2.F32(xf, yf),
                    _ => VecDotScalar.F32(xf, yf, n),
                };
            case GgmlType.F16:
                var xh = MemoryMarshal.Cast<byte, ushort>(w);
                var yh = MemoryMarshal.Cast<byte, ushort>(a);
                return isa switch
                {
                    VecDotIsa.Avx512 => VecDotAvx512.F16(xh, yh),
                    VecDotIsa.Avx2 => VecDotAvx2.F16(xh, yh),
                    _ => VecDotScalar.F16(xh, yh, n),
                };
            case GgmlType.BF16:
                var xb = MemoryMarshal.Cast<byte, ushort>(w);
                var yb = MemoryMarshal.Cast<byte, ushort>(a);
                return isa switch
                {
                    VecDotIsa.Avx512 => VecDotAvx512.BF16(xb, yb),
                    VecDotIsa.Avx2 => VecDotAvx2.BF16(xb, yb),
                    _ => VecDotScalar.BF16(xb, yb, n),
                };
            case GgmlType.Q8_0:
                return isa switch
                {
                    VecDotIsa.Avx512 => VecDotAvx512.Q8_0(w, a, n / 32),
                    VecDotIsa.Avx2 => VecDotAvx2.Q8_0(w, a, n / 32),
                    _ => VecDotScalar.Legacy(weightType, w, a, n),
                };
            case GgmlType.Q4_0:
                return isa switch
                {
                    VecDotIsa.Avx512 => VecDotAvx512.Q4_0(w, a, n / 32),
                    VecDotIsa.Avx2 => VecDotAvx2.Q4_0(w, a, n / 32),
                    _ => VecDotScalar.Legacy(weightType, w, a, n),
                };
            case GgmlType.Q4_K:
                return isa switch
                {
                    VecDotIsa.Avx512 => VecDotAvx512.Q4_K(w, a, n / 256),
                    VecDotIsa.Avx2 => VecDotAvx2.Q4_K(w, a, n / 256),
                    _ => VecDotScalar.KQuant(weightType, w, a, n),
                };
            case GgmlType.Q6_K:
                return isa switch
                {
                    VecDotIsa.Avx512 => VecDotAvx512.Q6_K(w, a, n / 256),
                    VecDotIsa.Avx2 => VecDotAvx2.Q6_K(w, a, n / 256),
                    _ => VecDotScalar.KQuant(weightType, w, a, n),
                };
            case GgmlType.Q5_K:
                return isa switch
                {
                    VecDotIsa.Avx512 => VecDotAvx512.Q5_K(w, a, n / 256),
                    VecDotIsa.Avx2 => VecDotAvx2.Q5_K(w, a, n / 256),
                    _ => VecDotScalar.KQuant(weightType, w, a, n),
                };
            case GgmlType.IQ4_NL:
                return isa == VecDotIsa.Scalar ? VecDotScalar.IQ4_NL(w, a, n / 32) : VecDotAvx2.IQ4_NL(w, a, n / 32);
            case GgmlType.MXFP4:
                return isa == VecDotIsa.Scalar ? VecDotScalar.MXFP4(w, a, n / 32) : VecDotAvx2.MXFP4(w, a, n / 32);
            case GgmlType.IQ4_XS:
                return isa == VecDotIsa.Scalar ? VecDotScalar.IQ4_XS(w, a, n / 256) : VecDotAvx2.IQ4_XS(w, a, n / 256);
            case GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1:
                return VecDotScalar.Legacy(weightType, w, a, n);
            default: // Q2_K, Q3_K
                return VecDotScalar.KQuant(weightType, w, a, n);
        }
    }
}
