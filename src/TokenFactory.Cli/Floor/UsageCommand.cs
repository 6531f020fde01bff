using System.CommandLine;
using TokenFactory.Floor.Ledger;
using TokenFactory.Server.Contracts;

namespace TokenFactory.Cli.Floor;

/// <summary><c>tokenfactory usage</c>: the ledger summed by key, team, model or day, with energy and cost per token.</summary>
internal static class UsageCommand
{
    private static readonly string[] Header = ["group", "requests", "refused", "prompt", "cached", "completion", "energy_J", "J/token", "cost_usd", "usd/M_in", "usd/M_out"];

    private static string[] Row(UsageRowBody u) =>
    [
        u.Group, TextTable.Number(u.Requests), TextTable.Number(u.Refused), TextTable.Number(u.PromptTokens), TextTable.Number(u.CachedPromptTokens), TextTable.Number(u.CompletionTokens),
        TextTable.Number(u.EnergyJoules, "0.###") + (u.EnergyEstimated ? " (est.)" : ""), TextTable.Number(u.JoulesPerToken, "G4"), TextTable.Number(u.CostUsd, "G6"),
        TextTable.Number(u.UsdPerMillionInputTokens, "G6"), TextTable.Number(u.UsdPerMillionOutputTokens, "G6"),
    ];

    public static Command Create()
    {
        var admin = new AdminOptions();
        var by = new Option<string>("--by") { Description = "key, team, model (default), day or replica", DefaultValueFactory = _ => "model" };
        var from = new Option<string?>("--from") { Description = "From this date or time (UTC), e.g. 2026-11-01" };
        var to = new Option<string?>("--to") { Description = "Before this date or time (UTC)" };
        var team = new Option<string?>("--team") { Description = "Only this team" };
        var key = new Option<string?>("--key") { Description = "Only this key" };
        var database = new Option<string?>("--database") { Description = "Read this SQLite ledger directly instead of asking a server (works while it is down)" };
        var postgres = new Option<string?>("--postgres") { Description = "Read a PostgreSQL ledger directly (connection string) instead of asking a server" };
        var cmd = new Command("usage", "Usage report from the ledger: requests, tokens, energy and cost by key, team, model or day") { by, from, to, team, key, database, postgres };
        admin.AddTo(cmd);
        cmd.SetAction(r => AdminOptions.Run(async () =>
        {
            string format = admin.FormatOf(r, csv: true);
            string grouping = r.GetValue(by)!.ToLowerInvariant();
            if (grouping is not ("key" or "team" or "model" or "day" or "replica"))
                throw new TokenFactoryException($"--by must be key, team, model, day or replica; got '{grouping}'.");
            var query = new List<string> { "group_by=" + grouping };
            void Add(string name, string? value)
            {
                if (value is not null)
                    query.Add($"{name}={Uri.EscapeDataString(value)}");
            }
            Add("from", r.GetValue(from));
            Add("to", r.GetValue(to));
            Add("team", r.GetValue(team));
            Add("key", r.GetValue(key));
            var rows = r.GetValue(database) is not null || r.GetValue(postgres) is not null
                ? await ReadDirectlyAsync(r.GetValue(database), r.GetValue(postgres), grouping, r.GetValue(from), r.GetValue(to), r.GetValue(team), r.GetValue(key))
                : await ReadFromServerAsync(admin.Client(r, csv: true), string.Join('&', query));
            if (format == "csv")
                Console.Out.Write(UsageCsv.Write(rows.Select(ToRow)));
            else
                AdminOptions.Print(format, rows, FloorJson.Relaxed.ListUsageRowBody, Header, Row);
            return 0;
        }));
        return cmd;
    }

    private static async Task<List<UsageRowBody>> ReadFromServerAsync(AdminClient client, string query)
    {
        using (client)
            return await client.UsageAsync(query);
    }

    /// <summary>The same report from the database itself: read-only, so it is safe beside a running server.</summary>
    private static async Task<List<UsageRowBody>> ReadDirectlyAsync(string? database, string? postgres, string grouping, string? from, string? to, string? team, string? key)
    {
        if (database is not null && postgres is not null)
            throw new TokenFactoryException("give --database or --postgres, not both.");
        if (database is not null && !File.Exists(database))
            throw new TokenFactoryException($"no ledger at {database}.");
        await using IFloorStore store = database is not null ? new SqliteFloorStore(database) : new PostgresFloorStore(postgres!);
        var query = new UsageQuery(Enum.Parse<UsageGrouping>(grouping, ignoreCase: true), KeysCommand.Expiry(from), KeysCommand.Expiry(to), team, key);
        try
        {
            return [.. (await store.QueryUsageAsync(query)).Select(ToBody)];
        }
        catch (System.Data.Common.DbException e)
        {
            throw new TokenFactoryException($"cannot read the ledger: {e.Message}");
        }
    }

    private static UsageRowBody ToBody(UsageRow r) => new()
    {
        Group = r.Group, Requests = r.Requests, Refused = r.Refused, PromptTokens = r.PromptTokens, CachedPromptTokens = r.CachedPromptTokens, CompletionTokens = r.CompletionTokens,
        EnergyJoules = r.EnergyJoules, EnergyEstimated = r.EnergyEstimated, CostUsd = r.CostUsd, InputCostUsd = r.InputCostUsd, OutputCostUsd = r.OutputCostUsd,
        JoulesPerToken = r.JoulesPerToken, UsdPerMillionInputTokens = r.UsdPerMillionInputTokens, UsdPerMillionOutputTokens = r.UsdPerMillionOutputTokens,
    };

    private static UsageRow ToRow(UsageRowBody u) => new()
    {
        Group = u.Group, Requests = u.Requests, Refused = u.Refused, PromptTokens = u.PromptTokens, CachedPromptTokens = u.CachedPromptTokens, CompletionTokens = u.CompletionTokens,
        EnergyJoules = u.EnergyJoules, EnergyEstimated = u.EnergyEstimated, InputCostUsd = u.InputCostUsd, OutputCostUsd = u.OutputCostUsd,
    };
}
