using System.Runtime.InteropServices;
using TokenFactory.Tensors;

namespace TokenFactory.Tests.Tensors;

/// <summary>
/// 8 tokens' Q8_K activations laid out as <c>MatMul</c> hands them to the K-quant group kernels: codes in
/// <paramref name="layout"/>, per block the scale and the sums (4 ints of int16 pairs of 32-element sums, or 8 of
/// 16-element sums for <see cref="ActivationPacking.KLayout.Quads"/>) at <see cref="LegacyGemmX8.TokenIndex"/>.
/// </summary>
internal sealed unsafe class TileActivations : IDisposable
{
    public TileActivations(float[][] x, int k, ActivationPacking.KLayout layout)
    {
        int blocks = k / 256;
        SumsPerBlock = layout == ActivationPacking.KLayout.Quads ? 8 : 4;
        Codes = (sbyte*)NativeMemory.AlignedAlloc((nuint)(8 * k), 64);
        Scales = (float*)NativeMemory.AlignedAlloc((nuint)(8 * blocks * sizeof(float)), 64);
        Sums = (int*)NativeMemory.AlignedAlloc((nuint)(8 * blocks * SumsPerBlock * sizeof(int)), 64);
        float* rowScales = stackalloc float[blocks];
        int* rowSums = stackalloc int[8 * blocks];
        for (int t = 0; t < 8; t++)
        {
            fixed (float* xt = x[t])
                ActivationPacking.Q8_KBlocks(xt, k, Codes + t * k, rowScales, rowSums, layout);
            for (int b = 0; b < blocks; b++)
            {
                long at = LegacyGemmX8.TokenIndex(t, b, blocks);
                Scales[at] = rowScales[b];
                int* ps = rowSums + 8 * b;
                for (int i = 0; i < SumsPerBlock; i++)
                    Sums[SumsPerBlock * at + i] = SumsPerBlock == 8 ? ps[i] : (ps[2 * i] & 0xFFFF) | (ps[2 * i + 1] << 16);
            }
        }
    }

    public sbyte* Codes { get; }
    public float* Scales { get; }
    public int* Sums { get; }
    public int SumsPerBlock { get; }

    public void Dispose()
    {
        NativeMemory.AlignedFree(Codes);
        NativeMemory.AlignedFree(Scales);
        NativeMemory.AlignedFree(Sums);
    }
}
