using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using TokenFactory.Engine;
using TokenFactory.Floor;
using TokenFactory.Floor.Ledger;
using TokenFactory.Server.Api;
using TokenFactory.Server.CommandCenter;

namespace TokenFactory.Server.Tests.CommandCenter;

/// <summary>The monitor's arithmetic on a fake clock and a scripted fleet: rates from counter deltas, restarts, power per machine.</summary>
public sealed class FactoryMonitorTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "tokenfactory-tests", Guid.NewGuid().ToString("N"));
    private readonly FloorService _floor;

    public FactoryMonitorTests()
    {
        Directory.CreateDirectory(_directory);
        _floor = new FloorService(new SqliteFloorStore(Path.Combine(_directory, "floor.db")), new FloorOptions(), _time);
    }

    private sealed class ScriptedFleet : IFactorySource
    {
        public IReadOnlyList<FactoryReplica> Now { get; set; } = [];
        public string Mode => "route";
        public int Queued { get; set; }
        public IReadOnlyList<FactoryReplica> Replicas() => Now;
        public IReadOnlyList<FactoryModel> Models() => [];
    }

    private static FactoryReplica Replica(string id, double busy, long steps, long scheduled, long queried, long hits, string? host = null, double? joules = null) => new()
    {
        Id = id, Name = id, State = "ready", Healthy = true, Running = 2, Host = host, EnergyJoules = joules,
        Counters = new EngineCounters { BusySeconds = busy, Steps = steps, ScheduledSequences = scheduled, PrefixCacheQueryTokens = queried, PrefixCacheHitTokens = hits },
    };

    private static FactoryReplica ThirdParty(string id) => new() { Id = id, Name = id, State = "ready", Healthy = true, Running = 5 };

    [Fact]
    public void Utilization_batch_and_prefix_hits_are_the_second_s_deltas_and_a_restart_starts_again_from_zero()
    {
        var fleet = new ScriptedFleet();
        var recorder = new FactoryRecorder();
        var monitor = new FactoryMonitor(recorder, fleet, _floor, new DefaultClassTargets(), _time, NullLogger<FactoryMonitor>.Instance);
        fleet.Now = [Replica("a", busy: 10, steps: 100, scheduled: 300, queried: 1000, hits: 400), ThirdParty("llama.cpp")];
        monitor.Sample();

        _time.Advance(TimeSpan.FromSeconds(2));
        fleet.Now = [Replica("a", busy: 11, steps: 150, scheduled: 500, queried: 1500, hits: 650), ThirdParty("llama.cpp")];
        recorder.Settled(new UsageRecord { RequestId = "r", Time = _time.GetUtcNow(), Model = "m", Endpoint = "/v1/completions", Status = 200, PromptTokens = 30,
            CompletionTokens = 40, Replica = "a" }, "standard", null);
        var sample = monitor.Sample();
        Assert.Equal(0.5, sample.Utilization, 9); // 1 s busy in 2 s; the third-party replica reports nothing and does not dilute it
        Assert.Equal(4, sample.BatchMean, 9);     // 200 sequences in 50 steps
        Assert.Equal(0.5, sample.PrefixHitRate, 9);
        Assert.Equal(20, sample.OutputTps, 9);    // 40 tokens in 2 s
        Assert.Equal(15, sample.InputTps, 9);
        Assert.Equal(7, sample.Running);
        Assert.Equal(20, sample.Replicas["a"].OutputTps, 9);
        Assert.Equal(0.5, sample.Replicas["a"].Utilization!.Value, 9);
        Assert.Null(sample.Replicas["llama.cpp"].Utilization);

        _time.Advance(TimeSpan.FromSeconds(1));
        fleet.Now = [Replica("a", busy: 0.25, steps: 10, scheduled: 20, queried: 0, hits: 0)]; // restarted
        sample = monitor.Sample();
        Assert.Equal(0.25, sample.Utilization, 9);
        Assert.Equal(2, sample.BatchMean, 9);
        Assert.Equal(0.25, sample.Replicas["a"].Utilization!.Value, 9);
    }

    [Fact]
    public void Power_counts_each_machine_once_however_many_replicas_read_its_meter()
    {
        var fleet = new ScriptedFleet();
        var monitor = new FactoryMonitor(new FactoryRecorder(), fleet, _floor, new DefaultClassTargets(), _time, NullLogger<FactoryMonitor>.Instance);
        fleet.Now = [Replica("a", 0, 0, 0, 0, 0, "box-1", 100), Replica("b", 0, 0, 0, 0, 0, "box-1", 100), Replica("c", 0, 0, 0, 0, 0, "box-2", 0)];
        Assert.Null(monitor.Sample().PowerW); // one reading is no rate yet
        _time.Advance(TimeSpan.FromSeconds(1));
        fleet.Now = [Replica("a", 0, 0, 0, 0, 0, "box-1", 150), Replica("b", 0, 0, 0, 0, 0, "box-1", 150.5), Replica("c", 0, 0, 0, 0, 0, "box-2", 30)];
        Assert.Equal(50.5 + 30, monitor.Sample().PowerW!.Value, 9);
        Assert.Equal(("replicas", false), monitor.Power);
    }

    [Fact]
    public async Task A_sample_that_cannot_be_taken_is_skipped_and_the_monitor_goes_on()
    {
        var monitor = new FactoryMonitor(new FactoryRecorder(), new ThrowingOnce(), _floor, new DefaultClassTargets(), _time, NullLogger<FactoryMonitor>.Instance);
        var next = monitor.NextSampleAsync(CancellationToken.None);
        await monitor.StartAsync(CancellationToken.None); // its first sample, at once, throws
        // The loop starts on a thread of its own: tick the fake clock until its timer has fired once.
        for (int i = 0; i < 50 && !next.IsCompleted; i++)
        {
            _time.Advance(FactoryMonitor.Interval);
            await Task.WhenAny(next, Task.Delay(100));
        }
        Assert.True(next.IsCompleted, "no sample after the failed one");
        Assert.Equal(1, monitor.Ring.Latest!.Running);
        Assert.False(monitor.ExecuteTask!.IsCompleted); // still running: a background failure would have stopped the host
        await monitor.StopAsync(CancellationToken.None);
    }

    private sealed class ThrowingOnce : IFactorySource
    {
        private int _calls;
        public string Mode => "serve";
        public int Queued => 0;
        public IReadOnlyList<FactoryReplica> Replicas() => _calls++ == 0
            ? throw new IOException("a meter that cannot be read")
            : [new FactoryReplica { Id = "local", Name = "local", State = "ready", Healthy = true, Running = 1 }];
        public IReadOnlyList<FactoryModel> Models() => [];
    }

    [Fact]
    public void A_session_ends_after_its_lifetime_and_wrong_keys_are_throttled_per_address()
    {
        var options = new FloorOptions { AdminKey = "admin-key-1234567890", ViewerKey = "viewer-key-1234567890" };
        var floor = new FloorService(_floor.Store, options, _time);
        var access = new DashboardAccess(floor, _time);
        var signIn = new DefaultHttpContext();
        Assert.Equal("viewer", access.SignIn(signIn, "viewer-key-1234567890"));
        string cookie = signIn.Response.Headers.SetCookie.ToString();
        string session = cookie[(DashboardAccess.CookieName.Length + 1)..cookie.IndexOf(';')];
        var later = new DefaultHttpContext();
        later.Request.Headers.Cookie = $"{DashboardAccess.CookieName}={session}";
        _time.Advance(DashboardAccess.SessionLifetime - TimeSpan.FromSeconds(1));
        Assert.Equal("viewer", access.RoleOf(later));
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.Null(access.RoleOf(later));

        var guesser = new DefaultHttpContext();
        guesser.Connection.RemoteIpAddress = System.Net.IPAddress.Parse("10.0.0.7");
        for (int i = 0; i < DashboardAccess.MaxFailuresPerMinute; i++)
            Assert.Equal(401, Assert.Throws<OpenAiException>(() => access.SignIn(guesser, "guess-" + i)).Status);
        var throttled = Assert.Throws<OpenAiException>(() => access.SignIn(guesser, "admin-key-1234567890")); // even the right key waits
        Assert.Equal(429, throttled.Status);
        Assert.Equal("60", guesser.Response.Headers.RetryAfter.ToString());
        var other = new DefaultHttpContext();
        other.Connection.RemoteIpAddress = System.Net.IPAddress.Parse("10.0.0.8");
        Assert.Equal("admin", access.SignIn(other, "admin-key-1234567890"));
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal("admin", access.SignIn(guesser, "admin-key-1234567890"));
    }

    /// <summary>A viewer signing in again and again pushes out only viewers' sessions: it could sign every admin out.</summary>
    [Fact]
    public void A_full_session_table_gives_way_within_the_role_signing_in()
    {
        var options = new FloorOptions { AdminKey = "admin-key-1234567890", ViewerKey = "viewer-key-1234567890" };
        var access = new DashboardAccess(new FloorService(_floor.Store, options, _time), _time);
        string SignIn(string key)
        {
            var context = new DefaultHttpContext();
            access.SignIn(context, key);
            string cookie = context.Response.Headers.SetCookie.ToString();
            return cookie[(DashboardAccess.CookieName.Length + 1)..cookie.IndexOf(';')];
        }
        string admin = SignIn("admin-key-1234567890");
        _time.Advance(TimeSpan.FromSeconds(1)); // the admin's is the oldest session
        for (int i = 0; i < DashboardAccess.MaxSessions + 5; i++)
            SignIn("viewer-key-1234567890");
        var later = new DefaultHttpContext();
        later.Request.Headers.Cookie = $"{DashboardAccess.CookieName}={admin}";
        Assert.Equal("admin", access.RoleOf(later));
    }

    public void Dispose()
    {
        _floor.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
