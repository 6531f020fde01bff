using System.CommandLine;
using TokenFactory.Cli.Bench;
using TokenFactory.Compute;
using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Models;

namespace TokenFactory.Cli.Commands;

/// <summary>
/// <c>tokenfactory bench engine</c>: the serving workload of <c>bench serve</c>, sent to the batching engine in this
/// process, to measure the engine without HTTP.
/// </summary>
internal static class BenchEngineCommand
{
    public static Command Create()
    {
        var modelPath = new Option<string>("--model-file", "-f") { Description = "GGUF model", Required = true };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads", DefaultValueFactory = _ => ComputePool.DefaultThreadCount };
        var ctx = new Option<int>("--ctx") { Description = "Context length per sequence (default: model's, capped at 4096)", DefaultValueFactory = _ => 0 };
        var kvMemory = new Option<string?>("--kv-cache-memory") { Description = "Paged KV cache size, e.g. 512MiB (default: auto)" };
        var batchTokens = new Option<int>("--max-batch-tokens") { Description = "Token budget per step (prefill chunk size)", DefaultValueFactory = _ => 256 };
        var maxRunning = new Option<int>("--max-running") { Description = "Sequences batched at once", DefaultValueFactory = _ => 32 };
        var noPrefix = new Option<bool>("--no-prefix-caching") { Description = "Disable prefix caching" };
        var workload = new BenchWorkloadOptions();
        var cmd = new Command("engine", "Benchmark the engine in-process (no HTTP) with a serving workload")
        {
            modelPath, threads, ctx, kvMemory, batchTokens, maxRunning, noPrefix,
        };
        workload.AddTo(cmd);
        cmd.SetAction(async (r, cancellation) =>
        {
            try
            {
                using var model = TransformerModel.Load(r.GetValue(modelPath)!);
                string? kv = r.GetValue(kvMemory);
                var options = new EngineOptions
                {
                    Threads = r.GetValue(threads),
                    ContextLength = r.GetValue(ctx),
                    KvCacheMemory = kv != null ? ByteSize.Parse(kv) : 0,
                    MaxBatchTokens = r.GetValue(batchTokens),
                    MaxRunningSequences = r.GetValue(maxRunning),
                    PrefixCaching = !r.GetValue(noPrefix),
                    MaxWaitingRequests = 100_000,
                };
                using var engine = new BatchingEngine(model, options);
                await workload.RunAsync(r, new EngineTarget(engine), $"Engine benchmark: {Path.GetFileName(r.GetValue(modelPath))}", new()
                {
                    ["model_file"] = r.GetValue(modelPath),
                    ["threads"] = r.GetValue(threads),
                    ["max_batch_tokens"] = options.MaxBatchTokens,
                    ["max_running"] = options.MaxRunningSequences,
                    ["prefix_caching"] = options.PrefixCaching,
                    ["kernels"] = KernelChoices.Summary(),
                    ["kv_cache"] = ByteSize.Format(engine.KvCacheBytes),
                    ["recurrent_state"] = engine.RecurrentStateBytes > 0 ? ByteSize.Format(engine.RecurrentStateBytes) : null,
                });
                var c = engine.Counters;
                Console.Error.WriteLine($"engine: {c.Steps} steps, mean batch {c.MeanBatchSequences:F1} sequences, prefill {c.PrefillTokens} tokens, " +
                    $"decode {c.DecodeTokens} tokens, prefix cache hits {c.PrefixCacheHitTokens}/{c.PrefixCacheQueryTokens} tokens, preemptions {c.Preemptions}");
                return 0;
            }
            catch (Exception e) when (e is TokenFactoryException or IOException or FormatException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return cmd;
    }
}
