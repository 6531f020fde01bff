using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using TokenFactory.Router.Hosting;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Router.Tests.Infrastructure;

/// <summary>A real router: Kestrel on 127.0.0.1 with a dynamic port, forwarding to the given replicas over real sockets.</summary>
public sealed class RouterInstance : IAsyncDisposable
{
    public const string AdminKey = "router-admin-key-9d2b41";
    public const string InternalToken = "fleet-internal-token-4c81e0";

    private readonly string _floorDirectory;

    private RouterInstance(WebApplication app, Uri baseAddress, string floorDirectory, LogSink logs)
    {
        App = app;
        BaseAddress = baseAddress;
        _floorDirectory = floorDirectory;
        Logs = logs;
        Client = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
        Admin = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
        Admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
    }

    public WebApplication App { get; }
    public Uri BaseAddress { get; }
    public Uri OpenAiEndpoint => new(BaseAddress, "/v1");
    public HttpClient Client { get; }
    public HttpClient Admin { get; }
    public LogSink Logs { get; }
    public T Service<T>() where T : notnull => App.Services.GetRequiredService<T>();

    /// <param name="settings">Over the defaults below: <c>TokenFactory:Router:Policy</c>, <c>TokenFactory:Floor:Auth</c>, …</param>
    /// <param name="waitForReplicas">Waits until this many replicas are in rotation (default: all).</param>
    /// <param name="configureServices">Replaces services before the router's own are added (a flaky ledger).</param>
    public static async Task<RouterInstance> StartAsync(IEnumerable<Uri> replicas, Dictionary<string, string?>? settings = null, int? waitForReplicas = null,
        Action<IServiceCollection>? configureServices = null)
    {
        var urls = replicas.ToList();
        string floorDirectory = Path.Combine(Path.GetTempPath(), "tokenfactory-tests", Guid.NewGuid().ToString("N"));
        var overrides = new Dictionary<string, string?>
        {
            ["TokenFactory:Host"] = "127.0.0.1",
            ["TokenFactory:Port"] = "0",
            // The production interval (poll timeout 0.5 s): at 100 ms a poll timed out at 0.25 s, and under the whole suite's
            // load two such polls of a stub that was only slow took it out of rotation mid-test (503 no_replica_available).
            ["TokenFactory:Router:StatusIntervalMilliseconds"] = "200",
            ["TokenFactory:Fleet:InternalToken"] = InternalToken,
            ["TokenFactory:Floor:Auth"] = "none",
            ["TokenFactory:Floor:AdminKey"] = AdminKey,
            ["TokenFactory:Floor:Database"] = Path.Combine(floorDirectory, "floor.db"),
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:TokenFactory.Server.Floor.FloorStartup"] = "Error",
        };
        for (int i = 0; i < urls.Count; i++)
            overrides[$"TokenFactory:Router:Replicas:{i}"] = urls[i].ToString();
        foreach (var (k, v) in settings ?? [])
            overrides[k] = v;
        var logs = new LogSink();
        var app = RouterServer.Build([], overrides, services =>
        {
            services.AddSingleton<Microsoft.Extensions.Logging.ILoggerProvider>(logs);
            configureServices?.Invoke(services);
        });
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        var router = new RouterInstance(app, new Uri(address), floorDirectory, logs);
        await router.WaitForReplicasAsync(waitForReplicas ?? urls.Count);
        return router;
    }

    /// <summary>/admin/fleet now.</summary>
    public async Task<JsonObject> FleetAsync() => (await Admin.GetFromJsonAsync<JsonObject>("/admin/fleet"))!;

    /// <summary>Whether the replica named host:port is in rotation now.</summary>
    public async Task<bool> IsAvailableAsync(string name) =>
        (await FleetAsync())["replicas"]!.AsArray().Single(r => (string?)r!["name"] == name)!["available"]!.GetValue<bool>();

    /// <summary>Waits (bounded) until exactly <paramref name="count"/> replicas are in rotation.</summary>
    public async Task WaitForReplicasAsync(int count, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            int up = (await FleetAsync())["replicas"]!.AsArray().Count(r => r!["available"]!.GetValue<bool>());
            if (up == count)
                return;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{up} replicas in rotation, not {count}: {await FleetAsync()}");
            await Task.Delay(20);
        }
    }

    /// <summary>A sample's value as GET /metrics reports it now (0 when the series does not exist yet).</summary>
    public async Task<double> MetricAsync(string sample, params (string Label, string Value)[] labels)
    {
        var families = Server.Tests.Metrics.PrometheusExposition.Parse(await Client.GetStringAsync("/metrics"));
        return families.Values.SelectMany(f => f.Samples)
            .Where(s => s.Name == sample && labels.All(l => s.Labels.GetValueOrDefault(l.Label) == l.Value))
            .Sum(s => s.Value);
    }

    /// <summary>The router's ledger lines (newest first), as GET /admin/ledger lists them.</summary>
    public async Task<List<JsonObject>> LedgerAsync() =>
        [.. (await Admin.GetFromJsonAsync<JsonObject>("/admin/ledger?limit=100000"))!["data"]!.AsArray().Select(e => e!.AsObject())];

    /// <summary>The router's refusal counts (its pending counts written first).</summary>
    public async Task<long> RefusalsAsync() =>
        (await Admin.GetFromJsonAsync<JsonObject>("/admin/refusals?limit=100000"))!["data"]!.AsArray().Sum(e => (long)e!["count"]!);

    public async Task<HttpResponseMessage> PostAsync(string path, object body) => await Client.PostAsJsonAsync(path, body);

    /// <summary>
    /// A new team (a unique id, its class <paramref name="priority"/>) with one key, and when <paramref name="lifetimeTokens"/>
    /// is given a lifetime token budget that hard: the key's secret and the team's id.
    /// </summary>
    public async Task<(string Secret, string Team)> NewKeyAsync(string? priority = null, double? lifetimeTokens = null)
    {
        string team = $"team-{Guid.NewGuid():N}"[..20];
        using (var created = await Admin.PostAsJsonAsync("/admin/teams", new { id = team, priority }))
            Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
        if (lifetimeTokens is double hard)
        {
            using var budget = await Admin.PostAsJsonAsync("/admin/budgets", new { scope = "team", scope_id = team, unit = "tokens", hard, period = "lifetime" });
            Assert.True(budget.IsSuccessStatusCode, await budget.Content.ReadAsStringAsync());
        }
        using var key = await Admin.PostAsJsonAsync("/admin/keys", new { team, name = "test" });
        Assert.True(key.IsSuccessStatusCode, await key.Content.ReadAsStringAsync());
        return ((string)(await key.Content.ReadFromJsonAsync<JsonObject>())!["secret"]!, team);
    }

    /// <summary>A short chat request for <paramref name="model"/> (8 tokens at most).</summary>
    public static object Chat(string model, bool stream = false) => new
    {
        model,
        messages = new[] { new { role = "user", content = "Hello there" } },
        max_tokens = 8,
        stream,
    };

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        Admin.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_floorDirectory, recursive: true);
        }
        catch (IOException)
        {
            // gone already, or a pool still holds the file for a moment: the OS temp cleaner takes it
        }
    }
}
