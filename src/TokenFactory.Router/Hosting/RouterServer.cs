using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.DependencyInjection;
using TokenFactory.Router.Api;
using TokenFactory.Server;
using TokenFactory.Server.Api;
using TokenFactory.Server.Floor;
using TokenFactory.Server.Hosting;

namespace TokenFactory.Router.Hosting;

/// <summary>Builds <c>tokenfactory route</c>: Kestrel on the configured host and port, the OpenAI API forwarded to the replicas.</summary>
public static class RouterServer
{
    /// <param name="overrides">Configuration that wins over appsettings.json and environment variables (the CLI's options).</param>
    /// <param name="configureServices">Last chance to replace services (tests).</param>
    public static WebApplication Build(string[] args, IEnumerable<KeyValuePair<string, string?>>? overrides = null, Action<IServiceCollection>? configureServices = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args });
        builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource
        {
            InitialData = new Dictionary<string, string?>
            {
                ["Logging:LogLevel:Default"] = "Information",
                ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
                ["Logging:LogLevel:Yarp"] = "Warning",
                ["Logging:LogLevel:Microsoft.Extensions.Hosting.Internal.Host"] = "Critical",
                // The router measures no energy of its own: the replicas report theirs with each answer.
                ["TokenFactory:Floor:Energy:Meter"] = "none",
            },
        });
        if (overrides is not null)
            builder.Configuration.AddInMemoryCollection(overrides);
        configureServices?.Invoke(builder.Services);
        builder.Services.AddTokenFactoryRouter(builder.Configuration);

        var options = builder.Configuration.GetSection(ServerOptions.Section).Get<ServerOptions>() ?? new ServerOptions();
        builder.WebHost.UseUrls($"http://{(System.Net.IPAddress.TryParse(options.Host, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{options.Host}]" : options.Host)}:{options.Port}");
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            k.Limits.MaxRequestHeadersTotalSize = 2 * RequestLimitsMiddleware.MaxHeaderBytes;
            k.Limits.MaxRequestLineSize = 2 * RequestLimitsMiddleware.MaxRequestTargetBytes;
        });

        var app = builder.Build();
        app.UseTokenFactory(acceptsRouter: false); // the router is the fleet's front door: no caller is its router
        app.MapRouterEndpoints();
        return app;
    }

    /// <summary>The same API as <c>serve</c>, behind the same floor: generation forwarded, models from the replicas, /admin the router's.</summary>
    public static IEndpointRouteBuilder MapRouterEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.MapGroup(string.Empty).AddEndpointFilter<FloorFilter>();
        api.MapPost("/v1/chat/completions", GenerationPlans.ChatAsync).WithMetadata(new GenerationEndpoint("/v1/chat/completions"));
        api.MapPost("/v1/completions", GenerationPlans.CompletionsAsync).WithMetadata(new GenerationEndpoint("/v1/completions"));
        api.MapPost("/v1/embeddings", GenerationPlans.EmbeddingsAsync).WithMetadata(new GenerationEndpoint("/v1/embeddings"));
        api.MapGet("/v1/models", FleetEndpoints.Models);
        api.MapGet("/v1/models/{id}", FleetEndpoints.Model);
        api.MapPost("/tokenize", FleetEndpoints.InspectAsync);
        api.MapPost("/detokenize", FleetEndpoints.InspectAsync);
        api.MapPost("/apply-template", FleetEndpoints.InspectAsync);
        var admin = endpoints.MapGroup("/admin").AddEndpointFilter<AdminKeyFilter>();
        admin.MapAdminEndpoints();
        admin.MapGet("/fleet", FleetEndpoints.Fleet);
        endpoints.MapGet("/health", FleetEndpoints.Health);
        // No proxy routes (each request is forwarded by ForwardedGeneration): this loads YARP's configuration, the
        // replicas' cluster, and starts its active health checks.
        endpoints.MapReverseProxy();
        endpoints.MapPrometheusScrapingEndpoint("/metrics");
        Server.CommandCenter.FactoryEndpoints.MapCommandCenter(endpoints);
        endpoints.MapFallback(OperationalEndpoints.NotFound);
        return endpoints;
    }
}
