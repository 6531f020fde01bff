using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace TokenFactory.Server.Tests.Floor;

/// <summary>
/// Admitted requests that end badly on a single server: the engine refusing one the floor admitted. Nothing stays
/// reserved and the ledger says what the client saw.
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
}
