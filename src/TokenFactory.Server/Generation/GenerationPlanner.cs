using Microsoft.AspNetCore.Http;
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

    /// <summary>
    /// Checks every sampling field against OpenAI's documented range, both ends inclusive (the llama.cpp/vLLM
    /// extensions against the ranges in docs/server.md), and builds the engine's sampling parameters.
    /// </summary>
    /// <param name="minMaxTokens">1 for chat; 0 for completions, where <c>max_tokens: 0</c> with <c>echo</c> scores a prompt.</param>
    public static Plan Validate(SamplingRequest r, int? maxTokens, string maxTokensParam, int minMaxTokens = 1)
    {
        int n = r.N ?? 1;
        if (n is < 1 or > MaxChoices)
            throw OpenAiException.Invalid($"'n' must be between 1 and {MaxChoices}.", "n");
        if (maxTokens < minMaxTokens)
            throw OpenAiException.Invalid($"'{maxTokensParam}' must be at least {minMaxTokens}.", maxTokensParam);
        var stop = r.Stop?.ToList() ?? [];
        if (stop.Count > MaxStops)
            throw OpenAiException.Invalid($"'stop' takes at most {MaxStops} strings.", "stop");
        if (stop.Any(s => s.Length == 0))
            throw OpenAiException.Invalid("'stop' strings must not be empty (an empty string would stop nothing).", "stop");
        float temperature = InRange(r.Temperature, "temperature", 0, 2, 1);
        float topP = InRange(r.TopP, "top_p", 0, 1, 1);
        float minP = InRange(r.MinP, "min_p", 0, 1, 0);
        float presence = InRange(r.PresencePenalty, "presence_penalty", -2, 2, 0);
        float frequency = InRange(r.FrequencyPenalty, "frequency_penalty", -2, 2, 0);
        if (r.RepeatPenalty is double repeat && !(repeat > 0))
            throw OpenAiException.Invalid("'repeat_penalty' must be greater than 0 (1 disables it).", "repeat_penalty");
        if (r.TopK is < 0)
            throw OpenAiException.Invalid("'top_k' must be 0 (disabled) or more.", "top_k");
        var bias = LogitBias(r.LogitBias);
        // top_p 0 keeps only the most likely token, which is top_k 1 (the engine's nucleus takes a positive mass).
        bool onlyTop = topP == 0;
        var sampling = new SamplingParameters
        {
            Temperature = temperature,
            TopP = onlyTop ? 1 : topP,
            TopK = onlyTop ? 1 : r.TopK ?? 0,
            MinP = minP,
            PresencePenalty = presence,
            FrequencyPenalty = frequency,
            RepetitionPenalty = (float)(r.RepeatPenalty ?? 1),
            Seed = r.Seed is long seed ? unchecked((ulong)seed) : null,
            LogitBias = bias,
        };
        sampling.Validate(); // the engine's own limits, should they ever be narrower than the API's (InvalidGenerationRequestException → 400 in ErrorMapper)
        return new Plan(sampling, n, stop, maxTokens, maxTokensParam, r.IgnoreEos ?? false);
    }

    /// <summary>
    /// OpenAI's <c>logit_bias</c>: token ids as string keys, each to a bias of -100..100 (ids outside the
    /// vocabulary are refused by the engine with the same parameter named).
    /// </summary>
    private static Dictionary<int, float>? LogitBias(Dictionary<string, double>? bias)
    {
        if (bias is not { Count: > 0 })
            return null;
        var result = new Dictionary<int, float>(bias.Count);
        foreach (var (key, value) in bias)
        {
            if (!int.TryParse(key, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int token))
                throw OpenAiException.Invalid($"'logit_bias' keys must be token ids (non-negative integers as strings); got '{key}'.", "logit_bias");
            if (!(value >= -SamplingParameters.MaxLogitBias && value <= SamplingParameters.MaxLogitBias))
                throw OpenAiException.Invalid($"'logit_bias' values must be between -100 and 100 (inclusive); token {key} has {value.ToString(System.Globalization.CultureInfo.InvariantCulture)}.", "logit_bias");
            if (!result.TryAdd(token, (float)value))
                throw OpenAiException.Invalid($"'logit_bias' names token {token} twice ('{key}' is the same id).", "logit_bias");
        }
        return result;
    }

    /// <summary>
    /// Chat's completion limit: <c>max_completion_tokens</c> (OpenAI's current name) or the deprecated <c>max_tokens</c>, and the
    /// name to report. Both given and different is a 400 naming <c>max_tokens</c>: one of them would otherwise be ignored.
    /// </summary>
    public static (int? Value, string Param) ChatMaxTokens(int? maxTokens, int? maxCompletionTokens)
    {
        if (maxTokens is int a && maxCompletionTokens is int b && a != b)
            throw OpenAiException.Invalid($"'max_tokens' ({a}) and 'max_completion_tokens' ({b}) disagree; send one of them (max_tokens is the deprecated name).", "max_tokens");
        return maxCompletionTokens is int limit ? (limit, "max_completion_tokens") : (maxTokens, "max_tokens");
    }

    /// <summary>The value (or <paramref name="absent"/>), refused with a 400 naming it when outside [min, max].</summary>
    private static float InRange(double? value, string param, double min, double max, float absent)
    {
        if (value is not double v)
            return absent;
        if (!(v >= min && v <= max))
            throw OpenAiException.Invalid($"'{param}' must be between {min} and {max} (inclusive); got {v.ToString(System.Globalization.CultureInfo.InvariantCulture)}.", param);
        return (float)v;
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

    /// <summary>
    /// A choice the engine cancelled never completed: the client went away (499 in the ledger, nothing to
    /// send) or the server is shutting down (503). Null for a choice that finished.
    /// </summary>
    public static Exception? Cancellation(HttpContext context, GenerationSummary final)
    {
        if (final.FinishReason != Engine.FinishReason.Cancelled)
            return null;
        if (context.RequestAborted.IsCancellationRequested)
            return new OperationCanceledException("The client closed the request.", context.RequestAborted);
        return new OpenAiException(503, "The server stopped this generation because it is shutting down; retry on another replica or shortly.",
            OpenAiErrorTypes.Unavailable, code: "server_shutting_down") { RetryAfterSeconds = 1 };
    }

    /// <summary>Throws <see cref="Cancellation"/>'s exception when the choice was cancelled.</summary>
    public static void ThrowIfCancelled(HttpContext context, GenerationSummary final)
    {
        if (Cancellation(context, final) is { } error)
            throw error;
    }

    public static string FinishReason(FinishReason reason) => reason switch
    {
        Engine.FinishReason.Length => "length",
        _ => "stop",
    };
}
