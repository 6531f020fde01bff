using System.CommandLine;
using System.Globalization;
using TokenFactory.Server.Contracts;

namespace TokenFactory.Cli.Floor;

/// <summary><c>tokenfactory keys create|list|update|revoke</c>. A new key's secret is printed once, on stdout.</summary>
internal static class KeysCommand
{
    private static readonly string[] Header = ["key", "team", "name", "status", "models", "rpm", "tpm", "expires", "created"];
    private static string[] Row(KeyBody k) =>
    [
        k.Id ?? "", k.Team ?? "", k.Name ?? "", k.Status ?? "", k.Models is { Count: > 0 } m ? string.Join(',', m) : "*",
        TextTable.Number(k.Rpm), TextTable.Number(k.Tpm), TextTable.Time(k.ExpiresAt), TextTable.Time(k.CreatedAt),
    ];

    public static Command Create()
    {
        var admin = new AdminOptions();
        var cmd = new Command("keys", "Create, list, update and revoke API keys");
        admin.AddTo(cmd);

        var id = new Argument<string>("key") { Description = "Key id (key_…)" };
        var team = new Option<string>("--team") { Description = "The key's team", Required = true };
        var teamFilter = new Option<string?>("--team") { Description = "Only this team's keys" };
        var name = new Option<string?>("--name") { Description = "A name for people (e.g. who holds it)" };
        var models = new Option<string?>("--models") { Description = "Comma-separated models the key may use (default: all)" };
        var expires = new Option<string?>("--expires") { Description = "Expiry, e.g. 2026-12-31 or 2026-12-31T18:00:00Z (UTC)" };
        var rpm = new Option<int?>("--rpm") { Description = "Requests per minute (0: unlimited)" };
        var tpm = new Option<int?>("--tpm") { Description = "Tokens per minute (0: unlimited)" };
        var priority = new Option<string?>("--priority") { Description = "interactive, standard or batch (default: the team's): the class the key is served in behind a router" };

        var create = new Command("create", "Create a key and print its secret (shown only this once)") { team, name, models, expires, rpm, tpm, priority };
        create.SetAction(r => AdminOptions.Run(async () =>
        {
            using var client = admin.Client(r);
            var key = await client.CreateKeyAsync(new KeyBody
            {
                Team = r.GetValue(team), Name = r.GetValue(name), Models = Models(r.GetValue(models)), ExpiresAt = Expiry(r.GetValue(expires)),
                Rpm = r.GetValue(rpm), Tpm = r.GetValue(tpm), Priority = r.GetValue(priority),
            });
            if (admin.FormatOf(r) == "json")
            {
                AdminOptions.Print("json", [key], FloorJson.Relaxed.ListKeyBody, Header, Row);
            }
            else
            {
                Console.Out.Write(TextTable.Render(Header, [Row(key)]));
                Console.Out.WriteLine();
                Console.Out.WriteLine($"secret: {key.Secret}");
                Console.Error.WriteLine("Store the secret now: the server keeps only a salted hash and cannot show it again.");
            }
            return 0;
        }));

        var list = new Command("list", "List keys (never their secrets)") { teamFilter };
        list.SetAction(r => AdminOptions.Run(async () =>
        {
            using var client = admin.Client(r);
            AdminOptions.Print(admin.FormatOf(r), await client.ListKeysAsync(r.GetValue(teamFilter)), FloorJson.Relaxed.ListKeyBody, Header, Row);
            return 0;
        }));

        var update = new Command("update", "Change a key's name, models, expiry, rate limits or priority class") { id, name, models, expires, rpm, tpm, priority };
        update.SetAction(r => AdminOptions.Run(async () =>
        {
            using var client = admin.Client(r);
            var key = await client.UpdateKeyAsync(r.GetValue(id)!, new KeyBody
            {
                Name = r.GetValue(name), Models = Models(r.GetValue(models)), ExpiresAt = Expiry(r.GetValue(expires)), Rpm = r.GetValue(rpm), Tpm = r.GetValue(tpm), Priority = r.GetValue(priority),
            });
            AdminOptions.Print(admin.FormatOf(r), [key], FloorJson.Relaxed.ListKeyBody, Header, Row);
            return 0;
        }));

        var revoke = new Command("revoke", "Revoke a key: its next request gets 401") { id };
        revoke.SetAction(r => AdminOptions.Run(async () =>
        {
            using var client = admin.Client(r);
            AdminOptions.Print(admin.FormatOf(r), [await client.RevokeKeyAsync(r.GetValue(id)!)], FloorJson.Relaxed.ListKeyBody, Header, Row);
            return 0;
        }));

        cmd.Subcommands.Add(create);
        cmd.Subcommands.Add(list);
        cmd.Subcommands.Add(update);
        cmd.Subcommands.Add(revoke);
        return cmd;
    }

    private static List<string>? Models(string? csv) => csv is null ? null : [.. csv.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    internal static DateTimeOffset? Expiry(string? text) => text is null ? null
        : DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t
        : throw new TokenFactoryException($"--expires: '{text}' is not a date or time (e.g. 2026-12-31 or 2026-12-31T18:00:00Z).");
}
