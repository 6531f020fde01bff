using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TokenFactory.Floor;
using TokenFactory.Floor.Ledger;

namespace TokenFactory.Server.Floor;

/// <summary>Creates the floor's tables before the server takes requests, and says loudly when nobody needs a key.</summary>
internal sealed class FloorStartup(FloorService floor, ILogger<FloorStartup> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await floor.Store.MigrateAsync(cancellationToken);
        if (!floor.Options.RequiresKeys)
            FloorLog.NoAuth(logger);
        string where = floor.Store is SqliteFloorStore sqlite ? sqlite.Path : "(PostgreSQL)";
        string meter = floor.EnergyMeter is { } m ? (m.IsEstimated ? $"{m.Source} (configured watts × utilization)" : m.Source) : "none";
        FloorLog.Ready(logger, floor.Store.Kind, where, meter, string.IsNullOrEmpty(floor.Options.AdminKey) ? "disabled (no admin key)" : "enabled");
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
