namespace TokenFactory.Tensors;

/// <summary>
/// The code books of ggml's non-linear 4-bit formats: IQ4_NL/IQ4_XS map each 4-bit code to one of 16 int8 levels
/// (denser near zero, as weights are), MXFP4 to the FP4 (E2M1) values, stored doubled as int8 so the dot product stays in
/// integers, with an E8M0 (power of two) block scale halved to compensate.
/// </summary>
public static class NonLinearCodes
{
    /// <summary>IQ4_NL and IQ4_XS levels, by 4-bit code.</summary>
    public static ReadOnlySpan<sbyte> Iq4 => [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

    /// <summary>MXFP4's E2M1 values × 2, by 4-bit code (sign in the top bit): 0, 0.5, 1, 1.5, 2, 3, 4, 6 and their negatives.</summary>
    public static ReadOnlySpan<sbyte> Mxfp4Doubled => [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

    /// <summary>
    /// Half the value of an E8M0 scale byte, 2^(e − 128): what multiplies the doubled MXFP4 levels. Exponents 0 and 1
    /// land among the denormals, built from their bits as IEEE 754 defines them.
    /// </summary>
    public static float E8M0Half(byte e) => BitConverter.Int32BitsToSingle(e < 2 ? 0x00200000 << e : (e - 1) << 23);
}
