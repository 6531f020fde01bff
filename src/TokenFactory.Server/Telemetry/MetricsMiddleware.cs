using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace TokenFactory.Server.Telemetry;

/// <summary>
/// Counts every response by route pattern (not raw path, which would let clients create series) and status: for a stream
/// that ended otherwise than it began (an error event after its 200 headers, a client that left), the status its request
/// was settled at (<see cref="EndedWith"/>), as the ledger has it.
/// </summary>
internal sealed class MetricsMiddleware(RequestDelegate next, ServerMetrics metrics)
{
    private static readonly object EndedKey = new();

    /// <summary>A started response's real end: <paramref name="status"/> is counted instead of the 200 its headers said.</summary>
    public static void EndedWith(HttpContext context, int status) => context.Items[EndedKey] = status;

    public async Task InvokeAsync(HttpContext context)
    {
        int status = 500;
        try
        {
            await next(context);
            status = context.Items[EndedKey] as int? ?? context.Response.StatusCode;
        }
        finally
        {
            string? pattern = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText;
            string endpoint = pattern is null || pattern.Contains('*') ? "unmatched" : pattern;
            metrics.CountHttpRequest(endpoint, status);
        }
    }
}
