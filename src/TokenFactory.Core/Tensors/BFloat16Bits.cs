using System.Runtime.CompilerServices;

namespace TokenFactory.Tensors;

/// <summary>bfloat16 helpers: the top 16 bits of an IEEE binary32.</summary>
internal static class BFloat16Bits
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>Round-to-nearest-even narrowing; NaNs keep their sign and top payload bits and are forced quiet
    /// (truncation alone could turn a NaN whose payload sits in the low bits into infinity).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromFloat(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if ((u & 0x7fffffffu) > 0x7f800000u)
            return (ushort)((u >> 16) | 0x40);
        return (ushort)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
}
