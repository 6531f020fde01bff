using Microsoft.AspNetCore.Http;
using TokenFactory.Server.Contracts;
using TokenFactory.Server.Hosting;

namespace TokenFactory.Server.Api;

/// <summary>GET /health (load balancers, Kubernetes probes, the fleet's router) and the fallback for unknown paths.</summary>
internal static class OperationalEndpoints
{
    public static IResult Health(EngineHost host) => host.State switch
    {
        EngineState.Ready => Results.Json(new HealthResponse { Status = "ok" }, OpenAiJson.Default.HealthResponse),
        EngineState.Failed => Results.Json(new HealthResponse { Status = "error", Message = host.FailureMessage }, OpenAiJson.Default.HealthResponse, statusCode: 500),
        // Shutting down: load balancers and the fleet's router stop sending here while in-flight requests finish.
        EngineState.Draining => Results.Json(new HealthResponse { Status = "draining" }, OpenAiJson.Default.HealthResponse, statusCode: 503),
        _ => Results.Json(new HealthResponse { Status = "loading", Message = "Loading model" }, OpenAiJson.Default.HealthResponse, statusCode: 503),
    };

    public static Task NotFound(HttpContext context) =>
        ErrorHandlingMiddleware.WriteAsync(context, new OpenAiException(404, $"Unknown path {context.Request.Method} {context.Request.Path}.", OpenAiErrorTypes.NotFound, code: "unknown_url"));
}
