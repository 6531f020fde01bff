using System.Diagnostics;
using TokenFactory.Compute;
using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Models;

namespace TokenFactory.Cli.Bench;

/// <summary>
/// Our side of <c>bench model</c>: the file loaded, an engine of one sequence over it, the prompt it times and what the
/// generation roofline counts. Disposing it gives back the model's memory (the repacked weights), which lets a model that
/// fits in memory once alternate with a peer that maps the same file (<c>--one-engine-at-a-time</c>).
/// </summary>
internal sealed class BenchedModel : IDisposable
{
    private static readonly TimeSpan WarmUpTime = TimeSpan.FromSeconds(1);

    private BenchedModel(TransformerModel model, EngineCore core, int[] prompt, int bos, int generated)
    {
        Model = model;
        Core = core;
        Sequence = new SingleSequence(core);
        PromptTokens = prompt;
        Bos = bos;
        var c = model.Config;
        // Memory roofline for generation: every matrix a decode step multiplies is read once per token
        // (TransformerWeights.MatricesPerToken: a mixture's router, shared expert and only the experts a token uses), the
        // embedding only one row, plus the KV cache up to the current position (F16 keys and values), averaged over the
        // generated positions; a recurrent block (Mamba-2, DeltaNet) also reads its state and writes it back. The
        // matrices are also what the bandwidth probe reads by default (the first used-count experts standing for the ones
        // a token picks).
        Streamed = model.Weights.MatricesPerToken(c.Moe?.UsedCount ?? 0);
        long weightBytes = Streamed.Sum(w => (long)w.RowBytes * w.Rows) + model.Weights.LookupBytesPerToken;
        if (c.HasRecurrentState)
            weightBytes += 2L * c.RecurrentLayerCount * (c.Ssm!.SsmStateLength + c.Ssm.ConvStateLength) * sizeof(float);
        double kvBytes = 2.0 * c.CacheLayerCount * c.KvDimension * sizeof(short) * (generated + 1) / 2.0;
        BytesPerToken = weightBytes + kvBytes;
    }

    public TransformerModel Model { get; }

    public EngineCore Core { get; }

    public SingleSequence Sequence { get; }

    public ComputePool Pool => Core.ComputePool;

    /// <summary>The timed prompt: the start-of-text token, then random tokens (the same for every load).</summary>
    public int[] PromptTokens { get; }

    public int Bos { get; }

    /// <summary>The matrices one generated token multiplies (what the bandwidth probe reads in place).</summary>
    public IReadOnlyList<WeightMatrix> Streamed { get; }

    public double BytesPerToken { get; }

    public static BenchedModel Load(string path, int threads, int nPrompt, int nGen, int batchTokens)
    {
        var model = TransformerModel.Load(path);
        try
        {
            // One sequence at a time, its cache sized for it alone; no prefix caching, or every repetition after the first
            // would find its prompt cached.
            var core = new EngineCore(model, new EngineOptions
            {
                ContextLength = Math.Max(nPrompt, nGen + 1) + 16,
                Threads = threads,
                MaxRunningSequences = 1,
                MaxBatchTokens = batchTokens,
                PrefixCaching = false,
            });
            int vocab = model.VocabSize;
            int bos = model.File.Metadata.GetInt32OrDefault("tokenizer.ggml.bos_token_id", 1);
            if ((uint)bos >= (uint)vocab)
                bos = 0;
            var rng = new Random(1234);
            int[] prompt = new int[nPrompt];
            for (int i = 0; i < nPrompt; i++)
                prompt[i] = i == 0 ? bos : rng.Next(vocab);
            return new BenchedModel(model, core, prompt, bos, nGen);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// JIT tiers, page faults on the weights. The JIT promotes hot methods to optimised code in the background, once no new
    /// methods have been compiled for a while, so one pass was not enough for small models (stories260K's first timed runs
    /// went at a quarter of the later ones' speed): repeated for at least a second.
    /// </summary>
    public void WarmUp(int nPrompt, int nGen)
    {
        long start = Stopwatch.GetTimestamp();
        do
        {
            if (nPrompt > 0)
                Sequence.Prompt(PromptTokens);
            if (nGen > 0)
                Sequence.Generate(Bos, Math.Min(nGen, 8));
        }
        while (Stopwatch.GetElapsedTime(start) < WarmUpTime);
    }

    public void Dispose()
    {
        Core.Dispose();
        Model.Dispose();
    }
}
