using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace TokenFactory.Cli.Tests;

/// <summary>
/// The floor's commands against a real <c>tokenfactory serve</c> child process, and the ledger's promise: a
/// request whose response reached the client is in the ledger even when the server is killed mid-load.
/// </summary>
public sealed class FloorCommandTests : IDisposable
{
    private const string AdminKey = "cli-test-admin-key";
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "tokenfactory-tests", "cli-" + Guid.NewGuid().ToString("N"));

    private string Database => Path.Combine(_directory, "floor.db");

    public void Dispose()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private Dictionary<string, string> Environment => new() { ["TOKENFACTORY_ADMIN_KEY"] = AdminKey, ["TokenFactory__Floor__Energy__Meter"] = "estimated" };

    private static (int ExitCode, string Stdout, string Stderr) Cli(ServeProcess server, params string[] args) =>
        CliRunner.Run([.. args, "--url", server.BaseAddress.ToString(), "--admin-key", AdminKey]);

    [Fact]
    public async Task Teams_keys_budgets_and_usage_from_the_command_line()
    {
        await using var server = await ServeProcess.StartAsync(Environment, "--database", Database);
        Assert.Equal(0, Cli(server, "teams", "create", "research", "--rpm", "100").ExitCode);
        var (code, stdout, stderr) = Cli(server, "keys", "create", "--team", "research", "--name", "alice", "--models", "stories260K");
        Assert.True(code == 0, stderr);
        string secret = stdout.Split('\n').Single(l => l.StartsWith("secret: ", StringComparison.Ordinal))["secret: ".Length..].Trim();
        Assert.Contains("cannot show it again", stderr);
        var keys = JsonNode.Parse(Cli(server, "keys", "list", "--format", "json").Stdout)!.AsArray();
        string keyId = (string)keys.Single()!["id"]!;
        Assert.DoesNotContain(secret, keys.ToJsonString());

        (code, stdout, stderr) = Cli(server, "budgets", "create", "--team", "research", "--period", "week", "--tokens", "10000", "--soft", "10");
        Assert.True(code == 0, stderr);
        Assert.Contains("research", stdout);

        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        using (var r = await http.PostAsJsonAsync("/v1/completions", new { model = "stories260K", prompt = "Once upon a time", max_tokens = 6 }))
            Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());

        (code, stdout, _) = Cli(server, "usage", "--by", "team", "--format", "csv");
        Assert.Equal(0, code);
        var lines = stdout.TrimEnd('\n').Split('\n');
        Assert.StartsWith("group,requests,prompt_tokens", lines[0]);
        var fields = lines.Single(l => l.StartsWith("research,", StringComparison.Ordinal)).Split(',');
        Assert.Equal("1", fields[1]);
        Assert.Equal("6", fields[4]);
        Assert.True(double.Parse(fields[5], System.Globalization.CultureInfo.InvariantCulture) > 0, "energy is charged");
        Assert.Equal("true", fields[6]); // the server runs the estimate, and the report says so

        // The same report straight from the SQLite file, beside the running server.
        var (directCode, direct, directErr) = CliRunner.Run("usage", "--by", "team", "--format", "csv", "--database", Database);
        Assert.True(directCode == 0, directErr);
        Assert.Equal(stdout, direct);
        Assert.Equal(1, CliRunner.Run("usage", "--database", Path.Combine(_directory, "missing.db")).ExitCode);

        (code, stdout, _) = Cli(server, "usage", "--by", "key");
        Assert.Equal(0, code);
        Assert.Contains(keyId, stdout);
        Assert.Contains("J/token", stdout);
        Assert.Contains("(est.)", stdout);
        var budgets = JsonNode.Parse(Cli(server, "budgets", "list", "--format", "json").Stdout)!.AsArray();
        Assert.Equal("soft_limit_reached", (string?)budgets.Single()!["state"]);

        Assert.Equal(0, Cli(server, "keys", "revoke", keyId).ExitCode);
        using (var r = await http.PostAsJsonAsync("/v1/completions", new { prompt = "Once", max_tokens = 1 }))
            Assert.Equal(401, (int)r.StatusCode);

        // Bad input: a clear one-line error and exit code 1, nothing changed.
        (code, _, stderr) = Cli(server, "budgets", "create", "--team", "research", "--tokens", "5", "--usd", "1");
        Assert.Equal((1, "error: give exactly one of --tokens or --usd."), (code, stderr.Trim()));
        (code, _, stderr) = Cli(server, "keys", "create", "--team", "nobody");
        Assert.Equal(1, code);
        Assert.Contains("does not exist", stderr);
        (code, _, stderr) = CliRunner.Run("teams", "list", "--url", server.BaseAddress.ToString(), "--admin-key", "wrong");
        Assert.Equal(1, code);
        Assert.Contains("401", stderr);
        // A format it cannot print is refused before the key is made: its secret would never be shown.
        int keysBefore = JsonNode.Parse(Cli(server, "keys", "list", "--format", "json").Stdout)!.AsArray().Count;
        (code, _, stderr) = Cli(server, "keys", "create", "--team", "research", "--format", "csv");
        Assert.Equal(1, code);
        Assert.Contains("--format must be table, json", stderr);
        Assert.Equal(keysBefore, JsonNode.Parse(Cli(server, "keys", "list", "--format", "json").Stdout)!.AsArray().Count);
        // An unreachable server is one line, on every command (budgets delete had a stack trace).
        (code, _, stderr) = CliRunner.Run("budgets", "delete", "b1", "--url", "http://127.0.0.1:1", "--admin-key", AdminKey);
        Assert.Equal(1, code);
        Assert.Contains("cannot reach the server", stderr);
        Assert.DoesNotContain("   at ", stderr);
    }

    [Fact]
    public async Task A_server_nobody_can_use_says_how_to_fix_it()
    {
        var noAdmin = new Dictionary<string, string> { ["TOKENFACTORY_ADMIN_KEY"] = "", ["TokenFactory__Floor__AdminKey"] = "" };
        await using var server = await ServeProcess.StartAsync(noAdmin, "--database", Database);
        Assert.Contains("API keys are required but none exist and no admin key is set", server.Log);
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        using var response = await http.PostAsJsonAsync("/v1/completions", new { prompt = "Once", max_tokens = 1 });
        Assert.Equal(401, (int)response.StatusCode);
    }

    [Fact]
    public void Bench_floor_measures_authenticate_admit_and_settle()
    {
        var (code, stdout, stderr) = CliRunner.Run("bench", "floor", "-n", "20", "--database", Database);
        Assert.True(code == 0, stderr);
        Assert.Matches(@"authenticate \d+\.\d{3} ms +admit \d+\.\d{3} ms +settle \d+\.\d{3} ms", stdout);
    }

    [Fact]
    public Task A_request_that_completed_is_in_the_ledger_after_the_server_is_killed_mid_load() =>
        KillMidLoadAsync(Environment, ["--database", Database]);

    [PostgresFact]
    public Task A_request_that_completed_is_in_PostgreSQL_after_the_server_is_killed_mid_load()
    {
        var environment = Environment;
        environment["TOKENFACTORY_POSTGRES"] = PostgresFactAttribute.Require();
        return KillMidLoadAsync(environment, []);
    }

    private static async Task KillMidLoadAsync(Dictionary<string, string> environment, string[] store)
    {
        var completed = new ConcurrentBag<string>();
        int started = 0;
        await using (var server = await ServeProcess.StartAsync(environment, [.. store, "--no-auth", "--max-waiting", "256"]))
        {
            using var http = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
            using var stop = new CancellationTokenSource();
            async Task Worker(int worker)
            {
                for (int i = 0; !stop.IsCancellationRequested; i++)
                {
                    Interlocked.Increment(ref started);
                    try
                    {
                        bool stream = (worker + i) % 2 == 0;
                        using var response = await http.PostAsJsonAsync("/v1/completions",
                            new { prompt = $"Once upon a time {worker} {i}", max_tokens = 8, stream, ignore_eos = true }, stop.Token);
                        string body = await response.Content.ReadAsStringAsync(stop.Token);
                        if (!response.IsSuccessStatusCode)
                            continue;
                        if (!stream)
                        {
                            completed.Add((string)JsonNode.Parse(body)!["id"]!);
                        }
                        else if (body.EndsWith("data: [DONE]\n\n", StringComparison.Ordinal))
                        {
                            string first = body.Split("\n\n")[0]["data: ".Length..];
                            completed.Add((string)JsonNode.Parse(first)!["id"]!);
                        }
                    }
                    catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException)
                    {
                        // the server died under this request: it never completed to us
                    }
                }
            }
            Assert.Contains("AUTHENTICATION IS OFF", server.Log); // --no-auth is loud
            var workers = Enumerable.Range(0, 16).Select(w => Task.Run(() => Worker(w))).ToArray();
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (completed.Count < 60 && DateTime.UtcNow < deadline)
                await Task.Delay(5);
            server.KillHard(); // mid-load: other requests are queued, running and being written
            stop.Cancel();
            await Task.WhenAll(workers);
        }
        Assert.True(completed.Count >= 60, $"only {completed.Count} requests completed before the deadline");
        Assert.True(started > completed.Count, "the kill should land while requests are in flight");

        await using var restarted = await ServeProcess.StartAsync(environment, [.. store, "--no-auth"]);
        using var admin = new HttpClient { BaseAddress = restarted.BaseAddress };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        var ledger = JsonNode.Parse(await admin.GetStringAsync("/admin/ledger?limit=100000"))!["data"]!.AsArray();
        var recorded = ledger.Select(e => (string)e!["request_id"]!).ToHashSet();
        var lost = completed.Where(id => !recorded.Contains(id)).ToList();
        Assert.True(lost.Count == 0, $"{lost.Count} of {completed.Count} completed requests are missing from the ledger, e.g. {lost.FirstOrDefault()}");
        Assert.All(ledger.Where(e => completed.Contains((string)e!["request_id"]!)), e => Assert.Equal(8, (int)e!["completion_tokens"]!));
    }

    [Fact]
    public Task After_a_crash_no_budget_is_held_and_cut_off_requests_are_recorded_as_interrupted() =>
        CrashWithTightBudgetAsync(Environment, ["--database", Database]);

    [PostgresFact]
    public Task After_a_crash_no_PostgreSQL_budget_is_held_and_cut_off_requests_are_recorded_as_interrupted()
    {
        var environment = Environment;
        environment["TOKENFACTORY_POSTGRES"] = PostgresFactAttribute.Require();
        return CrashWithTightBudgetAsync(environment, []);
    }

    /// <summary>
    /// A team whose budget holds exactly the requests in flight plus half of one more: killed hard, the server
    /// would leave their reservations behind and block the team for an hour; the restart must release them.
    /// </summary>
    private static async Task CrashWithTightBudgetAsync(Dictionary<string, string> environment, string[] store)
    {
        const int requests = 32, maxTokens = 450;
        string team = "crash-" + Guid.NewGuid().ToString("N")[..10];
        string[] serve = [.. store, "--max-running", "1"]; // one at a time: the others wait, admitted, holding budget
        var finished = new ConcurrentBag<string>();
        string secret;
        long worst;
        string budgetId;
        await using (var server = await ServeProcess.StartAsync(environment, serve))
        {
            using var admin = AdminClient(server);
            (await admin.PostAsJsonAsync("/admin/teams", new { id = team })).EnsureSuccessStatusCode();
            secret = (string)JsonNode.Parse(await (await admin.PostAsJsonAsync("/admin/keys", new { team })).Content.ReadAsStringAsync())!["secret"]!;
            using var client = KeyClient(server, secret);
            var probe = JsonNode.Parse(await (await client.PostAsJsonAsync("/v1/chat/completions", Chat(1, stream: false))).Content.ReadAsStringAsync())!;
            long probeTokens = (long)probe["usage"]!["total_tokens"]!;
            worst = (long)probe["usage"]!["prompt_tokens"]! + maxTokens;
            var budget = JsonNode.Parse(await (await admin.PostAsJsonAsync("/admin/budgets",
                new { scope = "team", scope_id = team, unit = "tokens", hard = probeTokens + requests * worst + worst / 2, period = "month" })).Content.ReadAsStringAsync())!;
            budgetId = (string)budget["id"]!;

            var sends = Enumerable.Range(0, requests).Select(async _ =>
            {
                try
                {
                    using var response = await client.PostAsJsonAsync("/v1/chat/completions", Chat(maxTokens, stream: false));
                    if (response.IsSuccessStatusCode)
                        finished.Add((string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["id"]!);
                }
                catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException)
                {
                    // the server died under it
                }
            }).ToArray();
            // Every request admitted (spent by those done, reserved by the rest), most still holding their reservation.
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (await BudgetAsync(admin, budgetId) is var (spent, reserved) && (spent + reserved < probeTokens + requests * worst || reserved < requests / 2 * worst))
            {
                Assert.True(DateTime.UtcNow < deadline, "the requests were never admitted together");
                await Task.Delay(5);
            }
            server.KillHard();
            await Task.WhenAll(sends);
        }
        Assert.True(finished.Count < requests, "the kill should land while requests hold budget");

        await using var restarted = await ServeProcess.StartAsync(environment, serve);
        using var restartedAdmin = AdminClient(restarted);
        Assert.Equal(0, (await BudgetAsync(restartedAdmin, budgetId)).Reserved); // released at start-up, not an hour later
        Assert.Contains("they are in the ledger as interrupted (status 0)", restarted.Log);
        var ledger = JsonNode.Parse(await restartedAdmin.GetStringAsync("/admin/ledger?limit=100000"))!["data"]!.AsArray()
            .Where(e => (string?)e!["team"] == team).ToList();
        Assert.Equal(requests + 1, ledger.Count); // the probe, and every request: served or interrupted
        var interrupted = ledger.Where(e => (int)e!["status"]! == 0).ToList();
        Assert.True(interrupted.Count >= requests - finished.Count - 1, $"{interrupted.Count} interrupted, {finished.Count} of {requests} finished");
        Assert.All(interrupted, e => Assert.Equal(0, (long)e!["prompt_tokens"]! + (long)e!["completion_tokens"]!));
        Assert.All(finished, id => Assert.Equal(200, (int)ledger.Single(e => (string)e!["request_id"]! == id)!["status"]!));

        // The team can use what it did not spend at once.
        using var after = KeyClient(restarted, secret);
        using var next = await after.PostAsJsonAsync("/v1/chat/completions", Chat(maxTokens, stream: false));
        Assert.True(next.IsSuccessStatusCode, $"{(int)next.StatusCode}: {await next.Content.ReadAsStringAsync()}");
    }

    private static object Chat(int maxTokens, bool stream) => new
    {
        messages = new[] { new { role = "user", content = "Tell me a story." } }, max_tokens = maxTokens, ignore_eos = true, temperature = 0, stream,
    };

    private static HttpClient AdminClient(ServeProcess server)
    {
        var http = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        return http;
    }

    private static HttpClient KeyClient(ServeProcess server, string secret)
    {
        var http = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        return http;
    }

    private static async Task<(long Spent, long Reserved)> BudgetAsync(HttpClient admin, string budgetId)
    {
        var budget = JsonNode.Parse(await admin.GetStringAsync("/admin/budgets"))!["data"]!.AsArray().Single(b => (string)b!["id"]! == budgetId)!;
        return ((long)(double)budget["spent"]!, (long)(double)budget["reserved"]!);
    }
}
