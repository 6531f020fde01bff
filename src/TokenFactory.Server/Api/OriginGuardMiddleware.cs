using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace TokenFactory.Server.Api;

/// <summary>
/// Refuses requests a browser sends on behalf of a page from another origin (403 <c>origin_not_allowed</c>),
/// unless that origin is in <c>TokenFactory:Cors:AllowedOrigins</c>. Browsers put an <c>Origin</c> header on
/// every cross-origin request (and on every POST); API clients (SDKs, curl) send none and pass. Without this a
/// page a user visits could make their browser call a local <c>--no-auth</c> server: the JSON-only rule stops
/// the requests a page can send without asking, and this stops the rest even before CORS is consulted.
/// </summary>
internal sealed class OriginGuardMiddleware(RequestDelegate next, IOptions<ServerOptions> options)
{
    private readonly HashSet<string> _allowed = new(options.Value.Cors.AllowedOrigins.Select(o => o.TrimEnd('/')), StringComparer.OrdinalIgnoreCase);

    public Task InvokeAsync(HttpContext context)
    {
        string? origin = context.Request.Headers.Origin;
        if (string.IsNullOrEmpty(origin) || IsSameOrigin(context.Request, origin) || _allowed.Contains(origin) || _allowed.Contains("*"))
            return next(context);
        throw new OpenAiException(403,
            $"Requests from web pages at {origin} are not allowed. To let a page at that origin call this server, add it to TokenFactory:Cors:AllowedOrigins (serve --allowed-origin).",
            OpenAiErrorTypes.InvalidRequest, code: "origin_not_allowed");
    }

    /// <summary>The page came from this server itself (the command center): scheme, host and port all match.</summary>
    private static bool IsSameOrigin(HttpRequest request, string origin) =>
        string.Equals(origin, $"{request.Scheme}://{request.Host.Value}", StringComparison.OrdinalIgnoreCase);
}
