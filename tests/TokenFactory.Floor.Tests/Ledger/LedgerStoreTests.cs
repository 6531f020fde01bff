using TokenFactory.Floor.Budgets;
using TokenFactory.Floor.Identity;
using TokenFactory.Floor.Ledger;

namespace TokenFactory.Floor.Tests.Ledger;

/// <summary>
/// The ledger's contract, run against SQLite and against a real PostgreSQL server: the same tests, so the
/// two stores cannot drift apart. Every test uses its own teams, so runs may share a database.
/// </summary>
public abstract class LedgerStoreTests : IAsyncLifetime
{
    private IFloorStore? _store;

    /// <summary>The store under test (skips the test, with the reason, when its database is not available).</summary>
    protected IFloorStore Store
    {
        get
        {
            Skip.If(SkipReason is not null, SkipReason);
            return _store!;
        }
    }

    /// <summary>Why this store cannot be tested here; null when it can.</summary>
    protected abstract string? SkipReason { get; }

    protected abstract IFloorStore CreateStore();

    public async Task InitializeAsync()
    {
        if (SkipReason is not null)
            return;
        _store = CreateStore();
        await _store.MigrateAsync();
    }

    public async Task DisposeAsync()
    {
        if (_store is not null)
            await _store.DisposeAsync();
    }

    /// <summary>
    /// A Wednesday afternoon a week or two ahead of the wall clock. Ahead, because every store's migration
    /// (run by any test, in any test assembly sharing the PostgreSQL server, at any moment) drops reservations
    /// that expired by the wall clock: a fixed date in the past let a parallel migration delete this test's
    /// reservations mid-test and admit more than the budget holds.
    /// </summary>
    private static readonly DateTimeOffset Now = NextWednesdayAfternoon(DateTimeOffset.UtcNow.AddDays(7));

    /// <summary>The first Wednesday from <paramref name="from"/> whose day before and after are in its month.</summary>
    private static DateTimeOffset NextWednesdayAfternoon(DateTimeOffset from)
    {
        var day = new DateTimeOffset(from.Date, TimeSpan.Zero);
        day = day.AddDays(((int)DayOfWeek.Wednesday - (int)day.DayOfWeek + 7) % 7);
        while (day.Day < 2 || day.Day > 27)
            day = day.AddDays(7);
        return day.AddHours(15.5);
    }

    /// <summary>A fresh team name, so tests sharing one PostgreSQL database never see each other's spend.</summary>
    private static string NewTeamId() => $"team-{Guid.NewGuid():N}"[..24];

    /// <summary>A new key (and team) with a monthly key budget of <paramref name="tokens"/> tokens.</summary>
    private async Task<(Team Team, ApiKey Key)> NewKeyWithTokenBudgetAsync(double tokens)
    {
        var (team, key) = await NewKeyAsync();
        await Store.CreateBudgetAsync(NewBudget(BudgetScope.Key, key.Id, BudgetUnit.Tokens, tokens));
        return (team, key);
    }

