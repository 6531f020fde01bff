using System.Data.Common;
using TokenFactory.Floor.Budgets;

namespace TokenFactory.Floor.Ledger;

public abstract partial class SqlFloorStore
{
    private const string BudgetColumns = "id, scope, scope_id, period, unit, hard, soft";
    private const string ScopeFilter = "(scope = 'key' AND scope_id = @key) OR (scope = 'team' AND scope_id = @team)";

    public async Task CreateBudgetAsync(Budget budget, CancellationToken cancellation = default)
    {
        await using var scope = await BeginWriteAsync(null, cancellation);
        await scope.ExecuteAsync($"INSERT INTO floor_budgets ({BudgetColumns}) VALUES (@id, @scope, @scopeId, @period, @unit, @hard, @soft)",
            [("id", budget.Id), ("scope", BudgetText.Name(budget.Scope)), ("scopeId", budget.ScopeId), ("period", BudgetText.Name(budget.Period)),
             ("unit", BudgetText.Name(budget.Unit)), ("hard", budget.Hard), ("soft", budget.Soft)], cancellation);
        await scope.CommitAsync(cancellation);
    }

    public async Task<Budget?> GetBudgetAsync(string id, CancellationToken cancellation = default) =>
        (await QueryAsync($"SELECT {BudgetColumns} FROM floor_budgets WHERE id = @id", [("id", id)], ReadBudget, cancellation)).FirstOrDefault();

    public async Task<bool> UpdateBudgetAsync(Budget budget, CancellationToken cancellation = default)
    {
        await using var scope = await BeginWriteAsync(null, cancellation);
        int rows = await scope.ExecuteAsync("UPDATE floor_budgets SET hard = @hard, soft = @soft WHERE id = @id",
            [("id", budget.Id), ("hard", budget.Hard), ("soft", budget.Soft)], cancellation);
        await scope.CommitAsync(cancellation);
        return rows > 0;
    }

    public async Task<bool> DeleteBudgetAsync(string id, CancellationToken cancellation = default)
    {
        await using var scope = await BeginWriteAsync(null, cancellation);
        int rows = await scope.ExecuteAsync("DELETE FROM floor_budgets WHERE id = @id", [("id", id)], cancellation);
        await scope.CommitAsync(cancellation);
        return rows > 0;
    }

    public async Task<IReadOnlyList<BudgetStatus>> BudgetStatusAsync(DateTimeOffset now, string? keyId = null, string? teamId = null, CancellationToken cancellation = default)
    {
        await using var scope = await BeginReadAsync(cancellation);
        var budgets = keyId is null && teamId is null
            ? await scope.QueryAsync($"SELECT {BudgetColumns} FROM floor_budgets ORDER BY scope, scope_id, period", [], ReadBudget, cancellation)
            : await scope.QueryAsync($"SELECT {BudgetColumns} FROM floor_budgets WHERE {ScopeFilter}", [("key", keyId ?? ""), ("team", teamId ?? "")], ReadBudget, cancellation);
        var statuses = new List<BudgetStatus>(budgets.Count);
        foreach (var b in budgets)
            statuses.Add(await StatusAsync(scope, b, now, cancellation));
        await scope.CommitAsync(cancellation);
        return statuses;
    }

    /// <summary>A plain transaction for consistent reads (no lock: readers never block admission).</summary>
    private async Task<WriteScope> BeginReadAsync(CancellationToken cancellation)
    {
        var connection = await OpenAsync(cancellation);
        return new WriteScope(connection, await connection.BeginTransactionAsync(cancellation), null);
    }

