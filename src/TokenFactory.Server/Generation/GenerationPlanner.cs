using TokenFactory.Engine;
using TokenFactory.Server.Api;
using TokenFactory.Server.Contracts;

namespace TokenFactory.Server.Generation;

/// <summary>Validates a request's sampling fields and builds one engine request per choice.</summary>
internal static class GenerationPlanner
{
    public const int MaxChoices = 128;
    public const int MaxStops = 4;

    public sealed record Plan(SamplingParameters Sampling, int N, IReadOnlyList<string> Stop, int? MaxTokens, string MaxTokensParam, bool IgnoreEos);

    public static Plan Validate(SamplingRequest r, int? maxTokens, string maxTokensParam)
    {
        int n = r.N ?? 1;
        if (n is < 1 or > MaxChoices)
            throw OpenAiException.Invalid($"'n' must be between 1 and {MaxChoices}.", "n");
        if (maxTokens is < 1)
            throw OpenAiException.Invalid($"'{maxTokensParam}' must be at least 1.", maxTokensParam);
        var stop = r.Stop?.Where(s => s.Length > 0).ToList() ?? [];
        if (stop.Count > MaxStops)
            throw OpenAiException.Invalid($"'stop' takes at most {MaxStops} strings.", "stop");
        // OpenAI's range; the engine would take up to 100, but clients expect the API's limits.
        if (r.Temperature is float t && (float.IsNaN(t) || t < 0 || t > 2))
            throw OpenAiException.Invalid("'temperature' must be between 0 and 2.", "temperature");
        var sampling = new SamplingParameters
        {
            Temperature = r.Temperature ?? 1f,
            TopP = r.TopP ?? 1f,
            TopK = r.TopK ?? 0,
            MinP = r.MinP ?? 0f,
            PresencePenalty = r.PresencePenalty ?? 0f,
            FrequencyPenalty = r.FrequencyPenalty ?? 0f,
            RepetitionPenalty = r.RepeatPenalty ?? 1f,
            Seed = r.Seed is long seed ? unchecked((ulong)seed) : null,
        };
        sampling.Validate(); // InvalidGenerationRequestException → 400 with param (ErrorHandlingMiddleware.Map)
        return new Plan(sampling, n, stop, maxTokens, maxTokensParam, r.IgnoreEos ?? false);
    }

    /// <summary>
    /// One request per choice. Seeds are seed+i so choices differ yet the whole response is reproducible.
    /// Without max_tokens the completion may fill the context (or the configured default).
    /// </summary>
    public static List<GenerationRequest> Build(Plan plan, IReadOnlyList<int> prompt, IInferenceEngine engine, ServerOptions options,
        IReadOnlyList<string> extraStops, int? logprobs, bool echoLogprobs, string promptParam)
    {
        if (prompt.Count == 0)
            throw OpenAiException.Invalid("The prompt is empty.", promptParam);
        int room = engine.ContextLength - prompt.Count;
        int maxTokens = plan.MaxTokens ?? (options.DefaultMaxTokens > 0 ? Math.Min(options.DefaultMaxTokens, room) : room);
        if (room < 1 || prompt.Count + maxTokens > engine.ContextLength)
            throw OpenAiException.Invalid(
                new ContextLengthExceededException(prompt.Count, Math.Max(maxTokens, 1), engine.ContextLength).Message, promptParam, "context_length_exceeded");
        IReadOnlyList<string> stop = extraStops.Count == 0 ? plan.Stop : [.. plan.Stop, .. extraStops];
        var requests = new List<GenerationRequest>(plan.N);
        for (int i = 0; i < plan.N; i++)
        {
            requests.Add(new GenerationRequest
            {
                PromptTokens = prompt,
                MaxTokens = maxTokens,
                Sampling = plan.Sampling.Seed is ulong s ? plan.Sampling with { Seed = unchecked(s + (ulong)i) } : plan.Sampling,
                Stop = stop,
                IgnoreEndOfGeneration = plan.IgnoreEos,
                Logprobs = logprobs,
                EchoLogprobs = echoLogprobs,
            });
        }
        return requests;
    }

    public static string FinishReason(FinishReason reason) => reason switch
    {
        Engine.FinishReason.Length => "length",
        _ => "stop",
    };
}
