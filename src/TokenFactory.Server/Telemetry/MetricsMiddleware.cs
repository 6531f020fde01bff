using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace TokenFactory.Server.Telemetry;

/// <summary>Counts every response by route pattern (not raw path, which would let clients create series) and status.</summary>
internal sealed class MetricsMiddleware(RequestDelegate next, ServerMetrics metrics)
{
    public async Task InvokeAsync(HttpContext context)
    {
        int status = 500;
        try
        {
            await next(context);
            status = context.Response.StatusCode;
        }
        finally
        {
            string? pattern = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText;
            string endpoint = pattern is null || pattern.Contains('*') ? "unmatched" : pattern;
            metrics.CountHttpRequest(endpoint, status);
        }
    }
}
