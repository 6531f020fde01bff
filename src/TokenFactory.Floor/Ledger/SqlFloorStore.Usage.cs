using System.Data.Common;
using System.Globalization;

namespace TokenFactory.Floor.Ledger;

public abstract partial class SqlFloorStore
{
    private const string UsageColumns = "request_id, at_ms, key_id, team_id, model, endpoint, status, prompt_tokens, cached_tokens, completion_tokens, "
        + "queue_s, ttft_s, duration_s, energy_j, energy_estimated, input_usd, output_usd, replica";
    private const long DayMs = 86_400_000;

    public async Task<UsageRecord?> GetUsageAsync(string requestId, CancellationToken cancellation = default) =>
        (await QueryAsync($"SELECT {UsageColumns} FROM floor_usage WHERE request_id = @id", [("id", requestId)], ReadUsage, cancellation)).FirstOrDefault();

    public async Task<IReadOnlyList<UsageRecord>> ListUsageAsync(DateTimeOffset? from = null, int limit = 1000, CancellationToken cancellation = default) =>
        await QueryAsync($"SELECT {UsageColumns} FROM floor_usage WHERE at_ms >= @from ORDER BY at_ms, request_id LIMIT {Math.Clamp(limit, 1, 100_000)}",
            [("from", from is { } f ? Ms(f) : 0L)], ReadUsage, cancellation);

    public async Task AddRefusalsAsync(IReadOnlyList<RefusalCount> counts, CancellationToken cancellation = default)
    {
        if (counts.Count == 0)
            return;
        await using var scope = await BeginWriteAsync(null, durable: false, cancellation);
        foreach (var c in counts)
        {
            await scope.ExecuteAsync(
                "INSERT INTO floor_refusals (minute_ms, key_id, team_id, model, endpoint, status, reason, count) VALUES (@minute, @key, @team, @model, @endpoint, @status, @reason, @count) "
                + "ON CONFLICT (minute_ms, key_id, team_id, model, endpoint, status, reason) DO UPDATE SET count = floor_refusals.count + excluded.count",
                [("minute", Ms(c.Minute)), ("key", c.KeyId ?? ""), ("team", c.TeamId ?? ""), ("model", c.Model), ("endpoint", c.Endpoint),
                 ("status", c.Status), ("reason", c.Reason), ("count", c.Count)], cancellation);
        }
        await scope.CommitAsync(cancellation);
    }

    public async Task<IReadOnlyList<RefusalCount>> ListRefusalsAsync(DateTimeOffset? from = null, int limit = 1000, CancellationToken cancellation = default) =>
        await QueryAsync("SELECT minute_ms, key_id, team_id, model, endpoint, status, reason, count FROM floor_refusals WHERE minute_ms >= @from "
            + $"ORDER BY minute_ms, key_id, reason LIMIT {Math.Clamp(limit, 1, 100_000)}", [("from", from is { } f ? Ms(f) : 0L)], r => new RefusalCount
            {
                Minute = FromMs(Long(r.GetValue(0))),
                KeyId = r.GetString(1) is { Length: > 0 } k ? k : null,
                TeamId = r.GetString(2) is { Length: > 0 } t ? t : null,
                Model = r.GetString(3),
                Endpoint = r.GetString(4),
                Status = Convert.ToInt32(r.GetValue(5)),
                Reason = r.GetString(6),
                Count = Long(r.GetValue(7)),
            }, cancellation);

