using System.CommandLine;
using TokenFactory.Server.Contracts;

namespace TokenFactory.Cli.Floor;

/// <summary><c>tokenfactory teams create|list|update</c>.</summary>
internal static class TeamsCommand
{
    private static readonly string[] Header = ["team", "rpm", "tpm", "created"];
    private static string[] Row(TeamBody t) => [t.Id ?? "", TextTable.Number(t.Rpm), TextTable.Number(t.Tpm), TextTable.Time(t.CreatedAt)];

    public static Command Create()
    {
        var admin = new AdminOptions();
        var cmd = new Command("teams", "Create, list and update teams (keys belong to teams; teams share budgets and rate limits)");
        admin.AddTo(cmd);

        var id = new Argument<string>("team") { Description = "Team id: letters, digits, '.', '_' or '-'" };
        var rpm = new Option<int?>("--rpm") { Description = "Requests per minute for the whole team (0: unlimited)" };
        var tpm = new Option<int?>("--tpm") { Description = "Tokens per minute for the whole team (0: unlimited)" };
        var priority = new Option<string?>("--priority") { Description = "interactive, standard or batch: the class the team's keys are served in behind a router" };

        var create = new Command("create", "Create a team") { id, rpm, tpm, priority };
        create.SetAction(r => AdminOptions.Run(async () =>
        {
            using var client = admin.Client(r);
            var team = await client.CreateTeamAsync(new TeamBody { Id = r.GetValue(id), Rpm = r.GetValue(rpm), Tpm = r.GetValue(tpm), Priority = r.GetValue(priority) });
            AdminOptions.Print(admin.FormatOf(r), [team], FloorJson.Relaxed.ListTeamBody, Header, Row);
            return 0;
        }));

        var list = new Command("list", "List teams");
        list.SetAction(r => AdminOptions.Run(async () =>
        {
            using var client = admin.Client(r);
            AdminOptions.Print(admin.FormatOf(r), await client.ListTeamsAsync(), FloorJson.Relaxed.ListTeamBody, Header, Row);
            return 0;
        }));

        var update = new Command("update", "Change a team's rate limits or priority class") { id, rpm, tpm, priority };
        update.SetAction(r => AdminOptions.Run(async () =>
        {
            using var client = admin.Client(r);
            var team = await client.UpdateTeamAsync(r.GetValue(id)!, new TeamBody { Rpm = r.GetValue(rpm), Tpm = r.GetValue(tpm), Priority = r.GetValue(priority) });
            AdminOptions.Print(admin.FormatOf(r), [team], FloorJson.Relaxed.ListTeamBody, Header, Row);
            return 0;
        }));

        cmd.Subcommands.Add(create);
        cmd.Subcommands.Add(list);
        cmd.Subcommands.Add(update);
        return cmd;
    }
}
