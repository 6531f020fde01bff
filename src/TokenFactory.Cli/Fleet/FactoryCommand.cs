using System.CommandLine;
using System.Runtime.InteropServices;
using TokenFactory.Cli.Commands;

namespace TokenFactory.Cli.Fleet;

/// <summary><c>tokenfactory factory up</c>: a fleet on one machine (<see cref="FactoryLauncher"/>).</summary>
internal static class FactoryCommand
{
    public static Command Create()
    {
        var config = new Option<string?>("--config") { Description = "Settings file (YAML or JSON) with the options below as keys (replicas: 4, no-auth: true, …); options given here win" };
        var model = new Option<string?>("--model", "-m") { Description = "GGUF model every replica serves (default: the built-in model, as serve)" };
        var replicas = new Option<int?>("--replicas", "-n") { Description = "Replicas to start (default 2)" };
        var port = new Option<int?>("--port") { Description = "The router's port (default 8080)" };
        var noAuth = new Option<bool>("--no-auth") { Description = "The router accepts requests without API keys (local use only)" };
        var threads = new Option<int?>("--threads", "-t") { Description = "Compute threads per replica (default: the cores shared between the replicas)" };
        var ctx = new Option<int?>("--ctx", "-c") { Description = "Context length per sequence, on every replica" };
        var database = new Option<string?>("--database") { Description = "SQLite file for the router's keys, budgets and ledger" };
        var postgres = new Option<string?>("--postgres") { Description = "PostgreSQL connection string for the router's ledger instead of SQLite; or TOKENFACTORY_POSTGRES" };
        var router = new Option<string?>("--router-command") { Description = "route: start this tokenfactory's router in front (default); none: start the replicas only and print their URLs" };
        var up = new Command("up", "Start N serve replicas on this machine (free loopback ports, one shared random internal token, TOKENFACTORY_INTERNAL_TOKEN "
            + "if set), wait until each is healthy, then the router in front; Ctrl-C or SIGTERM stops the router, then the replicas. A replica that dies is reported, not restarted.")
        {
            config, model, replicas, port, noAuth, threads, ctx, database, postgres, router,
        };
        up.SetAction(r => CommandErrors.Run(() =>
        {
            var file = r.GetValue(config) is { } path ? FactorySettings.Load(path) : new FactorySettings();
            var settings = (file with
            {
                Model = r.GetValue(model) ?? file.Model,
                Replicas = r.GetValue(replicas) ?? file.Replicas,
                Port = r.GetValue(port) ?? file.Port,
                NoAuth = r.GetValue(noAuth) || file.NoAuth,
                Threads = r.GetValue(threads) ?? file.Threads,
                Ctx = r.GetValue(ctx) ?? file.Ctx,
                Database = r.GetValue(database) ?? file.Database,
                Postgres = r.GetValue(postgres) ?? file.Postgres ?? EnvironmentVariables.Get(EnvironmentVariables.Postgres),
                RouterCommand = r.GetValue(router) ?? file.RouterCommand,
            }).Validated();
            using var stop = new CancellationTokenSource();
            // Ours to handle: the fleet stops in order (router, then replicas) instead of the process dying at once.
            using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
            using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
            void Stop(PosixSignalContext signal)
            {
                signal.Cancel = true;
                stop.Cancel();
            }
            var launcher = new FactoryLauncher(settings, settings.RouterCommand == FactorySettings.NoRouter ? null : FactoryLauncher.TokenFactoryRoute,
                TextWriter.Synchronized(Console.Out));
            return launcher.RunAsync(stop.Token).GetAwaiter().GetResult();
        }));
        return new Command("factory", "A fleet of replicas behind a router") { up };
    }
}
