using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using TokenFactory.Server.Fleet;

namespace TokenFactory.Cli.Fleet;

/// <summary>Where the router starts and what it is told: its port, the replicas' URLs, the shared token and the ledger.</summary>
public sealed record RouterLaunch(int Port, IReadOnlyList<Uri> Replicas, string Model, bool NoAuth, string? Database, string? Postgres, string InternalToken);

/// <summary>
/// <c>tokenfactory factory up</c> on one machine: N <c>serve</c> replicas on free loopback ports, sharing one random
/// internal token (<c>TOKENFACTORY_INTERNAL_TOKEN</c>) and the cores, each waited for until its /health answers 200;
/// then the router in front of them (its command line comes from <paramref name="router"/>, null for none). When
/// <paramref name="stop"/> fires (Ctrl-C, SIGTERM) everything stops together, the router first (so nothing new arrives),
/// then the replicas, each drained by SIGTERM and killed if it overstays. A replica that dies is reported and not
/// restarted: the router stops sending it work, and the fleet runs on with the rest until none is left.
/// </summary>
public sealed class FactoryLauncher(FactorySettings settings, Func<RouterLaunch, ProcessStartInfo>? router, TextWriter output)
{
    /// <summary>How long a child may take to stop after SIGTERM: a server drains for up to its ShutdownTimeoutSeconds (10 s by default).</summary>
    public static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(30);

    /// <summary>How long a replica may take to load its model before its /health says 200.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <returns>0 when stopped on request with every process healthy to the end; 1 when a process failed or died.</returns>
    public async Task<int> RunAsync(CancellationToken stop)
    {
        string token = EnvironmentVariables.Get(EnvironmentVariables.InternalToken) ?? NewToken();
        string model = settings.Model ?? BuiltInModel.Resolve().Path;
        string ledgers = Path.Combine(Path.GetTempPath(), $"tokenfactory-factory-{Environment.ProcessId}");
        Directory.CreateDirectory(ledgers);
        var replicas = new List<ChildProcess>();
        ChildProcess? routerProcess = null;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        bool failed = false;
        try
        {
            int threads = settings.ThreadsPerReplica(Environment.ProcessorCount);
            foreach (int port in FreePorts(settings.Replicas))
            {
                string name = $"replica {replicas.Count + 1}";
                var url = new Uri($"http://127.0.0.1:{port}");
                var child = ChildProcess.Start(name, url, ReplicaStart(model, port, threads, Path.Combine(ledgers, $"replica-{replicas.Count + 1}.db"), token), output);
                replicas.Add(child);
                output.WriteLine($"{name}: {child.Address} (pid {child.Id}) starting, {threads} threads");
            }
            foreach (var replica in replicas)
            {
                await WaitHealthyAsync(http, replica, StartTimeout, stop);
                output.WriteLine($"{replica.Name}: ready");
            }
            if (router is not null)
            {
                var url = new Uri($"http://127.0.0.1:{settings.Port}");
                var launch = new RouterLaunch(settings.Port, [.. replicas.Select(r => r.Url)], model, settings.NoAuth, settings.Database, settings.Postgres, token);
                routerProcess = ChildProcess.Start("router", url, router(launch), output);
                output.WriteLine($"router: {routerProcess.Address} (pid {routerProcess.Id}) starting");
                await WaitHealthyAsync(http, routerProcess, TimeSpan.FromMinutes(1), stop);
                output.WriteLine($"fleet ready: {replicas.Count} replicas behind {routerProcess.Address}/v1");
            }
            else
                output.WriteLine($"replicas ready (no router): {string.Join(' ', replicas.Select(r => r.Address))}");
            failed = await WatchAsync(replicas, routerProcess, stop);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // asked to stop while starting
        }
        catch (TokenFactoryException e)
        {
            output.WriteLine($"error: {e.Message}");
            failed = true;
        }
        finally
        {
            output.WriteLine(routerProcess is null ? "stopping the replicas" : "stopping: the router, then the replicas");
            if (routerProcess is not null)
                await StopAsync(routerProcess);
            await Task.WhenAll(replicas.Select(StopAsync));
            foreach (var child in replicas.Append(routerProcess))
                child?.Dispose();
            TryDelete(ledgers);
        }
        return failed ? 1 : 0;
    }