    private async Task<(Team Team, ApiKey Key)> NewKeyAsync()
    {
        var team = new Team { Id = NewTeamId(), CreatedAt = Now, Limits = new RateLimits(60, null) };
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

    [SkippableFact]
    public async Task Teams_keys_and_budgets_round_trip()
    {
        var (team, key) = await NewKeyAsync();
        Assert.Equal(team, await Store.GetTeamAsync(team.Id));
        // A second team with the same id (two admins racing) is refused as existing, not a primary-key error, and changes nothing.
        Assert.False(await Store.CreateTeamAsync(team with { Limits = new RateLimits(1, 1) }));
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
        // An update read before the revocation (a PATCH racing a revoke) changes what it changes and leaves the key revoked.
        Assert.True(await Store.UpdateKeyAsync(key with { Name = "renamed" }));
        read = await Store.GetKeyAsync(key.Id);
        Assert.Equal("renamed", read!.Name);
        Assert.Equal(Now, read.RevokedAt);

        var budget = NewBudget(BudgetScope.Team, team.Id, BudgetUnit.Usd, 12.5, soft: 10);
        await Store.CreateBudgetAsync(budget);
        Assert.Equal(budget, await Store.GetBudgetAsync(budget.Id));
        Assert.True(await Store.UpdateBudgetAsync(budget with { Hard = 20 }));
        Assert.Equal(20, (await Store.GetBudgetAsync(budget.Id))!.Hard);
        Assert.True(await Store.DeleteBudgetAsync(budget.Id));
        Assert.Null(await Store.GetBudgetAsync(budget.Id));
        Assert.False(await Store.DeleteBudgetAsync(budget.Id));
    }

    [SkippableFact]
    public async Task Concurrent_reservations_never_exceed_the_hard_limit()
    {
        var (team, key) = await NewKeyAsync();
        await Store.CreateBudgetAsync(NewBudget(BudgetScope.Team, team.Id, BudgetUnit.Tokens, 250));
        // Another replica starting up meanwhile migrates the same database (and drops expired reservations).
        var startingReplica = Task.Run(async () =>
        {
            await using var other = CreateStore();
            for (int i = 0; i < 5; i++)
                await other.MigrateAsync();
        });
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => Task.Run(() => Store.TryReserveAsync(Reserve(key, 10), Now))));
        await startingReplica;
        Assert.Equal(25, outcomes.Count(o => o.Admitted));
        Assert.All(outcomes.Where(o => !o.Admitted), o => Assert.Equal(250, o.Refusing!.Reserved));
        var status = Assert.Single(await Store.BudgetStatusAsync(Now, key.Id, team.Id));
        Assert.Equal(250, status.Reserved);
        Assert.Equal(0, status.Spent);
    }

    [SkippableFact]
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

    [SkippableFact]
    public async Task Reservations_of_a_dead_process_expire()
    {
        var (team, key) = await NewKeyWithTokenBudgetAsync(100);
        Assert.True((await Store.TryReserveAsync(Reserve(key, 100), Now)).Admitted);
        Assert.False((await Store.TryReserveAsync(Reserve(key, 1), Now.AddMinutes(59))).Admitted);
        Assert.True((await Store.TryReserveAsync(Reserve(key, 1, at: Now.AddMinutes(61)), Now.AddMinutes(61))).Admitted);
    }

    /// <summary>
    /// A settlement that committed but whose answer was lost is tried again: the retry finds its line written and its
    /// reservation released, and succeeds without charging twice (every retry failed, so the rate-limit refund never came).
    /// </summary>
    [SkippableFact]
    public async Task A_settlement_retried_after_it_committed_succeeds_and_charges_once()
    {
        var (team, key) = await NewKeyWithTokenBudgetAsync(100);
        var reservation = Reserve(key, 50);
        Assert.True((await Store.TryReserveAsync(reservation, Now)).Admitted);
        var line = Usage(key, 10, 20);
        await Store.SettleAsync(line, reservation.Id, 0);
        await Store.SettleAsync(line, reservation.Id, 0); // the retry
        var status = Assert.Single(await Store.BudgetStatusAsync(Now, key.Id, team.Id));
        Assert.Equal((30.0, 0.0), (status.Spent, status.Reserved));
        // Without the reservation's evidence (an admission that reserved nothing), a second line for the id is still refused.
        await Assert.ThrowsAsync<InvalidOperationException>(() => Store.SettleAsync(line, null, 0));
    }

    /// <summary>
    /// A request still running past the reservation lifetime keeps holding its budget while its process heartbeats (its
    /// reservation lapsed after an hour, and another was admitted over the hard limit); a settled one does not.
    /// </summary>
    [SkippableFact]
    public async Task A_live_processs_heartbeat_keeps_its_running_requests_reservations_held()
    {
        var (team, key) = await NewKeyWithTokenBudgetAsync(100);
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(Now);
        using var floor = new TokenFactory.Floor.FloorService(Store, new TokenFactory.Floor.FloorOptions(), clock);
        var caller = new Caller(key, team);
        var running = await floor.AdmitAsync(caller, "a", "/v1/completions", 50, 50);
        clock.Advance(TimeSpan.FromMinutes(40));
        await floor.HeartbeatAsync();
        clock.Advance(TimeSpan.FromMinutes(50)); // 90 minutes in
        await Assert.ThrowsAsync<TokenFactory.Floor.FloorDeniedException>(() => floor.AdmitAsync(caller, "a", "/v1/completions", 1, 0));
        await running.SettleAsync(new TokenFactory.Floor.UsageOutcome { RequestId = "req_" + Guid.NewGuid().ToString("N"), Status = 200, PromptTokens = 50, CompletionTokens = 10 });
        await floor.HeartbeatAsync(); // nothing of it left to keep
        var next = await floor.AdmitAsync(caller, "a", "/v1/completions", 20, 20);
        Assert.NotNull(next.ReservationId);
    }

    /// <summary>A reservation moved out (a request still running past its lifetime) keeps its budget held until the new expiry.</summary>
    [SkippableFact]
    public async Task An_extended_reservation_holds_its_budget_until_its_new_expiry()
    {
        var (team, key) = await NewKeyWithTokenBudgetAsync(100);
        var reservation = Reserve(key, 100);
        Assert.True((await Store.TryReserveAsync(reservation, Now)).Admitted);
        await Store.ExtendReservationsAsync([reservation.Id], Now.AddMinutes(100));
        Assert.False((await Store.TryReserveAsync(Reserve(key, 1, at: Now.AddMinutes(90)), Now.AddMinutes(90))).Admitted);
        Assert.Equal(100, Assert.Single(await Store.BudgetStatusAsync(Now.AddMinutes(90), key.Id, team.Id)).Reserved);
        Assert.True((await Store.TryReserveAsync(Reserve(key, 1, at: Now.AddMinutes(101)), Now.AddMinutes(101))).Admitted);
    }

    [SkippableFact]
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
        Assert.Equal([Now.AddDays(-1).ToString("yyyy-MM-dd"), Now.ToString("yyyy-MM-dd")], byDay.Select(r => r.Group));
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
    [SkippableFact]
    public async Task What_a_gone_process_holds_is_released_and_its_requests_recorded_as_interrupted()
    {
        var (team, key) = await NewKeyAsync();
        await Store.CreateBudgetAsync(NewBudget(BudgetScope.Team, team.Id, BudgetUnit.Tokens, 10_000));
        // This floor sweeps every instance in the database, other test runs' live servers included: its clock runs two
        // months behind the wall clock, so theirs (heartbeats at the wall clock) never look gone to it. Its reservations
        // expire a day after the wall clock, so no migration drops them meanwhile.
        var Now = LedgerStoreTests.Now.AddDays(-75);
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(Now);
        var options = new TokenFactory.Floor.FloorOptions();
        using var floor = new TokenFactory.Floor.FloorService(Store, options, clock);
        await floor.StartAsync();

        // Rows of this host carry this process's pid namespace unless told otherwise: only there is a pid meaningful.
        FloorInstance Instance(string id, string host, int pid, DateTimeOffset processStarted, TimeSpan heartbeatAge, string? pidNamespace = "") =>
            new(id, host, pid, processStarted, Now.AddHours(-1), Now - heartbeatAge) { PidNamespace = pidNamespace == "" ? FloorInstance.LocalPidNamespace : pidNamespace };
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
            // Same host name, another pid namespace (a container with host networking): its pid is not ours to look up.
            Instance("neighbour-" + suffix, Environment.MachineName, ExitedPid(), Now, TimeSpan.FromSeconds(10), "another-boot/pid:[4026531999]"),
            Instance("unknown-" + suffix, Environment.MachineName, ExitedPid(), Now, TimeSpan.FromSeconds(10), null), // a row from before namespaces were kept
        };
        foreach (var instance in gone.Concat(alive))
        {
            await Store.RegisterInstanceAsync(instance);
            await Store.TryReserveAsync(Reserve(key, 100, at: Now) with
            {
                InstanceId = instance.Id, RequestId = "chatcmpl-" + instance.Id, Model = "a", Endpoint = "/v1/chat/completions", ExpiresAt = DateTimeOffset.UtcNow.AddDays(1),
            }, Now);
        }
        Assert.Equal(700, Assert.Single(await Store.BudgetStatusAsync(Now, key.Id, team.Id)).Reserved);

        // (A shared PostgreSQL may hold other test runs' leftovers: only this test's instances are looked at.)
        var interrupted = (await floor.ReleaseGoneInstancesAsync()).Where(r => r.RequestId.EndsWith(suffix, StringComparison.Ordinal)).ToList();
        Assert.Equal(gone.Select(i => "chatcmpl-" + i.Id).Order(), interrupted.Select(r => r.RequestId).Order());
        Assert.Equal(400, Assert.Single(await Store.BudgetStatusAsync(Now, key.Id, team.Id)).Reserved); // the live ones still hold theirs
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

    [SkippableFact]
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

    [SkippableFact]
    public async Task A_stored_response_is_read_back_until_it_expires()
    {
        // Two months before the wall clock: the sweep below drops what expired before its time, in a database other test
        // runs share, and must not reach their rows (which expire after the wall clock).
        var Now = LedgerStoreTests.Now.AddDays(-75);
        string id = "resp_" + Guid.NewGuid().ToString("N");
        var stored = new StoredResponse(id, "team-x", Now, Now.AddHours(24), "[{\"role\":\"user\",\"content\":\"hi\"}]");
        await Store.SaveResponseAsync(stored);
        Assert.Equal(stored, await Store.GetResponseAsync(id, Now.AddHours(23)));
        Assert.Null(await Store.GetResponseAsync(id, Now.AddHours(25)));
        Assert.Null(await Store.GetResponseAsync("resp_missing", Now));
        // Saving later drops what has expired by then, and so does the floor's periodic sweep.
        await Store.SaveResponseAsync(stored with { Id = id + "-later", CreatedAt = Now.AddHours(30), ExpiresAt = Now.AddHours(54) });
        Assert.Null(await Store.GetResponseAsync(id, Now));
        Assert.NotNull(await Store.GetResponseAsync(id + "-later", Now.AddHours(31)));
        Assert.True(await Store.DeleteExpiredResponsesAsync(Now.AddHours(55)) >= 1);
        Assert.Null(await Store.GetResponseAsync(id + "-later", Now.AddHours(31)));
    }

    /// <summary>An empty database of its own, and a way to run raw SQL on it.</summary>
    protected abstract Task<(IFloorStore Store, Func<string, Task> Execute)> CreateEmptyDatabaseAsync();

    [SkippableFact]
    public async Task A_ledger_of_the_first_schema_is_upgraded_in_place_and_keeps_its_rows()
    {
        Skip.If(SkipReason is not null, SkipReason);
        var (store, execute) = await CreateEmptyDatabaseAsync();
        await using (store)
        {
            // The first release's tables, before reservations knew their process and request, usage its replica, keys their class.
            await execute("CREATE TABLE floor_teams (id TEXT PRIMARY KEY, created_ms BIGINT NOT NULL, rpm INTEGER, tpm INTEGER)");
            await execute("CREATE TABLE floor_keys (id TEXT PRIMARY KEY, team_id TEXT NOT NULL, name TEXT NOT NULL, salt TEXT NOT NULL, hash TEXT NOT NULL, "
                + "models TEXT NOT NULL, created_ms BIGINT NOT NULL, expires_ms BIGINT, revoked_ms BIGINT, rpm INTEGER, tpm INTEGER)");
            await execute("CREATE TABLE floor_reservations (id TEXT PRIMARY KEY, key_id TEXT NOT NULL, team_id TEXT NOT NULL, tokens BIGINT NOT NULL, "
                + "usd DOUBLE PRECISION NOT NULL, created_ms BIGINT NOT NULL, expires_ms BIGINT NOT NULL)");
            long created = Now.ToUnixTimeMilliseconds(), expires = Now.AddHours(1).ToUnixTimeMilliseconds();
            await execute($"INSERT INTO floor_teams VALUES ('old-team', {created}, NULL, NULL)");
            await execute($"INSERT INTO floor_reservations VALUES ('rsv_old', 'old-key', 'old-team', 60, 0, {created}, {expires})");

            await store.MigrateAsync();
            await store.MigrateAsync(); // and again, as every later start does

            var team = await store.GetTeamAsync("old-team");
            Assert.NotNull(team);
            string id = ApiKeySecrets.NewKeyId();
            var (_, salt, hash) = ApiKeySecrets.Create(id);
            var key = new ApiKey { Id = id, TeamId = team.Id, Name = "k", Salt = salt, Hash = hash, CreatedAt = Now, AllowedModels = [], Priority = "interactive" };
            await store.CreateKeyAsync(key);
            Assert.Equal("interactive", (await store.GetKeyAsync(id))!.Priority);
            await store.CreateBudgetAsync(NewBudget(BudgetScope.Team, team.Id, BudgetUnit.Tokens, 100));
            // The old reservation still holds its 60 tokens: 50 more do not fit, 40 do, with the new columns filled.
            Assert.False((await store.TryReserveAsync(Reserve(key, 50), Now)).Admitted);
            var fits = Reserve(key, 40) with { InstanceId = "inst_new", RequestId = "chatcmpl-new", Model = "a", Endpoint = "/v1/chat/completions" };
            Assert.True((await store.TryReserveAsync(fits, Now)).Admitted);
            var line = Usage(key, 10, 5) with { Replica = "replica-a" };
            await store.SettleAsync(line, fits.Id, 0);
            Assert.Equal("replica-a", (await store.GetUsageAsync(line.RequestId))?.Replica);
        }
    }
}

