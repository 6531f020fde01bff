using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using OpenAI;
using OpenAI.Chat;
using TokenFactory.Router.Tests.Infrastructure;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Router.Tests;

/// <summary>The router is the fleet's factory floor: real OpenAI clients, real replicas, one ledger shared by several routers.</summary>
public sealed class FleetLedgerTests
{
    private static ChatClient Chat(RouterInstance router, string key) =>
        new("stories260K", new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = router.OpenAiEndpoint, RetryPolicy = new ClientRetryPolicy(0) });

    [Fact]
    public async Task The_official_client_gets_through_the_router_what_the_replica_answers_directly()
    {
        var settings = new Dictionary<string, string?> { ["TokenFactory:Fleet:InternalToken"] = RouterInstance.InternalToken };
        await using var replica = await ServerInstance.StartAsync(settings);
        await using var router = await RouterInstance.StartAsync([replica.BaseAddress], new() { ["TokenFactory:Router:Models:stories260K"] = TestPaths.Stories260K });
        ChatMessage[] messages = [new UserChatMessage("Tell me a story about a cat.")];
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 12 };

        var viaRouter = (await Chat(router, "unused").CompleteChatAsync(messages, options)).Value;
        var text = new System.Text.StringBuilder();
        await foreach (var update in Chat(router, "unused").CompleteChatStreamingAsync(messages, options))
            text.Append(string.Concat(update.ContentUpdate.Select(p => p.Text)));
        using var directRequest = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = JsonContent.Create(new { model = "stories260K", messages = new[] { new { role = "user", content = "Tell me a story about a cat." } }, temperature = 0, max_tokens = 12 }),
        };
        directRequest.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", RouterInstance.InternalToken); // a replica answers only its router
        using var direct = await replica.Client.SendAsync(directRequest);
        Assert.Equal(HttpStatusCode.OK, direct.StatusCode);
        string expected = (string)(await direct.Content.ReadFromJsonAsync<JsonObject>())!["choices"]![0]!["message"]!["content"]!;

        Assert.Equal(expected, viaRouter.Content[0].Text);
        Assert.Equal(expected, text.ToString());
        Assert.Equal(12, viaRouter.Usage.OutputTokenCount);
        var lines = await router.LedgerAsync();
        Assert.Equal(2, lines.Count);
        Assert.All(lines, l => Assert.Equal(replica.BaseAddress.Authority, (string?)l["replica"]));
        Assert.All(lines, l => Assert.Equal(viaRouter.Usage.InputTokenCount, (long)l["prompt_tokens"]!));
    }

    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Two_routers_on_one_PostgreSQL_ledger_never_overspend_a_budget(bool tokenizer)
    {
        Skip.If(PostgresDatabase.SkipReason is not null, PostgresDatabase.SkipReason);
        string postgres = PostgresDatabase.Require();
        await using var stub = await StubReplica.StartAsync("stories260K");
        stub.Generate = StubReplica.Answer(4, delay: TimeSpan.FromMilliseconds(5));
        // Polls every 300 ms (a 750 ms poll timeout): the budget is the subject here, and under the whole suite's load two
        // 250 ms polls of the busy stub had timed out, ejecting the only replica mid-test (503 no_replica_available).
        var shared = new Dictionary<string, string?>
        {
            ["TokenFactory:Floor:Auth"] = "keys", ["TokenFactory:Floor:Postgres"] = postgres, ["TokenFactory:Router:MaxQueuedRequests"] = "1000",
            ["TokenFactory:Router:StatusIntervalMilliseconds"] = "300",
        };
        if (tokenizer)
            shared["TokenFactory:Router:Models:stories260K"] = TestPaths.Stories260K; // the prompt counted exactly, else bounded from its bytes
        await using var a = await RouterInstance.StartAsync([stub.BaseAddress], shared);
        await using var b = await RouterInstance.StartAsync([stub.BaseAddress], shared);

        string team = $"fleet-{Guid.NewGuid():N}"[..20];
        using (var created = await a.Admin.PostAsJsonAsync("/admin/teams", new { id = team }))
            Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
        using var keyResponse = await a.Admin.PostAsJsonAsync("/admin/keys", new { team, name = "fleet" });
        string key = (string)(await keyResponse.Content.ReadFromJsonAsync<JsonObject>())!["secret"]!;
        ChatMessage[] messages = [new UserChatMessage("Hi")];
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 4 };
        // The stub always answers 10 prompt + 4 completion tokens; the floor reserves the prompt (as the router
        // estimates it) plus max_tokens for each request in flight.
        var probe = (await Chat(b, key).CompleteChatAsync(messages, options)).Value.Usage; // b knows a's key
        Assert.Equal(14, probe.TotalTokenCount);
        using (var budget = await b.Admin.PostAsJsonAsync("/admin/budgets", new { scope = "team", scope_id = team, unit = "tokens", hard = 14 + (tokenizer ? 20 * 14 + 7 : 60 * 14), period = "lifetime" }))
            Assert.True(budget.IsSuccessStatusCode, await budget.Content.ReadAsStringAsync());

        var results = await Task.WhenAll(Enumerable.Range(0, 60).Select(async i =>
        {
            try
            {
                return (await Chat(i % 2 == 0 ? a : b, key).CompleteChatAsync(messages, options)).Value.Usage.TotalTokenCount;
            }
            catch (ClientResultException e) when (e.Status == 429)
            {
                return 0;
            }
        }));
        var after = (await a.Admin.GetFromJsonAsync<JsonObject>("/admin/budgets"))!["data"]!.AsArray().Single(x => (string?)x!["scope_id"] == team)!;
        double spent = (double)after["spent"]!, hard = (double)after["hard"]!;
        Assert.True(spent <= hard, $"spent {spent} of {hard}");
        Assert.Equal(14 + results.Sum(), spent);
        // The reservation is a worst case (the rendered prompt, about 40 tokens here, plus max_tokens; without the
        // tokenizer a bound from its bytes) while the stub reports 14 used: room is lost to it, never more spent.
        Assert.InRange(results.Count(t => t > 0), tokenizer ? 3 : 1, 20);
        var ledger = (await a.LedgerAsync()).Where(l => (string?)l["team"] == team).ToList();
        Assert.Equal(results.Count(t => t > 0) + 1, ledger.Count);
        Assert.All(ledger, l => Assert.Equal(stub.Name, (string?)l["replica"]));
    }

    [Fact]
    public async Task A_router_shutting_down_finishes_what_it_forwards_and_admits_nothing_new()
    {
        await using var stub = await StubReplica.StartAsync();
        var gate = new TaskCompletionSource();
        stub.Generate = StubReplica.Answer(3, gate: () => gate.Task);
        var router = await RouterInstance.StartAsync([stub.BaseAddress]);
        try
        {
            var inFlight = router.PostAsync("/v1/chat/completions", new { model = stub.Model, messages = new[] { new { role = "user", content = "hi" } }, stream = true });
            while (stub.Requests.IsEmpty)
                await Task.Delay(10);
            var stopping = router.App.StopAsync();
            await Task.Delay(100);
            Assert.True(router.Service<TokenFactory.Router.Api.RouterState>().Draining);
            using (var late = new HttpClient { BaseAddress = router.BaseAddress })
            {
                // Kestrel stops accepting connections; one that still gets in is told to go elsewhere.
                try
                {
                    using var refused = await late.PostAsJsonAsync("/v1/chat/completions", new { model = stub.Model, messages = new[] { new { role = "user", content = "hi" } } });
                    Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
                }
                catch (HttpRequestException)
                {
                }
            }
            gate.SetResult();
            using var response = await inFlight;
            var sse = await Sse.ReadAllAsync(response);
            Assert.True(sse.Done);
            Assert.Equal(3, sse.Chunks.Count(c => c["choices"] is JsonArray { Count: > 0 }));
            await stopping;
        }
        finally
        {
            await router.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_whole_answer_is_recorded_with_the_first_token_time_the_replica_measured()
    {
        await using var stub = await StubReplica.StartAsync("stories260K");
        stub.Generate = async (context, body) =>
        {
            // The rest of the answer takes a while: arriving whole, it says nothing of its first token. (450 ms for a 0.4 s
            // bound: Task.Delay runs on a millisecond tick that can end a delay a little before the stopwatch's 400 ms.)
            await Task.Delay(450);
            await StubReplica.Answer(5)(context, body);
        };
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress]);
        using (var response = await router.Client.PostAsJsonAsync("/v1/completions", new { model = "stories260K", prompt = "x", max_tokens = 5 }))
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var line = Assert.Single(await router.LedgerAsync());
        Assert.Equal(0.05, (double)line["time_to_first_token_seconds"]!, 6); // as a single server records it, not 0.4 s
        Assert.True((double)line["duration_seconds"]! >= 0.4);
    }
}
