using BenchmarkDotNet.Attributes;
using TokenFactory.Models;
using TokenFactory.Models.Synthetic;
using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Benchmarks;

/// <summary>
/// One decode step (one token through every layer and the vocabulary projection) of a small synthetic llama; the
/// allocation gate of the issue: Allocated must read "-" (zero bytes). Needs a vocabulary GGUF: set
/// TOKENFACTORY_BENCH_VOCAB (default ../shared/fixtures/tokenizers/ggml-vocab-llama-spm.gguf).
/// </summary>
[MemoryDiagnoser]
public class DecodeStepBenchmarks
{
    private TransformerModel? _model;
    private ForwardPass? _pass;
    private readonly int[] _token = [3];
    private string _path = "";

    [Params(GgmlType.Q8_0, GgmlType.Q4_K)]
    public GgmlType Type { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        string vocab = Environment.GetEnvironmentVariable("TOKENFACTORY_BENCH_VOCAB") ?? FindVocab();
        _path = Path.Combine(Path.GetTempPath(), $"tokenfactory-bench-tiny-{Type}.gguf");
        using (var v = GgufFile.Open(vocab))
            SyntheticModelWriter.Write("llama", ModelShape.Find("tiny"), Type, v.Metadata, _path, 1);
        _model = TransformerModel.Load(_path);
        _pass = new ForwardPass(_model, 512, threads: 1);
        _pass.Evaluate([1, 2, 3, 4]);
    }

    private static string FindVocab()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "shared", "fixtures", "tokenizers", "ggml-vocab-llama-spm.gguf");
            if (File.Exists(candidate))
                return candidate;
        }
        throw new FileNotFoundException("Set TOKENFACTORY_BENCH_VOCAB to a vocabulary GGUF.");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pass?.Dispose();
        _model?.Dispose();
        File.Delete(_path);
    }

    [Benchmark]
    public void DecodeStep()
    {
        if (_pass!.Position >= 500)
            _pass.Reset();
        _pass.Evaluate(_token);
    }
}
