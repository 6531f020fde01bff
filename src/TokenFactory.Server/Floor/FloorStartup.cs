using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TokenFactory.Floor;
using TokenFactory.Floor.Ledger;

namespace TokenFactory.Server.Floor;

/// <summary>
/// Creates the floor's tables before the server takes requests, registers this process and releases what
/// processes that stopped without settling still hold, and says loudly when nobody needs a key (unless this is a fleet
/// replica: only its router, with the internal token, may call it, and the router checks keys).
/// </summary>
internal sealed class FloorStartup(FloorService floor, IOptions<ServerOptions> options, ILogger<FloorStartup> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        floor.Options.Validate();
        string where = floor.Store is SqliteFloorStore sqlite ? $"sqlite, {sqlite.Path}" : floor.Store.Kind;
        IReadOnlyList<TokenFactory.Floor.Ledger.UsageRecord> interrupted;
        try
        {
            await floor.Store.MigrateAsync(cancellationToken);
            interrupted = await floor.StartAsync(cancellationToken);
        }
        catch (Exception e) when (e is System.Data.Common.DbException or IOException or UnauthorizedAccessException or ArgumentException or TimeoutException)
        {
            throw new TokenFactoryException($"cannot open the usage ledger ({where}): {e.Message}", e);
        }
        if (interrupted.Count > 0)
            FloorLog.ReleasedInterrupted(logger, interrupted.Count, string.Join(", ", interrupted.Select(r => r.TeamId ?? "-").Distinct()));
        // A replica answers only its router, which checks keys: ReplicaLifecycle says so instead.
        if (!options.Value.Fleet.IsReplica)
        {
            if (!floor.Options.RequiresKeys)
                FloorLog.NoAuth(logger);
            else if (string.IsNullOrEmpty(floor.Options.AdminKey) && (await floor.Store.ListKeysAsync(cancellation: cancellationToken)).Count == 0)
                FloorLog.Locked(logger);
        }
        string meter = floor.EnergyMeter is { } m ? (m.IsEstimated ? $"{m.Source} (configured watts × utilization)" : m.Source) : "none";
        FloorLog.Ready(logger, where, meter, string.IsNullOrEmpty(floor.Options.AdminKey) ? "disabled (no admin key)" : "enabled");
    }

    /// <summary>
    /// Cancelled requests settle once the engine stops them (within a step): give them a moment before the store
    /// closes, then write the last refusal counts.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await floor.DrainAsync(TimeSpan.FromSeconds(5));
        try
        {
            await floor.Refusals.FlushAsync(CancellationToken.None);
        }
        catch (Exception e)
        {
            FloorLog.RefusalFlushFailed(logger, e);
        }
        try
        {
            await floor.StopAsync(CancellationToken.None); // anything still held was cut off by the shutdown deadline
        }
        catch (Exception e) when (e is System.Data.Common.DbException or InvalidOperationException)
        {
            FloorLog.InstanceLeaveFailed(logger, e);
        }
    }
}
