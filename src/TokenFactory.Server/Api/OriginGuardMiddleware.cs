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
        var request = context.Request;
        string? origin = request.Headers.Origin;
        // A browser marks what it sends for a page: an Origin, or on a same-origin GET only Sec-Fetch-Site. API clients (SDKs,
        // curl) send neither and pass.
        if (string.IsNullOrEmpty(origin) && !request.Headers.ContainsKey("Sec-Fetch-Site"))
            return next(context);
        string own = $"{request.Scheme}://{request.Host.Value}";
        string page = string.IsNullOrEmpty(origin) ? own : origin;
        if (_allowed.Contains(page) || _allowed.Contains("*"))
            return next(context);
        bool ownPage = string.Equals(page, own, StringComparison.OrdinalIgnoreCase);
        bool rebindable = !floor.Options.RequiresKeys && !CannotBeRebound(ConnectionHost(context));
        if (ownPage && !rebindable)
            return next(context); // the command center's own page
        string why = ownPage ? " Without API keys, this server's own pages must be reached by IP address or localhost (a host name could be a DNS-rebinding page);" : "";
        throw new OpenAiException(403,
            $"Requests from web pages at {page} are not allowed.{why} To let a page at that origin call this server, add it to TokenFactory:Cors:AllowedOrigins (serve --allowed-origin).",
            OpenAiErrorTypes.InvalidRequest, code: "origin_not_allowed");
    }

    private static readonly object ConnectionHostKey = new();

    /// <summary>Keeps the Host the connection asked for, before trusted proxies' forwarded headers replace it.</summary>
    public static void NoteConnectionHost(HttpContext context) => context.Items[ConnectionHostKey] = context.Request.Host.Host;

    /// <summary>The name the connection asked for: a forwarded one cannot vouch for it (a page may send X-Forwarded-Host).</summary>
    private static string ConnectionHost(HttpContext context) => context.Items[ConnectionHostKey] as string ?? context.Request.Host.Host;

    private static bool CannotBeRebound(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || System.Net.IPAddress.TryParse(host.Trim('[', ']'), out _);
}
