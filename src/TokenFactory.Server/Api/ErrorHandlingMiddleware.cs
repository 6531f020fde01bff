using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
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
internal sealed class ErrorHandlingMiddleware(RequestDelegate next, ILogger<ErrorHandlingMiddleware> logger, IOptions<ServerOptions> options)
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
            var error = Map(e, options.Value.RetryAfterSeconds);
            if (error.Status >= 500 && (error.Status != 503 || e is System.Data.Common.DbException))
                Log.Unhandled(logger, e, context.Request.Path);
            if (context.Response.HasStarted)
                return;
            await WriteAsync(context, error);
        }
    }

    /// <param name="retryAfterSeconds">What an overloaded engine's caller is told to wait (<see cref="ServerOptions.RetryAfterSeconds"/>).</param>
    public static OpenAiException Map(Exception e, int retryAfterSeconds = 1) => e switch
    {
        OpenAiException o => o,
        FloorDeniedException d => FromDenial(d),
        ContextLengthExceededException c => OpenAiException.Invalid(c.Message, "messages", "context_length_exceeded"),
        InvalidGenerationRequestException g => OpenAiException.Invalid(
            $"'{ParamName(g.Parameter)}' must be {g.Requirement}, not {g.Value.ToString(CultureInfo.InvariantCulture)}.", ParamName(g.Parameter)),
        EngineOverloadedException o => new OpenAiException(503,
            $"The server is overloaded: {o.Waiting} requests are already waiting. Retry after {Math.Max(1, retryAfterSeconds)} s.",
            OpenAiErrorTypes.Unavailable, code: "server_overloaded")
        {
            RetryAfterSeconds = Math.Max(1, retryAfterSeconds),
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
