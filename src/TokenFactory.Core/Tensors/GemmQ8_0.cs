using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TokenFactory.Tensors;

/// <summary>
/// Q8_0 weights x Q8_0 activations in register tiles, with AVX-VNNI <c>vpdpbusd</c> (u8 x s8 -> i32, no saturation).
/// Activations come from <see cref="ActivationPacking.Q8_0(float*, int, byte*, float*)"/> with 128 added to every
/// code; each weight block's correction 128·Σw is subtracted exactly (it seeds the accumulator), so every block's
/// integer dot product is exact, as in the row kernels. Blocks are then scaled by dw·da and summed in float lanes.
/// Weight scales are converted once per 4-row tile into <c>dw[block][row]</c> (see <see cref="RowScales4"/>).
/// </summary>
internal static unsafe class GemmQ8_0
{
    public static bool IsSupported => AvxVnni.IsSupported && Avx512F.IsSupported && Avx512BW.IsSupported && Fma.IsSupported;

    /// <summary>fp16 scales of <paramref name="nb"/> Q8_0 blocks of 4 rows into <c>dw[4 * b + r]</c>.</summary>
    public static void RowScales4(byte* r0, byte* r1, byte* r2, byte* r3, int nb, float* dw)
    {
        int b = 0;
        Vector256<int> idx = Vector256.Create(0, 34, 68, 102, 136, 170, 204, 238);
        for (; b + 8 <= nb; b += 8)
        {
            int o = 34 * b;
            Vector256<float> a = Half(Avx2.GatherVector256((int*)(r0 + o), idx, 1));
            Vector256<float> bb = Half(Avx2.GatherVector256((int*)(r1 + o), idx, 1));
            Vector256<float> c = Half(Avx2.GatherVector256((int*)(r2 + o), idx, 1));
            Vector256<float> d = Half(Avx2.GatherVector256((int*)(r3 + o), idx, 1));
            Vector256<float> t0 = Avx.UnpackLow(a, bb), t1 = Avx.UnpackHigh(a, bb);
            Vector256<float> t2 = Avx.UnpackLow(c, d), t3 = Avx.UnpackHigh(c, d);
            Vector256<float> u0 = Avx.UnpackLow(t0.AsDouble(), t2.AsDouble()).AsSingle();
            Vector256<float> u1 = Avx.UnpackHigh(t0.AsDouble(), t2.AsDouble()).AsSingle();
            Vector256<float> u2 = Avx.UnpackLow(t1.AsDouble(), t3.AsDouble()).AsSingle();
            Vector256<float> u3 = Avx.UnpackHigh(t1.AsDouble(), t3.AsDouble()).AsSingle();
            float* p = dw + 4 * b;
            u0.GetLower().Store(p);
            u1.GetLower().Store(p + 4);
            u2.GetLower().Store(p + 8);
            u3.GetLower().Store(p + 12);
            u0.GetUpper().Store(p + 16);
            u1.GetUpper().Store(p + 20);
            u2.GetUpper().Store(p + 24);
            u3.GetUpper().Store(p + 28);
        }
        for (; b < nb; b++)
        {
            dw[4 * b] = Fp16.ToFloat(*(ushort*)(r0 + 34 * b));
            dw[4 * b + 1] = Fp16.ToFloat(*(ushort*)(r1 + 34 * b));
            dw[4 * b + 2] = Fp16.ToFloat(*(ushort*)(r2 + 34 * b));
            dw[4 * b + 3] = Fp16.ToFloat(*(ushort*)(r3 + 34 * b));
        }

        static Vector256<float> Half(Vector256<int> v) => HalfVectors.ToSingle(v.AsUInt32() & Vector256.Create(0xFFFFu));
    }

