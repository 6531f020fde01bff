using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using TokenFactory.Chat;
using TokenFactory.Engine;
using TokenFactory.Floor;
using TokenFactory.Server.Contracts;
using TokenFactory.Server.Hosting;

namespace TokenFactory.Server.Api;

/// <summary>
/// Turns every failure into OpenAI's error shape and status: validation 400, unknown model 404, oversized
/// body 413, overload 503 with Retry-After. A client that went away gets nothing (and 499 in the metrics).
/// </summary>
internal sealed class ErrorHandlingMiddleware(RequestDelegate next, ILogger<ErrorHandlingMiddleware> logger)
{
    /// <summary>nginx's code for "client closed the request"; only ever seen in metrics.</summary>
    public const int ClientClosedRequest = 499;

    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context);
        }
        catch (Exception e) when (context.RequestAborted.IsCancellationRequested && e is OperationCanceledException or IOException)
        {
            Log.ClientGone(logger, context.Request.Path);
            if (!context.Response.HasStarted)
                context.Response.StatusCode = ClientClosedRequest;
        }
        catch (Exception e)
        {
            var error = Map(e);
            if (error.Status >= 500 && (error.Status != 503 || e is System.Data.Common.DbException))
                Log.Unhandled(logger, e, context.Request.Path);
            if (context.Response.HasStarted)
                return;
            await WriteAsync(context, error);
        }
    }

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

    public static async Task WriteAsync(HttpContext context, OpenAiException error)
    {
        context.Response.StatusCode = error.Status;
        if (error.RetryAfterSeconds is int seconds)
            context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await context.Response.WriteAsJsonAsync(ToBody(error), OpenAiJson.Default.ErrorResponse, contentType: null, context.RequestAborted);
    }

    public static ErrorResponse ToBody(OpenAiException error) =>
        new() { Error = new ErrorBody { Message = error.Message, Type = error.Type, Param = error.Param, Code = error.Code } };

    private static string Strip(ArgumentException a)
    {
        // ArgumentException appends " (Parameter 'x')"; the param field already says it.
        int at = a.Message.IndexOf(" (Parameter '", StringComparison.Ordinal);
        return at > 0 ? a.Message[..at] : a.Message;
    }
}
