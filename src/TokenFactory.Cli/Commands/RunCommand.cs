using System.CommandLine;
using TokenFactory.Compute;
using TokenFactory.Engine;
using TokenFactory.Models;
using TokenFactory.Tokenization;

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
            var tokenizer = Tokenizer.FromMetadata(m.File.Metadata);
            int context = r.GetValue(ctx) > 0 ? r.GetValue(ctx) : Math.Min(m.Config.ContextLength, 4096);
            using var pass = new ForwardPass(m, context, threads: r.GetValue(threads));
            var generator = new TextGenerator(m, tokenizer, pass);
            var sampling = new SamplingParameters
            {
                Temperature = r.GetValue(temp),
                TopK = r.GetValue(topK),
                TopP = r.GetValue(topP),
                MinP = r.GetValue(minP),
                RepetitionPenalty = r.GetValue(repeat),
                Seed = r.GetValue(seed),
            };
            try
            {
                sampling.Validate();
            }
            catch (ArgumentException e)
            {
                throw new TokenFactoryException($"invalid --{e.ParamName?.Replace('_', '-')}: {e.Message.Split(" (Parameter")[0]}");
            }
            string text = r.GetValue(prompt)!;
            var promptTokens = tokenizer.Encode(text, addSpecial: true, parseSpecial: true);
            int maxTokens = Math.Max(0, Math.Min(r.GetValue(n), context - promptTokens.Length));
            if (promptTokens.Length >= context)
                throw new ContextLengthExceededException(promptTokens.Length, 1, context);

            using var cancel = new CancellationTokenSource();
            Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
            Console.Write(text);
            var result = generator.Generate(new GenerationRequest
            {
                PromptTokens = promptTokens,
                MaxTokens = maxTokens,
                Sampling = sampling,
                Stop = r.GetValue(stop) ?? [],
                IgnoreEndOfGeneration = r.GetValue(ignoreEos),
            }, t => Console.Write(t.Text), cancel.Token);
            Console.WriteLine();
            Console.Error.WriteLine(
                $"prompt: {result.PromptTokens} tokens, {result.PromptTokensPerSecond:F1} tokens/s | " +
                $"generation: {result.Tokens.Count} tokens, {result.GenerationTokensPerSecond:F1} tokens/s | " +
                $"threads {pass.Threads} | finish: {result.FinishReason.ToString().ToLowerInvariant()}");
            return 0;
        }));
        return cmd;
    }
}
