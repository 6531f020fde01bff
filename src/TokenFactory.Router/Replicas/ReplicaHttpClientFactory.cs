using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace TokenFactory.Router.Replicas;

/// <summary>
/// YARP's HTTP client to the replicas (requests forwarded, and its active health probes), connecting within
/// <see cref="RouterOptions.ConnectTimeoutSeconds"/> rather than YARP's own 15 s: a replica that cannot be connected
/// to is tried elsewhere as soon as the operator chose.
/// </summary>
internal sealed class ReplicaHttpClientFactory(IOptions<RouterOptions> options) : ForwarderHttpClientFactory
{
    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        handler.ConnectTimeout = ConnectTimeout(options.Value);
    }

    /// <summary>The setting, at least 0.1 s (a handler refuses zero).</summary>
    public static TimeSpan ConnectTimeout(RouterOptions options) => TimeSpan.FromSeconds(Math.Max(0.1, options.ConnectTimeoutSeconds));
}
