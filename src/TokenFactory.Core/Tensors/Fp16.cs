using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace TokenFactory.Tensors;

/// <summary>IEEE binary16 helpers. <see cref="Half"/> converts exactly (widening) and with round-to-nearest-even (narrowing), as ggml does.</summary>
internal static class Fp16
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromFloat(float value) => BitConverter.HalfToUInt16Bits((Half)value);

    /// <summary>Reads a little-endian fp16 at <paramref name="offset"/> and widens it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Read(ReadOnlySpan<byte> src, int offset) => ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(src.Slice(offset, 2)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Write(Span<byte> dst, int offset, float value) => BinaryPrimitives.WriteUInt16LittleEndian(dst.Slice(offset, 2), FromFloat(value));

    /// <summary>
    /// The value an fp16 field will hold after storing <paramref name="value"/>; quantizers scale with this, not the unrounded
    /// float. Within fp16's normal range the float's mantissa is rounded to 10 bits in place (ties to even), which is what
    /// <c>(float)(Half)value</c> gives without .NET's conversion routines both ways (1.4 % of a mixture's prompt step, where
    /// every 32 activations round their scale); zero, subnormals, overflow, infinities and NaN take the conversions.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Round(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        uint exponent = (bits >> 23) & 0xFF;
        if (exponent is >= HalfMinNormalExponent and <= HalfMaxExponent)
        {
            uint rounded = (bits + 0xFFF + ((bits >> 13) & 1)) & ~0x1FFFu;
            if ((rounded & 0x7FFFFFFF) <= HalfMaxBits)
                return BitConverter.UInt32BitsToSingle(rounded);
        }
        return (float)(Half)value;
    }

    /// <summary>fp16's normal exponents (−14..15) as a float's biased exponent.</summary>
    private const uint HalfMinNormalExponent = 127 - 14, HalfMaxExponent = 127 + 15;

    /// <summary>The float bits of fp16's largest finite value, 65504.</summary>
    private const uint HalfMaxBits = 0x477FE000;
}
