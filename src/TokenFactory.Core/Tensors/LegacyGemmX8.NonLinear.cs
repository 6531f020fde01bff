using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TokenFactory.Tensors;

/// <summary>
/// IQ4_NL (18 bytes: fp16 d, 16 bytes of 4-bit codes laid out as Q4_0's) in <see cref="Q4_0x8"/>'s group layout: a chunk's codes
/// go through the non-linear code book in one in-lane byte shuffle (<c>vpshufb</c>), stored as level + 128 so
/// <see cref="LegacyGemmX8"/>'s unsigned-by-signed dot products and zero-point seed apply unchanged. Same bytes as the file.
/// </summary>
internal readonly unsafe struct IQ4_NLx8 : ILegacyGroupFormat
{
    public static int RowBlockBytes => 18;
    public static int BlockBytes => 144;
    public static int ZeroPoint => 128;

    // Inlined, so the JIT folds it into one constant load (as a plain property call it took a fifth of MXFP4 decode time).
    private static Vector256<byte> Table
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector256.Create(
        1, 24, 45, 63, 79, 93, 106, 118, 129, 141, 153, 166, 181, 197, 217, 241,
        1, 24, 45, 63, 79, 93, 106, 118, 129, 141, 153, 166, 181, 197, 217, (byte)241);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Chunk(byte* block, int j) => Avx2.Shuffle(Table, Q4_0x8.Chunk(block, j));

    public static int MaxCode => 241;

    public static int NibbleOffset => LegacyGemmX8.ScaleBytes;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> NibbleValues(Vector512<byte> nibbles) => Avx512BW.Shuffle(Vector512.Create(Table, Table), nibbles);

    public static void PackRow(byte* src, byte* block, int r) => Q4_0x8.PackRow(src, block, r);

    public static int Code(byte* block, int r, int i) => NonLinearCodes.Iq4[Q4_0x8.Nibble(block + LegacyGemmX8.ScaleBytes, r, i)];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Scales(byte* block) => Q4_0x8.Scales(block);

    public static float Scale(byte* block, int r) => Q4_0x8.Scale(block, r);
}

/// <summary>
/// MXFP4 (17 bytes: an E8M0 scale byte, 16 bytes of E2M1 codes laid out as Q4_0's) in groups of 8 rows: the 8 scale bytes, then
/// the codes as <see cref="Q4_0x8"/> interleaves them, each chunk mapped through the doubled E2M1 levels (0, ±1, ±2, ±3, ±4, ±6,
/// ±8, ±12) plus 12. A row's weight is 2^(e−128) · level, so the scales widen to exactly those powers of two. Same bytes as the file.
/// </summary>
internal readonly unsafe struct MXFP4x8 : ILegacyGroupFormat
{
    private const int Header = 8;

    public static int RowBlockBytes => 17;
    public static int BlockBytes => 136;
    public static int ZeroPoint => 12;

    private static Vector256<byte> Table
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector256.Create(
        12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0,
        12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, (byte)0);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Chunk(byte* block, int j) => Avx2.Shuffle(Table, Q4_0x8.Nibbles(block + Header, j));

    public static int MaxCode => 24;

    public static int NibbleOffset => Header;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> NibbleValues(Vector512<byte> nibbles) => Avx512BW.Shuffle(Vector512.Create(Table, Table), nibbles);

    public static void PackRow(byte* src, byte* block, int r)
    {
        block[r] = src[0];
        Q4_0x8.PackNibbles(src + 1, block + Header, r);
    }

    public static int Code(byte* block, int r, int i) => NonLinearCodes.Mxfp4Doubled[Q4_0x8.Nibble(block + Header, r, i)];

    /// <summary>2^(e−128) for each row's scale byte e, built from its bits as ggml does (subnormal for e &lt; 2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Scales(byte* block)
    {
        Vector256<int> e = Avx2.ConvertToVector256Int32(block);
        Vector256<int> normal = (e - Vector256<int>.One) << 23;
        Vector256<int> subnormal = Avx2.ShiftLeftLogicalVariable(Vector256.Create(0x00200000), e.AsUInt32());
        return Vector256.ConditionalSelect(Vector256.LessThan(e, Vector256.Create(2)), subnormal, normal).AsSingle();
    }

    public static float Scale(byte* block, int r) => NonLinearCodes.E8M0Half(block[r]);
}
