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

    public static OpenAiException Map(Exception e) => e switch
    {
        OpenAiException o => o,
        FloorDeniedException d => FromDenial(d),
        ContextLengthExceededException c => OpenAiException.Invalid(c.Message, "messages", "context_length_exceeded"),
        EngineOverloadedException o => new OpenAiException(503, o.Message, OpenAiErrorTypes.Unavailable, code: "server_overloaded")
        {
            RetryAfterSeconds = Math.Max(1, (int)Math.Ceiling(o.RetryAfter.TotalSeconds)),
        },
        ArgumentException { ParamName: not null } a => OpenAiException.Invalid(Strip(a), a.ParamName),
        TemplateRaisedException t => OpenAiException.Invalid($"The chat template rejected the conversation: {t.Message}", "messages"),
        TemplateException t => new OpenAiException(500, $"The chat template failed: {t.Message}", OpenAiErrorTypes.Server),
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
