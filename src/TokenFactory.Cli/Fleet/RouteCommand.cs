using System.CommandLine;
using System.Globalization;
using TokenFactory.Cli.Commands;
using TokenFactory.Router;
using TokenFactory.Router.Hosting;
using TokenFactory.Server;

namespace TokenFactory.Cli.Fleet;

/// <summary>
/// <c>tokenfactory route</c>: the fleet's front door. The same OpenAI API, keys, budgets and ledger as <c>serve</c>,
/// forwarding generation to the replicas given with <c>--replica</c>. Options map onto <c>TokenFactory:Router:*</c>
/// and <c>TokenFactory:*</c> keys, so appsettings.json and environment variables configure the same things.
/// </summary>
internal static class RouteCommand
{
    public static Command Create()
    {
        var replicas = new Option<string[]>("--replica", "-r") { Description = "A replica's base URL, e.g. http://10.0.0.5:8080 (repeatable; a TokenFactory serve process or any OpenAI-compatible server)", AllowMultipleArgumentsPerToken = false };
        var policy = new Option<string?>("--policy") { Description = "prefix (default: expected prefill work and load, knowing each replica's cache), least-load or round-robin" };
        var models = new Option<string[]>("--model", "-m") { Description = "A model's GGUF file, read for its tokenizer only, as PATH (id: the file name without .gguf) or ID=PATH (repeatable): prompts are then routed by exact token blocks", AllowMultipleArgumentsPerToken = false };
        var host = new Option<string?>("--host") { Description = "Address to listen on (default 127.0.0.1; 0.0.0.0 for all interfaces)" };
        var port = new Option<int?>("--port") { Description = "Port to listen on (default 8080)" }.Port();
        var maxQueued = new Option<int?>("--max-queued") { Description = "Requests allowed to wait at the router for a replica before 503 (default 256)" };
        var queueDepth = new Option<int?>("--replica-queue-depth") { Description = "Sequences sent to a replica beyond its running slots (default 4); the rest wait here, earliest deadline first" };
        var noAuth = new Option<bool>("--no-auth") { Description = "Accept requests without API keys (local use only; logged as a warning)" };
        var database = new Option<string?>("--database") { Description = "SQLite file for keys, budgets and the usage ledger (default ~/.local/share/tokenfactory/floor.db)" };
        var postgres = new Option<string?>("--postgres") { Description = "PostgreSQL connection string instead of SQLite (routers share budgets); or TOKENFACTORY_POSTGRES" };
        var cmd = new Command("route", "Route an OpenAI-compatible API over replicas: prefix-aware, SLO-aware, with failover. The admin key comes from TOKENFACTORY_ADMIN_KEY, the replicas' internal token from TOKENFACTORY_INTERNAL_TOKEN.")
        {
            replicas, policy, models, host, port, maxQueued, queueDepth, noAuth, database, postgres,
        };
        cmd.SetAction(r => CommandErrors.Run(() =>
        {
            var overrides = new Dictionary<string, string?>();
            void Set(string key, object? value)
            {
                if (value is not null)
                    overrides[key] = Convert.ToString(value, CultureInfo.InvariantCulture);
            }
            string[] urls = r.GetValue(replicas) ?? [];
            for (int i = 0; i < urls.Length; i++)
                Set($"{RouterOptions.Section}:{nameof(RouterOptions.Replicas)}:{i}", urls[i]);
            foreach (var (id, path) in ParseModels(r.GetValue(models) ?? []))
                Set($"{RouterOptions.Section}:{nameof(RouterOptions.Models)}:{id}", path);
            Set($"{RouterOptions.Section}:{nameof(RouterOptions.Policy)}", r.GetValue(policy));
            Set($"{RouterOptions.Section}:{nameof(RouterOptions.MaxQueuedRequests)}", r.GetValue(maxQueued));
            Set($"{RouterOptions.Section}:{nameof(RouterOptions.ReplicaQueueDepth)}", r.GetValue(queueDepth));
            Set($"{ServerOptions.Section}:{nameof(ServerOptions.Host)}", r.GetValue(host));
            Set($"{ServerOptions.Section}:{nameof(ServerOptions.Port)}", r.GetValue(port));
            // Secrets come from the environment, never from the command line (where `ps` shows them).
            Set($"{ServerOptions.Section}:Floor:AdminKey", EnvironmentVariables.Get(EnvironmentVariables.AdminKey));
            Set($"{ServerOptions.Section}:Floor:ViewerKey", EnvironmentVariables.Get(EnvironmentVariables.ViewerKey));
            Set(RouterToken.Key, EnvironmentVariables.Get(EnvironmentVariables.InternalToken));
            Set($"{ServerOptions.Section}:Floor:Postgres", r.GetValue(postgres) ?? EnvironmentVariables.Get(EnvironmentVariables.Postgres));
            Set($"{ServerOptions.Section}:Floor:Database", r.GetValue(database));
            if (r.GetValue(noAuth))
                Set($"{ServerOptions.Section}:Floor:Auth", "none");

            // Ctrl-C and SIGTERM drain: nothing new is admitted, what is in flight finishes within the shutdown deadline.
            var app = RouterServer.Build([], overrides);
            app.Run();
            return 0;
        }));
        return cmd;
    }

    /// <summary><c>PATH</c> or <c>ID=PATH</c>, each file present.</summary>
    internal static IEnumerable<(string Id, string Path)> ParseModels(IEnumerable<string> values)
    {
        foreach (string value in values)
        {
            int eq = value.IndexOf('=');
            // A path may itself hold '='; an id never holds a path separator.
            bool named = eq > 0 && value.AsSpan(0, eq).IndexOfAny('/', '\\') < 0;
            string path = named ? value[(eq + 1)..] : value;
            string id = named ? value[..eq] : System.IO.Path.GetFileNameWithoutExtension(path);
            if (!File.Exists(path))
                throw new TokenFactoryException($"model file not found: {path}");
            yield return (id, path);
        }
    }
}
