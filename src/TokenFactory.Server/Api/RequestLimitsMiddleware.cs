using Microsoft.AspNetCore.Http;

namespace TokenFactory.Server.Api;

/// <summary>
/// The limits on a request's line and headers, enforced here so that the refusal has OpenAI's error shape:
/// 414 for a URL longer than <see cref="MaxRequestTargetBytes"/>, 431 for headers over
/// <see cref="MaxHeaderBytes"/>. Kestrel's own limits sit at twice these and answer with an empty body (as
/// does Kestrel's 400 for bytes that are not HTTP), because the framework offers no hook before the pipeline.
/// </summary>
internal sealed class RequestLimitsMiddleware(RequestDelegate next)
{
    public const int MaxHeaderBytes = 32 * 1024;
    public const int MaxRequestTargetBytes = 8 * 1024;

    public Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        int target = request.Path.Value?.Length + request.QueryString.Value?.Length ?? 0;
        if (target > MaxRequestTargetBytes)
            throw new OpenAiException(414, $"The request URL is longer than {MaxRequestTargetBytes} bytes.", OpenAiErrorTypes.InvalidRequest, code: "url_too_long");
        long headers = 0;
        foreach (var (name, values) in request.Headers)
        {
            foreach (var value in values)
                headers += name.Length + (value?.Length ?? 0) + 4; // "name: value\r\n"
        }
        if (headers > MaxHeaderBytes)
            throw new OpenAiException(431, $"The request headers total {headers} bytes, more than the server's limit of {MaxHeaderBytes}.",
                OpenAiErrorTypes.InvalidRequest, code: "request_headers_too_large");
        return next(context);
    }
}
