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

    /// <summary>The value an fp16 field will hold after storing <paramref name="value"/>; quantizers scale with this, not the unrounded float.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Round(float value) => (float)(Half)value;
}
