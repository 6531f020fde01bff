using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using TokenFactory.Server.Api;
using TokenFactory.Server.Floor;
using TokenFactory.Server.Metrics;

namespace TokenFactory.Server.Hosting;

public static class OpenAiEndpointRouteBuilderExtensions
{
    /// <summary>Maps the OpenAI-compatible API, llama.cpp's inspection endpoints, /health and /metrics.</summary>
    public static IEndpointRouteBuilder MapOpenAiEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost("/v1/chat/completions", ChatCompletionsEndpoint.HandleAsync);
        endpoints.MapPost("/v1/completions", CompletionsEndpoint.HandleAsync);
        endpoints.MapGet("/v1/models", ModelsEndpoints.List);
        endpoints.MapGet("/v1/models/{id}", ModelsEndpoints.Get);
        endpoints.MapPost("/tokenize", InspectionEndpoints.TokenizeAsync);
        endpoints.MapPost("/detokenize", InspectionEndpoints.DetokenizeAsync);
        endpoints.MapPost("/apply-template", InspectionEndpoints.ApplyTemplateAsync);
        endpoints.MapGet("/health", OperationalEndpoints.Health);
        endpoints.MapGet("/metrics", OperationalEndpoints.Metrics);
        endpoints.MapAdminEndpoints();
        endpoints.MapFallback(OperationalEndpoints.NotFound);
        return endpoints;
    }

    /// <summary>Metrics outermost (it sees final statuses), then OpenAI-shaped errors, then keys (401s in that shape), then routing.</summary>
    public static IApplicationBuilder UseTokenFactory(this IApplicationBuilder app)
    {
        app.UseMiddleware<MetricsMiddleware>();
        app.UseMiddleware<ErrorHandlingMiddleware>();
        app.UseMiddleware<FloorMiddleware>();
        app.UseRouting();
        return app;
    }
}
