using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TokenFactory.Server.Tests.Floor;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Generation;

/// <summary>
/// A request is admitted or refused as one unit whatever its n, and one caller cannot starve the others: the
/// adversarial campaign's n-flood (a client looping n = 128 made most of another client's requests fail with 503).
/// </summary>
public sealed class FairnessTests
{
    private static object Completion(int n, int maxTokens, string? user = null) => new { prompt = "Once upon a time", n, max_tokens = maxTokens, ignore_eos = true, user };

    [Fact]
    public async Task An_n_flood_is_served_and_locks_no_other_client_out()
    {
        await using var server = await ServerInstance.StartAsync(); // the default queue: 64 requests may wait
        var statuses = new ConcurrentBag<(string Who, int Status)>();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        async Task Loop(string who, int n)
        {
            while (!stop.IsCancellationRequested)
            {
                // Without keys, `user` tells the callers apart (else they would share their client address).
                using var r = await server.PostJsonAsync("/v1/completions", Completion(n, 4, who));
                statuses.Add((who, (int)r.StatusCode));
                if (r.IsSuccessStatusCode && n > 1)
                    Assert.Equal(n, JsonNode.Parse(await r.Content.ReadAsStringAsync())!["choices"]!.AsArray().Count);
            }
        }
        await Task.WhenAll(Loop("flood", 128), Loop("flood", 128), Loop("normal", 1));
        var flood = statuses.Where(s => s.Who == "flood").ToList();
        var normal = statuses.Where(s => s.Who == "normal").ToList();
        Assert.All(flood, s => Assert.Equal(200, s.Status)); // n = 128 is within the limits: served, not refused
        Assert.All(normal, s => Assert.Equal(200, s.Status));
        Assert.True(normal.Count >= 5, $"the normal client got only {normal.Count} requests through in 3 s");
        await server.WaitForIdleAsync();
        Assert.Equal(0, server.Engine.Load.KvCacheUsedTokens);
    }

    [Fact]
    public async Task A_caller_filling_the_queue_gives_way_to_another_and_its_refusals_are_counted_not_charged()
    {
        await using var floor = await FloorServer.StartAsync(settings: new() { ["TokenFactory:MaxWaitingRequests"] = "4", ["TokenFactory:MaxRunningSequences"] = "8" });
        var flooder = await floor.NewKeyAsync();
        var other = await floor.NewKeyAsync();
        using var flooding = Client(floor, flooder.Secret!);
        using var polite = Client(floor, other.Secret!);

        // Twelve long requests of four choices at once: two start, four wait, the rest are refused.
        var results = await FloodWhileAnotherGetsThroughAsync(polite, async () =>
        {
            using var r = await flooding.PostAsJsonAsync("/v1/completions", Completion(4, 400));
            var body = JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
            return ((int)r.StatusCode, r.Headers.RetryAfter is not null, (string?)body["error"]?["code"]);
        });
        var refused = results.Where(r => r.Item1 != 200).ToList();
        Assert.NotEmpty(refused);
        Assert.All(refused, r => Assert.Equal((503, true, "server_overloaded"), r));

        // Refused requests leave no ledger line and hold nothing; they are counted as refusals of the flooder's key.
        Assert.Equal(results.Count(r => r.Item1 == 200), (await floor.LedgerAsync(flooder.Team)).Count);
        var counts = await floor.RefusalsAsync(flooder.Team);
        Assert.Equal(refused.Count, counts.Where(c => c.Reason == "server_overloaded" && c.Status == 503).Sum(c => c.Count));
        Assert.Equal(3, (await floor.LedgerAsync(other.Team)).Count);
        Assert.Empty(await floor.RefusalsAsync(other.Team));
    }

