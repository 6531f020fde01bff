using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using TokenFactory.Cli.Fleet;

namespace TokenFactory.Cli.Tests.Fleet;

/// <summary>
/// The launcher with the fleet's router in front (the real <c>tokenfactory route</c>): what the router is told, that a
/// request through it reaches a replica, the order of start and stop, and that a router which fails takes the fleet
/// down with it.
/// </summary>
public sealed class FactoryLauncherTests
{
    private static ProcessStartInfo Tokenfactory(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet");
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "tokenfactory.dll"));
        foreach (var a in args)
            start.ArgumentList.Add(a);
        return start;
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static FactorySettings OneReplica(int port) => new() { Model = TestPaths.Stories260K, Replicas = 1, Threads = 1, Ctx = 256, Port = port };

    private static async Task WaitForAsync(StringWriter output, string text, Task running)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (!output.ToString().Contains(text))
        {
            Assert.False(running.IsCompleted, $"factory up ended before '{text}':\n{output}");
            Assert.True(DateTime.UtcNow < deadline, $"no '{text}':\n{output}");
            await Task.Delay(50);
        }
    }

    private static int Pid(string output, string name) => int.Parse(Regex.Match(output, $@"{name}: http://\S+ \(pid (\d+)\)").Groups[1].Value);

    [Fact]
    public async Task The_router_is_told_the_replicas_and_the_token_starts_after_them_and_stops_before_them()
    {
        int port = FreePort();
        RouterLaunch? told = null;
        string routerLedger = Path.Combine(TestPaths.TempDir(), "router.db");
        var output = new StringWriter();
        var settings = OneReplica(port) with { NoAuth = true, Database = routerLedger };
        var launcher = new FactoryLauncher(settings, launch =>
        {
            told = launch;
            return FactoryLauncher.TokenFactoryRoute(launch);
        }, TextWriter.Synchronized(output));
        using var stop = new CancellationTokenSource();
        var running = launcher.RunAsync(stop.Token);
        await WaitForAsync(output, $"fleet ready: 1 replicas behind http://127.0.0.1:{port}/v1", running);

        Assert.NotNull(told);
        Assert.Equal(port, told.Port);
        var replica = Assert.Single(told.Replicas);
        Assert.True(told.InternalToken.Length >= 43, "the generated token has 256 bits");
        using var http = new HttpClient();
        using (var request = new HttpRequestMessage(HttpMethod.Get, new Uri(replica, "/internal/status")))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", told.InternalToken);
            Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(request)).StatusCode); // the replica holds the same token
        }
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"http://127.0.0.1:{port}/health")).StatusCode);
        using (var chat = await http.PostAsync($"http://127.0.0.1:{port}/v1/chat/completions", new StringContent(
            """{"model":"stories260K","messages":[{"role":"user","content":"Hi"}],"max_tokens":3}""", System.Text.Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
            Assert.Equal(replica.Authority, chat.Headers.GetValues("x-tokenfactory-replica").Single()); // through the router, to the replica
        }
        string log = output.ToString();
        Assert.True(log.IndexOf("replica 1: ready") < log.IndexOf("router: http://"), log);

        stop.Cancel();
        Assert.Equal(0, await running.WaitAsync(TimeSpan.FromSeconds(90)));
        log = output.ToString();
        Assert.True(log.IndexOf("router: stopped") < log.IndexOf("replica 1: stopped"), log);
        Assert.False(FactoryProcess.IsRunning(Pid(log, "router")));
        Assert.False(FactoryProcess.IsRunning(Pid(log, "replica 1")));
    }

    [Fact]
    public async Task A_router_that_fails_takes_the_fleet_down()
    {
        var output = new StringWriter();
        var launcher = new FactoryLauncher(OneReplica(FreePort()), _ => Tokenfactory("no-such-router"), TextWriter.Synchronized(output));
        Assert.Equal(1, await launcher.RunAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(120)));
        string log = output.ToString();
        Assert.Matches(@"error: router exited with code \d+ before it was ready", log);
        Assert.Contains("replica 1: stopped", log);
        Assert.False(FactoryProcess.IsRunning(Pid(log, "replica 1")));
    }
}
