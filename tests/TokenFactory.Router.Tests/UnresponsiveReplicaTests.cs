using System.Net;
using System.Net.Http.Json;
using TokenFactory.Router.Tests.Infrastructure;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Router.Tests;

/// <summary>
/// A replica that goes silent without closing its connections (SIGSTOP, a partition) is out of rotation within about
/// a second, and what it held is not stranded: requests it had not begun answering go elsewhere, streams end cut.
/// </summary>
public sealed class UnresponsiveReplicaTests
{

    [Fact]
    public async Task A_frozen_replica_is_out_within_a_second_and_the_request_it_held_is_answered_by_another()
    {
        await using var frozen = await StubReplica.StartAsync();
        await using var healthy = await StubReplica.StartAsync();
        await using var router = await RouterInstance.StartAsync([frozen.BaseAddress, healthy.BaseAddress], new() { ["TokenFactory:Router:Policy"] = "round-robin" });
        frozen.Freeze();
        var at = DateTime.UtcNow;
        // Round-robin sends one of the two to the frozen replica; neither may wait out the first-byte timeout (900 s).
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var requests = Enumerable.Range(0, 2).Select(_ => router.Client.PostAsJsonAsync("/v1/chat/completions", RouterInstance.Chat(healthy.Model), patience.Token)).ToList();
        var down = router.WaitForReplicasAsync(1, within: TimeSpan.FromSeconds(10)).ContinueWith(_ => DateTime.UtcNow - at);
        foreach (var response in await Task.WhenAll(requests))
        {
            using (response)
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal(healthy.Name, response.Headers.GetValues("x-tokenfactory-replica").Single());
            }
        }
        Assert.InRange(DateTime.UtcNow - at, TimeSpan.Zero, TimeSpan.FromSeconds(3));
        Assert.InRange(await down, TimeSpan.Zero, TimeSpan.FromSeconds(2)); // two timed-out polls of 0.5 s, and the intervals
        Assert.Empty(frozen.Requests); // it never got to read the request
        // The request round-robin gave the frozen replica was retried elsewhere, unless (a loaded machine sending late) the
        // ejection came first and nothing was sent there: either way none waited, and none was retried twice. The retry
        // of a request a replica held is asserted exactly by A_request_a_replica_took_and_never_answered_….
        Assert.InRange(await router.MetricAsync("tokenfactory_fleet_retries_total", ("replica", frozen.Name), ("reason", "replica_unresponsive")), 0, 1);
        Assert.Equal(2, (await router.LedgerAsync()).Count(l => (string?)l["replica"] == healthy.Name));
    }

    [Fact]
    public async Task A_request_a_replica_took_and_never_answered_is_retried_elsewhere_once_it_goes_silent()
    {
        await using var hung = await StubReplica.StartAsync();
        await using var healthy = await StubReplica.StartAsync();
        hung.Generate = (context, _) => Task.Delay(Timeout.Infinite, context.RequestAborted); // takes the request, answers nothing
        await using var router = await RouterInstance.StartAsync([hung.BaseAddress, healthy.BaseAddress], new() { ["TokenFactory:Router:Policy"] = "round-robin" });
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var requests = Enumerable.Range(0, 2).Select(_ => router.Client.PostAsJsonAsync("/v1/chat/completions", RouterInstance.Chat(healthy.Model), patience.Token)).ToList();
        for (int i = 0; i < 200 && hung.Requests.Count == 0; i++)
            await Task.Delay(10);
        Assert.Single(hung.Requests); // round-robin gave it one, which it holds
        hung.Freeze(); // and now it stops answering its status polls too
        var at = DateTime.UtcNow;
        foreach (var response in await Task.WhenAll(requests))
        {
            using (response)
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal(healthy.Name, response.Headers.GetValues("x-tokenfactory-replica").Single());
            }
        }
        Assert.InRange(DateTime.UtcNow - at, TimeSpan.Zero, TimeSpan.FromSeconds(3)); // not the first-byte timeout (900 s)
        Assert.Equal(1, await router.MetricAsync("tokenfactory_fleet_retries_total", ("replica", hung.Name), ("reason", "replica_unresponsive")));
    }

    [Fact]
    public async Task A_stream_from_a_replica_that_freezes_ends_cut_at_its_ejection_not_after_the_upstream_timeout()
    {
        await using var stub = await StubReplica.StartAsync();
        stub.Generate = StubReplica.SilentAfter(2);
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress]);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(RouterInstance.Chat(stub.Model, stream: true)) };
        using var response = await router.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        stub.Freeze();
        var at = DateTime.UtcNow;
        var sse = await Sse.ReadAllAsync(response);
        Assert.InRange(DateTime.UtcNow - at, TimeSpan.Zero, TimeSpan.FromSeconds(3)); // the upstream timeout is 600 s
        Assert.True(sse.Done);
        Assert.Equal("upstream_stream_cut", (string?)sse.Chunks.Last()["error"]!["code"]);
        var line = Assert.Single(await router.LedgerAsync());
        Assert.Equal(502, (int)line["status"]!);
        Assert.Equal(2, (long)line["completion_tokens"]!);
        Assert.Equal(1, await router.MetricAsync("tokenfactory_fleet_streams_cut_total", ("replica", stub.Name)));
    }
}