    /// <summary>
    /// 4 rows x 4 tokens: <c>result[4 * t + r] = W[r] · a[t]</c>. <paramref name="a"/> holds 4 rows of offset codes
    /// <paramref name="k"/> bytes apart; <paramref name="daX"/> holds per block the 16 values <c>da[t]</c> at lanes 4t..4t+3.
    /// </summary>
    public static void Tile4x4(byte* w0, byte* w1, byte* w2, byte* w3, float* dw, byte* a, int k, float* daX, int nb, float* result)
    {
        Vector256<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector256<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector256<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector256<float> c30 = default, c31 = default, c32 = default, c33 = default;
        Vector256<byte> k80 = Vector256.Create((byte)0x80);
        float* s = stackalloc float[16];
        byte* a0 = a, a1 = a + k, a2 = a + 2 * k, a3 = a + 3 * k;
        for (int b = 0; b < nb; b++)
        {
            int o = 34 * b + 2, oa = 32 * b;
            Vector256<sbyte> x0 = Vector256.Load(w0 + o).AsSByte();
            Vector256<sbyte> x1 = Vector256.Load(w1 + o).AsSByte();
            Vector256<sbyte> x2 = Vector256.Load(w2 + o).AsSByte();
            Vector256<sbyte> x3 = Vector256.Load(w3 + o).AsSByte();
            Vector256<int> n0 = Vector256<int>.Zero - AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, k80, x0);
            Vector256<int> n1 = Vector256<int>.Zero - AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, k80, x1);
            Vector256<int> n2 = Vector256<int>.Zero - AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, k80, x2);
            Vector256<int> n3 = Vector256<int>.Zero - AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, k80, x3);
            (Avx512F.BroadcastVector128ToVector512(dw + 4 * b) * Vector512.Load(daX + 16 * b)).Store(s);

            Vector256<byte> y = Vector256.Load(a0 + oa);
            c00 = Fma.MultiplyAdd(Dot(n0, y, x0), Vector256.Create(s[0]), c00);
            c10 = Fma.MultiplyAdd(Dot(n1, y, x1), Vector256.Create(s[1]), c10);
            c20 = Fma.MultiplyAdd(Dot(n2, y, x2), Vector256.Create(s[2]), c20);
            c30 = Fma.MultiplyAdd(Dot(n3, y, x3), Vector256.Create(s[3]), c30);
            y = Vector256.Load(a1 + oa);
            c01 = Fma.MultiplyAdd(Dot(n0, y, x0), Vector256.Create(s[4]), c01);
            c11 = Fma.MultiplyAdd(Dot(n1, y, x1), Vector256.Create(s[5]), c11);
            c21 = Fma.MultiplyAdd(Dot(n2, y, x2), Vector256.Create(s[6]), c21);
            c31 = Fma.MultiplyAdd(Dot(n3, y, x3), Vector256.Create(s[7]), c31);
            y = Vector256.Load(a2 + oa);
            c02 = Fma.MultiplyAdd(Dot(n0, y, x0), Vector256.Create(s[8]), c02);
            c12 = Fma.MultiplyAdd(Dot(n1, y, x1), Vector256.Create(s[9]), c12);
            c22 = Fma.MultiplyAdd(Dot(n2, y, x2), Vector256.Create(s[10]), c22);
            c32 = Fma.MultiplyAdd(Dot(n3, y, x3), Vector256.Create(s[11]), c32);
            y = Vector256.Load(a3 + oa);
            c03 = Fma.MultiplyAdd(Dot(n0, y, x0), Vector256.Create(s[12]), c03);
            c13 = Fma.MultiplyAdd(Dot(n1, y, x1), Vector256.Create(s[13]), c13);
            c23 = Fma.MultiplyAdd(Dot(n2, y, x2), Vector256.Create(s[14]), c23);
            c33 = Fma.MultiplyAdd(Dot(n3, y, x3), Vector256.Create(s[15]), c33);
        }
        result[0] = Vector256.Sum(c00); result[1] = Vector256.Sum(c10); result[2] = Vector256.Sum(c20); result[3] = Vector256.Sum(c30);
        result[4] = Vector256.Sum(c01); result[5] = Vector256.Sum(c11); result[6] = Vector256.Sum(c21); result[7] = Vector256.Sum(c31);
        result[8] = Vector256.Sum(c02); result[9] = Vector256.Sum(c12); result[10] = Vector256.Sum(c22); result[11] = Vector256.Sum(c32);
        result[12] = Vector256.Sum(c03); result[13] = Vector256.Sum(c13); result[14] = Vector256.Sum(c23); result[15] = Vector256.Sum(c33);
    }

    /// <summary>Exact Σ a·w of one block in 8 lanes, as float: <paramref name="neg"/> = -128·Σw seeds the u8 x s8 sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Dot(Vector256<int> neg, Vector256<byte> y, Vector256<sbyte> x)
        => Avx.ConvertToVector256Single(AvxVnni.MultiplyWideningAndAdd(neg, y, x));

    /// <summary>4 rows x 1 token (decode): <c>result[r] = W[r] · a</c>, with <paramref name="da"/> the token's block scales.</summary>
    public static void Rows4x1(byte* w0, byte* w1, byte* w2, byte* w3, float* dw, byte* a, float* da, int nb, float* result)
    {
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
        Vector256<byte> k80 = Vector256.Create((byte)0x80);
        float* s = stackalloc float[4];
        for (int b = 0; b < nb; b++)
        {
            int o = 34 * b + 2;
            Vector256<byte> y = Vector256.Load(a + 32 * b);
            Vector256<sbyte> x0 = Vector256.Load(w0 + o).AsSByte();
            Vector256<sbyte> x1 = Vector256.Load(w1 + o).AsSByte();
            Vector256<sbyte> x2 = Vector256.Load(w2 + o).AsSByte();
            Vector256<sbyte> x3 = Vector256.Load(w3 + o).AsSByte();
            (Vector128.Load(dw + 4 * b) * Vector128.Create(da[b])).Store(s);
            c0 = Fma.MultiplyAdd(Exact(y, x0, k80), Vector256.Create(s[0]), c0);
            c1 = Fma.MultiplyAdd(Exact(y, x1, k80), Vector256.Create(s[1]), c1);
            c2 = Fma.MultiplyAdd(Exact(y, x2, k80), Vector256.Create(s[2]), c2);
            c3 = Fma.MultiplyAdd(Exact(y, x3, k80), Vector256.Create(s[3]), c3);
        }
        result[0] = Vector256.Sum(c0);
        result[1] = Vector256.Sum(c1);
        result[2] = Vector256.Sum(c2);
        result[3] = Vector256.Sum(c3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Exact(Vector256<byte> y, Vector256<sbyte> x, Vector256<byte> k80)
        => Avx.ConvertToVector256Single(AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, y, x) - AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, k80, x));

    /// <summary>Scalar twin: one row against one token of the split layout, block by block like <see cref="VecDotScalar.Legacy"/>.</summary>
    public static float DotScalar(byte* w, byte* a, float* da, int nb)
    {
        float sum = 0;
        for (int b = 0; b < nb; b++)
        {
            int isum = 0;
            for (int j = 0; j < 32; j++)
                isum += (sbyte)w[34 * b + 2 + j] * (a[32 * b + j] - 128);
            sum += Fp16.ToFloat(*(ushort*)(w + 34 * b)) * da[b] * isum;
        }
        return sum;
    }
}
