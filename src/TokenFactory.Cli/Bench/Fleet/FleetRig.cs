using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TokenFactory.Cli.Fleet;

namespace TokenFactory.Cli.Bench.Fleet;

/// <summary>
/// The processes a fleet benchmark runs against, started as an operator would: replicas as <c>tokenfactory serve</c>
/// with one internal token, routers as <c>tokenfactory route</c> in front of them, each on a free loopback port. Their
/// output goes to a log file in a temporary folder (printed on failure); everything is killed at the end.
/// </summary>
internal sealed class FleetRig : IAsyncDisposable
{
    public const string AdminKey = "fleet-bench-admin-key";

    private readonly List<ChildProcess> _processes = [];
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"tokenfactory-fleet-bench-{Environment.ProcessId}");
    private readonly StreamWriter _log;
    private int _routers;

    public FleetRig()
    {
        Directory.CreateDirectory(_directory);
        _log = new StreamWriter(LogPath) { AutoFlush = true };
        Http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1024, PooledConnectionLifetime = TimeSpan.FromMinutes(10) })
        {
            Timeout = TimeSpan.FromMinutes(10),
        };
    }

    public string Token { get; } = FactoryLauncher.NewToken();
    public HttpClient Http { get; }
    public string LogPath => Path.Combine(_directory, "fleet.log");
    public TextWriter Log => TextWriter.Synchronized(_log);

    /// <summary>A replica: <c>serve</c> with the internal token; <paramref name="extra"/> are more serve options.</summary>
    public async Task<ChildProcess> StartReplicaAsync(string model, int threads, params string[] extra)
    {
        int port = FactoryLauncher.FreePorts(1)[0];
        var start = FactoryLauncher.TokenFactoryCommand(["serve", "--model", model, "--host", "127.0.0.1", "--port", Invariant(port), "--threads", Invariant(threads),
            "--database", Path.Combine(_directory, $"replica-{port}.db"), .. extra]);
        start.Environment[EnvironmentVariables.InternalToken] = Token;
        return await StartAsync($"replica {_processes.Count + 1}", port, start);
    }

    /// <summary>A router over <paramref name="replicas"/>, with the admin key; <paramref name="extra"/> are more route options.</summary>
    public async Task<ChildProcess> StartRouterAsync(IEnumerable<ChildProcess> replicas, string policy, params string[] extra)
    {
        int port = FactoryLauncher.FreePorts(1)[0];
        var args = new List<string> { "route", "--port", Invariant(port), "--policy", policy, "--database", Path.Combine(_directory, $"router-{++_routers}.db") };
        foreach (var r in replicas)
            args.AddRange(["--replica", r.Address]);
        args.AddRange(extra);
        var start = FactoryLauncher.TokenFactoryCommand([.. args]);
        start.Environment[EnvironmentVariables.InternalToken] = Token;
        start.Environment[EnvironmentVariables.AdminKey] = AdminKey;
        return await StartAsync($"router {_routers}", port, start);
    }

    private async Task<ChildProcess> StartAsync(string name, int port, System.Diagnostics.ProcessStartInfo start)
    {
        var child = ChildProcess.Start(name, new Uri($"http://127.0.0.1:{port}"), start, Log);
        _processes.Add(child);
        await FactoryLauncher.WaitHealthyAsync(Http, child, TimeSpan.FromMinutes(2), CancellationToken.None);
        return child;
    }

    /// <summary>A key of a new team in <paramref name="priority"/>'s class, made through the router's admin API.</summary>
    public async Task<string> KeyAsync(ChildProcess router, string priority)
    {
        string team = $"bench-{priority}-{Guid.NewGuid():N}"[..24];
        await AdminPostAsync(router, "/admin/teams", new JsonObject { ["id"] = team, ["priority"] = priority });
        var key = await AdminPostAsync(router, "/admin/keys", new JsonObject { ["team"] = team, ["name"] = "bench" });
        return (string)key["secret"]!;
    }

    /// <summary>GET on the router's admin API.</summary>
    public async Task<JsonObject> AdminGetAsync(ChildProcess router, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(router.Url, path));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        using var response = await Http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    private async Task<JsonObject> AdminPostAsync(ChildProcess router, string path, JsonObject body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(router.Url, path)) { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        using var response = await Http.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
            throw new TokenFactoryException($"POST {path} on the router: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    private static string Invariant(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(_processes.Select(p => p.StopAsync(TimeSpan.FromSeconds(10))));
        foreach (var p in _processes)
            p.Dispose();
        Http.Dispose();
        await _log.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // a process still holds a file: the OS temp cleaner takes it
        }
    }
}
