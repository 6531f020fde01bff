using BenchmarkDotNet.Attributes;
using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Models;
using TokenFactory.Models.Synthetic;
using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Benchmarks;

/// <summary>
/// One decode step of the batching engine (one sequence: one token through every layer over the paged cache, the
/// vocabulary projection and greedy sampling) of a small synthetic llama; Allocated must read "-" (zero bytes), as the
/// test suite's DecodeAllocationTests insist. Needs a vocabulary GGUF: set
/// TOKENFACTORY_BENCH_VOCAB (default ../shared/fixtures/tokenizers/ggml-vocab-llama-spm.gguf).
/// </summary>
[MemoryDiagnoser]
public class DecodeStepBenchmarks
{
    private TransformerModel? _model;
    private EngineCore? _core;
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
        _core = new EngineCore(_model, new EngineOptions { ContextLength = 512, Threads = 1, MaxRunningSequences = 1, PrefixCaching = false });
        Start();
    }

    /// <summary>A sequence long enough for every step BenchmarkDotNet runs until the next <see cref="Start"/>.</summary>
    private void Start()
    {
        _core!.Add(_core.CreateSequence(new GenerationRequest
        {
            PromptTokens = [1, 2, 3, 4],
            MaxTokens = 500,
            Sampling = SamplingParameters.Greedy,
            IgnoreEndOfGeneration = true,
        }, new DiscardingOutput()));
        _core.Step();
    }

    private sealed class DiscardingOutput : ISequenceOutput
    {
        public void Token(int token, ReadOnlySpan<char> text, float? logprob, TokenLogprob[]? topLogprobs)
        {
        }

        public void Text(ReadOnlySpan<char> text)
        {
        }

        public void Finished(GenerationSummary summary)
        {
        }

        public void Failed(Exception error) => throw error;
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
        _core?.Dispose();
        _model?.Dispose();
        File.Delete(_path);
    }

    [Benchmark]
    public void DecodeStep()
    {
        if (!_core!.Step())
            Start(); // the sequence spent its 500 tokens
    }
}
