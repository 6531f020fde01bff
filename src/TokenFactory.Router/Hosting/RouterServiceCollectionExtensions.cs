using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using TokenFactory.Router.Admission;
using TokenFactory.Router.Api;
using TokenFactory.Router.Replicas;
using TokenFactory.Router.Routing;
using TokenFactory.Router.Telemetry;
using TokenFactory.Server.Floor;
using TokenFactory.Server.Hosting;
using TokenFactory.Server.Telemetry;

namespace TokenFactory.Router.Hosting;

public static class RouterServiceCollectionExtensions
{
    /// <summary>
    /// The fleet router: the same front door as <c>serve</c> (options, floor, metrics, errors), with YARP forwarding to
    /// the replicas of <c>TokenFactory:Router</c> instead of an engine.
    /// </summary>
    public static IServiceCollection AddTokenFactoryRouter(this IServiceCollection services, IConfiguration configuration)
    {
        var options = configuration.GetSection(RouterOptions.Section).Get<RouterOptions>() ?? new RouterOptions();
        services.AddOptions<RouterOptions>().Bind(configuration.GetSection(RouterOptions.Section));
        services.AddSingleton<RouterState>();
        services.AddSingleton<IGenerationHost>(sp => sp.GetRequiredService<RouterState>());
        services.AddTokenFactoryFloor(configuration);
        services.AddReverseProxy().LoadFromMemory([], [ReplicaSet.Cluster(options)]);
        services.AddSingleton<Yarp.ReverseProxy.Forwarder.IForwarderHttpClientFactory, ReplicaHttpClientFactory>(); // over YARP's own
        services.AddSingleton<RouterToken>();
        services.AddSingleton<ReplicaSet>();
        services.AddSingleton<ModelTokenizers>();
        services.AddSingleton<SloClasses>();
        services.AddSingleton<Server.CommandCenter.IClassTargets>(sp => sp.GetRequiredService<SloClasses>());
        services.AddSingleton<Server.CommandCenter.IFactorySource, RouterFactorySource>();
        services.AddSingleton(sp => IRoutingPolicy.Create(sp.GetRequiredService<IOptions<RouterOptions>>().Value.Policy));
        services.AddSingleton(sp => new RouterMetrics(sp.GetRequiredService<ServerMetrics>(), sp.GetRequiredService<ReplicaSet>(), sp.GetRequiredService<SloClasses>()));
        services.AddSingleton<Dispatcher>();
        services.AddSingleton<ReplicaPoller>();
        services.AddHostedService(sp => sp.GetRequiredService<ReplicaPoller>());
        services.AddHostedService<RouterStartup>();
        return services;
    }
}
