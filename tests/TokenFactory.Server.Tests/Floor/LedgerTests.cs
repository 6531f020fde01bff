using System.Net.Http.Json;
using System.ClientModel;
using OpenAI.Chat;
using TokenFactory.Floor.Budgets;
using TokenFactory.Floor.Identity;
using TokenFactory.Floor.Ledger;

namespace TokenFactory.Server.Tests.Floor;

/// <summary>
/// The ledger's contract, run against SQLite and against a real PostgreSQL server: the same tests, so the
/// two stores cannot drift apart. Every test uses its own teams, so runs may share a database.
/// </summary>
public abstract class LedgerTests : IAsyncLifetime
{
    private IFloorStore? _store;

    protected IFloorStore Store => _store!;

    protected abstract IFloorStore CreateStore();

    /// <summary>Server settings that put the server's ledger in this store.</summary>
    protected abstract string? PostgresForServer { get; }

    /// <summary>Settings under which several servers use one database.</summary>
    protected abstract Dictionary<string, string?> SharedStore { get; }

    public async Task InitializeAsync()
    {
        if (PostgresDatabase.SkipReason is not null && this is PostgresLedgerTests)
            return; // skipped: the discoverer already said why
        _store = CreateStore();
        await _store.MigrateAsync();
    }

    public async Task DisposeAsync()
    {
        if (_store is not null)
            await _store.DisposeAsync();
    }

    private static readonly DateTimeOffset Now = new(2026, 11, 18, 15, 30, 0, TimeSpan.Zero); // a Wednesday

    private async Task<(Team Team, ApiKey Key)> NewKeyAsync()
    {
        var team = new Team { Id = FloorServer.NewTeamId(), CreatedAt = Now, Limits = new RateLimits(60, null) };
        await Store.CreateTeamAsync(team);
        string id = ApiKeySecrets.NewKeyId();
        var (_, salt, hash) = ApiKeySecrets.Create(id);
        var key = new ApiKey { Id = id, TeamId = team.Id, Name = "k", Salt = salt, Hash = hash, CreatedAt = Now, AllowedModels = ["a", "b"] };
        await Store.CreateKeyAsync(key);
        return (team, key);
    }

    private static Budget NewBudget(BudgetScope scope, string owner, BudgetUnit unit, double hard, BudgetPeriod period = BudgetPeriod.Month, double? soft = null) => new()
    {
        Id = "bud_" + Guid.NewGuid().ToString("N")[..12], Scope = scope, ScopeId = owner, Period = period, Unit = unit, Hard = hard, Soft = soft,
    };

    private static Reservation Reserve(ApiKey key, long tokens, double usd = 0, DateTimeOffset? at = null) =>
        new("rsv_" + Guid.NewGuid().ToString("N"), key.Id, key.TeamId, tokens, usd, at ?? Now, (at ?? Now) + TimeSpan.FromHours(1));

    private static UsageRecord Usage(ApiKey key, long prompt, long completion, double usd = 0, string model = "a", DateTimeOffset? at = null) => new()
    {
        RequestId = "req_" + Guid.NewGuid().ToString("N"), Time = at ?? Now, KeyId = key.Id, TeamId = key.TeamId, Model = model, Endpoint = "/v1/chat/completions",
        Status = 200, PromptTokens = prompt, CachedPromptTokens = 1, CompletionTokens = completion, QueueSeconds = 0.5, TimeToFirstTokenSeconds = 0.25,
        DurationSeconds = 1.5, EnergyJoules = 3, EnergyEstimated = true, InputCostUsd = usd / 2, OutputCostUsd = usd / 2,
    };

    [LedgerFact]
    public async Task Teams_keys_and_budgets_round_trip()
    {
        var (team, key) = await NewKeyAsync();
        Assert.Equal(team, await Store.GetTeamAsync(team.Id));
        var read = await Store.GetKeyAsync(key.Id);
        Assert.NotNull(read);
        Assert.Equal(["a", "b"], read.AllowedModels);
        Assert.Equal(key.Hash, read.Hash);
        Assert.Contains(await Store.ListKeysAsync(team.Id), k => k.Id == key.Id);

        var revoked = key with { RevokedAt = Now, Limits = new RateLimits(5, 1000), AllowedModels = [] };
        Assert.True(await Store.UpdateKeyAsync(revoked));
        read = await Store.GetKeyAsync(key.Id);
        Assert.Equal(Now, read!.RevokedAt);
        Assert.Equal(new RateLimits(5, 1000), read.Limits);
        Assert.Equal("revoked", read.Status(Now));

        var budget = NewBudget(BudgetScope.Team, team.Id, BudgetUnit.Usd, 12.5, soft: 10);
        await Store.CreateBudgetAsync(budget);
        Assert.Equal(budget, await Store.GetBudgetAsync(budget.Id));
        Assert.True(await Store.UpdateBudgetAsync(budget with { Hard = 20 }));
        Assert.Equal(20, (await Store.GetBudgetAsync(budget.Id))!.Hard);
        Assert.True(await Store.DeleteBudgetAsync(budget.Id));
        Assert.Null(await Store.GetBudgetAsync(budget.Id));
        Assert.False(await Store.DeleteBudgetAsync(budget.Id));
    }

