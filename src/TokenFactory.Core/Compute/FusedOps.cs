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
    /// vectorized exp (Vector512.Exp; within an ulp or so of MathF.Exp).
    /// </summary>
    public static void SiluMultiply(Span<float> gate, ReadOnlySpan<float> up) => GatedMultiply<Silu>(gate, up);

    /// <summary>Scalar twin of <see cref="SiluMultiply"/> (the reference the tests compare it with).</summary>
    public static void SiluMultiplyScalar(Span<float> gate, ReadOnlySpan<float> up)
    {
        for (int i = 0; i < gate.Length; i++)
            gate[i] = Silu.Scalar(gate[i], up[i]);
    }

    /// <summary>
    /// gpt-oss's clamped SwiGLU in place: g = min(gate, 7), u = clamp(up, −7, 7), <c>gate[i] = g / (1 + e^(−1.702·g)) · (u + 1)</c>
    /// (the clamps keep the MXFP4-trained experts' activations in range).
    /// </summary>
    public static void ClampedSwiGluMultiply(Span<float> gate, ReadOnlySpan<float> up) => GatedMultiply<ClampedSwiGlu>(gate, up);

    /// <summary>Scalar twin of <see cref="ClampedSwiGluMultiply"/>.</summary>
    public static void ClampedSwiGluMultiplyScalar(Span<float> gate, ReadOnlySpan<float> up)
    {
        for (int i = 0; i < gate.Length; i++)
            gate[i] = ClampedSwiGlu.Scalar(gate[i], up[i]);
    }

    /// <summary>
    /// An output gate in place: <c>values[i] = values[i] · σ(gate[i])</c> with σ(g) = 1 / (1 + e^-g), one pass (qwen35's gated
    /// attention output).
    /// </summary>
    public static void SigmoidMultiply(Span<float> values, ReadOnlySpan<float> gate) => GatedMultiply<SigmoidGate>(values, gate);

    /// <summary>Scalar twin of <see cref="SigmoidMultiply"/>.</summary>
    public static void SigmoidMultiplyScalar(Span<float> values, ReadOnlySpan<float> gate)
    {
        for (int i = 0; i < values.Length; i++)
            values[i] = SigmoidGate.Scalar(values[i], gate[i]);
    }

    /// <summary><paramref name="bias"/> added to each of the rows <paramref name="rows"/> holds back to back (projection biases).</summary>
    public static void AddToRows(Span<float> rows, ReadOnlySpan<float> bias)
    {
        for (int at = 0; at < rows.Length; at += bias.Length)
            TensorPrimitives.Add(rows.Slice(at, bias.Length), bias, rows.Slice(at, bias.Length));
    }

    /// <summary>A gated activation: <c>gate ← f(gate, up)</c>, as a 512-bit vector formula and its scalar twin.</summary>
    private interface IGatedActivation
    {
        static abstract Vector512<float> Vector(Vector512<float> gate, Vector512<float> up);
        static abstract float Scalar(float gate, float up);
    }

    private readonly struct Silu : IGatedActivation
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Vector(Vector512<float> gate, Vector512<float> up) => gate / (Vector512<float>.One + Vector512.Exp(-gate)) * up;

        public static float Scalar(float gate, float up) => gate / (1f + MathF.Exp(-gate)) * up;
    }

    /// <summary>f(value, gate) = value · σ(gate).</summary>
    private readonly struct SigmoidGate : IGatedActivation
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Vector(Vector512<float> value, Vector512<float> gate) => value / (Vector512<float>.One + Vector512.Exp(-gate));

        public static float Scalar(float value, float gate) => value / (1f + MathF.Exp(-gate));
    }

    private readonly struct ClampedSwiGlu : IGatedActivation
    {
        private const float Alpha = 1.702f, Limit = 7f;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Vector(Vector512<float> gate, Vector512<float> up)
        {
            Vector512<float> x = Vector512.Min(gate, Vector512.Create(Limit));
            Vector512<float> y = Vector512.Max(Vector512.Min(up, Vector512.Create(Limit)), Vector512.Create(-Limit));
            return x / (Vector512<float>.One + Vector512.Exp(x * Vector512.Create(-Alpha))) * (y + Vector512<float>.One);
        }

        public static float Scalar(float gate, float up)
        {
            float x = MathF.Min(gate, Limit), y = Math.Clamp(up, -Limit, Limit);
            return x / (1f + MathF.Exp(Alpha * -x)) * (y + 1f);
        }
    }

    /// <summary>
    /// One vectorized pass of a gated activation. The tail goes through the same vector formula (padded), not the scalar
    /// one: an element's value must not depend on where it falls in the buffer, or a sequence's results would depend on
    /// how many other tokens share its batch.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GatedMultiply<T>(Span<float> gate, ReadOnlySpan<float> up) where T : struct, IGatedActivation
    {
        if (up.Length < gate.Length)
            throw new ArgumentException("up is shorter than gate.", nameof(up));
        int n = gate.Length, i = 0;
        if (!Vector512.IsHardwareAccelerated)
        {
            for (; i < n; i++)
                gate[i] = T.Scalar(gate[i], up[i]);
            return;
        }
        ref float g = ref MemoryMarshal.GetReference(gate);
        ref float u = ref MemoryMarshal.GetReference(up);
        for (; i + 16 <= n; i += 16)
            T.Vector(Vector512.LoadUnsafe(ref g, (nuint)i), Vector512.LoadUnsafe(ref u, (nuint)i)).StoreUnsafe(ref g, (nuint)i);
        if (i < n)
        {
            Span<float> gt = stackalloc float[16];
            Span<float> ut = stackalloc float[16];
            gt.Clear();
            ut.Clear();
            gate[i..].CopyTo(gt);
            up[i..n].CopyTo(ut);
            T.Vector(Vector512.Create<float>(gt), Vector512.Create<float>(ut)).CopyTo(gt);
            gt[..(n - i)].CopyTo(gate[i..]);
        }
    }

    private const float GeluScale = 0.7978845608028654f; // sqrt(2/π)
    private const float GeluCubic = 0.044715f;

    /// <summary>
    /// GELU in place, in the tanh form (as llama.cpp computes BERT's feed-forward), written as x·σ(2u) with
    /// u = √(2/π)(x + 0.044715x³): 0.5x(1 + tanh u) is exactly that, and it needs one exp and no clamping.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void GeluTanh(Span<float> x)
    {
        int n = x.Length, i = 0;
        ref float r = ref MemoryMarshal.GetReference(x);
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= n; i += 16)
                GeluVector(Vector512.LoadUnsafe(ref r, (nuint)i)).StoreUnsafe(ref r, (nuint)i);
            // The tail goes through the vector formula too (padded), so an element's value never depends on where it falls.
            if (i < n)
            {
                Span<float> t = stackalloc float[16];
                t.Clear();
                x[i..].CopyTo(t);
                GeluVector(Vector512.Create<float>(t)).CopyTo(t);
                t[..(n - i)].CopyTo(x[i..]);
            }
            return;
        }
        GeluTanhScalar(x);
    }

    private static Vector512<float> GeluVector(Vector512<float> v)
    {
        Vector512<float> u = Vector512.Create(2f * GeluScale) * (v + Vector512.Create(GeluCubic) * v * v * v);
        return v / (Vector512<float>.One + Vector512.Exp(-u));
    }

    /// <summary>Scalar twin of <see cref="GeluTanh"/>, in the textbook form 0.5x(1 + tanh u).</summary>
    public static void GeluTanhScalar(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++)
        {
            float v = x[i];
            x[i] = 0.5f * v * (1f + MathF.Tanh(GeluScale * (v + GeluCubic * v * v * v)));
        }
    }

    /// <summary>
    /// GeGLU's gate in place: <c>gate[i] = gelu(gate[i]) · up[i]</c> with GELU as ggml's CPU backend computes it — from a
    /// table over half-precision inputs holding half-precision outputs (tanh form), 0 below −10 and identity above 10 —
    /// so a Gemma model's activations match llama.cpp's to the bit rather than to the table's rounding.
    /// </summary>
    public static void GeluHalfTableMultiply(Span<float> gate, ReadOnlySpan<float> up)
    {
        if (up.Length < gate.Length)
            throw new ArgumentException("up is shorter than gate.", nameof(up));
        // Rounded to half precision a chunk at a time (vectorised), then each looked up in the table of every half's GELU.
        const int Chunk = 256;
        Span<Half> halves = stackalloc Half[Chunk];
        var table = GeluTable.Values;
        for (int at = 0; at < gate.Length; at += Chunk)
        {
            int n = Math.Min(Chunk, gate.Length - at);
            var g = gate.Slice(at, n);
            TensorPrimitives.ConvertToHalf(g, halves[..n]);
            for (int i = 0; i < n; i++)
            {
                float x = g[i];
                float gelu = x <= -10f ? 0f : x >= 10f ? x : table[BitConverter.HalfToUInt16Bits(halves[i])];
                g[i] = gelu * up[at + i];
            }
        }
    }

    /// <summary>Scalar twin of <see cref="GeluHalfTableMultiply"/>: the same GELU computed per element, no table.</summary>
    public static void GeluHalfTableMultiplyScalar(Span<float> gate, ReadOnlySpan<float> up)
    {
        for (int i = 0; i < gate.Length; i++)
            gate[i] = GeluHalfTable(gate[i]) * up[i];
    }

    /// <summary>GELU of every half-precision value, rounded to half precision (what ggml tabulates), as floats; built on first use (65,536 entries).</summary>
    private static class GeluTable
    {
        public static readonly float[] Values = Build();

        private static float[] Build()
        {
            var values = new float[1 << 16];
            for (int bits = 0; bits < values.Length; bits++)
            {
                float h = (float)BitConverter.UInt16BitsToHalf((ushort)bits);
                values[bits] = float.IsFinite(h) ? GeluOfHalf(h) : h;
            }
            return values;
        }
    }

    private static float GeluHalfTable(float x)
    {
        if (x <= -10f)
            return 0f;
        if (x >= 10f)
            return x;
        return GeluOfHalf((float)(Half)x);
    }

    private static float GeluOfHalf(float h) => (float)(Half)(0.5f * h * (1.0f + MathF.Tanh(GeluScale * h * (1.0f + GeluCubic * h * h))));
}
