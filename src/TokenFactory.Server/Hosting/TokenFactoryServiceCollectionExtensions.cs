using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using TokenFactory.Floor;
using TokenFactory.Floor.Energy;
using TokenFactory.Floor.Ledger;
using TokenFactory.Server.CommandCenter;
using TokenFactory.Server.Floor;
using TokenFactory.Server.Telemetry;

namespace TokenFactory.Server.Hosting;

public static class TokenFactoryServiceCollectionExtensions
{
    /// <summary>
    /// Registers the engine host, the background model loader, metrics and options bound from the
    /// <c>TokenFactory</c> section. Register an <see cref="IEngineFactory"/> before this to serve another engine.
    /// </summary>
    public static IServiceCollection AddTokenFactory(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton<IEngineFactory, GgufEngineFactory>();
        services.TryAddSingleton<EngineHost>();
        services.TryAddSingleton<IGenerationHost>(sp => sp.GetRequiredService<EngineHost>());
        services.TryAddSingleton<IFactorySource, EngineFactorySource>();
        services.AddTokenFactoryFloor(configuration);
        // After the floor's start-up: the ledger's tables exist before the first request can be admitted.
        services.AddHostedService<ModelLoader>();
        services.AddHostedService<Fleet.ReplicaLifecycle>();
        return services;
    }

    /// <summary>
    /// What every OpenAI-compatible front door of the project shares, the server's and the fleet router's: options
    /// bound from the <c>TokenFactory</c> section, the cross-origin policy, metrics and traces, and the factory floor
    /// (keys, budgets, rate limits, the ledger and its start-up and background work).
    /// </summary>
    public static IServiceCollection AddTokenFactoryFloor(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ServerOptions>().Bind(configuration.GetSection(ServerOptions.Section));
        // The allowed origins' pages may call with their keys; every other cross-origin request is refused by OriginGuardMiddleware.
        services.AddCors();
        services.AddOptions<Microsoft.AspNetCore.Cors.Infrastructure.CorsOptions>().Configure<IOptions<ServerOptions>>((cors, server) =>
            cors.AddDefaultPolicy(policy =>
            {
                string[] origins = server.Value.Cors.AllowedOrigins;
                if (origins.Contains("*"))
                    policy.AllowAnyOrigin();
                else
                    policy.WithOrigins(origins);
                policy.AllowAnyHeader().WithMethods("GET", "POST").WithExposedHeaders("Retry-After", "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
                    "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens");
            }));
        services.TryAddSingleton(TimeProvider.System);
        services.AddTokenFactoryTelemetry(configuration);
        services.AddOptions<FloorOptions>().Bind(configuration.GetSection(FloorOptions.Section));
        services.TryAddSingleton<IFloorStore>(sp =>
        {
            var floor = sp.GetRequiredService<IOptions<FloorOptions>>().Value;
            return string.IsNullOrWhiteSpace(floor.Postgres) ? new SqliteFloorStore(floor.ResolveDatabasePath()) : new PostgresFloorStore(floor.Postgres);
        });
        services.TryAddSingleton(sp =>
        {
            var floor = sp.GetRequiredService<IOptions<FloorOptions>>().Value;
            var time = sp.GetRequiredService<TimeProvider>();
            var meter = EnergyMeters.Create(floor.Energy, sp.GetRequiredService<IOptions<ServerOptions>>().Value.Threads, time);
            return new FloorService(sp.GetRequiredService<IFloorStore>(), floor, time, meter);
        });
        services.AddHostedService<FloorStartup>();
        services.AddHostedService<FloorBackground>();
        // The command center: what settles and what runs, sampled once a second (the host registers its IFactorySource).
        services.TryAddSingleton<FactoryRecorder>();
        services.TryAddSingleton<IClassTargets, DefaultClassTargets>();
        services.TryAddSingleton<FactoryMonitor>();
        services.AddHostedService(sp => sp.GetRequiredService<FactoryMonitor>());
        services.TryAddSingleton<DashboardAccess>();
        services.TryAddSingleton<PlanGate>();
        services.AddOptions<HostOptions>().Configure<IOptions<ServerOptions>>((host, server) =>
            host.ShutdownTimeout = TimeSpan.FromSeconds(Math.Max(0, server.Value.ShutdownTimeoutSeconds)));
        return services;
    }
}
