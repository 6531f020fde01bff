using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TokenFactory.Floor;

namespace TokenFactory.Server.Floor;

/// <summary>
/// The floor's periodic work while the server runs: writes the refusal counts to the ledger every few
/// seconds (and once more at shutdown, after the last settlements).
/// </summary>
internal sealed class FloorBackground(FloorService floor, TimeProvider time, ILogger<FloorBackground> logger) : BackgroundService
{
    /// <summary>How often refusal counts are written: what a crash can lose of them, and the ledger's write rate under a refusal storm.</summary>
    public static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(FlushInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
                await FlushAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // stopping: FloorStartup writes the last counts after the settlements drain
        }
    }

    private async Task FlushAsync(CancellationToken cancellation)
    {
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