    public async Task<ReservationOutcome> TryReserveAsync(Reservation reservation, DateTimeOffset now, CancellationToken cancellation = default)
    {
        (string, object?)[] owner = [("key", reservation.KeyId), ("team", reservation.TeamId)];
        // Most keys have no budget: then admission needs no write at all.
        var any = await QueryAsync($"SELECT id FROM floor_budgets WHERE {ScopeFilter}", owner, r => r.GetString(0), cancellation);
        if (any.Count == 0)
            return new ReservationOutcome(true, false, null, []);

        await using var scope = await BeginWriteAsync(reservation.TeamId, durable: false, cancellation);
        var budgets = await scope.QueryAsync($"SELECT {BudgetColumns} FROM floor_budgets WHERE {ScopeFilter}", owner, ReadBudget, cancellation);
        var soft = new List<BudgetStatus>();
        foreach (var budget in budgets)
        {
            var status = await StatusAsync(scope, budget, now, cancellation);
            double amount = budget.Unit == BudgetUnit.Tokens ? reservation.Tokens : reservation.Usd;
            // A relative tolerance absorbs float rounding of money sums; tokens are whole numbers.
            if (status.Spent + status.Reserved + amount > budget.Hard * (1 + 1e-12))
                return new ReservationOutcome(false, false, status, soft);
            if (status.SoftReached)
                soft.Add(status);
        }
        await scope.ExecuteAsync("INSERT INTO floor_reservations (id, key_id, team_id, tokens, usd, created_ms, expires_ms, instance_id, request_id, model, endpoint) "
            + "VALUES (@id, @key, @team, @tokens, @usd, @created, @expires, @instance, @request, @model, @endpoint)",
            [("id", reservation.Id), ("key", reservation.KeyId), ("team", reservation.TeamId), ("tokens", reservation.Tokens), ("usd", reservation.Usd),
             ("created", Ms(reservation.CreatedAt)), ("expires", Ms(reservation.ExpiresAt)), ("instance", reservation.InstanceId),
             ("request", reservation.RequestId), ("model", reservation.Model), ("endpoint", reservation.Endpoint)], cancellation);
        await scope.CommitAsync(cancellation);
        return new ReservationOutcome(true, true, null, soft);
    }

    private static async Task<BudgetStatus> StatusAsync(WriteScope scope, Budget budget, DateTimeOffset now, CancellationToken cancellation)
    {
        var window = BudgetWindows.Start(budget.Period, now);
        string column = budget.Unit == BudgetUnit.Tokens ? "tokens" : "usd";
        double spent = Double(await scope.ScalarAsync(
            $"SELECT {column} FROM floor_spend WHERE scope = @scope AND scope_id = @id AND period = @period AND window_ms = @window",
            [("scope", BudgetText.Name(budget.Scope)), ("id", budget.ScopeId), ("period", BudgetText.Name(budget.Period)), ("window", Ms(window))], cancellation) ?? DBNull.Value);
        string owner = budget.Scope == BudgetScope.Key ? "key_id" : "team_id";
        double reserved = Double(await scope.ScalarAsync(
            $"SELECT COALESCE(SUM({column}), 0) FROM floor_reservations WHERE {owner} = @id AND expires_ms > @now",
            [("id", budget.ScopeId), ("now", Ms(now))], cancellation) ?? DBNull.Value);
        return new BudgetStatus(budget, window, spent, reserved);
    }

    public async Task ReleaseReservationAsync(string reservationId, CancellationToken cancellation = default)
    {
        await using var scope = await BeginWriteAsync(null, durable: false, cancellation);
        await scope.ExecuteAsync("DELETE FROM floor_reservations WHERE id = @id", [("id", reservationId)], cancellation);
        await scope.CommitAsync(cancellation);
    }

