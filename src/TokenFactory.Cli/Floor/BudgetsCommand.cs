using System.CommandLine;
using TokenFactory.Server.Contracts;

namespace TokenFactory.Cli.Floor;

/// <summary><c>tokenfactory budgets create|list|update|delete</c>.</summary>
internal static class BudgetsCommand
{
    private static readonly string[] Header = ["budget", "scope", "owner", "period", "unit", "spent", "reserved", "soft", "hard", "state"];
    private static string[] Row(BudgetBody b) =>
    [
        b.Id ?? "", b.Scope ?? "", b.ScopeId ?? "", b.Period ?? "", b.Unit ?? "", TextTable.Number(b.Spent ?? 0), TextTable.Number(b.Reserved ?? 0),
        b.Soft is double s ? TextTable.Number(s) : "-", TextTable.Number(b.Hard ?? 0), b.State ?? "",
    ];

    public static Command Create()
    {
        var admin = new AdminOptions();
        var cmd = new Command("budgets", "Token and money budgets per key or team: soft threshold reported, hard limit enforced");
        admin.AddTo(cmd);

        var id = new Argument<string>("budget") { Description = "Budget id (bud_…)" };
        var key = new Option<string?>("--key") { Description = "Budget for this key" };
        var team = new Option<string?>("--team") { Description = "Budget for this team (all its keys together)" };
        var period = new Option<string>("--period") { Description = "day, week, month or lifetime (UTC windows)", DefaultValueFactory = _ => "month" };
        var tokens = new Option<double?>("--tokens") { Description = "Hard limit in tokens (prompt + completion)" };
        var usd = new Option<double?>("--usd") { Description = "Hard limit in US dollars" };
        var soft = new Option<double?>("--soft") { Description = "Soft threshold (same unit): reported, not enforced" };
        var hard = new Option<double?>("--hard") { Description = "New hard limit" };

        var create = new Command("create", "Create a budget") { key, team, period, tokens, usd, soft };
        create.SetAction(r => AdminOptions.Run(async () =>
        {
            string? k = r.GetValue(key), t = r.GetValue(team);
            if ((k is null) == (t is null))
                throw new TokenFactoryException("give exactly one of --key or --team.");
            double? tk = r.GetValue(tokens), money = r.GetValue(usd);
            if ((tk is null) == (money is null))
                throw new TokenFactoryException("give exactly one of --tokens or --usd.");
            using var client = admin.Client(r);
            var budget = await client.CreateBudgetAsync(new BudgetBody
            {
                Scope = k is null ? "team" : "key", ScopeId = k ?? t, Period = r.GetValue(period), Unit = tk is null ? "usd" : "tokens",
                Hard = tk ?? money, Soft = r.GetValue(soft),
            });
            AdminOptions.Print(admin.FormatOf(r), [budget], FloorJson.Relaxed.ListBudgetBody, Header, Row);
            return 0;
        }));

        var list = new Command("list", "List budgets with what is spent and reserved in their current windows");
        list.SetAction(r => AdminOptions.Run(async () =>
        {
            using var client = admin.Client(r);
            AdminOptions.Print(admin.FormatOf(r), await client.ListBudgetsAsync(), FloorJson.Relaxed.ListBudgetBody, Header, Row);
            return 0;
        }));

        var update = new Command("update", "Change a budget's limits") { id, hard, soft };
        update.SetAction(r => AdminOptions.Run(async () =>
        {
            using var client = admin.Client(r);
            var budget = await client.UpdateBudgetAsync(r.GetValue(id)!, new BudgetBody { Hard = r.GetValue(hard), Soft = r.GetValue(soft) });
            AdminOptions.Print(admin.FormatOf(r), [budget], FloorJson.Relaxed.ListBudgetBody, Header, Row);
            return 0;
        }));

        var delete = new Command("delete", "Delete a budget") { id };
        delete.SetAction(r => AdminOptions.Run(async () =>
        {
            using var client = admin.Client(r);
            await client.DeleteBudgetAsync(r.GetValue(id)!);
            Console.Out.WriteLine($"deleted {r.GetValue(id)}");
            return 0;
        }));

        cmd.Subcommands.Add(create);
        cmd.Subcommands.Add(list);
        cmd.Subcommands.Add(update);
        cmd.Subcommands.Add(delete);
        return cmd;
    }
}
