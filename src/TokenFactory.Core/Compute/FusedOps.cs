using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace TokenFactory.Compute;

/// <summary>
/// Elementwise steps of a transformer block fused into single SIMD passes, for forward passes to adopt
/// (each has a scalar reference twin used by the tests).
/// </summary>
public static class FusedOps
{
    /// <summary>
    /// SwiGLU's gate in place: <c>gate[i] = silu(gate[i]) · up[i]</c> with silu(g) = g / (1 + e^-g), one pass,
    /// vectorized exp (TensorPrimitives' Exp; within an ulp or so of MathF.Exp).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SiluMultiply(Span<float> gate, ReadOnlySpan<float> up)
    {
        if (up.Length < gate.Length)
            throw new ArgumentException("up is shorter than gate.", nameof(up));
        int n = gate.Length, i = 0;
        ref float g = ref MemoryMarshal.GetReference(gate);
        ref float u = ref MemoryMarshal.GetReference(up);
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= n; i += 16)
            {
                Vector512<float> v = Vector512.LoadUnsafe(ref g, (nuint)i);
                Vector512<float> e = Vector512.Exp(-v);
                (v / (Vector512<float>.One + e) * Vector512.LoadUnsafe(ref u, (nuint)i)).StoreUnsafe(ref g, (nuint)i);
            }
            // The tail goes through the same vector formula (padded), not the scalar one: an element's value
            // must not depend on where it falls in the buffer, or a sequence's results would depend on how
            // many other tokens share its batch.
            if (i < n)
            {
                Span<float> gt = stackalloc float[16];
                Span<float> ut = stackalloc float[16];
                gt.Clear();
                ut.Clear();
                gate[i..].CopyTo(gt);
                up[i..n].CopyTo(ut);
                Vector512<float> v = Vector512.Create<float>(gt);
                Vector512<float> e = Vector512.Exp(-v);
                (v / (Vector512<float>.One + e) * Vector512.Create<float>(ut)).CopyTo(gt);
                gt[..(n - i)].CopyTo(gate[i..]);
            }
            return;
        }
        for (; i < n; i++)
            gate[i] = gate[i] / (1f + MathF.Exp(-gate[i])) * up[i];
    }

    /// <summary>Scalar twin of <see cref="SiluMultiply"/> (the reference the tests compare it with).</summary>
    public static void SiluMultiplyScalar(Span<float> gate, ReadOnlySpan<float> up)
    {
        for (int i = 0; i < gate.Length; i++)
            gate[i] = gate[i] / (1f + MathF.Exp(-gate[i])) * up[i];
    }
}