    public async Task SettleAsync(UsageRecord record, string? reservationId, double chargedUsd, CancellationToken cancellation = default, bool durable = true)
    {
        await using var scope = await BeginWriteAsync(record.TeamId, durable, cancellation);
        int released = reservationId is null ? 0 : await scope.ExecuteAsync("DELETE FROM floor_reservations WHERE id = @id", [("id", reservationId)], cancellation);
        // A process paused past the heartbeat limit may find its request already recorded as interrupted by a
        // replica that thought it dead: the real outcome replaces that line (and only that kind of line).
        int written = await scope.ExecuteAsync(
            "INSERT INTO floor_usage (request_id, at_ms, key_id, team_id, model, endpoint, status, prompt_tokens, cached_tokens, completion_tokens, "
            + "queue_s, ttft_s, duration_s, energy_j, energy_estimated, input_usd, output_usd, replica) VALUES (@id, @at, @key, @team, @model, @endpoint, @status, "
            + "@prompt, @cached, @completion, @queue, @ttft, @duration, @energy, @estimated, @input, @output, @replica) "
            + "ON CONFLICT (request_id) DO UPDATE SET status = excluded.status, prompt_tokens = excluded.prompt_tokens, cached_tokens = excluded.cached_tokens, "
            + "completion_tokens = excluded.completion_tokens, queue_s = excluded.queue_s, ttft_s = excluded.ttft_s, duration_s = excluded.duration_s, "
            + "energy_j = excluded.energy_j, energy_estimated = excluded.energy_estimated, input_usd = excluded.input_usd, output_usd = excluded.output_usd, "
            + "replica = excluded.replica "
            + $"WHERE floor_usage.status = {UsageRecord.InterruptedStatus}",
            [("id", record.RequestId), ("at", Ms(record.Time)), ("key", record.KeyId), ("team", record.TeamId), ("model", record.Model),
             ("endpoint", record.Endpoint), ("status", record.Status), ("prompt", record.PromptTokens), ("cached", record.CachedPromptTokens),
             ("completion", record.CompletionTokens), ("queue", record.QueueSeconds), ("ttft", record.TimeToFirstTokenSeconds),
             ("duration", record.DurationSeconds), ("energy", record.EnergyJoules), ("estimated", record.EnergyEstimated ? 1 : 0),
             ("input", record.InputCostUsd), ("output", record.OutputCostUsd), ("replica", record.Replica)], cancellation);
        if (written == 0)
        {
            // The line is there and its reservation gone: this very settlement committed before, and only its answer was lost
            // (a connection reset during COMMIT, a WAL flush that failed after it). Done already, not charged again.
            if (reservationId is not null && released == 0)
                return;
            throw new InvalidOperationException($"The ledger already holds a settled line for request {record.RequestId}; it is not charged twice.");
        }
        if (record.TotalTokens > 0 || chargedUsd > 0)
        {
            // Every period's counter moves, not only budgeted ones, so a budget added mid-month sees the month so far.
            foreach (var (scopeName, id) in new[] { ("key", record.KeyId), ("team", record.TeamId) })
            {
                if (id is null)
                    continue;
                foreach (var period in BudgetWindows.All)
                {
                    await scope.ExecuteAsync(
                        "INSERT INTO floor_spend (scope, scope_id, period, window_ms, tokens, usd) VALUES (@scope, @id, @period, @window, @tokens, @usd) "
                        + "ON CONFLICT (scope, scope_id, period, window_ms) DO UPDATE SET tokens = floor_spend.tokens + excluded.tokens, usd = floor_spend.usd + excluded.usd",
                        [("scope", scopeName), ("id", id), ("period", BudgetText.Name(period)), ("window", Ms(BudgetWindows.Start(period, record.Time))),
                         ("tokens", record.TotalTokens), ("usd", chargedUsd)], cancellation);
                }
            }
        }
        await scope.CommitAsync(cancellation);
    }

    private static Budget ReadBudget(DbDataReader r) => new()
    {
        Id = r.GetString(0),
        Scope = BudgetText.Stored<BudgetScope>(r.GetString(1)),
        ScopeId = r.GetString(2),
        Period = BudgetText.Stored<BudgetPeriod>(r.GetString(3)),
        Unit = BudgetText.Stored<BudgetUnit>(r.GetString(4)),
        Hard = Double(r.GetValue(5)),
        Soft = NullableDouble(r.GetValue(6)),
    };
}
