using System.ClientModel;
using System.Net.Http.Json;
using OpenAI.Chat;

namespace TokenFactory.Server.Tests.Floor;

/// <summary>
/// The ledger through real servers, on SQLite and on PostgreSQL: budgets under concurrency, replicas sharing one
/// database, and a refusal storm. The store's own contract is in TokenFactory.Floor.Tests (LedgerStoreTests).
/// </summary>
public abstract class LedgerTests
{
    /// <summary>Server settings that put the server's ledger in this store (skips the test when it is not available).</summary>
    protected abstract string? PostgresForServer { get; }

    /// <summary>Settings under which several servers use one database.</summary>
    protected abstract Dictionary<string, string?> SharedStore { get; }

    /// <summary>A client hammering a one-request-a-minute key: thousands of 429s, a handful of ledger rows.</summary>
    [SkippableFact]
    public async Task A_refusal_storm_grows_the_ledger_by_one_row_per_minute_and_reason()
    {
        await using var floor = await FloorServer.StartAsync(PostgresForServer);
        var key = await floor.NewKeyAsync(rpm: 1);
        using var client = new HttpClient { BaseAddress = floor.Server.BaseAddress };
        client.DefaultRequestHeaders.Authorization = new("Bearer", key.Secret);
        int refused = 0, served = 0;
        await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            for (int i = 0; i < 150; i++)
            {
                using var r = await client.PostAsJsonAsync("/v1/completions", new { prompt = "Hi", max_tokens = 1 });
                if ((int)r.StatusCode == 429)
                    Interlocked.Increment(ref refused);
                else if (r.IsSuccessStatusCode)
                    Interlocked.Increment(ref served);
            }
        }));
        Assert.Equal((1, 599), (served, refused));
        Assert.Single(await floor.LedgerAsync(key.Team));
        var counts = await floor.RefusalsAsync(key.Team);
        Assert.InRange(counts.Count, 1, 2); // one per minute (the storm may straddle a minute boundary)
        Assert.All(counts, c => Assert.Equal(("rate_limit_exceeded", 429, key.Id), (c.Reason, c.Status, c.Key)));
        Assert.Equal(599, counts.Sum(c => c.Count));
        Assert.Equal(599, await floor.Server.MetricAsync("tokenfactory_requests_refused_total", ("endpoint", "/v1/completions"), ("reason", "rate_limit_exceeded")));
    }

    /// <summary>200 clients at once against a budget that holds about 50 of them, through the real server and SDK.</summary>
    [SkippableFact]
    public async Task Budget_is_never_overspent_by_concurrent_requests()
    {
        await using var floor = await FloorServer.StartAsync(PostgresForServer, new() { ["TokenFactory:MaxWaitingRequests"] = "256" });
        var key = await floor.NewKeyAsync();
        var chat = floor.Chat(key.Secret!);
        ChatMessage[] messages = [new UserChatMessage("Hi")];
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 4 };
        int promptTokens = (await chat.CompleteChatAsync(messages, options)).Value.Usage.InputTokenCount;
        long worst = promptTokens + 4;
        var budget = await floor.CreateBudgetAsync("team", key.Team!, "tokens", hard: 50 * worst + worst / 2);
        var before = (await floor.BudgetsAsync()).Single(b => b.Id == budget.Id).Spent!.Value;

        var results = await Task.WhenAll(Enumerable.Range(0, 200).Select(async _ =>
        {
            try
            {
                var c = (await chat.CompleteChatAsync(messages, options)).Value;
                return (Status: 200, Id: c.Id, Tokens: c.Usage.TotalTokenCount, Body: "");
            }
            catch (ClientResultException e)
            {
                return (Status: e.Status, Id: "", Tokens: 0, Body: e.GetRawResponse()?.Content.ToString() ?? "");
            }
        }));

        var admitted = results.Where(r => r.Status == 200).ToList();
        var refused = results.Where(r => r.Status != 200).ToList();
        Assert.All(refused, r => Assert.Equal(429, r.Status));
        Assert.All(refused, r => Assert.Contains("\"insufficient_quota\"", r.Body));
        Assert.InRange(admitted.Count, 40, 60);

        var after = (await floor.BudgetsAsync()).Single(b => b.Id == budget.Id);
        Assert.True(after.Spent <= after.Hard, $"spent {after.Spent} of {after.Hard}");
        Assert.Equal(0, after.Reserved);
        Assert.Equal(before + admitted.Sum(r => r.Tokens), after.Spent);

        var ledger = await floor.LedgerAsync(key.Team);
        Assert.Equal(admitted.Count + 1, ledger.Count); // the probe and every admitted request, one line each
        var settled = ledger.Where(e => e.Status == 200).ToDictionary(e => e.RequestId);
        Assert.Equal(admitted.Count + 1, settled.Count);
        foreach (var r in admitted)
            Assert.Equal(r.Tokens, settled[r.Id].PromptTokens + settled[r.Id].CompletionTokens);
        // Refusals are counted, not kept a line each: one row per minute and reason holds them all.
        var refusals = await floor.RefusalsAsync(key.Team);
        Assert.Equal(refused.Count, refusals.Where(c => c.Status == 429 && c.Reason == "insufficient_quota").Sum(c => c.Count));
        Assert.InRange(refusals.Count, 1, 2); // the storm may straddle a minute boundary
    }

    /// <summary>Two replicas over one database: the budget holds across both.</summary>
    [SkippableFact]
    public async Task Replicas_sharing_the_store_share_the_budget()
    {
        var shared = SharedStore;
        shared["TokenFactory:MaxWaitingRequests"] = "256";
        await using var a = await FloorServer.StartAsync(settings: shared);
        await using var b = await FloorServer.StartAsync(settings: shared);
        var key = await a.NewKeyAsync();
        ChatMessage[] messages = [new UserChatMessage("Hi")];
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 4 };
        var probe = (await b.Chat(key.Secret!).CompleteChatAsync(messages, options)).Value.Usage; // b knows a's key
        long worst = probe.InputTokenCount + 4;
        var budget = await b.CreateBudgetAsync("key", key.Id!, "tokens", hard: 20 * worst + worst / 2, period: "lifetime");
        Assert.Equal(probe.TotalTokenCount, budget.Spent!.Value); // the probe, settled through b, counts
        var results = await Task.WhenAll(Enumerable.Range(0, 60).Select(async i =>
        {
            var chat = (i % 2 == 0 ? a : b).Chat(key.Secret!);
            try
            {
                return (await chat.CompleteChatAsync(messages, options)).Value.Usage.TotalTokenCount;
            }
            catch (ClientResultException e) when (e.Status == 429)
            {
                return 0;
            }
        }));
        var after = (await a.BudgetsAsync()).Single(x => x.Id == budget.Id);
        Assert.True(after.Spent <= after.Hard, $"spent {after.Spent} of {after.Hard}");
        Assert.Equal(budget.Spent + results.Sum(), after.Spent);
        Assert.InRange(results.Count(t => t > 0), 15, 22);
        Assert.Equal(results.Count(t => t > 0) + 1, (await b.LedgerAsync(key.Team)).Count);
        await a.RefusalsAsync(key.Team); // writes a's counts; b's answer then holds both replicas' refusals
        Assert.Equal(results.Count(t => t == 0), (await b.RefusalsAsync(key.Team)).Sum(c => c.Count));
    }
}

public sealed class SqliteLedgerTests : LedgerTests, IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "tokenfactory-tests", Guid.NewGuid().ToString("N"));

    protected override Dictionary<string, string?> SharedStore => new() { ["TokenFactory:Floor:Database"] = Path.Combine(_directory, "shared.db") };

    protected override string? PostgresForServer => null;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

public sealed class PostgresLedgerTests : LedgerTests
{
    private static string Database()
    {
        Skip.If(PostgresDatabase.SkipReason is not null, PostgresDatabase.SkipReason);
        return PostgresDatabase.Require();
    }

    protected override Dictionary<string, string?> SharedStore => new() { ["TokenFactory:Floor:Postgres"] = Database() };

    protected override string? PostgresForServer => Database();
}