    public async Task<IReadOnlyList<(string Reason, int Status, long Count)>> RefusalTotalsAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellation = default) =>
        await QueryAsync("SELECT reason, status, SUM(count) FROM floor_refusals WHERE minute_ms >= @from AND minute_ms < @to GROUP BY reason, status ORDER BY 3 DESC",
            [("from", Ms(from)), ("to", Ms(to))], r => (r.GetString(0), Convert.ToInt32(r.GetValue(1)), Long(r.GetValue(2))), cancellation);

    public async Task<IReadOnlyList<UsageRow>> QueryUsageAsync(UsageQuery query, CancellationToken cancellation = default)
    {
        // The grouping expression comes from an enum, never from the caller's text.
        string group = query.GroupBy switch
        {
            UsageGrouping.Key => "COALESCE(key_id, '(none)')",
            UsageGrouping.Team => "COALESCE(team_id, '(none)')",
            UsageGrouping.Model => "model",
            UsageGrouping.Replica => "COALESCE(replica, '(none)')",
            _ => $"(at_ms / {DayMs})",
        };
        var where = new List<string> { "at_ms >= @from", "at_ms < @to" };
        var parameters = new List<(string, object?)>
        {
            ("from", query.From is { } f ? Ms(f) : 0L),
            ("to", query.To is { } t ? Ms(t) : long.MaxValue),
        };
        if (query.TeamId is not null)
        {
            where.Add("team_id = @team");
            parameters.Add(("team", query.TeamId));
        }
        if (query.KeyId is not null)
        {
            where.Add("key_id = @key");
            parameters.Add(("key", query.KeyId));
        }
        string sql = $"SELECT {group} AS g, COUNT(*), SUM(prompt_tokens), SUM(cached_tokens), SUM(completion_tokens), SUM(energy_j), SUM(input_usd), SUM(output_usd), MAX(energy_estimated) "
            + $"FROM floor_usage WHERE {string.Join(" AND ", where)} GROUP BY g ORDER BY g";
        // Refusals are counted per minute in their own table; the same grouping over it gives each group's refused count.
        string refusalGroup = query.GroupBy switch
        {
            UsageGrouping.Key => "CASE WHEN key_id = '' THEN '(none)' ELSE key_id END",
            UsageGrouping.Team => "CASE WHEN team_id = '' THEN '(none)' ELSE team_id END",
            UsageGrouping.Model => "model",
            UsageGrouping.Replica => "'(refused)'", // refused before any replica was chosen
            _ => $"(minute_ms / {DayMs})",
        };
        string refusalSql = $"SELECT {refusalGroup} AS g, SUM(count) FROM floor_refusals WHERE {string.Join(" AND ", where).Replace("at_ms", "minute_ms")} GROUP BY g";
        var refused = (await QueryAsync(refusalSql, [.. parameters], r => (Group: GroupName(query, r.GetValue(0)), Count: Long(r.GetValue(1))), cancellation))
            .ToDictionary(x => x.Group, x => x.Count);
        var rows = await QueryAsync(sql, [.. parameters], r => new UsageRow
        {
            Group = query.GroupBy == UsageGrouping.Day
                ? FromMs(Long(r.GetValue(0)) * DayMs).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)
                : Convert.ToString(r.GetValue(0), CultureInfo.InvariantCulture) ?? "",
            Requests = Long(r.GetValue(1)),
            PromptTokens = Long(r.GetValue(2)),
            CachedPromptTokens = Long(r.GetValue(3)),
            CompletionTokens = Long(r.GetValue(4)),
            EnergyJoules = Double(r.GetValue(5)),
            InputCostUsd = Double(r.GetValue(6)),
            OutputCostUsd = Double(r.GetValue(7)),
            EnergyEstimated = Long(r.GetValue(8)) != 0,
        }, cancellation);
        var result = rows.Select(row => row with { Refused = refused.GetValueOrDefault(row.Group) }).ToList();
        foreach (var (g, count) in refused)
        {
            if (!rows.Any(row => row.Group == g))
                result.Add(new UsageRow { Group = g, Refused = count });
        }
        return [.. result.OrderBy(row => row.Group, StringComparer.Ordinal)];
    }

    private static string GroupName(UsageQuery query, object value) => query.GroupBy == UsageGrouping.Day
        ? FromMs(Long(value) * DayMs).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)
        : Convert.ToString(value, CultureInfo.InvariantCulture) ?? "";

    private static UsageRecord ReadUsage(DbDataReader r) => new()
    {
        RequestId = r.GetString(0),
        Time = FromMs(Long(r.GetValue(1))),
        KeyId = r.IsDBNull(2) ? null : r.GetString(2),
        TeamId = r.IsDBNull(3) ? null : r.GetString(3),
        Model = r.GetString(4),
        Endpoint = r.GetString(5),
        Status = Convert.ToInt32(r.GetValue(6)),
        PromptTokens = Long(r.GetValue(7)),
        CachedPromptTokens = Long(r.GetValue(8)),
        CompletionTokens = Long(r.GetValue(9)),
        QueueSeconds = Double(r.GetValue(10)),
        TimeToFirstTokenSeconds = Double(r.GetValue(11)),
        DurationSeconds = Double(r.GetValue(12)),
        EnergyJoules = Double(r.GetValue(13)),
        EnergyEstimated = Long(r.GetValue(14)) != 0,
        InputCostUsd = Double(r.GetValue(15)),
        OutputCostUsd = Double(r.GetValue(16)),
        Replica = r.IsDBNull(17) ? null : r.GetString(17),
    };
}
