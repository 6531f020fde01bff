using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TokenFactory.Router.Tests.Infrastructure;

namespace TokenFactory.Router.Tests;

/// <summary>Who goes first when the fleet is full, what is refused at once, and what a client that leaves while waiting costs.</summary>
public sealed class AdmissionTests
{
    /// <summary>One replica with one running slot and no queue of its own: everything else waits at the router.</summary>
    private static async Task<(StubReplica Stub, RouterInstance Router, SemaphoreSlim Gate)> OneSlotFleetAsync(Dictionary<string, string?>? settings = null)
    {
        var gate = new SemaphoreSlim(0);
        var stub = await StubReplica.StartAsync();
        stub.Status = () => StubReplica.StatusOf(stub.Model, maxRunning: 1);
        stub.Generate = StubReplica.Answer(2, gate: () => gate.WaitAsync(TimeSpan.FromSeconds(30)));
        var all = new Dictionary<string, string?> { ["TokenFactory:Floor:Auth"] = "keys", ["TokenFactory:Router:ReplicaQueueDepth"] = "0" };
        foreach (var (k, v) in settings ?? [])
            all[k] = v;
        var router = await RouterInstance.StartAsync([stub.BaseAddress], all);
        return (stub, router, gate);
    }

    private static async Task<string> KeyAsync(RouterInstance router, string? priority) => (await router.NewKeyAsync(priority)).Secret;

    private static Task<HttpResponseMessage> SendAsync(RouterInstance router, string key, string text, string? serviceTier = null, CancellationToken cancellation = default)
    {
        var body = new Dictionary<string, object?> { ["model"] = "stub-model", ["messages"] = new[] { new { role = "user", content = text } }, ["max_tokens"] = 2 };
        if (serviceTier is not null)
            body["service_tier"] = serviceTier;
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return router.Client.SendAsync(request, cancellation);
    }

