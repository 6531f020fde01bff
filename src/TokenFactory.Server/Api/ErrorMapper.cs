using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using TokenFactory.Chat;
using TokenFactory.Engine;
using TokenFactory.Floor;

namespace TokenFactory.Server.Api;

/// <summary>
/// The one place that turns a failure into what the client is told: OpenAI's error shape, a status, and
/// Retry-After where waiting helps. The error middleware writes it; the floor records its status in the ledger.
/// </summary>
internal static class ErrorMapper
{
    /// <summary>nginx's code for "client closed the request"; only ever seen in metrics and the ledger.</summary>
    public const int ClientClosedRequest = 499;

    /// <summary>What a failure of this request is recorded as: 499 when the client went away, else the mapped status.</summary>
    public static int StatusOf(HttpContext context, Exception e) => IsClientGone(context, e) ? ClientClosedRequest : Map(e).Status;

    public static bool IsClientGone(HttpContext context, Exception e) =>
        context.RequestAborted.IsCancellationRequested && e is OperationCanceledException or IOException;

    /// <param name="retryAfterSeconds">What a caller refused by a full engine queue is told to wait (<see cref="ServerOptions.RetryAfterSeconds"/>).</param>
    public static OpenAiException Map(Exception e, int retryAfterSeconds = 1) => e switch
    {
        OpenAiException o => o,
        FloorDeniedException d => FromDenial(d),
        ContextLengthExceededException c => OpenAiException.Invalid(c.Message, "messages", "context_length_exceeded"),
        InvalidGenerationRequestException g => OpenAiException.Invalid(
            $"'{ParamName(g.Parameter)}' must be {g.Requirement}, not {g.Value.ToString(CultureInfo.InvariantCulture)}.", ParamName(g.Parameter)),
        EngineOverloadedException o => new OpenAiException(503, o.Displaced
                ? $"The server is overloaded: this request waited in a full queue and gave its place to a request of a caller holding less of it. Retry after {Math.Max(1, retryAfterSeconds)} s."
                : $"The server is overloaded: {o.Waiting} requests are already waiting. Retry after {Math.Max(1, retryAfterSeconds)} s.",
            OpenAiErrorTypes.Unavailable, code: "server_overloaded")
        {
            RetryAfterSeconds = Math.Max(1, retryAfterSeconds),
        },
        EngineStoppedException s => new OpenAiException(503, s.Message, OpenAiErrorTypes.Unavailable, code: "server_shutting_down") { RetryAfterSeconds = 1 },
        ArgumentException { ParamName: not null } a => OpenAiException.Invalid(Strip(a), a.ParamName),
        TemplateRaisedException t => OpenAiException.Invalid($"The chat template rejected the conversation: {t.Message}", "messages"),
        // A template that cannot render a conversation fails on that conversation's shape (a role, a field it expects):
        // the request's to change, so a 400, as vLLM answers it; the message says what the template tripped on.
        TemplateException t => OpenAiException.Invalid($"The chat template could not render these messages: {t.Message}", "messages", "template_error"),
        BadHttpRequestException b => new OpenAiException(b.StatusCode, b.Message, OpenAiErrorTypes.InvalidRequest),
        JsonException j => RequestBody.FromJsonException(j),
        System.Data.Common.DbException => new OpenAiException(503, "The usage ledger is unavailable; retry shortly.", OpenAiErrorTypes.Unavailable, code: "ledger_unavailable")
        {
            RetryAfterSeconds = 1,
        },
        _ => new OpenAiException(500, "The server had an error while processing your request.", OpenAiErrorTypes.Server),
    };

    /// <summary>Whether the server (not the client) is at fault in a way an operator must see: logged with its stack trace.</summary>
    public static bool IsServerFault(Exception e, OpenAiException mapped) =>
        mapped.Status >= 500 && (mapped.Status != 503 || e is System.Data.Common.DbException);

    /// <summary>The request field (OpenAI's name, or llama.cpp's where OpenAI has none) that sets an engine parameter.</summary>
    private static string ParamName(GenerationParameter parameter) => parameter switch
    {
        GenerationParameter.Prompt => "prompt",
        GenerationParameter.MaxTokens => "max_tokens",
        GenerationParameter.Logprobs => "logprobs",
        GenerationParameter.Temperature => "temperature",
        GenerationParameter.TopK => "top_k",
        GenerationParameter.TopP => "top_p",
        GenerationParameter.MinP => "min_p",
        GenerationParameter.RepetitionPenalty => "repeat_penalty",
        GenerationParameter.FrequencyPenalty => "frequency_penalty",
        GenerationParameter.PresencePenalty => "presence_penalty",
        GenerationParameter.PenaltyWindow => "repeat_last_n",
        GenerationParameter.LogitBias => "logit_bias",
        _ => parameter.ToString(),
    };

    /// <summary>OpenAI's statuses and codes: 401 invalid_api_key, 403, 429 rate_limit_exceeded or insufficient_quota.</summary>
    private static OpenAiException FromDenial(FloorDeniedException d) => d.Reason switch
    {
        DenialReason.MissingKey => new OpenAiException(401, d.Message, OpenAiErrorTypes.InvalidRequest, code: "missing_api_key"),
        DenialReason.InvalidKey => new OpenAiException(401, d.Message, OpenAiErrorTypes.InvalidRequest, code: "invalid_api_key"),
        DenialReason.RevokedKey => new OpenAiException(401, d.Message, OpenAiErrorTypes.InvalidRequest, code: "api_key_revoked"),
        DenialReason.ExpiredKey => new OpenAiException(401, d.Message, OpenAiErrorTypes.InvalidRequest, code: "api_key_expired"),
        DenialReason.ModelNotAllowed => new OpenAiException(403, d.Message, OpenAiErrorTypes.InvalidRequest, "model", "model_not_allowed"),
        DenialReason.RateLimited => new OpenAiException(429, d.Message, d.LimitKind ?? "requests", code: "rate_limit_exceeded")
        {
            RetryAfterSeconds = d.RetryAfter is TimeSpan wait ? Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)) : null,
        },
        _ => new OpenAiException(429, d.Message, "insufficient_quota", code: "insufficient_quota"),
    };

    private static string Strip(ArgumentException a)
    {
        // ArgumentException appends " (Parameter 'x')"; the param field already says it.
        int at = a.Message.IndexOf(" (Parameter '", StringComparison.Ordinal);
        return at > 0 ? a.Message[..at] : a.Message;
    }
}
