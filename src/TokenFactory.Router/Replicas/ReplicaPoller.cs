using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TokenFactory.Router.Admission;
using TokenFactory.Router.Telemetry;

namespace TokenFactory.Router.Replicas;

/// <summary>
/// Reads every replica's load every <see cref="RouterOptions.StatusIntervalMilliseconds"/> (200 ms): a TokenFactory
/// replica's <c>/internal/status</c>, or a third-party server's <c>/v1/models</c> (for what it serves; its load is
/// then only what the router has in flight there). A replica that refuses the connection (or the token) is marked down at
/// once, so it is out of rotation within one interval. A poll not answered within <see cref="PollTimeout"/> (four
/// intervals, at most 0.8 s) ejects the replica at once when nothing else came from it in that time either (frozen:
/// SIGSTOP, a partition), cancelling what it has in flight (<see cref="Replica.Eject"/>), so it is out within a second
/// of going silent; one whose answers still flow is busy, not frozen (a replica saturating its cores answers its
/// status late), and is taken out only after three polls in a row time out. One that answers again comes back, its
/// prefix index cleared (it may have restarted with an empty cache). Each round wakes the dispatcher: room may have opened.
/// </summary>
internal sealed class ReplicaPoller(ReplicaSet replicas, Dispatcher dispatcher, RouterMetrics metrics, IOptions<RouterOptions> options,
    RouterToken token, TimeProvider time, ILogger<ReplicaPoller> logger) : BackgroundService
{
    private readonly HttpClient _http = new(new SocketsHttpHandler
    {
        // The forwarding client's connect timeout, at most 5 s: a poll never waits long on a connect.
        ConnectTimeout = TimeSpan.FromTicks(Math.Min(ReplicaHttpClientFactory.ConnectTimeout(options.Value).Ticks, 5 * TimeSpan.TicksPerSecond)),
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
    })
    { Timeout = PollTimeout(options.Value) };

    /// <summary>
    /// How long a status poll may take: two and a half intervals, between 0.25 s and 0.8 s. With the default 200 ms
    /// interval a replica that stops answering misses two polls in a row (<see cref="SilentPollsBeforeEjection"/>) about a
    /// second after it went silent.
    /// </summary>
    public static TimeSpan PollTimeout(RouterOptions options) => TimeSpan.FromMilliseconds(Math.Clamp(2.5 * options.StatusIntervalMilliseconds, 250, 800));

    /// <summary>
    /// Timed-out polls in a row, with nothing else from the replica meanwhile, that make it frozen: two, so one slow answer
    /// (a pause in this router, a replica's cores saturated for a moment) never ejects a working replica and cancels its work.
    /// </summary>
    private const int SilentPollsBeforeEjection = 2;

    private readonly Dictionary<Replica, bool> _reachable = [];
    private readonly Dictionary<Replica, bool> _available = [];
    private readonly ConcurrentDictionary<Replica, bool> _tokenRefused = new();
    private readonly ConcurrentDictionary<Replica, int> _timeouts = new();
    private readonly ConcurrentDictionary<Replica, DateTimeOffset> _modelsRead = new(); // start-up's poll and the loop's first may overlap

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Max(20, options.Value.StatusIntervalMilliseconds)), time);
        try
        {
            do
                await PollOnceAsync(stoppingToken);
            while (await WaitAsync(timer, stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // shutting down
        }
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken stoppingToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>One poll now, for tests and for start-up (the router knows its replicas before it takes requests).</summary>
    public async Task PollOnceAsync(CancellationToken cancellation)
    {
        await Task.WhenAll(replicas.All.Select(r => PollAsync(r, cancellation)));
        NoteHealthChanges();
        dispatcher.Wake();
    }

    private async Task PollAsync(Replica replica, CancellationToken cancellation)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(replica.Url, "internal/status"));
            if (token.Value is { } secret)
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", secret);
            using var response = await _http.SendAsync(request, cancellation);
            _timeouts.TryRemove(replica, out _); // it answered
            if (response.StatusCode == HttpStatusCode.NotFound && !replica.ReportsStatus)
            {
                await ReadModelsAsync(replica, cancellation); // a third-party server: no status endpoint
                Reached(replica);
                return;
            }
            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                if (_tokenRefused.TryAdd(replica, true))
                    RouterLog.TokenRefused(logger, replica.Name); // once, not every poll
                Unreachable(replica);
                return;
            }
            _tokenRefused.TryRemove(replica, out _);
            response.EnsureSuccessStatusCode();
            var status = await response.Content.ReadFromJsonAsync(RouterJson.Default.ReplicaStatus, cancellation);
            if (status is null)
                throw new JsonException("empty status");
            replica.SetStatus(status, time.GetUtcNow());
            Reached(replica);
        }
        catch (TaskCanceledException) when (!cancellation.IsCancellationRequested)
        {
            // Silent. Frozen when it stays so for two polls with nothing else from it meanwhile: out, and what it holds is
            // cancelled. Busy when its answers still flow (a replica saturating its cores may answer its status late): out
            // only after a few polls in a row.
            int slow = _timeouts.AddOrUpdate(replica, 1, (_, n) => n + 1);
            bool progressing = replica.LastProgress != 0 && time.GetElapsedTime(replica.LastProgress) < _http.Timeout;
            if (!progressing && slow >= SilentPollsBeforeEjection)
            {
                Unreachable(replica);
                replica.Eject();
            }
            else if (slow >= SlowPollsBeforeDown)
            {
                Unreachable(replica);
            }
            return;
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or IOException && !cancellation.IsCancellationRequested)
        {
            Unreachable(replica); // refused, reset, or not a status: out at once
        }
    }

    /// <summary>Status polls in a row that may time out before a replica is taken out of rotation.</summary>
    private const int SlowPollsBeforeDown = 3;

    private async Task ReadModelsAsync(Replica replica, CancellationToken cancellation)
    {
        if (_modelsRead.TryGetValue(replica, out var at) && time.GetUtcNow() - at < TimeSpan.FromSeconds(5))
            return;
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(replica.Url, "v1/models"));
        if (token.Value is { } secret)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        using var response = await _http.SendAsync(request, cancellation);
        response.EnsureSuccessStatusCode();
        var list = await response.Content.ReadFromJsonAsync(RouterJson.Default.UpstreamModelList, cancellation);
        replica.SetModels(list?.Data?.Select(m => m.Id).OfType<string>() ?? []);
        _modelsRead[replica] = time.GetUtcNow();
    }

    private void Reached(Replica replica)
    {
        replica.Answering();
        replica.Reachable = true;
        lock (_reachable)
        {
            if (_reachable.TryGetValue(replica, out bool was) && !was)
            {
                replica.Index.Clear(); // it may have restarted: whatever it cached is gone
                replicas.MarkUp(replica);
                RouterLog.ReplicaBack(logger, replica.Name);
            }
            _reachable[replica] = true;
        }
    }

    private void Unreachable(Replica replica)
    {
        replica.ClearStatus();
        replica.Reachable = false;
        replicas.MarkDown(replica, TimeSpan.FromMilliseconds(Math.Max(250, 2 * options.Value.StatusIntervalMilliseconds)));
        lock (_reachable)
        {
            if (!_reachable.TryGetValue(replica, out bool was) || was)
                RouterLog.ReplicaDown(logger, replica.Name);
            _reachable[replica] = false;
        }
    }

    private void NoteHealthChanges()
    {
        if (replicas.ClusterState is null)
            return; // YARP has not loaded the cluster yet: nothing is known
        lock (_available)
        {
            foreach (var r in replicas.All)
            {
                // A configured replica is presumed up: one found down at the start counts as going down.
                bool now = replicas.IsAvailable(r) && !r.IsDraining;
                if (_available.GetValueOrDefault(r, true) != now)
                    metrics.HealthChanged(r, now);
                _available[r] = now;
            }
        }
    }

    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }
}
