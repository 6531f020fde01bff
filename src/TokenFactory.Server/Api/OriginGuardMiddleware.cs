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
/// <remarks>
/// Without API keys, "same origin" also needs a host a DNS-rebinding page cannot present: such a page at
/// <c>http://evil.example:8080</c> rebinds its name to 127.0.0.1, and its requests then carry that origin and that
/// Host, matching each other. An IP literal or <c>localhost</c> (which browsers resolve to loopback themselves) cannot be
/// rebound; a keyless server reached by another name lists its page's origin in the allowed origins. With keys a
/// rebinding page gains nothing (it has no key, and this server's cookies are not sent to its name).
/// </remarks>
internal sealed class OriginGuardMiddleware(RequestDelegate next, IOptions<ServerOptions> options, TokenFactory.Floor.FloorService floor)
{
    private readonly HashSet<string> _allowed = new(options.Value.Cors.AllowedOrigins.Select(o => o.TrimEnd('/')), StringComparer.OrdinalIgnoreCase);

    public Task InvokeAsync(HttpContext context)
    {
        string? origin = context.Request.Headers.Origin;
        if (string.IsNullOrEmpty(origin))
        {
            // Browsers send no Origin on a same-origin GET, but do send Sec-Fetch-Site: a rebinding page's reads (the
            // command center's figures, a plan) of a keyless server by a rebindable name are refused as its writes are.
            if (floor.Options.RequiresKeys || !context.Request.Headers.ContainsKey("Sec-Fetch-Site") || CannotBeRebound(ConnectionHost(context))
                || _allowed.Contains("*") || _allowed.Contains($"{context.Request.Scheme}://{context.Request.Host.Value}"))
                return next(context);
            throw new OpenAiException(403,
                $"Browser requests to this server by the name {context.Request.Host.Host} are not allowed: without API keys, reach it by IP address or localhost (a host name could be a DNS-rebinding page), or add its origin to TokenFactory:Cors:AllowedOrigins (serve --allowed-origin).",
                OpenAiErrorTypes.InvalidRequest, code: "origin_not_allowed");
        }
        if (IsSameOrigin(context.Request, origin) || _allowed.Contains(origin) || _allowed.Contains("*"))
            return next(context);
        string named = floor.Options.RequiresKeys || !string.Equals(origin, $"{context.Request.Scheme}://{context.Request.Host.Value}", StringComparison.OrdinalIgnoreCase) ? ""
            : " Without API keys, this server's own pages must be reached by IP address or localhost (a host name could be a DNS-rebinding page);";
        throw new OpenAiException(403,
            $"Requests from web pages at {origin} are not allowed.{named} To let a page at that origin call this server, add it to TokenFactory:Cors:AllowedOrigins (serve --allowed-origin).",
            OpenAiErrorTypes.InvalidRequest, code: "origin_not_allowed");
    }

    /// <summary>The page came from this server itself (the command center): scheme, host and port all match.</summary>
    private bool IsSameOrigin(HttpRequest request, string origin) =>
        string.Equals(origin, $"{request.Scheme}://{request.Host.Value}", StringComparison.OrdinalIgnoreCase)
        && (floor.Options.RequiresKeys || CannotBeRebound(ConnectionHost(request.HttpContext)));

    private static readonly object ConnectionHostKey = new();

    /// <summary>Keeps the Host the connection asked for, before trusted proxies' forwarded headers replace it.</summary>
    public static void NoteConnectionHost(HttpContext context) => context.Items[ConnectionHostKey] = context.Request.Host.Host;

    /// <summary>The name the connection asked for: a forwarded one cannot vouch for it (a page may send X-Forwarded-Host).</summary>
    private static string ConnectionHost(HttpContext context) => context.Items[ConnectionHostKey] as string ?? context.Request.Host.Host;

    private static bool CannotBeRebound(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || System.Net.IPAddress.TryParse(host.Trim('[', ']'), out _);
}
