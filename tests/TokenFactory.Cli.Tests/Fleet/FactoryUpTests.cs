using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using TokenFactory.Cli.Fleet;

namespace TokenFactory.Cli.Tests.Fleet;

/// <summary><c>tokenfactory factory up</c> on stories260K: real replica processes, their token, and a stop that leaves nothing behind.</summary>
public sealed class FactoryUpTests
{
    private const string Token = "factory-test-token-0123456789abcdef";
    private static readonly TimeSpan Startup = TimeSpan.FromSeconds(120);

    private static FactoryProcess StartTwoReplicas() => FactoryProcess.Start(
        new Dictionary<string, string> { [EnvironmentVariables.InternalToken] = Token },
        "--model", TestPaths.Stories260K, "--replicas", "2", "--router-command", "none", "--threads", "1", "--ctx", "256");

    private static async Task<List<(Uri Url, int Pid)>> ReplicasAsync(FactoryProcess factory)
    {
        await factory.WaitForLineAsync(@"^replicas ready \(no router\)", Startup);
        var replicas = new List<(Uri, int)>();
        foreach (int i in new[] { 1, 2 })
        {
            var m = await factory.WaitForLineAsync($@"^replica {i}: (http://127\.0\.0\.1:\d+) \(pid (\d+)\) starting, 1 threads$", TimeSpan.Zero);
            replicas.Add((new Uri(m.Groups[1].Value), int.Parse(m.Groups[2].Value)));
        }
        return replicas;
    }

    [Fact]
    public async Task Two_replicas_answer_only_with_the_token_and_stopping_leaves_no_process()
    {
        await using var factory = StartTwoReplicas();
        var replicas = await ReplicasAsync(factory);
        using var http = new HttpClient();
        foreach (var (url, _) in replicas)
        {
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(url, "/health"))).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(new Uri(url, "/internal/status"))).StatusCode);
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(url, "/internal/status"));
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
            using var status = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, status.StatusCode);
            var body = JsonNode.Parse(await status.Content.ReadAsStringAsync())!;
            Assert.Equal(("ready", 256, "stories260K"), ((string)body["state"]!, (int)body["context_length"]!, (string)body["model"]!));
        }
        Assert.NotEqual(replicas[0].Url, replicas[1].Url);

        factory.Terminate();
        Assert.Equal(0, await factory.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.All(replicas, r => Assert.False(FactoryProcess.IsRunning(r.Pid), $"replica pid {r.Pid} outlived factory up"));
        Assert.Contains("replica 1: stopped (exit code 0)", factory.Log);
        Assert.Contains("replica 2: stopped (exit code 0)", factory.Log);
    }

    [Fact]
    public async Task A_replica_that_dies_is_reported_and_not_restarted()
    {
        await using var factory = StartTwoReplicas();
        var replicas = await ReplicasAsync(factory);
        Assert.Equal(0, FactoryProcess.kill(replicas[1].Pid, 9));
        await factory.WaitForLineAsync(@"^replica 2 \(http://127\.0\.0\.1:\d+, pid \d+\) exited with code \d+; it is not restarted: 1 of 2 replicas remain$", TimeSpan.FromSeconds(30));
        using var http = new HttpClient();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(replicas[0].Url, "/health"))).StatusCode); // the other serves on

        factory.Terminate();
        Assert.Equal(1, await factory.WaitForExitAsync(TimeSpan.FromSeconds(60))); // it did not end well
        Assert.False(FactoryProcess.IsRunning(replicas[0].Pid));
        Assert.DoesNotContain("replica 3", factory.Log);
    }
}
