using System.Runtime.Intrinsics.X86;
using TokenFactory.Platform;

namespace TokenFactory.Tensors;

/// <summary>Instruction-set tiers of the dot-product kernels.</summary>
internal enum VecDotIsa
{
    Scalar,
    Avx2,
    Avx512,
}

internal static class VecDotIsaInfo
{
    /// <summary>Best tier this CPU runs, decided once; the JIT folds branches on it as a constant.</summary>
    public static readonly VecDotIsa Best = Choose(KernelOptions.Current.Isa);

    public static bool IsSupported(VecDotIsa isa) => isa switch
    {
        VecDotIsa.Scalar => true,
        VecDotIsa.Avx2 => Avx2.IsSupported && Fma.IsSupported,
        VecDotIsa.Avx512 => Avx512BW.IsSupported && Avx512F.IsSupported && Avx512BW.VL.IsSupported && Fma.IsSupported && Avx2.IsSupported,
        _ => false,
    };

    /// <summary>The pinned tier where this CPU runs it (it lets a run compare results end to end), else the widest supported.</summary>
    internal static VecDotIsa Choose(KernelIsa pinned)
    {
        VecDotIsa? isa = pinned switch
        {
            KernelIsa.Scalar => VecDotIsa.Scalar,
            KernelIsa.Avx2 => VecDotIsa.Avx2,
            KernelIsa.Avx512 => VecDotIsa.Avx512,
            _ => null,
        };
        if (isa is VecDotIsa forced && IsSupported(forced))
            return forced;
        if (IsSupported(VecDotIsa.Avx512))
            return VecDotIsa.Avx512;
        return IsSupported(VecDotIsa.Avx2) ? VecDotIsa.Avx2 : VecDotIsa.Scalar;
    }
}
