using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using TokenFactory.Floor;
using TokenFactory.Floor.Ledger;

namespace TokenFactory.Server.Tests.Floor;

/// <summary>
/// Admitted requests that end badly on a single server: the engine refusing one the floor admitted, and a ledger
/// that refuses the line for a while. Either way nothing stays reserved and the ledger says what the client saw.
/// </summary>
public sealed class SettlementFaultTests
{
    private static async Task<HttpResponseMessage> PostAsync(FloorServer floor, string secret, string path, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        return await floor.Server.Client.SendAsync(request);
    }

    private static async Task<JsonObject> ErrorOf(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!.AsObject();

    [Fact]
    public async Task A_request_the_engine_refuses_after_admission_releases_its_reservation_and_leaves_no_line()
    {
        await using var floor = await FloorServer.StartAsync();
        var key = await floor.NewKeyAsync();
        const int maxTokens = 20;
        var chat = new { messages = new[] { new { role = "user", content = "Once upon a time" } }, max_tokens = maxTokens };
        long prompt;
        using (var probe = await PostAsync(floor, key.Secret!, "/v1/chat/completions", chat))
        {
            Assert.Equal(HttpStatusCode.OK, probe.StatusCode);
            prompt = (long)(await probe.Content.ReadFromJsonAsync<JsonObject>())!["usage"]!["prompt_tokens"]!;
        }
        // Room for two and a half worst cases beyond what the probe spent: two held reservations leave no room for a third.
        double spent = (await floor.LedgerAsync(key.Team)).Sum(l => l.PromptTokens + l.CompletionTokens);
        var budget = await floor.CreateBudgetAsync("team", key.Team!, "tokens", hard: spent + 2.5 * (prompt + maxTokens), period: "lifetime");

        // The vocabulary has no token 99999: only the engine knows that, after the floor admitted the request.
        var biased = new { messages = chat.messages, max_tokens = maxTokens, logit_bias = new Dictionary<string, int> { ["99999"] = 1 } };
        for (int i = 0; i < 2; i++)
        {
            using var refused = await PostAsync(floor, key.Secret!, "/v1/chat/completions", biased);
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Equal("logit_bias", (string?)(await ErrorOf(refused))["param"]);
        }

        var after = (await floor.BudgetsAsync()).Single(b => b.Id == budget.Id);
        Assert.Equal(0, after.Reserved);
        Assert.Single(await floor.LedgerAsync(key.Team)); // the probe only: refusals are counted, not lines
        Assert.Contains(await floor.RefusalsAsync(key.Team), r => r.Status == 400 && r.Count == 2);
        using var served = await PostAsync(floor, key.Secret!, "/v1/chat/completions", chat);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }

    [Fact]
    public async Task A_ledger_that_refuses_lines_for_a_while_gets_them_later_at_the_status_the_client_saw()
    {
        await using var floor = await FloorServer.StartAsync(settings: new() { ["TokenFactory:Pooling"] = "last" },
            services: services => services.AddSingleton<IFloorStore>(sp =>
                FlakyFloorStore.Wrap(new SqliteFloorStore(sp.GetRequiredService<IOptions<FloorOptions>>().Value.ResolveDatabasePath()), TimeSpan.FromSeconds(3))));
        var key = await floor.NewKeyAsync();
        var budget = await floor.CreateBudgetAsync("team", key.Team!, "tokens", hard: 100_000, period: "lifetime");

        // The chat request's line is the first write to fail: the outage runs from there, and the other two fall in it.
        var messages = new[] { new { role = "user", content = "Once upon a time" } };
        using var chat = await PostAsync(floor, key.Secret!, "/v1/chat/completions", new { messages, max_tokens = 3 });
        using var streamed = await PostAsync(floor, key.Secret!, "/v1/chat/completions", new { messages, max_tokens = 3, stream = true });
        string streamedBody = await streamed.Content.ReadAsStringAsync();
        using var responses = await PostAsync(floor, key.Secret!, "/v1/responses", new { input = "Once upon a time", max_output_tokens = 3, stream = true });
        string responsesBody = await responses.Content.ReadAsStringAsync();
        using var embedding = await PostAsync(floor, key.Secret!, "/v1/embeddings", new { input = "Once upon a time" });
        foreach (var response in new[] { chat, embedding })
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("ledger_unavailable", (string?)(await ErrorOf(response))["code"]);
        }
        Assert.Equal(HttpStatusCode.OK, streamed.StatusCode); // the stream had begun: the error is its last event
        Assert.Contains("ledger_unavailable", streamedBody);
        Assert.EndsWith("data: [DONE]", streamedBody.TrimEnd());
        // A Responses stream ends with response.failed (status failed, the error), the terminal event its SDKs wait for.
        Assert.Equal(HttpStatusCode.OK, responses.StatusCode);
        var last = JsonNode.Parse(responsesBody.TrimEnd().Split('\n').Last(l => l.StartsWith("data: ", StringComparison.Ordinal))["data: ".Length..])!;
        Assert.Equal("response.failed", (string?)last["type"]);
        Assert.Equal("failed", (string?)last["response"]!["status"]);
        Assert.Equal("ledger_unavailable", (string?)last["response"]!["error"]!["code"]);

        // Nothing leaks: each line is written once the ledger takes it, at 503, and the reservations are released with them.
        var lines = await Eventually.HoldsAsync(() => floor.LedgerAsync(key.Team), l => l.Count == 4, seconds: 30);
        Assert.All(lines, l => Assert.Equal(503, l.Status));
        Assert.Equal(["/v1/chat/completions", "/v1/chat/completions", "/v1/embeddings", "/v1/responses"], lines.Select(l => l.Endpoint).Order());
        Assert.All(lines, l => Assert.True(l.PromptTokens > 0));
        var after = (await floor.BudgetsAsync()).Single(b => b.Id == budget.Id);
        Assert.Equal(0, after.Reserved);
        Assert.Equal(lines.Sum(l => l.PromptTokens + l.CompletionTokens), after.Spent);
    }

