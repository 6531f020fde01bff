using System.Diagnostics;

namespace TokenFactory.Cli.Bench;

/// <summary>
/// Sends requests to a target with at most <c>concurrency</c> in flight; with a request rate, starts
/// them at Poisson-process times (exponential gaps, fixed seed), otherwise all at once (each waiting
/// for a free slot). Returns every request's result and the wall time of the whole run.
/// </summary>
public static class ServingBenchmark
{
    public static async Task<(List<RequestResult> Results, double DurationSeconds)> RunAsync(
        IBenchTarget target, IReadOnlyList<BenchRequest> requests, int concurrency, double? requestRate, int seed,
        Action<int> onRequestDone, Action onToken, CancellationToken cancellation = default)
    {
        using var slots = new SemaphoreSlim(Math.Max(1, concurrency));
        var random = new Random(seed);
        var results = new RequestResult[requests.Count];
        var tasks = new List<Task>(requests.Count);
        int done = 0;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < requests.Count; i++)
        {
            if (requestRate is double rate && rate > 0 && i > 0)
            {
                double gap = -Math.Log(1 - random.NextDouble()) / rate;
                await Task.Delay(TimeSpan.FromSeconds(gap), cancellation);
            }
            await slots.WaitAsync(cancellation);
            int index = i;
            tasks.Add(Task.Run(async () =>
            {
                try
                {
                    results[index] = await target.SendAsync(requests[index], onToken, cancellation);
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellation.IsCancellationRequested)
                {
                    results[index] = new RequestResult { Success = false, Error = e.Message };
                }
                finally
                {
                    slots.Release();
                    onRequestDone(Interlocked.Increment(ref done));
                }
            }, CancellationToken.None));
        }
        await Task.WhenAll(tasks);
        return ([.. results], clock.Elapsed.TotalSeconds);
    }
}
