using Microsoft.AspNetCore.Http;
using TokenFactory.Floor;
using TokenFactory.Floor.Budgets;
using TokenFactory.Floor.Ledger;
using TokenFactory.Server.Api;

namespace TokenFactory.Server.CommandCenter;

/// <summary>
/// GET /v1/factory/teams: spend per team and per key in the current UTC day or month, every budget against its
/// limits, and refusals by reason, from the ledger (the same queries as GET /admin/usage and /admin/budgets).
/// </summary>
internal static class TeamsReport
{
    public const int TopKeys = 20;

    public static async Task<IResult> GetAsync(FloorService floor, TimeProvider time, string? period, CancellationToken cancellation)
    {
        period ??= "day";
        var now = time.GetUtcNow();
        var from = period switch
        {
            "day" => new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero),
            "month" => new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero),
            _ => throw OpenAiException.Invalid($"'period' must be day or month; got '{period}'.", "period"),
        };
        var to = period == "day" ? from.AddDays(1) : from.AddMonths(1);
        var store = floor.Store;
        await floor.Refusals.FlushAsync(cancellation); // refusals are written in batches: show the ones counted so far
        var teams = await store.QueryUsageAsync(new UsageQuery(UsageGrouping.Team, from, to), cancellation);
        var keys = await store.QueryUsageAsync(new UsageQuery(UsageGrouping.Key, from, to), cancellation);
        var keyInfo = (await store.ListKeysAsync(cancellation: cancellation)).ToDictionary(k => k.Id);
        var budgets = await store.BudgetStatusAsync(now, cancellation: cancellation);
        var refusals = await store.RefusalTotalsAsync(from, to, cancellation);
        return Results.Json(new FactoryTeams
        {
            Period = period,
            From = from.ToUnixTimeSeconds(),
            To = to.ToUnixTimeSeconds(),
            Teams = [.. teams.OrderByDescending(r => r.CostUsd).ThenByDescending(r => r.PromptTokens + r.CompletionTokens).Select(r => Spender(r))],
            Keys = [.. keys.OrderByDescending(r => r.CostUsd).ThenByDescending(r => r.PromptTokens + r.CompletionTokens).Take(TopKeys)
                .Select(r => keyInfo.GetValueOrDefault(r.Group) is { } info ? Spender(r) with { Name = info.Name, TeamId = info.TeamId } : Spender(r))],
            Budgets = [.. budgets.Select(b => new FactoryBudget
            {
                Id = b.Budget.Id,
                Scope = BudgetText.Name(b.Budget.Scope),
                ScopeId = b.Budget.ScopeId,
                Period = BudgetText.Name(b.Budget.Period),
                Unit = BudgetText.Name(b.Budget.Unit),
                Hard = b.Budget.Hard,
                Soft = b.Budget.Soft,
                Spent = b.Spent,
                Reserved = b.Reserved,
                WindowStart = b.WindowStart.ToUnixTimeSeconds(),
                State = b.State,
            })],
            Refusals = [.. refusals.Select(r => new FactoryRefusals(r.Reason, r.Status, r.Count))],
        }, FactoryJson.Default.FactoryTeams);
    }

    private static FactorySpender Spender(UsageRow row) => new()
    {
        Id = row.Group,
        Requests = row.Requests,
        Refused = row.Refused,
        PromptTokens = row.PromptTokens,
        CompletionTokens = row.CompletionTokens,
        Usd = row.CostUsd,
    };
}
