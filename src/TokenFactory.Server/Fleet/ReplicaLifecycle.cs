using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TokenFactory.Server.Hosting;

namespace TokenFactory.Server.Fleet;

/// <summary>
/// Draining at shutdown. SIGTERM or Ctrl-C (<see cref="IHostApplicationLifetime.ApplicationStopping"/>) puts the engine host
/// into draining at once; then, before any hosted service stops (Kestrel included: ASP.NET Core stops its server first),
/// this waits for the generations in flight to finish, up to the shutdown deadline. Meanwhile Kestrel still accepts, so
/// streams run on, /health answers 503 draining and new generations 503 server_draining; a router moves on to other replicas.
/// </summary>
internal sealed partial class ReplicaLifecycle(EngineHost host, IHostApplicationLifetime lifetime, IOptions<ServerOptions> options, ILogger<ReplicaLifecycle> logger)
    : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStopping.Register(host.BeginDraining);
        if (options.Value.Fleet.IsReplica)
            LogReplica(logger);
        return Task.CompletedTask;
    }

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <param name="cancellationToken">Cancelled at the shutdown deadline (<see cref="ServerOptions.ShutdownTimeoutSeconds"/>).</param>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        host.BeginDraining();
        int inFlight = host.GenerationsInFlight;
        if (inFlight == 0)
            return;
        LogDraining(logger, inFlight);
        try
        {
            await host.Drained.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // The deadline passed. The engine ends what is left while the connections still stand, so each request is
            // answered as stopped by the server (503 server_shutting_down with Retry-After, or a stream's error event and
            // [DONE]) rather than dropped when Kestrel stops; a moment is given for those answers to go out.
            LogDeadline(logger, host.GenerationsInFlight);
            host.Engine?.CancelAll();
            try
            {
                await host.Drained.WaitAsync(TimeSpan.FromSeconds(2));
            }
            catch (TimeoutException)
            {
                // What is still running now is cut when Kestrel stops.
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(300, LogLevel.Information, "Fleet replica: every request but GET /health needs the internal token; the router admits and records requests, this server runs them")]
    private static partial void LogReplica(ILogger logger);

    [LoggerMessage(301, LogLevel.Information, "Draining: {Count} generations in flight may finish; new ones get 503 server_draining")]
    private static partial void LogDraining(ILogger logger, int count);

    [LoggerMessage(302, LogLevel.Warning, "Shutdown deadline reached with {Count} generations in flight; they are cancelled")]
    private static partial void LogDeadline(ILogger logger, int count);
}
