using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TokenFactory.Router.Api;
using TokenFactory.Router.Replicas;
using TokenFactory.Router.Routing;

namespace TokenFactory.Router.Hosting;

/// <summary>
/// Before the router takes requests: its routing settings are checked, every configured tokenizer is loaded (a bad
/// path stops the start with a clear message), and the replicas are polled once, so the first request already knows
/// who serves what. On SIGTERM it drains: nothing new is admitted (503 <c>server_draining</c>), /health says so, and
/// what is in flight finishes within the shutdown deadline.
/// </summary>
internal sealed class RouterStartup(ReplicaSet replicas, ReplicaPoller poller, ModelTokenizers tokenizers, IRoutingPolicy policy, RouterState state,
    IOptions<RouterOptions> options, IHostApplicationLifetime lifetime, ILogger<RouterStartup> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var (model, path) in options.Value.Models)
        {
            try
            {
                tokenizers.For(model);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or TokenFactoryException)
            {
                throw new TokenFactoryException($"cannot read the tokenizer of '{model}' from {path}: {e.Message}", e);
            }
        }
        lifetime.ApplicationStopping.Register(() => state.Draining = true);
        await poller.PollOnceAsync(cancellationToken);
        RouterLog.Ready(logger, replicas.All.Count, string.Join(", ", replicas.All.Select(r => r.Name)), policy.Name,
            options.Value.Models.Count == 0 ? "none (prompts are shaped from their text)" : string.Join(", ", options.Value.Models.Keys));
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
