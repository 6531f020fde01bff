using BenchmarkDotNet.Attributes;
using TokenFactory.Compute;
using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Benchmarks;

/// <summary>
/// One weight matrix (2048 x 2048, the attention shape of tinyllama / llama-3.2-1b) times 1 token (decode) or 64
/// tokens (a prefill chunk), single-threaded so figures are per core. Allocated bytes must stay 0.
/// </summary>
[MemoryDiagnoser]
public class MatMulBenchmarks
{
    private const int N = 2048;
    private GgufFile? _file;
    private WeightMatrix _w;
    private ComputePool? _pool;
    private MatMul? _matmul;
    private float[] _x = [];
    private float[] _out = [];

    [Params(GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.F16, GgmlType.BF16)]
    public GgmlType Type { get; set; }

    [Params(1, 64)]
    public int Tokens { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(42);
        var row = new float[N];
        long rowBytes = GgmlTypeInfo.RowSize(Type, N);
        var data = new byte[rowBytes * N];
        for (int r = 0; r < N; r++)
        {
            for (int i = 0; i < N; i++)
                row[i] = (float)(rng.NextDouble() * 2 - 1);
            Quantizer.QuantizeRow(Type, row, data.AsSpan((int)(r * rowBytes), (int)rowBytes));
        }
        var writer = new GgufWriter();
        writer.AddTensor("w", [N, N], Type, data);
        _file = GgufFile.FromBytes(writer.ToBytes());
        _w = new WeightMatrix(_file, _file.GetTensorInfo("w"));
        _pool = new ComputePool(1);
        _matmul = new MatMul(_pool);
        _x = new float[Tokens * N];
        for (int i = 0; i < _x.Length; i++)
            _x[i] = (float)(rng.NextDouble() * 2 - 1);
        _out = new float[Tokens * N];
        _matmul.Multiply(_w, _x, 0, Tokens, _out, 0); // grow buffers
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pool?.Dispose();
        _file?.Dispose();
    }

    [Benchmark]
    public void Multiply() => _matmul!.Multiply(_w, _x, 0, Tokens, _out, 0);
}

/// <summary>Activation quantization for the tiled kernels vs the reference quantizer (one 4096-float row).</summary>
[MemoryDiagnoser]
public unsafe class ActivationPackingBenchmarks
{
    private const int N = 4096;
    private readonly float[] _x = new float[N];
    private readonly byte[] _codes = new byte[N];
    private readonly float[] _scales = new float[N / 32];
    private readonly int[] _sums = new int[N / 32];
    private readonly byte[] _reference = new byte[GgmlTypeInfo.RowSize(GgmlType.Q8_K, N) + GgmlTypeInfo.RowSize(GgmlType.Q8_0, N)];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        for (int i = 0; i < N; i++)
            _x[i] = (float)(rng.NextDouble() * 2 - 1);
    }

    [Benchmark(Baseline = true)]
    public void Q8_0_reference() => Quantizer.QuantizeRow(GgmlType.Q8_0, _x, _reference);

    [Benchmark]
    public void Q8_0_packed()
    {
        fixed (float* x = _x)
        fixed (byte* c = _codes)
        fixed (float* s = _scales)
        fixed (int* m = _sums)
            ActivationPacking.Q8_0(x, N, (sbyte*)c, s, m);
    }

    [Benchmark]
    public void Q8_K_reference() => Quantizer.QuantizeRow(GgmlType.Q8_K, _x, _reference);

    [Benchmark]
    public void Q8_K_packed()
    {
        fixed (float* x = _x)
        fixed (byte* c = _codes)
        fixed (float* s = _scales)
        fixed (int* p = _sums)
            ActivationPacking.Q8_K(x, N, (sbyte*)c, s, p);
    }
}