public sealed class SqliteLedgerStoreTests : LedgerStoreTests, IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "tokenfactory-tests", Guid.NewGuid().ToString("N"));

    protected override string? SkipReason => null;

    protected override IFloorStore CreateStore() => new SqliteFloorStore(Path.Combine(_directory, "floor.db"));

    protected override Task<(IFloorStore Store, Func<string, Task> Execute)> CreateEmptyDatabaseAsync()
    {
        string path = Path.Combine(_directory, "old.db");
        Directory.CreateDirectory(_directory);
        return Task.FromResult<(IFloorStore, Func<string, Task>)>((new SqliteFloorStore(path), async sql =>
        {
            await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path}");
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = sql;
            await command.ExecuteNonQueryAsync();
        }));
    }

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

public sealed class PostgresLedgerStoreTests : LedgerStoreTests
{
    protected override string? SkipReason => PostgresDatabase.SkipReason;

    protected override IFloorStore CreateStore() => new PostgresFloorStore(PostgresDatabase.Require());

    /// <summary>A schema of its own in the shared server, first on the search path (left behind: the server is throwaway).</summary>
    protected override async Task<(IFloorStore Store, Func<string, Task> Execute)> CreateEmptyDatabaseAsync()
    {
        string schema = "old_" + Guid.NewGuid().ToString("N")[..12];
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(PostgresDatabase.Require());
        await using (var admin = new Npgsql.NpgsqlConnection(builder.ConnectionString))
        {
            await admin.OpenAsync();
            await using var create = new Npgsql.NpgsqlCommand($"CREATE SCHEMA {schema}", admin);
            await create.ExecuteNonQueryAsync();
        }
        builder.SearchPath = schema;
        string connectionString = builder.ConnectionString;
        return (new PostgresFloorStore(connectionString), async sql =>
        {
            await using var connection = new Npgsql.NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using var command = new Npgsql.NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync();
        });
    }
}
