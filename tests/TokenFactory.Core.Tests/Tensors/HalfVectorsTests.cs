using System.Runtime.Intrinsics;
using TokenFactory.Tensors;

namespace TokenFactory.Tests.Tensors;

public sealed unsafe class HalfVectorsTests
{
    [SkippableFact]
    public void Finite_widening_is_exact_for_every_finite_half()
    {
        Skip.If(!System.Runtime.Intrinsics.X86.Avx2.IsSupported, "needs AVX2 (only the AVX2 kernels call it)");
        ushort* halves = stackalloc ushort[8];
        float* widened = stackalloc float[8];
        for (int bits = 0; bits < 65536; bits += 8)
        {
            for (int i = 0; i < 8; i++)
                halves[i] = (ushort)(bits + i);
            HalfVectors.FiniteToSingle(halves).Store(widened);
            for (int i = 0; i < 8; i++)
            {
                Half h = BitConverter.UInt16BitsToHalf(halves[i]);
                if (Half.IsFinite(h))
                    Assert.Equal(BitConverter.SingleToInt32Bits((float)h), BitConverter.SingleToInt32Bits(widened[i]));
            }
        }
    }
}