    private static async Task WaitQueuedAsync(RouterInstance router, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((int)(await router.FleetAsync())["queued_requests"]! != count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the router never had {count} requests waiting: {await router.FleetAsync()}");
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task Waiting_requests_go_out_earliest_deadline_first_so_interactive_overtakes_batch()
    {
        var (stub, router, gate) = await OneSlotFleetAsync();
        await using var _ = stub;
        await using var __ = router;
        string key = await KeyAsync(router, "interactive");
        var first = SendAsync(router, key, "batch-1", "flex");
        await WaitUntilAsync(() => stub.Requests.Count == 1);
        var batch = SendAsync(router, key, "batch-2", "flex");
        await WaitQueuedAsync(router, 1);
        var interactive = SendAsync(router, key, "interactive-1");
        await WaitQueuedAsync(router, 2);
        gate.Release(3);
        foreach (var response in await Task.WhenAll(first, batch, interactive))
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        Assert.Equal(["batch-1", "interactive-1", "batch-2"], stub.Requests.Select(r => (string?)r.Body["messages"]![0]!["content"]));
        Assert.Equal(["batch", "interactive", "batch"], stub.Requests.Select(r => r.Headers["x-tokenfactory-priority"]));
    }

    [Fact]
    public async Task A_request_whose_class_target_no_replica_can_meet_is_refused_at_once_and_batch_still_goes()
    {
        await using var stub = await StubReplica.StartAsync();
        // 100 000 prompt tokens queued at 1 000 tokens/s: about 100 s to a first token.
        stub.Status = () => StubReplica.StatusOf(stub.Model, pendingPrefill: 100_000, prefillPerSecond: 1000);
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress], new() { ["TokenFactory:Floor:Auth"] = "keys" });
        await WaitUntilAsync(async () => (long?)(await router.FleetAsync())["replicas"]![0]!["queued_prefill_tokens"] >= 100_000);
        string key = await KeyAsync(router, "interactive");

        using var refused = await SendAsync(router, key, "now please");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.True(refused.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        var error = (await refused.Content.ReadFromJsonAsync<JsonObject>())!["error"]!;
        Assert.Equal("slo_unattainable", (string?)error["code"]);
        Assert.Contains("interactive", (string?)error["message"]);
        Assert.Empty(stub.Requests); // never forwarded

        using var accepted = await SendAsync(router, key, "whenever", "flex");
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        Assert.Equal("batch", Assert.Single(stub.Requests).Headers["x-tokenfactory-priority"]);
        Assert.Equal(1, await router.RefusalsAsync());
    }

    [Fact]
    public async Task A_key_cannot_ask_for_a_class_above_its_own()
    {
        await using var stub = await StubReplica.StartAsync();
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress], new() { ["TokenFactory:Floor:Auth"] = "keys" });
        string standard = await KeyAsync(router, null);
        using var refused = await SendAsync(router, standard, "hi", "priority");
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal("service_tier_not_allowed", (string?)(await refused.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["code"]);
        using var unknown = await SendAsync(router, standard, "hi", "turbo");
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Equal("service_tier", (string?)(await unknown.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["param"]);
        using var lower = await SendAsync(router, standard, "hi", "flex");
        Assert.Equal(HttpStatusCode.OK, lower.StatusCode);
        using var own = await SendAsync(router, standard, "hi", "default");
        Assert.Equal(HttpStatusCode.OK, own.StatusCode);
        Assert.Equal(["batch", "standard"], stub.Requests.Select(r => r.Headers["x-tokenfactory-priority"]));
    }

    [Fact]
    public async Task A_full_router_queue_refuses_with_503_and_Retry_After()
    {
        var (stub, router, gate) = await OneSlotFleetAsync(new() { ["TokenFactory:Router:MaxQueuedRequests"] = "1" });
        await using var _ = stub;
        await using var __ = router;
        string key = await KeyAsync(router, null);
        var running = SendAsync(router, key, "one");
        await WaitUntilAsync(() => stub.Requests.Count == 1);
        var waiting = SendAsync(router, key, "two");
        await WaitQueuedAsync(router, 1);
        using (var refused = await SendAsync(router, key, "three"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.NotNull(refused.Headers.RetryAfter);
            Assert.Equal("server_overloaded", (string?)(await refused.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["code"]);
        }
        gate.Release(2);
        Assert.All(await Task.WhenAll(running, waiting), r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(2, (await router.LedgerAsync()).Count);
        Assert.Equal(1, await router.RefusalsAsync());
    }

    [Fact]
    public async Task A_client_that_leaves_while_waiting_is_never_forwarded_and_its_reservation_is_released()
    {
        var (stub, router, gate) = await OneSlotFleetAsync();
        await using var _ = stub;
        await using var __ = router;
        var (key, team) = await router.NewKeyAsync(null);
        using (var budget = await router.Admin.PostAsJsonAsync("/admin/budgets", new { scope = "team", scope_id = team, unit = "tokens", hard = 1_000_000, period = "lifetime" }))
            Assert.True(budget.IsSuccessStatusCode, await budget.Content.ReadAsStringAsync());
        var running = SendAsync(router, key, "one");
        await WaitUntilAsync(() => stub.Requests.Count == 1);
        using var leave = new CancellationTokenSource();
        var leaving = SendAsync(router, key, "two", cancellation: leave.Token);
        await WaitQueuedAsync(router, 1);
        await leave.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leaving);
        await WaitQueuedAsync(router, 0);
        gate.Release(1);
        Assert.Equal(HttpStatusCode.OK, (await running).StatusCode);
        await WaitUntilAsync(async () => (await router.LedgerAsync()).Count == 2);

        Assert.Single(stub.Requests);
        var lines = await router.LedgerAsync();
        var left = Assert.Single(lines, l => (int)l["status"]! == 499);
        Assert.Equal(0, (long)left["prompt_tokens"]! + (long)left["completion_tokens"]!);
        Assert.Null((string?)left["replica"]);
        // Reserved worst cases are all released: what is spent is exactly what the one answer used.
        var spent = (double)(await router.Admin.GetFromJsonAsync<JsonObject>("/admin/budgets"))!["data"]![0]!["spent"]!;
        Assert.Equal(12, spent);
    }

    private static Task WaitUntilAsync(Func<bool> condition) => WaitUntilAsync(() => Task.FromResult(condition()));

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting");
            await Task.Delay(10);
        }
    }
}
