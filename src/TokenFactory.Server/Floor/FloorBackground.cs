using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TokenFactory.Floor;

namespace TokenFactory.Server.Floor;

/// <summary>
/// The floor's periodic work while the server runs, every <see cref="FloorOptions.HeartbeatSeconds"/>: tells
/// the ledger this process is alive, releases what processes that are gone still hold (a replica that died),
/// drops Responses API conversations past their retention, and writes the refusal counts (once more at shutdown, after the last settlements).
/// </summary>
internal sealed class FloorBackground(FloorService floor, TimeProvider time, ILogger<FloorBackground> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(floor.Options.HeartbeatSeconds), time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
                await TickAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // stopping: FloorStartup writes the last counts after the settlements drain
        }
    }

    private async Task TickAsync(CancellationToken cancellation)
    {
        try
        {
            await floor.HeartbeatAsync(cancellation);
            var interrupted = await floor.ReleaseGoneInstancesAsync(cancellation);
            if (interrupted.Count > 0)
                FloorLog.ReleasedInterrupted(logger, interrupted.Count, string.Join(", ", interrupted.Select(r => r.TeamId ?? "-").Distinct()));
            // Responses API conversations past their retention: dropped even when no new one is saved.
            await floor.Store.DeleteExpiredResponsesAsync(time.GetUtcNow(), cancellation);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            FloorLog.HeartbeatFailed(logger, e);
        }
        try
        {
            await floor.Refusals.FlushAsync(cancellation);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            FloorLog.RefusalFlushFailed(logger, e);
        }
    }
}
