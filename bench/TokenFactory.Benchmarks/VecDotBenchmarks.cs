using BenchmarkDotNet.Attributes;
using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Benchmarks;

/// <summary>One weight row of 4096 against a quantized activation row, per kernel tier.</summary>
[MemoryDiagnoser]
public class VecDotBenchmarks
{
    private const int N = 4096;
    private byte[] _weights = [];
    private byte[] _activations = [];

    [Params(GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K)]
    public GgmlType Type { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(42);
        float[] w = new float[N], a = new float[N];
        for (int i = 0; i < N; i++)
        {
            w[i] = (float)(rng.NextDouble() * 2 - 1);
            a[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        _weights = new byte[GgmlTypeInfo.RowSize(Type, N)];
        Quantizer.QuantizeRow(Type, w, _weights);
        GgmlType at = VecDot.ActivationType(Type);
        _activations = new byte[GgmlTypeInfo.RowSize(at, N)];
        Quantizer.QuantizeRow(at, a, _activations);
    }

    [Benchmark(Baseline = true)]
    public float Scalar() => VecDot.DotScalar(Type, _weights, _activations, N);

    [Benchmark]
    public float Best() => VecDot.Dot(Type, _weights, _activations, N);
}