    /// <summary>
    /// The default router: this tokenfactory's <c>route</c> command. Secrets travel in the environment, never on the
    /// command line (where <c>ps</c> shows them): the internal token always, the PostgreSQL connection string too.
    /// </summary>
    public static ProcessStartInfo TokenFactoryRoute(RouterLaunch launch)
    {
        var start = TokenFactoryCommand("route", "--port", launch.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (var replica in launch.Replicas)
        {
            start.ArgumentList.Add("--replica");
            start.ArgumentList.Add(replica.GetLeftPart(UriPartial.Authority));
        }
        start.ArgumentList.Add("--model");
        start.ArgumentList.Add(launch.Model);
        if (launch.NoAuth)
            start.ArgumentList.Add("--no-auth");
        if (launch.Database is not null)
        {
            start.ArgumentList.Add("--database");
            start.ArgumentList.Add(launch.Database);
        }
        start.Environment[EnvironmentVariables.InternalToken] = launch.InternalToken;
        if (launch.Postgres is not null)
            start.Environment[EnvironmentVariables.Postgres] = launch.Postgres;
        return start;
    }

    /// <summary>
    /// A replica: <c>serve</c> on loopback with the internal token, so it answers only the router. Its own floor holds
    /// nothing of the router's requests, so it gets a throwaway SQLite file, and not the router's ledger or admin key.
    /// </summary>
    private ProcessStartInfo ReplicaStart(string model, int port, int threads, string ledger, string token)
    {
        var start = TokenFactoryCommand("serve", "--model", model, "--host", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--threads", threads.ToString(System.Globalization.CultureInfo.InvariantCulture), "--database", ledger);
        if (settings.Ctx is int ctx)
        {
            start.ArgumentList.Add("--ctx");
            start.ArgumentList.Add(ctx.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        start.Environment[EnvironmentVariables.InternalToken] = token;
        start.Environment.Remove(EnvironmentVariables.Postgres);
        start.Environment.Remove(EnvironmentVariables.AdminKey);
        return start;
    }

    /// <summary><c>dotnet tokenfactory.dll ARGS</c>: this very build of the command, however it was started.</summary>
    /// <summary>This tokenfactory with <paramref name="args"/>, as a child process (the launcher's and the fleet benchmark's).</summary>
    internal static ProcessStartInfo TokenFactoryCommand(params string[] args)
    {
        string host = Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
        var start = new ProcessStartInfo(host);
        start.ArgumentList.Add(typeof(FactoryLauncher).Assembly.Location);
        foreach (var a in args)
            start.ArgumentList.Add(a);
        return start;
    }

    /// <returns>Whether it ended because something died (true) rather than because it was asked to stop.</returns>
    private async Task<bool> WatchAsync(List<ChildProcess> replicas, ChildProcess? routerProcess, CancellationToken stop)
    {
        var stopped = Task.Delay(Timeout.Infinite, stop);
        var live = new List<ChildProcess>(replicas);
        bool died = false;
        while (true)
        {
            var watched = live.Select(r => (Task)r.Exited).Append(stopped);
            if (routerProcess is not null)
                watched = watched.Append(routerProcess.Exited);
            var ended = await Task.WhenAny(watched);
            if (ended == stopped)
                return died;
            if (routerProcess is not null && ended == routerProcess.Exited)
            {
                output.WriteLine($"router (pid {routerProcess.Id}) exited with code {await routerProcess.Exited}; stopping the fleet");
                return true;
            }
            var gone = live.First(r => r.Exited == ended);
            live.Remove(gone);
            died = true;
            output.WriteLine($"{gone.Name} ({gone.Address}, pid {gone.Id}) exited with code {await gone.Exited}; it is not restarted: {live.Count} of {replicas.Count} replicas remain");
            if (live.Count == 0)
            {
                output.WriteLine("no replica is left; stopping the fleet");
                return true;
            }
        }
    }

    private async Task StopAsync(ChildProcess child)
    {
        bool wasRunning = !child.Exited.IsCompleted;
        int code = await child.StopAsync(StopGrace);
        if (wasRunning)
            output.WriteLine($"{child.Name}: stopped (exit code {code})");
    }

    internal static async Task WaitHealthyAsync(HttpClient http, ChildProcess child, TimeSpan timeout, CancellationToken stop)
    {
        var deadline = DateTime.UtcNow + timeout;
        var health = new Uri(child.Url, ReplicaEndpoints.Health);
        while (true)
        {
            if (child.Exited.IsCompleted)
                throw new TokenFactoryException($"{child.Name} exited with code {await child.Exited} before it was ready (its output is above)");
            try
            {
                using var response = await http.GetAsync(health, stop);
                if (response.StatusCode == HttpStatusCode.OK)
                    return;
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            catch (TaskCanceledException) when (!stop.IsCancellationRequested)
            {
                // one probe timed out; try again
            }
            if (DateTime.UtcNow > deadline)
                throw new TokenFactoryException($"{child.Name} was not ready after {timeout.TotalSeconds:0} s ({health} never answered 200)");
            await Task.Delay(200, stop);
        }
    }

    /// <summary>Distinct free loopback ports: all held open at once while chosen, so no two are the same.</summary>
    internal static List<int> FreePorts(int count)
    {
        var listeners = new List<TcpListener>();
        try
        {
            for (int i = 0; i < count; i++)
            {
                var l = new TcpListener(IPAddress.Loopback, 0);
                l.Start();
                listeners.Add(l);
            }
            return [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];
        }
        finally
        {
            foreach (var l in listeners)
                l.Stop();
        }
    }

    /// <summary>256 random bits, URL-safe, as API key secrets are.</summary>
    internal static string NewToken() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
            // a replica's SQLite file still open on a slow exit; the temp cleaner takes it
        }
    }
}
