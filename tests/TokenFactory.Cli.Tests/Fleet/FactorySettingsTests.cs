using TokenFactory.Cli.Fleet;

namespace TokenFactory.Cli.Tests.Fleet;

/// <summary><c>factory up</c>'s settings: the config file (YAML or JSON), precedence, validation, the router's command line.</summary>
public sealed class FactorySettingsTests
{
    private static string Write(string name, string text)
    {
        string path = Path.Combine(TestPaths.TempDir(), name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void A_yaml_file_and_a_json_file_give_the_same_settings()
    {
        var yaml = FactorySettings.Load(Write("factory.yaml", """
            model: /models/m.gguf
            replicas: 4
            port: 9000
            no-auth: true
            threads: 3
            ctx: 2048
            postgres: Host=db;Database=tf
            router-command: none
            """));
        var json = FactorySettings.Load(Write("factory.json", """
            {"model": "/models/m.gguf", "replicas": 4, "port": 9000, "no-auth": true, "threads": 3, "ctx": 2048,
             "postgres": "Host=db;Database=tf", "router-command": "none"}
            """));
        var expected = new FactorySettings
        {
            Model = "/models/m.gguf", Replicas = 4, Port = 9000, NoAuth = true, Threads = 3, Ctx = 2048, Postgres = "Host=db;Database=tf", RouterCommand = "none",
        };
        Assert.Equal(expected, yaml);
        Assert.Equal(expected, json);
        Assert.Equal(new FactorySettings(), FactorySettings.Load(Write("empty.yaml", "")));
    }

    [Fact]
    public void An_unknown_key_is_an_error_naming_it()
    {
        var e = Assert.Throws<TokenFactoryException>(() => FactorySettings.Load(Write("typo.yaml", "replicas: 2\nreplica-count: 3\n")));
        Assert.Contains("replica-count", e.Message);
        Assert.Contains("line 2", e.Message);
    }

    [Theory]
    [InlineData(0, 8080, null, null, "replicas is 0")]
    [InlineData(2, 0, null, null, "port is 0")]
    [InlineData(2, 8080, 0, null, "threads is 0")]
    [InlineData(2, 8080, null, "tf.db", "database and postgres are both set")]
    public void Contradictory_or_out_of_range_settings_are_refused(int replicas, int port, int? threads, string? database, string message)
    {
        var settings = new FactorySettings { Replicas = replicas, Port = port, Threads = threads, Database = database, Postgres = database is null ? null : "Host=db" };
        Assert.Contains(message, Assert.Throws<TokenFactoryException>(() => settings.Validated()).Message);
    }

    [Fact]
    public void Threads_are_shared_between_replicas_unless_given()
    {
        Assert.Equal(4, new FactorySettings { Replicas = 4 }.ThreadsPerReplica(16));
        Assert.Equal(1, new FactorySettings { Replicas = 4 }.ThreadsPerReplica(2));
        Assert.Equal(3, new FactorySettings { Replicas = 4, Threads = 3 }.ThreadsPerReplica(16));
    }

    [Fact]
    public void Command_line_options_win_over_the_file()
    {
        string file = Write("two.yaml", $"model: {TestPaths.Stories260K}\nreplicas: 2\n");
        var (code, _, stderr) = CliRunner.Run("factory", "up", "--config", file, "--replicas", "0");
        Assert.Equal(1, code);
        Assert.Contains("replicas is 0", stderr);
    }

    [Fact]
    public void The_router_gets_the_replicas_and_the_ledger_on_its_command_line_and_secrets_in_its_environment()
    {
        var start = FactoryLauncher.TokenFactoryRoute(new RouterLaunch(8080, [new Uri("http://127.0.0.1:8081/"), new Uri("http://127.0.0.1:8082")],
            "/models/m.gguf", NoAuth: true, Database: null, Postgres: "Host=db;Password=secret", InternalToken: "tok"));
        var args = start.ArgumentList.ToList();
        Assert.EndsWith("tokenfactory.dll", args[0]);
        Assert.Equal(["route", "--port", "8080", "--replica", "http://127.0.0.1:8081", "--replica", "http://127.0.0.1:8082", "--model", "/models/m.gguf", "--no-auth"],
            args.Skip(1));
        Assert.Equal("tok", start.Environment[EnvironmentVariables.InternalToken]);
        Assert.Equal("Host=db;Password=secret", start.Environment[EnvironmentVariables.Postgres]);
        Assert.DoesNotContain(args, a => a.Contains("secret") || a == "tok");
    }
}
