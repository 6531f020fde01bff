using System.CommandLine;
using TokenFactory.Floor.Ledger;
using TokenFactory.Server.Contracts;

namespace TokenFactory.Cli.Floor;

/// <summary><c>tokenfactory usage</c>: the ledger summed by key, team, model or day, with energy and cost per token.</summary>
internal static class UsageCommand
{
    private static readonly string[] Header = ["group", "requests", "prompt", "cached", "completion", "energy_J", "J/token", "cost_usd", "usd/M_in", "usd/M_out"];

    private static string[] Row(UsageRowBody u) =>
    [
        u.Group, TextTable.Number(u.Requests), TextTable.Number(u.PromptTokens), TextTable.Number(u.CachedPromptTokens), TextTable.Number(u.CompletionTokens),
        TextTable.Number(u.EnergyJoules, "0.###") + (u.EnergyEstimated ? " (est.)" : ""), TextTable.Number(u.JoulesPerToken, "G4"), TextTable.Number(u.CostUsd, "G6"),
        TextTable.Number(u.UsdPerMillionInputTokens, "G6"), TextTable.Number(u.UsdPerMillionOutputTokens, "G6"),
    ];

    public static Command Create()
    {
        var admin = new AdminOptions();
        var by = new Option<string>("--by") { Description = "key, team, model (default) or day", DefaultValueFactory = _ => "model" };
        var from = new Option<string?>("--from") { Description = "From this date or time (UTC), e.g. 2026-11-01" };
        var to = new Option<string?>("--to") { Description = "Before this date or time (UTC)" };
        var team = new Option<string?>("--team") { Description = "Only this team" };
        var key = new Option<string?>("--key") { Description = "Only this key" };
        var cmd = new Command("usage", "Usage report from the ledger: requests, tokens, energy and cost by key, team, model or day") { by, from, to, team, key };
        admin.AddTo(cmd);
        cmd.SetAction(r => AdminOptions.Run(async () =>
        {
            string format = admin.FormatOf(r, csv: true);
            string grouping = r.GetValue(by)!.ToLowerInvariant();
            if (grouping is not ("key" or "team" or "model" or "day"))
                throw new TokenFactoryException($"--by must be key, team, model or day; got '{grouping}'.");
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
            using var client = admin.Client(r);
            var rows = await client.UsageAsync(string.Join('&', query));
            if (format == "csv")
                Console.Out.Write(UsageCsv.Write(rows.Select(ToRow)));
            else
                AdminOptions.Print(format, rows, FloorJson.Relaxed.ListUsageRowBody, Header, Row);
            return 0;
        }));
        return cmd;
    }

    private static UsageRow ToRow(UsageRowBody u) => new()
    {
        Group = u.Group, Requests = u.Requests, PromptTokens = u.PromptTokens, CachedPromptTokens = u.CachedPromptTokens, CompletionTokens = u.CompletionTokens,
        EnergyJoules = u.EnergyJoules, EnergyEstimated = u.EnergyEstimated, InputCostUsd = u.InputCostUsd, OutputCostUsd = u.OutputCostUsd,
    };
}
