using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TokenFactory.Router.Tests.Infrastructure;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Router.Tests;

/// <summary>Replicas that die, refuse, stall or cut a stream: the client gets an answer or a clear error, and the ledger stays right.</summary>
public sealed class FailoverTests
{
    private static readonly Dictionary<string, string?> RoundRobin = new() { ["TokenFactory:Router:Policy"] = "round-robin" };


    [Fact]
    public async Task A_replica_that_drops_the_connection_is_taken_out_and_the_request_served_by_another()
    {
        await using var dying = await StubReplica.StartAsync();
        await using var healthy = await StubReplica.StartAsync();
        dying.Generate = StubReplica.Drop();
        await using var router = await RouterInstance.StartAsync([dying.BaseAddress, healthy.BaseAddress], RoundRobin);
        for (int i = 0; i < 4; i++)
        {
            using var response = await router.PostAsync("/v1/chat/completions", RouterInstance.Chat(healthy.Model));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(healthy.Name, response.Headers.GetValues("x-tokenfactory-replica").Single());
        }
        Assert.NotEmpty(dying.Requests); // round-robin did send it there first
        Assert.True(await router.MetricAsync("tokenfactory_fleet_retries_total", ("replica", dying.Name), ("reason", "upstream_unreachable")) >= 1);
        Assert.Contains(router.Logs.Entries, e => e.Message.Contains($"upstream_unreachable from {dying.Name}"));
        var ledger = await router.LedgerAsync();
        Assert.Equal(4, ledger.Count);
        Assert.All(ledger, line => Assert.Equal(healthy.Name, (string?)line["replica"]));
    }

    [Fact]
    public async Task A_replica_refusing_for_load_sends_the_request_to_another_once()
    {
        await using var busy = await StubReplica.StartAsync();
        await using var free = await StubReplica.StartAsync();
        busy.Generate = StubReplica.Error(503, "server_overloaded", retryAfter: 1);
        await using var router = await RouterInstance.StartAsync([busy.BaseAddress, free.BaseAddress], RoundRobin);
        for (int i = 0; i < 2; i++)
        {
            using var response = await router.PostAsync("/v1/chat/completions", RouterInstance.Chat(free.Model));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(free.Name, response.Headers.GetValues("x-tokenfactory-replica").Single());
        }
        // Round-robin sent each there first; a refusal for load does not take a replica out of rotation (its queue empties).
        Assert.Equal(2, busy.Requests.Count);
        Assert.True(await router.IsAvailableAsync(busy.Name));
        Assert.Equal(2, await router.MetricAsync("tokenfactory_fleet_retries_total", ("replica", busy.Name), ("reason", "upstream_503")));
    }

    [Fact]
    public async Task When_every_replica_refuses_the_client_gets_the_last_refusal_with_Retry_After_and_nothing_is_charged()
    {
        await using var a = await StubReplica.StartAsync();
        await using var b = await StubReplica.StartAsync();
        a.Generate = b.Generate = StubReplica.Error(503, "server_overloaded", retryAfter: 1);
        await using var router = await RouterInstance.StartAsync([a.BaseAddress, b.BaseAddress], RoundRobin);
        using var response = await router.PostAsync("/v1/chat/completions", RouterInstance.Chat(a.Model));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Equal("server_overloaded", (string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["code"]);
        Assert.Single(a.Requests);
        Assert.Single(b.Requests); // one retry, elsewhere, then the answer
        Assert.Empty(await router.LedgerAsync());
        Assert.Equal(1, await router.RefusalsAsync());
    }

    [Fact]
    public async Task When_both_tries_fail_to_reach_a_replica_the_routers_503_names_the_last_one_tried()
    {
        await using var a = await StubReplica.StartAsync();
        await using var b = await StubReplica.StartAsync();
        a.Generate = b.Generate = StubReplica.Drop();
        await using var router = await RouterInstance.StartAsync([a.BaseAddress, b.BaseAddress], RoundRobin);
        using var response = await router.PostAsync("/v1/chat/completions", RouterInstance.Chat(a.Model));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("no_replica_available", (string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["code"]);
        var last = Assert.Single(a.Requests).At > Assert.Single(b.Requests).At ? a : b; // one try each
        Assert.Equal(last.Name, response.Headers.GetValues("x-tokenfactory-replica").Single());
    }

    [Fact]
    public async Task No_replica_up_gives_503_no_replica_available_and_health_says_so()
    {
        await using var stub = await StubReplica.StartAsync();
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress]);
        await stub.KillAsync();
        await router.WaitForReplicasAsync(0, within: TimeSpan.FromSeconds(2));
        using var response = await router.PostAsync("/v1/chat/completions", RouterInstance.Chat(stub.Model));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Equal("no_replica_available", (string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["code"]);
        using var health = await router.Client.GetAsync("/health");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.Equal(0, await router.MetricAsync("tokenfactory_fleet_replica_up", ("replica", stub.Name)));
    }

    [Fact]
    public async Task A_stream_cut_midway_ends_with_an_error_event_and_the_tokens_produced_are_metered()
    {
        await using var stub = await StubReplica.StartAsync();
        stub.Generate = StubReplica.CutAfter(3);
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress]);
        using var response = await router.PostAsync("/v1/chat/completions", RouterInstance.Chat(stub.Model, stream: true));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sse = await Sse.ReadAllAsync(response);
        Assert.True(sse.Done);
        Assert.Equal(["t0", "t1", "t2"], sse.Chunks.Where(c => c.ContainsKey("choices")).Select(c => (string?)c["choices"]![0]!["delta"]!["content"]));
        var error = sse.Chunks.Last()["error"]!;
        Assert.Equal("upstream_stream_cut", (string?)error["code"]);

