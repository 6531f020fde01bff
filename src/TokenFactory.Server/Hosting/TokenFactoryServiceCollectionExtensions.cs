using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using TokenFactory.Server.Metrics;

namespace TokenFactory.Server.Hosting;

public static class TokenFactoryServiceCollectionExtensions
{
    /// <summary>
    /// Registers the engine host, the background model loader, metrics and options bound from the
    /// <c>TokenFactory</c> section. Register an <see cref="IEngineFactory"/> before this to serve another engine.
    /// </summary>
    public static IServiceCollection AddTokenFactory(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ServerOptions>().Bind(configuration.GetSection(ServerOptions.Section));
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IEngineFactory, GgufEngineFactory>();
        services.TryAddSingleton<EngineHost>();
        services.TryAddSingleton<ServerMetrics>();
        services.AddHostedService<ModelLoader>();
        services.AddOptions<HostOptions>().Configure<Microsoft.Extensions.Options.IOptions<ServerOptions>>((host, server) =>
            host.ShutdownTimeout = TimeSpan.FromSeconds(Math.Max(0, server.Value.ShutdownTimeoutSeconds)));
        return services;
    }
}
