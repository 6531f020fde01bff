using System.Diagnostics;
using TokenFactory.Engine;

namespace TokenFactory.Cli.Bench;

/// <summary>Sends benchmark requests straight to an engine in this process (no HTTP): the engine's own serving figures.</summary>
public sealed class EngineTarget(IInferenceEngine engine) : IBenchTarget
{
    public async Task<RequestResult> SendAsync(BenchRequest request, Action onToken, CancellationToken cancellation)
    {
        int[] prompt = request.PromptTokenIds ?? engine.Tokenizer.Encode(request.Prompt, addSpecial: true, parseSpecial: false);
        var clock = Stopwatch.StartNew();
        double ttft = 0, last = 0;
        int tokens = 0;
        var gaps = new List<double>();
        GenerationSummary? final = null;
        await foreach (var u in engine.GenerateAsync(new GenerationRequest
        {
            PromptTokens = prompt,
            MaxTokens = request.OutputTokens,
            Sampling = SamplingParameters.Greedy,
            IgnoreEndOfGeneration = true,
        }, cancellation))
        {
            if (u.Final != null)
            {
                final = u.Final;
                continue;
            }
            if (u.Token < 0)
                continue;
            double now = clock.Elapsed.TotalMilliseconds;
            if (tokens == 0)
                ttft = now;
            else
                gaps.Add(now - last);
            last = now;
            tokens++;
            onToken();
        }
        return new RequestResult
        {
            Success = final?.FinishReason is FinishReason.Length or FinishReason.Stop,
            Error = final == null ? "no final update" : null,
            PromptTokens = prompt.Length,
            OutputTokens = tokens,
            TtftMs = ttft,
            LatencyMs = clock.Elapsed.TotalMilliseconds,
            InterTokenMs = gaps,
        };
    }
}
