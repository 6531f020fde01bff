using System.Runtime.Intrinsics.X86;

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
    public static readonly VecDotIsa Best = Detect();

    public static bool IsSupported(VecDotIsa isa) => isa switch
    {
        VecDotIsa.Scalar => true,
        VecDotIsa.Avx2 => Avx2.IsSupported && Fma.IsSupported,
        VecDotIsa.Avx512 => Avx512BW.IsSupported && Avx512F.IsSupported && Avx512BW.VL.IsSupported && Fma.IsSupported && Avx2.IsSupported,
        _ => false,
    };

    private static VecDotIsa Detect()
    {
        if (Environment.GetEnvironmentVariable("TOKENFACTORY_VECDOT_ISA") is { } forced
            && Enum.TryParse(forced, ignoreCase: true, out VecDotIsa isa) && IsSupported(isa))
            return isa; // lets a run pin a slower tier to compare results end to end
        if (IsSupported(VecDotIsa.Avx512))
            return VecDotIsa.Avx512;
        return IsSupported(VecDotIsa.Avx2) ? VecDotIsa.Avx2 : VecDotIsa.Scalar;
    }
}
