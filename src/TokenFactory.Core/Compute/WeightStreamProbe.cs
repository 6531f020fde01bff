using System.Diagnostics;

namespace TokenFactory.Compute;

/// <summary>
/// The rate at which the engine's own products stream a set of weight matrices, bytes/s, and their FLOP rate: each matrix
/// multiplied once through <see cref="MatMul"/> by one activation row, as a decode step multiplies them (or by several, as a
/// prompt step does), without the step's attention, norms and per-layer hand-offs. Where <see cref="MemoryBandwidth.Probe"/> asks what memory can deliver (a roofline), this
/// asks what decoding gets from it now: on the 2-core Zen 5 VM a read loop over a model's weights moved between 38 and 72
/// GB/s in minutes while a single sequence's decode speed moved by 13 % and this probe by 16 %, so the planner scales its
/// predictions by this one (<c>plan calibrate</c>, <c>plan check</c>).
/// </summary>
public sealed class WeightStreamProbe
{
    private readonly MatMul _matmul;
    private readonly WeightMatrix[] _matrices;
    private readonly float[] _input;
    private readonly float[] _output;

    /// <param name="tokens">Activation rows each product multiplies: 1 as a decode step, more as a prompt step (<see cref="FlopsPerSecond"/>).</param>
    public WeightStreamProbe(MatMul matmul, IReadOnlyList<WeightMatrix> matrices, int tokens = 1)
    {
        ArgumentOutOfRangeException.ThrowIfZero(matrices.Count, nameof(matrices));
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 1);
        _matmul = matmul;
        _matrices = [.. matrices];
        Tokens = tokens;
        Bytes = _matrices.Sum(w => w.Streamed.Length);
        FlopsPerPass = _matrices.Sum(w => 2.0 * w.Rows * w.Columns * tokens);
        // Activation rows long enough for every matrix (a product reads only the first Columns of each row), and their outputs.
        int columns = _matrices.Max(w => w.Columns);
        _input = new float[tokens * columns];
        for (int i = 0; i < _input.Length; i++)
            _input[i] = MathF.Sin(i) * 0.5f;
        _output = new float[tokens * _matrices.Max(w => w.Rows)];
        Pass(); // warm-up: page faults, the kernels' first compilation
    }

    /// <summary>The weight bytes one pass streams (each matrix's <see cref="WeightMatrix.Streamed"/> bytes).</summary>
    public long Bytes { get; }

    public int Tokens { get; }

    /// <summary>Multiply-adds of one pass, two FLOPs each.</summary>
    public double FlopsPerPass { get; }

    /// <summary>The products' rate, FLOP/s, as the best of <paramref name="passes"/> passes.</summary>
    public double FlopsPerSecond(int passes) => Best(passes) / Bytes * FlopsPerPass;

    /// <summary>The last product's output (the last matrix's rows for each token), for tests.</summary>
    internal ReadOnlySpan<float> LastOutput => _output.AsSpan(0, Tokens * _matrices[^1].Rows);

    /// <summary>The activation rows the products multiply, for tests: a product of C columns reads the first Tokens × C values as Tokens rows.</summary>
    internal ReadOnlySpan<float> Input => _input;

    /// <summary>One product per matrix; bytes/s.</summary>
    public double Pass()
    {
        long t0 = Stopwatch.GetTimestamp();
        foreach (ref readonly var w in _matrices.AsSpan())
            _matmul.Multiply(w, _input, 0, Tokens, _output, 0);
        return Bytes / Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }

    /// <summary>
    /// The best of <paramref name="passes"/> passes, bytes/s. The first passes after other work often run slow (on the VM
    /// at half to two thirds of the rate, for up to four passes after an engine run), so one pass is not a reading.
    /// </summary>
    public double Best(int passes) => BestPass.Of(passes, Pass);
}
