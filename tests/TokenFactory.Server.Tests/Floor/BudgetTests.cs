using System.ClientModel;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using OpenAI.Chat;
using TokenFactory.Server.Tests.Infrastructure;
using ChatMessage = OpenAI.Chat.ChatMessage;

namespace TokenFactory.Server.Tests.Floor;

/// <summary>Money budgets with list prices, soft thresholds, and settlement of cancelled requests.</summary>
public sealed class BudgetTests
{
    private static readonly ChatMessage[] Messages = [new UserChatMessage("Once upon a time")];

    [Fact]
    public async Task Soft_threshold_is_reported_and_the_hard_limit_enforced_in_money()
    {
        // List prices for the served model: $1000 per million prompt tokens, $2000 per million generated.
        await using var floor = await FloorServer.StartAsync(settings: new()
        {
            [$"TokenFactory:Floor:Pricing:Models:{ServerInstance.ModelName}:InputUsdPerMillion"] = "1000",
            [$"TokenFactory:Floor:Pricing:Models:{ServerInstance.ModelName}:OutputUsdPerMillion"] = "2000",
        });
        var key = await floor.NewKeyAsync();
        var chat = floor.Chat(key.Secret!);
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 5 };

        var first = await chat.CompleteChatAsync(Messages, options);
        var usage = first.Value.Usage;
        double cost = (usage.InputTokenCount * 1000.0 + usage.OutputTokenCount * 2000.0) / 1e6;
        double worst = (usage.InputTokenCount * 1000.0 + 5 * 2000.0) / 1e6;
        var line = (await floor.LedgerAsync(key.Team)).Single();
        Assert.Equal(cost, line.CostUsd, 12);

        // Room for two more worst cases; the soft threshold is crossed by the next request.
        var budget = await floor.CreateBudgetAsync("key", key.Id!, "usd", hard: cost + 2 * worst, soft: cost, period: "day");
        Assert.Equal(cost, budget.Spent!.Value, 12);
        Assert.Equal("soft_limit_reached", budget.State);

        var second = await chat.CompleteChatAsync(Messages, options);
        Assert.True(second.GetRawResponse().Headers.TryGetValue("x-tokenfactory-budget-warning", out var warning));
        Assert.Contains(budget.Id!, warning);
        await chat.CompleteChatAsync(Messages, options);

        var e = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync(Messages, options));
        Assert.Equal(429, e.Status);
        var error = JsonNode.Parse(e.GetRawResponse()!.Content.ToString())!["error"]!;
        Assert.Equal("insufficient_quota", (string?)error["type"]);
        Assert.Equal("insufficient_quota", (string?)error["code"]);
        Assert.Contains("day budget", (string?)error["message"]);

        var after = (await floor.BudgetsAsync()).Single(b => b.Id == budget.Id);
        Assert.Equal(3 * cost, after.Spent!.Value, 12);
        Assert.True(after.Spent <= after.Hard);

        // Raising the hard limit lets the key work again.
        using (var r = await floor.Admin.PatchAsJsonAsync($"/admin/budgets/{budget.Id}", new { hard = 1.0 }))
            Assert.True(r.IsSuccessStatusCode);
        await chat.CompleteChatAsync(Messages, options);
    }

    [Fact]
    public async Task A_cancelled_request_is_settled_with_what_it_generated_and_its_reservation_released()
    {
        var engine = new GatedEngine();
        await using var floor = await FloorServer.StartAsync(engine: engine);
        var key = await floor.NewKeyAsync();
        var budget = await floor.CreateBudgetAsync("team", key.Team!, "tokens", hard: 100_000);

        using var cancel = new CancellationTokenSource();
        var threeTokens = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var stream = Task.Run(async () =>
        {
            int received = 0;
            await foreach (var update in floor.Chat(key.Secret!).CompleteChatStreamingAsync(Messages, new ChatCompletionOptions { MaxOutputTokenCount = 50 }, cancel.Token))
            {
                if (update.ContentUpdate.Count > 0 && update.ContentUpdate[0].Text.Length > 0 && ++received == 3)
                    threeTokens.SetResult(update.CompletionId);
            }
        });
        await engine.Started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True((await floor.BudgetsAsync()).Single(b => b.Id == budget.Id).Reserved > 50);
        engine.Step(3);
        string id = await threeTokens.Task.WaitAsync(TimeSpan.FromSeconds(30));
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stream);
        var summary = await engine.Finished.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(TokenFactory.Engine.FinishReason.Cancelled, summary.FinishReason);

        // Settlement runs once the engine has stopped the generation.
        TokenFactory.Server.Contracts.LedgerEntryBody? line = null;
        for (int i = 0; i < 500 && line is null; i++)
        {
            line = (await floor.LedgerAsync(key.Team)).SingleOrDefault(e => e.RequestId == id);
            await Task.Delay(10);
        }
        Assert.NotNull(line);
        Assert.Equal(499, line.Status);
        Assert.Equal(summary.CompletionTokens, line.CompletionTokens);
        Assert.Equal(3, line.CompletionTokens);
        Assert.True(line.CompletionTokens > 0);
        var after = (await floor.BudgetsAsync()).Single(b => b.Id == budget.Id);
        Assert.Equal(0, after.Reserved);
        Assert.Equal(line.PromptTokens + line.CompletionTokens, after.Spent);
    }
}