    [LedgerFact]
    public async Task Concurrent_reservations_never_exceed_the_hard_limit()
    {
        var (team, key) = await NewKeyAsync();
        await Store.CreateBudgetAsync(NewBudget(BudgetScope.Team, team.Id, BudgetUnit.Tokens, 250));
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => Task.Run(() => Store.TryReserveAsync(Reserve(key, 10), Now))));
        Assert.Equal(25, outcomes.Count(o => o.Admitted));
        Assert.All(outcomes.Where(o => !o.Admitted), o => Assert.Equal(250, o.Refusing!.Reserved));
        var status = Assert.Single(await Store.BudgetStatusAsync(Now, key.Id, team.Id));
        Assert.Equal(250, status.Reserved);
        Assert.Equal(0, status.Spent);
    }

    [LedgerFact]
    public async Task Settling_releases_the_reservation_and_charges_the_actual_use_in_every_period()
    {
        var (team, key) = await NewKeyAsync();
        var keyMonth = NewBudget(BudgetScope.Key, key.Id, BudgetUnit.Tokens, 100);
        var teamDay = NewBudget(BudgetScope.Team, team.Id, BudgetUnit.Usd, 1.0, BudgetPeriod.Day, soft: 0.05);
        await Store.CreateBudgetAsync(keyMonth);
        await Store.CreateBudgetAsync(teamDay);

        var reservation = Reserve(key, 80, 0.5);
        var outcome = await Store.TryReserveAsync(reservation, Now);
        Assert.True(outcome.Admitted && outcome.Stored);
        Assert.False((await Store.TryReserveAsync(Reserve(key, 30, 0.1), Now)).Admitted); // 80 + 30 > 100 tokens

        await Store.SettleAsync(Usage(key, 20, 10, 0.06), reservation.Id, 0.06);
        var statuses = (await Store.BudgetStatusAsync(Now, key.Id, team.Id)).ToDictionary(s => s.Budget.Id);
        Assert.Equal(30, statuses[keyMonth.Id].Spent);
        Assert.Equal(0, statuses[keyMonth.Id].Reserved);
        Assert.Equal(0.06, statuses[teamDay.Id].Spent, 9);
        Assert.True(statuses[teamDay.Id].SoftReached);
        Assert.Equal("soft_limit_reached", statuses[teamDay.Id].State);

        var next = await Store.TryReserveAsync(Reserve(key, 70, 0.1), Now);
        Assert.True(next.Admitted);
        Assert.Contains(next.SoftReached, s => s.Budget.Id == teamDay.Id);
        Assert.False((await Store.TryReserveAsync(Reserve(key, 1), Now)).Admitted); // exactly full: 30 spent + 70 reserved

        // The day budget starts over tomorrow; the month budget does not.
        var tomorrow = Now.AddDays(1);
        statuses = (await Store.BudgetStatusAsync(tomorrow, key.Id, team.Id)).ToDictionary(s => s.Budget.Id);
        Assert.Equal(0, statuses[teamDay.Id].Spent);
        Assert.Equal(30, statuses[keyMonth.Id].Spent);
    }

    [LedgerFact]
    public async Task Reservations_of_a_dead_process_expire()
    {
        var (team, key) = await NewKeyAsync();
        await Store.CreateBudgetAsync(NewBudget(BudgetScope.Key, key.Id, BudgetUnit.Tokens, 100));
        Assert.True((await Store.TryReserveAsync(Reserve(key, 100), Now)).Admitted);
        Assert.False((await Store.TryReserveAsync(Reserve(key, 1), Now.AddMinutes(59))).Admitted);
        Assert.True((await Store.TryReserveAsync(Reserve(key, 1, at: Now.AddMinutes(61)), Now.AddMinutes(61))).Admitted);
    }

    [LedgerFact]
    public async Task Every_field_of_a_ledger_line_is_kept_and_reports_group_it()
    {
        var (team, key) = await NewKeyAsync();
        var first = Usage(key, 100, 50, 0.3, "a");
        await Store.SettleAsync(first, null, first.CostUsd);
        await Store.SettleAsync(Usage(key, 10, 5, 0.03, "b", Now.AddDays(-1)), null, 0.03);
        await Store.SettleAsync(Usage(key, 1, 0, 0, "b") with { Status = 429 }, null, 0);

        Assert.Equal(first, await Store.GetUsageAsync(first.RequestId));

        var byModel = await Store.QueryUsageAsync(new UsageQuery(UsageGrouping.Model, TeamId: team.Id));
        Assert.Equal(["a", "b"], byModel.Select(r => r.Group));
        Assert.Equal(2, byModel[1].Requests);
        Assert.Equal(11, byModel[1].PromptTokens);
        Assert.Equal(1e6 * 0.15 / 100, byModel[0].UsdPerMillionInputTokens, 6);
        Assert.Equal(3.0 / 150, byModel[0].JoulesPerToken, 9);
        Assert.True(byModel[0].EnergyEstimated);

        var byDay = await Store.QueryUsageAsync(new UsageQuery(UsageGrouping.Day, TeamId: team.Id));
        Assert.Equal(["2026-11-17", "2026-11-18"], byDay.Select(r => r.Group));
        var byKey = Assert.Single(await Store.QueryUsageAsync(new UsageQuery(UsageGrouping.Key, Now.AddHours(-1), Now.AddHours(1), KeyId: key.Id)));
        Assert.Equal(2, byKey.Requests);
        Assert.Equal(0.3, byKey.CostUsd, 9);
        var byTeam = Assert.Single(await Store.QueryUsageAsync(new UsageQuery(UsageGrouping.Team, TeamId: team.Id)));
        Assert.Equal(team.Id, byTeam.Group);
        Assert.Equal(166, byTeam.PromptTokens + byTeam.CompletionTokens);
    }

    /// <summary>
    /// A process that died (a crash, kill -9) leaves reservations behind: the next start, or any live replica,
    /// releases them at once and records their requests as interrupted, while a live process keeps its own.
    /// </summary>
    [LedgerFact]
    public async Task What_a_gone_process_holds_is_released_and_its_requests_recorded_as_interrupted()
    {
        var (team, key) = await NewKeyAsync();
        await Store.CreateBudgetAsync(NewBudget(BudgetScope.Team, team.Id, BudgetUnit.Tokens, 10_000));
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(Now);
        var options = new TokenFactory.Floor.FloorOptions();
        using var floor = new TokenFactory.Floor.FloorService(Store, options, clock);
        await floor.StartAsync();

        FloorInstance Instance(string id, string host, int pid, DateTimeOffset processStarted, TimeSpan heartbeatAge) =>
            new(id, host, pid, processStarted, Now.AddHours(-1), Now - heartbeatAge);
        using var self = System.Diagnostics.Process.GetCurrentProcess();
        var selfStarted = new DateTimeOffset(self.StartTime.ToUniversalTime());
        string suffix = Guid.NewGuid().ToString("N")[..8];
        var gone = new[]
        {
            Instance("silent-" + suffix, "another-host", 1, Now, TimeSpan.FromMinutes(5)),                          // no heartbeat for 5 minutes
            Instance("exited-" + suffix, Environment.MachineName, ExitedPid(), Now, TimeSpan.Zero),                  // this host, process gone
            Instance("reused-" + suffix, Environment.MachineName, self.Id, selfStarted.AddMinutes(-3), TimeSpan.Zero), // this host, pid now someone else's
        };
        var alive = new[]
        {
            Instance("remote-" + suffix, "another-host", 1, Now, TimeSpan.FromSeconds(10)),                         // heartbeat recent
            Instance("here-" + suffix, Environment.MachineName, self.Id, selfStarted, TimeSpan.Zero),               // this very process
        };
        foreach (var instance in gone.Concat(alive))
        {
            await Store.RegisterInstanceAsync(instance);
            await Store.TryReserveAsync(Reserve(key, 100) with { InstanceId = instance.Id, RequestId = "chatcmpl-" + instance.Id, Model = "a", Endpoint = "/v1/chat/completions" }, Now);
        }
        Assert.Equal(500, Assert.Single(await Store.BudgetStatusAsync(Now, key.Id, team.Id)).Reserved);

        // (A shared PostgreSQL may hold other test runs' leftovers: only this test's instances are looked at.)
        var interrupted = (await floor.ReleaseGoneInstancesAsync()).Where(r => r.RequestId.EndsWith(suffix, StringComparison.Ordinal)).ToList();
        Assert.Equal(gone.Select(i => "chatcmpl-" + i.Id).Order(), interrupted.Select(r => r.RequestId).Order());
        Assert.Equal(200, Assert.Single(await Store.BudgetStatusAsync(Now, key.Id, team.Id)).Reserved); // the live ones still hold theirs
        foreach (var instance in gone)
        {
            var line = await Store.GetUsageAsync("chatcmpl-" + instance.Id);
            Assert.NotNull(line);
            Assert.Equal((UsageRecord.InterruptedStatus, key.Id, "a", 0L), (line.Status, line.KeyId, line.Model, line.TotalTokens));
        }
        var registered = (await Store.ListInstancesAsync()).Select(i => i.Id).ToHashSet();
        Assert.DoesNotContain(gone[0].Id, registered);
        Assert.Contains(alive[0].Id, registered);
        Assert.DoesNotContain(await floor.ReleaseGoneInstancesAsync(), r => r.RequestId.EndsWith(suffix, StringComparison.Ordinal)); // released once

        // The remote replica was only paused: its real settlement replaces nothing but an interrupted line.
        clock.Advance(TimeSpan.FromMinutes(2));
        var paused = await floor.ReleaseGoneInstancesAsync();
        Assert.Contains(paused, r => r.RequestId == "chatcmpl-" + alive[0].Id);
        await Store.SettleAsync(Usage(key, 30, 12) with { RequestId = "chatcmpl-" + alive[0].Id }, null, 0);
        var settled = await Store.GetUsageAsync("chatcmpl-" + alive[0].Id);
        Assert.Equal((200, 42L), (settled!.Status, settled.TotalTokens));
        // A served line is never overwritten, nor charged twice: the same id again is refused by the store.
        await Assert.ThrowsAsync<InvalidOperationException>(() => Store.SettleAsync(Usage(key, 1, 1) with { RequestId = "chatcmpl-" + alive[0].Id }, null, 0));
        Assert.Equal(42L, (await Store.GetUsageAsync("chatcmpl-" + alive[0].Id))!.TotalTokens);
        await floor.StopAsync();
    }

    /// <summary>The id of a process that has already exited.</summary>
    private static int ExitedPid()
    {
        using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("true") { UseShellExecute = false })!;
        p.WaitForExit();
        return p.Id;
    }

    [LedgerFact]
    public async Task Refusal_counts_add_up_per_minute_key_and_reason()
    {
        var (team, key) = await NewKeyAsync();
        RefusalCount Count(string reason, long n, int minute = 0) => new()
        {
            Minute = Now.AddMinutes(minute), KeyId = key.Id, TeamId = team.Id, Model = "a", Endpoint = "/v1/completions", Status = 429, Reason = reason, Count = n,
        };
        await Store.AddRefusalsAsync([Count("rate_limit_exceeded", 5), Count("insufficient_quota", 2)]);
        await Store.AddRefusalsAsync([Count("rate_limit_exceeded", 7), Count("rate_limit_exceeded", 1, minute: 1)]);
        var rows = (await Store.ListRefusalsAsync(Now)).Where(r => r.TeamId == team.Id).ToList();
        Assert.Equal(3, rows.Count);
        Assert.Equal(12, rows.Single(r => r.Minute == Now && r.Reason == "rate_limit_exceeded").Count);
        var byKey = Assert.Single(await Store.QueryUsageAsync(new UsageQuery(UsageGrouping.Key, KeyId: key.Id)));
        Assert.Equal((0, 15), (byKey.Requests, byKey.Refused));
    }

    /// <summary>A client hammering a one-request-a-minute key: thousands of 429s, a handful of ledger rows.</summary>
    [LedgerFact]
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
        Assert.Equal(599, floor.Server.Metrics.Refusals.Get("/v1/completions", "rate_limit_exceeded"));
    }

    /// <summary>200 clients at once against a budget that holds about 50 of them, through the real server and SDK.</summary>
    [LedgerFact]
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
    [LedgerFact]
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
    protected override Dictionary<string, string?> SharedStore => new() { ["TokenFactory:Floor:Database"] = Path.Combine(_directory, "shared.db") };

    private readonly string _directory = Path.Combine(Path.GetTempPath(), "tokenfactory-tests", Guid.NewGuid().ToString("N"));

    protected override IFloorStore CreateStore() => new SqliteFloorStore(Path.Combine(_directory, "floor.db"));

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
    protected override IFloorStore CreateStore() => new PostgresFloorStore(PostgresDatabase.Require());

    protected override Dictionary<string, string?> SharedStore => new() { ["TokenFactory:Floor:Postgres"] = PostgresDatabase.Require() };

    protected override string? PostgresForServer => PostgresDatabase.Require();
}
