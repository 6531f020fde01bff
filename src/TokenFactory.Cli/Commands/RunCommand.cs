using System.CommandLine;
using System.Globalization;
using TokenFactory.Cli.Bench;
using TokenFactory.Compute;
using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Models;

namespace TokenFactory.Cli.Commands;

/// <summary><c>tokenfactory run</c>: generate from a prompt, streaming, then report prompt and generation speed.</summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "GGUF model (default: the built-in model)" };
        var prompt = new Option<string>("--prompt", "-p") { Description = "Prompt text (control-token texts are parsed)", DefaultValueFactory = _ => "Once upon a time" };
        var n = new Option<int>("-n", "--max-tokens") { Description = "Tokens to generate", DefaultValueFactory = _ => 128 };
        var temp = new Option<float>("--temp") { Description = "Temperature; 0 is greedy", DefaultValueFactory = _ => 0.8f };
        var topK = new Option<int>("--top-k") { Description = "Top-k (0 disables)", DefaultValueFactory = _ => 40 };
        var topP = new Option<float>("--top-p") { Description = "Top-p (1 disables)", DefaultValueFactory = _ => 0.95f };
        var minP = new Option<float>("--min-p") { Description = "Min-p (0 disables)", DefaultValueFactory = _ => 0.05f };
        var repeat = new Option<float>("--repeat-penalty") { Description = "Repetition penalty (1 disables)", DefaultValueFactory = _ => 1f };
        var seed = new Option<ulong?>("--seed", "-s") { Description = "Seed for reproducible sampling" };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads (default: all cores)", DefaultValueFactory = _ => ComputePool.DefaultThreadCount };
        var ctx = new Option<int>("--ctx", "-c") { Description = "Context length (default: the model's, capped at 4096)", DefaultValueFactory = _ => 0 };
        var ignoreEos = new Option<bool>("--ignore-eos") { Description = "Keep generating past end-of-generation tokens" };
        var stop = new Option<string[]>("--stop") { Description = "Stop string (repeatable)", AllowMultipleArgumentsPerToken = false };
        var cmd = new Command("run", "Generate text from a prompt")
        {
            model, prompt, n, temp, topK, topP, minP, repeat, seed, threads, ctx, ignoreEos, stop,
        };
        cmd.SetAction(r => CommandErrors.Run(() =>
        {
            string? path = r.GetValue(model);
            if (path == null)
            {
                var builtIn = BuiltInModel.Resolve();
                Console.Error.WriteLine($"No --model given: running the built-in default, {builtIn.Description}.");
                Console.Error.WriteLine("Run a real model with: tokenfactory run --model path/to/model.gguf --prompt \"...\"");
                path = builtIn.Path;
            }
            using var m = TransformerModel.Load(path);
            // One sequence in the batching engine: the server's path, with a KV cache sized for that one sequence and the
            // prompt chunk bench model measures with (SingleSequence.PromptChunk).
            using var engine = new BatchingEngine(m, new EngineOptions
            {
                ContextLength = r.GetValue(ctx),
                Threads = r.GetValue(threads),
                MaxRunningSequences = 1,
                MaxBatchTokens = SingleSequence.PromptChunk,
                PrefixCaching = false,
            });
            var sampling = new SamplingParameters
            {
                Temperature = r.GetValue(temp),
                TopK = r.GetValue(topK),
                TopP = r.GetValue(topP),
                MinP = r.GetValue(minP),
                RepetitionPenalty = r.GetValue(repeat),
                Seed = r.GetValue(seed),
            };
            string text = r.GetValue(prompt)!;
            var promptTokens = engine.Tokenizer.Encode(text, addSpecial: true, parseSpecial: true);
            int context = engine.ContextLength;
            if (promptTokens.Length >= context)
                throw new ContextLengthExceededException(promptTokens.Length, 1, context);
            var request = new GenerationRequest
            {
                PromptTokens = promptTokens,
                MaxTokens = Math.Max(0, Math.Min(r.GetValue(n), context - promptTokens.Length)),
                Sampling = sampling,
                Stop = r.GetValue(stop) ?? [],
                IgnoreEndOfGeneration = r.GetValue(ignoreEos),
            };

            try
            {
                request.Validate(context, m.Weights.TokenEmbedding.Rows); // before the prompt is echoed
            }
            catch (InvalidGenerationRequestException e)
            {
                throw new TokenFactoryException($"invalid {OptionFor(e.Parameter)}: must be {e.Requirement}, not {e.Value.ToString(CultureInfo.InvariantCulture)}.");
            }

            using var cancel = new CancellationTokenSource();
            Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
            Console.Write(text);
            var summary = Stream(engine, request, cancel.Token).GetAwaiter().GetResult();
            Console.WriteLine();
            var prefill = summary.TimeToFirstToken - summary.QueueTime;
            var generation = summary.TotalTime - summary.TimeToFirstToken;
            double promptRate = prefill > TimeSpan.Zero ? (summary.PromptTokens - summary.CachedPromptTokens) / prefill.TotalSeconds : 0;
            double generationRate = generation > TimeSpan.Zero && summary.CompletionTokens > 1 ? (summary.CompletionTokens - 1) / generation.TotalSeconds : 0;
            Console.Error.WriteLine(
                $"prompt: {summary.PromptTokens} tokens, {promptRate:F1} tokens/s | " +
                $"generation: {summary.CompletionTokens} tokens, {generationRate:F1} tokens/s | " +
                $"threads {engine.Threads} | finish: {summary.FinishReason.ToString().ToLowerInvariant()}");
            Console.Error.WriteLine($"kernels: {KernelChoices.Summary()}");
            return 0;
        }));
        return cmd;
    }

    /// <summary>Streams the completion's text to stdout as it arrives; returns the engine's summary.</summary>
    private static async Task<GenerationSummary> Stream(BatchingEngine engine, GenerationRequest request, CancellationToken cancellation)
    {
        GenerationSummary? summary = null;
        await foreach (var update in engine.GenerateAsync(request, cancellation))
        {
            Console.Write(update.Text);
            summary = update.Final ?? summary;
        }
        return summary ?? throw new InvalidOperationException("The engine ended the stream without a summary.");
    }

    /// <summary>The command-line option that sets an engine parameter, for error messages.</summary>
    private static string OptionFor(GenerationParameter parameter) => parameter switch
    {
        GenerationParameter.Temperature => "--temp",
        GenerationParameter.TopK => "--top-k",
        GenerationParameter.TopP => "--top-p",
        GenerationParameter.MinP => "--min-p",
        GenerationParameter.RepetitionPenalty => "--repeat-penalty",
        GenerationParameter.MaxTokens => "--max-tokens",
        GenerationParameter.Prompt => "--prompt",
        _ => parameter.ToString(),
    };
}