    [Fact]
    public async Task An_unexpected_failure_after_a_stream_started_drops_the_connection_rather_than_end_it_as_whole()
    {
        await using var floor = await FloorServer.StartAsync(services: services => services.AddSingleton<IFloorStore>(sp =>
            BrokenResponseStore.Wrap(new SqliteFloorStore(sp.GetRequiredService<IOptions<FloorOptions>>().Value.ResolveDatabasePath()))));
        var key = await floor.NewKeyAsync();
        // Storing the conversation throws what no one expects, after the events began: the client must not read a
        // cleanly ended stream (which the SDKs take for a whole answer) without its response.completed.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/responses") { Content = JsonContent.Create(new { input = "Once upon a time", max_output_tokens = 3, stream = true }) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key.Secret);
        HttpResponseMessage response;
        try
        {
            response = await floor.Server.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        }
        catch (HttpRequestException)
        {
            // Dropped before the client read even the headers (the stream opens with the first token, and three tokens
            // and the failure can all come before this side reads): not a clean end either.
            return;
        }
        using (response)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode); // the stream had started: the failure comes after its headers
            Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
            var e = await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                string body = await response.Content.ReadAsStringAsync();
                Assert.Fail("the stream ended cleanly: " + body[^Math.Min(200, body.Length)..]);
            });
            Assert.True(e is HttpRequestException or IOException, e.ToString());
        }
    }

    /// <summary>A store whose <c>SaveResponseAsync</c> throws an exception no one handles (a bug's, not a database's).</summary>
    public class BrokenResponseStore : System.Reflection.DispatchProxy
    {
        private IFloorStore _inner = null!;

        public static IFloorStore Wrap(IFloorStore inner)
        {
            var proxy = Create<IFloorStore, BrokenResponseStore>();
            ((BrokenResponseStore)(object)proxy)._inner = inner;
            return proxy;
        }

        protected override object? Invoke(System.Reflection.MethodInfo? targetMethod, object?[]? args)
        {
            ArgumentNullException.ThrowIfNull(targetMethod);
            if (targetMethod.Name == nameof(IFloorStore.SaveResponseAsync))
                return Task.FromException(new InvalidOperationException("the test's broken store"));
            try
            {
                return targetMethod.Invoke(_inner, args);
            }
            catch (System.Reflection.TargetInvocationException t) when (t.InnerException is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(t.InnerException);
                throw;
            }
        }
    }
}

