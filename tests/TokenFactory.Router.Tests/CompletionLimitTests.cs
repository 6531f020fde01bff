using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using TokenFactory.Router.Tests.Infrastructure;

namespace TokenFactory.Router.Tests;

/// <summary>
/// A request without max_tokens is reserved the context the router knows; a replica that could generate past that
/// (a longer or unknown context) is sent the reserved limit, so a tokens budget is never overspent.
/// </summary>
public sealed class CompletionLimitTests
{
    /// <summary>An upstream that generates up to the max_tokens it is sent, else 5000 tokens (its context is long).</summary>
    private static Task LongWinded(HttpContext context, JsonObject body)
    {
        int completion = (int?)body["max_tokens"] ?? 5000;
        var answer = new JsonObject
        {
            ["id"] = "chatcmpl-long", ["object"] = "chat.completion", ["model"] = body["model"]?.DeepClone(),
            ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = "…" }, ["finish_reason"] = "length" }),
            ["usage"] = new JsonObject { ["prompt_tokens"] = 10, ["completion_tokens"] = completion, ["total_tokens"] = 10 + completion },
        };
        return Results.Text(answer.ToJsonString(), "application/json").ExecuteAsync(context);
    }

    private static readonly object NoLimit = new { model = "stub-model", messages = new[] { new { role = "user", content = "Tell me everything." } } };

    [Fact]
    public async Task A_third_party_upstream_is_sent_the_reserved_limit_so_a_tokens_budget_is_never_overspent()
    {
        await using var stub = await StubReplica.StartAsync(); // no /internal/status: a third-party server, its context unknown
        stub.Generate = LongWinded;
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress],
            new() { ["TokenFactory:Floor:Auth"] = "keys", ["TokenFactory:Router:DefaultContextLength"] = "1000" });
        // Room for one request's reservation (its prompt's bound, a few hundred tokens, plus the 1000 of the context).
        var (key, _) = await router.NewKeyAsync(lifetimeTokens: 2000);

        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(NoLimit) };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        using var response = await router.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var after = (await router.Admin.GetFromJsonAsync<JsonObject>("/admin/budgets"))!["data"]!.AsArray().Single()!;
        Assert.True((double)after["spent"]! <= (double)after["hard"]!, $"spent {after["spent"]} of {after["hard"]}");
        // The limit sent leaves the prompt's upper bound room in the 1000-token context (a server checking prompt +
        // max_tokens against its context, as vLLM does, accepts it), and the spend is that limit plus the 10-token prompt.
        int sent = (int)Assert.Single(stub.Requests).Body["max_tokens"]!;
        Assert.InRange(sent, 500, 999);
        Assert.Equal(10 + sent, (double)after["spent"]!);
    }

    [Fact]
    public async Task A_replica_reporting_the_context_the_reservation_assumed_is_sent_the_clients_body_as_it_was()
    {
        await using var stub = await StubReplica.StartAsync();
        stub.Status = () => StubReplica.StatusOf(stub.Model); // context_length 4096: it stops there itself
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress]);
        // Without the model's tokenizer the prompt is estimated: a full-context max_tokens would be refused by the replica.
        using var response = await router.PostAsync("/v1/chat/completions", NoLimit);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(Assert.Single(stub.Requests).Body.ContainsKey("max_tokens"));
    }

    [Fact]
    public async Task A_long_prompt_without_a_tokenizer_is_not_cut_to_one_token()
    {
        await using var stub = await StubReplica.StartAsync(); // a third-party server: no status, its context unknown
        stub.Generate = LongWinded;
        await using var router = await RouterInstance.StartAsync([stub.BaseAddress], new() { ["TokenFactory:Router:DefaultContextLength"] = "4096" });
        // About 3.6 KB of text: its byte-counted upper bound nearly fills 4,096 tokens, its real length is far less.
        string text = string.Join(' ', Enumerable.Repeat("a moderately long sentence", 140));
        using var response = await router.PostAsync("/v1/chat/completions", new { model = "stub-model", messages = new[] { new { role = "user", content = text } } });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        int sent = (int)Assert.Single(stub.Requests).Body["max_tokens"]!;
        Assert.True(sent >= 1024, $"max_tokens {sent}: a quarter of the context at least");
        Assert.True(sent < 4096, $"max_tokens {sent}: the prompt still has room");
    }
}