    /// <summary>
    /// A streamed Responses request displaced from the queue before it ran is refused as any other (503 with Retry-After, no
    /// ledger line, a counted refusal): its opening events wait for the engine's first word. They were written at once, so
    /// a displaced stream was a 200 carrying an error event, charged at 503.
    /// </summary>
    [Fact]
    public async Task A_streamed_responses_request_displaced_before_it_ran_is_a_503_not_a_broken_stream()
    {
        await using var floor = await FloorServer.StartAsync(settings: new() { ["TokenFactory:MaxWaitingRequests"] = "4", ["TokenFactory:MaxRunningSequences"] = "2" });
        var flooder = await floor.NewKeyAsync();
        var other = await floor.NewKeyAsync();
        using var flooding = Client(floor, flooder.Secret!);
        using var polite = Client(floor, other.Secret!);

        var results = await FloodWhileAnotherGetsThroughAsync(polite, async () =>
        {
            using var r = await flooding.PostAsJsonAsync("/v1/responses", new { input = "Once upon a time", max_output_tokens = 400, stream = true });
            return ((int)r.StatusCode, r.Headers.RetryAfter is not null, await r.Content.ReadAsStringAsync());
        });
        Assert.All(results, r =>
        {
            if (r.Item1 == 200)
            {
                Assert.DoesNotContain("server_overloaded", r.Item3);
                Assert.True(r.Item3.Contains("event: response.completed") || r.Item3.Contains("event: response.incomplete"), r.Item3);
            }
            else
            {
                Assert.Equal(503, r.Item1);
                Assert.True(r.Item2, "Retry-After");
            }
        });
        Assert.Contains(results, r => r.Item1 == 503);
        Assert.Equal(results.Count(r => r.Item1 == 200), (await floor.LedgerAsync(flooder.Team)).Count);
        var counts = await floor.RefusalsAsync(flooder.Team);
        Assert.Equal(results.Count(r => r.Item1 == 503), counts.Where(c => c.Reason == "server_overloaded" && c.Status == 503).Sum(c => c.Count));
    }

    /// <summary>
    /// A queued stream whose keep-alive (every millisecond here) already sent its headers, then displaced before it ran, ends with an error event
    /// and is a refusal for the floor (no ledger line, counted): it was settled as a 503 line of nothing.
    /// </summary>
    [Fact]
    public async Task A_stream_displaced_after_its_keep_alive_is_a_refusal_not_a_ledger_line()
    {
        await using var floor = await FloorServer.StartAsync(settings: new()
        {
            ["TokenFactory:MaxWaitingRequests"] = "4", ["TokenFactory:MaxRunningSequences"] = "2", ["TokenFactory:StreamKeepAliveSeconds"] = "0.001",
        });
        var flooder = await floor.NewKeyAsync();
        var other = await floor.NewKeyAsync();
        using var flooding = Client(floor, flooder.Secret!);
        using var polite = Client(floor, other.Secret!);
        static bool AfterHeaders((int Status, string Body) r) => r.Status == 200 && r.Body.Contains("server_overloaded");
        static bool Displaced((int Status, string Body) r) => r.Status == 503 || r.Body.Contains("server_overloaded");
        // Whether a displaced request had sent its headers yet is up to timing: floods until one had (at most five).
        var results = new List<(int Status, string Body)>();
        for (int round = 0; round < 5 && !results.Any(AfterHeaders); round++)
        {
            results.AddRange(await FloodWhileAnotherGetsThroughAsync(polite, async () =>
            {
                using var r = await flooding.PostAsJsonAsync("/v1/chat/completions",
                    new { messages = new[] { new { role = "user", content = "Once upon a time" } }, max_tokens = 400, stream = true });
                return ((int)r.StatusCode, await r.Content.ReadAsStringAsync());
            }));
        }
        Assert.Contains(results, AfterHeaders);
        // Withdrawn after its stream's end went out: the counts may trail the answers by a moment.
        await Eventually.HoldsAsync(async () => (await floor.RefusalsAsync(flooder.Team)).Where(c => c.Reason == "server_overloaded" && c.Status == 503).Sum(c => c.Count),
            n => n == results.Count(Displaced));
        Assert.Equal(results.Count(r => !Displaced(r)), (await floor.LedgerAsync(flooder.Team)).Count);
    }

    /// <summary>
    /// Twelve of <paramref name="send"/> at once; once the first has come back (the queue is full of them), three short
    /// completions of the other caller, each of which must get in. Returns the flood's results.
    /// </summary>
    private static async Task<T[]> FloodWhileAnotherGetsThroughAsync<T>(HttpClient polite, Func<Task<T>> send)
    {
        var flood = Enumerable.Range(0, 12).Select(_ => send()).ToList();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!flood.Any(t => t.IsCompleted))
        {
            Assert.True(DateTime.UtcNow < deadline, "the flood never filled the queue");
            await Task.Delay(2);
        }
        // The queue is full of the flooder's requests; the other caller's still get in, one after another.
        for (int i = 0; i < 3; i++)
        {
            using var r = await polite.PostAsJsonAsync("/v1/completions", Completion(1, 8));
            Assert.True(r.StatusCode == HttpStatusCode.OK, $"request {i}: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
        }
        return await Task.WhenAll(flood);
    }

    private static HttpClient Client(FloorServer floor, string secret)
    {
        var client = new HttpClient { BaseAddress = floor.Server.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        return client;
    }
}
