using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace TokenFactory.Cli.Floor;

/// <summary>What every floor command needs: the server, its admin key, and how to print.</summary>
internal sealed class AdminOptions
{
    public Option<string> Url { get; } = new("--url")
    {
        Description = "The server's base URL (default $TOKENFACTORY_URL, else http://127.0.0.1:8080)",
        DefaultValueFactory = _ => EnvironmentVariables.Get(EnvironmentVariables.Url) ?? "http://127.0.0.1:8080",
        Recursive = true,
    };

    public Option<string?> AdminKey { get; } = new("--admin-key")
    {
        Description = "The server's admin key (default $TOKENFACTORY_ADMIN_KEY; prefer the variable: options show in `ps`)",
        Recursive = true,
    };

    public Option<string> Format { get; } = new("--format")
    {
        Description = "table (default), json or csv",
        DefaultValueFactory = _ => "table",
        Recursive = true,
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Url);
        command.Options.Add(AdminKey);
        command.Options.Add(Format);
    }

    /// <summary>
    /// A client for the admin API. The output format is checked first: a change made and then not shown (a new key's
    /// secret above all, which is never shown again) must not happen because of a typo in --format.
    /// </summary>
    public AdminClient Client(ParseResult r, bool csv = false)
    {
        FormatOf(r, csv);
        string? key = r.GetValue(AdminKey) ?? EnvironmentVariables.Get(EnvironmentVariables.AdminKey);
        if (string.IsNullOrEmpty(key))
            throw new TokenFactoryException("no admin key: set TOKENFACTORY_ADMIN_KEY (the server's TokenFactory:Floor:AdminKey) or pass --admin-key.");
        return new AdminClient(r.GetValue(Url)!, key);
    }

    public string FormatOf(ParseResult r, bool csv = false)
    {
        string f = r.GetValue(Format)!.ToLowerInvariant();
        if (f is "table" or "json" || (csv && f == "csv"))
            return f;
        throw new TokenFactoryException($"--format must be table, json{(csv ? " or csv" : "")}; got '{f}'.");
    }

    /// <summary>Prints one record or a list as JSON, or as a table.</summary>
    public static void Print<T>(string format, IReadOnlyList<T> items, JsonTypeInfo<List<T>> json, string[] header, Func<T, string[]> row)
    {
        if (format == "json")
            Console.Out.WriteLine(JsonSerializer.Serialize([.. items], json));
        else
            Console.Out.Write(TextTable.Render(header, items.Select(row)));
    }

    /// <summary>Runs an async command body with the CLI's one-line errors.</summary>
    public static int Run(Func<Task<int>> body) => Commands.CommandErrors.Run(() => body().GetAwaiter().GetResult());
}