        var line = Assert.Single(await router.LedgerAsync());
        Assert.Equal(502, (int)line["status"]!);
        Assert.Equal(3, (long)line["completion_tokens"]!);
        Assert.Equal(stub.Name, (string?)line["replica"]);
        Assert.Equal(1, await router.MetricAsync("tokenfactory_fleet_streams_cut_total", ("replica", stub.Name)));
    }

    [Fact]
    public async Task A_streamed_tool_call_cut_midway_is_metered_by_its_pieces_though_it_has_no_text()
    {
        await using var stub = await StubReplica.StartAsync();
        stub.Generate = StubReplica.CutAfter(4, StubReplica.CallPiece);
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress]);
        using var response = await router.PostAsync("/v1/chat/completions", RouterInstance.Chat(stub.Model, stream: true));
        var sse = await Sse.ReadAllAsync(response);
        Assert.Equal(4, sse.Chunks.Count(c => c["choices"]?[0]?["delta"]?["tool_calls"] is JsonArray));
        Assert.Equal("upstream_stream_cut", (string?)sse.Chunks.Last()["error"]!["code"]);
        var line = Assert.Single(await router.LedgerAsync());
        Assert.Equal(4, (long)line["completion_tokens"]!); // each call piece is a token the replica generated: not free
        Assert.True((double)line["time_to_first_token_seconds"]! > 0, line.ToJsonString());
    }

    [Fact]
    public async Task A_stream_that_breaks_off_after_its_headers_before_any_event_goes_to_another_replica()
    {
        await using var dying = await StubReplica.StartAsync();
        await using var healthy = await StubReplica.StartAsync();
        dying.Generate = async (context, body) =>
        {
            context.Response.ContentType = "text/event-stream"; // headers at once, as vLLM and llama.cpp's server send them
            await context.Response.Body.FlushAsync();
            await Task.Delay(300); // the headers reach the router first, even on a loaded machine
            context.Abort();
        };
        await using var router = await RouterInstance.StartAsync([dying.BaseAddress, healthy.BaseAddress], RoundRobin);
        for (int i = 0; i < 4; i++)
        {
            using var response = await router.PostAsync("/v1/chat/completions", RouterInstance.Chat(healthy.Model, stream: true));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(healthy.Name, response.Headers.GetValues("x-tokenfactory-replica").Single());
            var sse = await Sse.ReadAllAsync(response);
            Assert.True(sse.Done);
            Assert.All(sse.Chunks, c => Assert.False(c.ContainsKey("error")));
        }
        Assert.NotEmpty(dying.Requests); // round-robin did send it there first
        // Each went elsewhere: as cut after its headers, or (on a loaded machine, the abort beating the headers to the
        // router) as unreachable; the cut is what this test is for, so at least one is.
        Assert.Equal(dying.Requests.Count, await router.MetricAsync("tokenfactory_fleet_retries_total", ("replica", dying.Name)));
        Assert.True(await router.MetricAsync("tokenfactory_fleet_retries_total", ("replica", dying.Name), ("reason", "upstream_stream_cut")) >= 1);
        Assert.All(await router.LedgerAsync(), line => Assert.Equal(healthy.Name, (string?)line["replica"]));
    }

    [Fact]
    public async Task A_stream_that_goes_silent_ends_with_an_error_event_after_the_upstream_timeout()
    {
        await using var stub = await StubReplica.StartAsync();
        stub.Generate = StubReplica.SilentAfter(2);
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress], new() { ["TokenFactory:Router:UpstreamTimeoutSeconds"] = "1" });
        var started = DateTime.UtcNow;
        using var response = await router.PostAsync("/v1/chat/completions", RouterInstance.Chat(stub.Model, stream: true));
        var sse = await Sse.ReadAllAsync(response);
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(30));
        Assert.Equal("upstream_stream_cut", (string?)sse.Chunks.Last()["error"]!["code"]);
        Assert.Equal(2, (long)Assert.Single(await router.LedgerAsync())["completion_tokens"]!);
    }

    [Fact]
    public async Task A_replica_silent_before_answering_times_out_and_the_request_goes_elsewhere()
    {
        await using var stalled = await StubReplica.StartAsync();
        await using var healthy = await StubReplica.StartAsync();
        stalled.Generate = async (context, body) => await Task.Delay(TimeSpan.FromMinutes(2), context.RequestAborted).ContinueWith(_ => { });
        await using var router = await RouterInstance.StartAsync([stalled.BaseAddress, healthy.BaseAddress],
            new() { ["TokenFactory:Router:Policy"] = "round-robin", ["TokenFactory:Router:FirstByteTimeoutSeconds"] = "1" });
        for (int i = 0; i < 2; i++)
        {
            using var response = await router.PostAsync("/v1/chat/completions", RouterInstance.Chat(healthy.Model));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(healthy.Name, response.Headers.GetValues("x-tokenfactory-replica").Single());
        }
        // Round-robin sent each there first, and it stays in rotation: slow is not dead (it answers its status polls).
        Assert.Equal(2, await router.MetricAsync("tokenfactory_fleet_retries_total", ("replica", stalled.Name), ("reason", "upstream_timeout")));
        Assert.True(await router.IsAvailableAsync(stalled.Name));
    }

    [Fact]
    public async Task A_killed_replica_leaves_rotation_within_a_second_and_rejoins_when_it_comes_back()
    {
        await using var a = await StubReplica.StartAsync();
        var b = await StubReplica.StartAsync();
        int port = b.Port;
        await using var router = await RouterInstance.StartAsync([a.BaseAddress, b.BaseAddress], RoundRobin);
        await b.KillAsync();
        var killed = DateTime.UtcNow;
        await router.WaitForReplicasAsync(1, within: TimeSpan.FromSeconds(5));
        Assert.InRange(DateTime.UtcNow - killed, TimeSpan.Zero, TimeSpan.FromSeconds(1));
        for (int i = 0; i < 4; i++)
        {
            using var response = await router.PostAsync("/v1/chat/completions", RouterInstance.Chat(a.Model));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        // The poller counts the change at its next round.
        var until = DateTime.UtcNow.AddSeconds(5);
        while (await router.MetricAsync("tokenfactory_fleet_replica_health_changes_total", ("replica", b.Name), ("to", "down")) < 1)
        {
            Assert.True(DateTime.UtcNow < until, "the replica's going down was never counted");
            await Task.Delay(20);
        }

        await using var back = await StubReplica.StartAsync(port: port);
        await router.WaitForReplicasAsync(2, within: TimeSpan.FromSeconds(5));
        for (int i = 0; i < 4; i++)
        {
            using var response = await router.PostAsync("/v1/chat/completions", RouterInstance.Chat(a.Model));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal(2, back.Requests.Count); // round-robin again over both
    }

    [Fact]
    public async Task Killing_a_replica_under_load_loses_no_request_that_had_not_started_answering()
    {
        await using var a = await StubReplica.StartAsync();
        var b = await StubReplica.StartAsync();
        a.Generate = b.Generate = StubReplica.Answer(3, delay: TimeSpan.FromMilliseconds(20));
        await using var router = await RouterInstance.StartAsync([a.BaseAddress, b.BaseAddress], RoundRobin);
        using var stop = new CancellationTokenSource();
        var results = new System.Collections.Concurrent.ConcurrentBag<(HttpStatusCode Status, bool Streamed, string? Error)>();
        async Task Client(int n)
        {
            for (int i = 0; !stop.IsCancellationRequested; i++)
            {
                bool stream = (n + i) % 2 == 0;
                using var response = await router.PostAsync("/v1/chat/completions", RouterInstance.Chat(a.Model, stream));
                string? error = null;
                if (stream && response.StatusCode == HttpStatusCode.OK)
                    error = (string?)(await Sse.ReadAllAsync(response)).Chunks.LastOrDefault()?["error"]?["code"];
                results.Add((response.StatusCode, stream, error));
            }
        }
        var clients = Enumerable.Range(0, 6).Select(Client).ToList();
        await Task.Delay(500);
        await b.KillAsync();
        await Task.Delay(1500);
        await stop.CancelAsync();
        await Task.WhenAll(clients);

        Assert.True(results.Count > 20, $"only {results.Count} requests");
        // A request not yet answering fails over; only a stream already under way may end cut (with an error event).
        Assert.All(results, r => Assert.Equal(HttpStatusCode.OK, r.Status));
        Assert.All(results.Where(r => r.Error is not null), r => Assert.True(r.Streamed && r.Error == "upstream_stream_cut"));
        var ledger = await router.LedgerAsync();
        Assert.Equal(results.Count, ledger.Count); // every request has its line, cut ones included
    }

    [Fact]
    public async Task A_replica_holding_another_internal_token_stays_out_of_rotation_with_a_clear_log()
    {
        await using var replica = await ServerInstance.StartAsync(new() { ["TokenFactory:Fleet:InternalToken"] = "not-the-routers-token" });
        await using var router = await RouterInstance.StartAsync([replica.BaseAddress], waitForReplicas: 0);
        await Task.Delay(300); // a few polls
        Assert.False(await router.IsAvailableAsync(replica.BaseAddress.Authority));
        // Said once, not at every poll.
        Assert.Single(router.Logs.Entries, e => e.Message.Contains("refuses the router's internal token") && e.Message.Contains(replica.BaseAddress.Authority));
        using var response = await router.PostAsync("/v1/chat/completions", RouterInstance.Chat("stories260K"));
        // The replica never answered the router, so its model is unknown here: the router says what it serves (nothing).
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("nothing yet", (string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["message"]);
    }
}
