using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Models;
using TokenFactory.Server.Hosting;
using TokenFactory.Server.Telemetry;

namespace TokenFactory.Server.Tests.Infrastructure;

/// <summary>A real server: Kestrel on 127.0.0.1 with a dynamic port, reached over real sockets.</summary>
public sealed class ServerInstance : IAsyncDisposable
{
    public const string ModelName = "stories260K";

    private readonly string _floorDirectory;

    private ServerInstance(WebApplication app, Uri baseAddress, string floorDirectory, LogSink logs)
    {
        _floorDirectory = floorDirectory;
        Logs = logs;
        App = app;
        BaseAddress = baseAddress;
        // No draining: a test that disposes a response unread means "the client went away", and the server must
        // see the connection close (by default the handler first reads up to 1 MB to reuse the connection).
        Client = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public WebApplication App { get; }
    /// <summary>What the server logged (Warning and above unless the test's settings lower a category).</summary>
    public LogSink Logs { get; }
    public Uri BaseAddress { get; }
    public Uri OpenAiEndpoint => new(BaseAddress, "/v1");
    public HttpClient Client { get; }
    public EngineHost Host => App.Services.GetRequiredService<EngineHost>();
    public ServerActivities Activities => App.Services.GetRequiredService<ServerActivities>();

    /// <summary>
    /// A sample's value as GET /metrics reports it now (0 when the series does not exist yet), e.g.
    /// <c>MetricAsync("tokenfactory_generations_finished_total", ("finish_reason", "cancelled"))</c> or a histogram's
    /// <c>…_count</c>. Tests read metrics the way Prometheus does, through the exporter.
    /// </summary>
    public async Task<double> MetricAsync(string sample, params (string Label, string Value)[] labels)
    {
        var families = Metrics.PrometheusExposition.Parse(await Client.GetStringAsync("/metrics"));
        return families.Values.SelectMany(f => f.Samples)
            .Where(s => s.Name == sample && labels.All(l => s.Labels.GetValueOrDefault(l.Label) == l.Value))
            .Sum(s => s.Value);
    }
    public IInferenceEngine Engine => Host.Engine ?? throw new InvalidOperationException("not loaded");

    /// <summary>Starts a server over stories260K (or <paramref name="engineFactory"/>'s engine) and, unless told not to, waits until it is ready.</summary>
    /// <param name="services">Replaces services before the server's own (a fake <see cref="TimeProvider"/>, say).</param>
    public static async Task<ServerInstance> StartAsync(Dictionary<string, string?>? settings = null, IEngineFactory? engineFactory = null, bool waitReady = true,
        Action<IServiceCollection>? services = null)
    {
        if (!File.Exists(TestPaths.Stories260K))
            throw new InvalidOperationException($"{TestPaths.Stories260K} is missing: the server tests need ../shared/models (CI always has it).");
        var overrides = new Dictionary<string, string?>
        {
            ["TokenFactory:Host"] = "127.0.0.1",
            ["TokenFactory:Port"] = "0",
            ["TokenFactory:Model"] = TestPaths.Stories260K,
            ["TokenFactory:ModelName"] = ModelName,
            ["TokenFactory:Threads"] = "1",
            ["TokenFactory:ContextLength"] = "512",
            ["TokenFactory:DefaultMaxTokens"] = "0",
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:TokenFactory.Server.Hosting.ModelLoader"] = "Critical",
            // Tests that are not about the factory floor run without keys, on a ledger of their own.
            ["TokenFactory:Floor:Auth"] = "none",
            ["Logging:LogLevel:TokenFactory.Server.Floor.FloorStartup"] = "Error",
            ["TokenFactory:Floor:Energy:Meter"] = "estimated",
        };
        string floorDirectory = Path.Combine(Path.GetTempPath(), "tokenfactory-tests", Guid.NewGuid().ToString("N"));
        overrides["TokenFactory:Floor:Database"] = Path.Combine(floorDirectory, "floor.db");
        foreach (var (k, v) in settings ?? [])
            overrides[k] = v;
        var logs = new LogSink();
        var configure = services;
        var app = TokenFactoryServer.Build([], overrides, services =>
        {
            services.AddSingleton<Microsoft.Extensions.Logging.ILoggerProvider>(logs);
            configure?.Invoke(services);
            if (engineFactory is not null)
                services.AddSingleton(engineFactory);
        });
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            if (Directory.Exists(floorDirectory))
                Directory.Delete(floorDirectory, recursive: true);
            throw;
        }
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        var instance = new ServerInstance(app, new Uri(address), floorDirectory, logs);
        if (waitReady)
            await instance.WaitForHealthAsync(200);
        return instance;
    }

    public async Task WaitForHealthAsync(int status)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            using var response = await Client.GetAsync("/health");
            if ((int)response.StatusCode == status)
                return;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"/health never answered {status} (last {(int)response.StatusCode})");
            await Task.Delay(20);
        }
    }

    /// <summary>Waits (bounded) until the engine reports nothing running or waiting.</summary>
    public async Task WaitForIdleAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Engine.Load is { Running: > 0 } or { Waiting: > 0 })
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"The engine is still busy: {Engine.Load}");
            await Task.Delay(10);
        }
    }

    public Task<HttpResponseMessage> PostJsonAsync(string path, object body) =>
        Client.PostAsJsonAsync(path, body);

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_floorDirectory, recursive: true);
        }
        catch (IOException)
        {
            // another instance's pool may still hold the file for a moment; the OS temp cleaner takes it
        }
    }

    public TokenFactory.Floor.FloorService Floor => App.Services.GetRequiredService<TokenFactory.Floor.FloorService>();

    /// <summary>An engine factory that builds a <see cref="BatchingEngine"/> over stories260K with the given options.</summary>
    public sealed class EngineFactory(EngineOptions options) : IEngineFactory
    {
        public IInferenceEngine Create(ModelSource source) => new BatchingEngine(TransformerModel.Load(source.Path), options);
    }
}
