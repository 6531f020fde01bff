using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using TokenFactory.Server.Api;
using TokenFactory.Server.Fleet;
using TokenFactory.Server.Floor;
using TokenFactory.Server.Telemetry;

using TokenFactory.Server.CommandCenter;

namespace TokenFactory.Server.Hosting;

public static class OpenAiEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps the OpenAI-compatible API and llama.cpp's inspection endpoints behind the floor's filter (API keys,
    /// admission, metering), the admin API behind the admin key, /health and /metrics open to probes, and the status a
    /// fleet's router polls.
    /// </summary>
    public static IEndpointRouteBuilder MapOpenAiEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.MapGroup(string.Empty).AddEndpointFilter<FloorFilter>();
        api.MapPost("/v1/chat/completions", ChatCompletionsEndpoint.PlanAsync).WithMetadata(new GenerationEndpoint("/v1/chat/completions"));
        api.MapPost("/v1/completions", CompletionsEndpoint.PlanAsync).WithMetadata(new GenerationEndpoint("/v1/completions"));
        api.MapPost("/v1/responses", ResponsesEndpoint.PlanAsync).WithMetadata(new GenerationEndpoint("/v1/responses"));
        api.MapPost("/v1/embeddings", EmbeddingsEndpoint.PlanAsync).WithMetadata(new GenerationEndpoint("/v1/embeddings"));
        api.MapGet("/v1/models", ModelsEndpoints.List);
        api.MapGet("/v1/models/{id}", ModelsEndpoints.Get);
        api.MapPost("/tokenize", InspectionEndpoints.TokenizeAsync);
        api.MapPost("/detokenize", InspectionEndpoints.DetokenizeAsync);
        api.MapPost("/apply-template", InspectionEndpoints.ApplyTemplateAsync);
        endpoints.MapGroup("/admin").AddEndpointFilter<AdminKeyFilter>().MapAdminEndpoints();
        endpoints.MapGet(ReplicaEndpoints.Health, OperationalEndpoints.Health);
        endpoints.MapGet(ReplicaEndpoints.Status, StatusEndpoint.Get);
        endpoints.MapPrometheusScrapingEndpoint("/metrics");
        endpoints.MapCommandCenter();
        endpoints.MapFallback(OperationalEndpoints.NotFound);
        return endpoints;
    }

    /// <summary>
    /// Metrics outermost (it sees final statuses), then OpenAI-shaped errors, the URL and header limits, the internal token of a
    /// fleet replica, the cross-origin guard and CORS for the origins it lets through (preflights answered here), then routing.
    /// </summary>
    /// <param name="acceptsRouter">
    /// False for the fleet's router itself: it holds the internal token to reach its replicas, but nobody reaches it with
    /// one, and a client's router headers are refused there as on any server without a router.
    /// </param>
    public static IApplicationBuilder UseTokenFactory(this IApplicationBuilder app, bool acceptsRouter = true)
    {
        // First, so everything after sees the client, its scheme and the public name a trusted proxy forwarded.
        var proxies = app.ApplicationServices.GetRequiredService<IOptions<ServerOptions>>().Value.TrustedProxies;
        if (proxies.Length > 0)
        {
            // The name the connection itself asked for, before a forwarded one replaces it: what the DNS-rebinding check
            // judges, since a page can send X-Forwarded-Host too.
            app.Use((context, next) =>
            {
                OriginGuardMiddleware.NoteConnectionHost(context);
                return next(context);
            });
            var forwarded = new ForwardedHeadersOptions { ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto | ForwardedHeaders.XForwardedHost };
            forwarded.KnownProxies.Clear();
            forwarded.KnownIPNetworks.Clear(); // loopback is in it by default: only the proxies named are trusted
            foreach (string proxy in proxies)
                forwarded.KnownProxies.Add(System.Net.IPAddress.TryParse(proxy, out var address) ? address
                    : throw new TokenFactoryException($"TokenFactory:TrustedProxies: '{proxy}' is not an IP address."));
            app.UseForwardedHeaders(forwarded);
        }
        app.UseMiddleware<MetricsMiddleware>();
        app.UseMiddleware<ErrorHandlingMiddleware>();
        app.UseMiddleware<RequestLimitsMiddleware>();
        app.UseMiddleware<InternalTokenMiddleware>(acceptsRouter);
        app.UseMiddleware<OriginGuardMiddleware>();
        app.UseCors();
        app.UseRouting();
        return app;
    }
}
