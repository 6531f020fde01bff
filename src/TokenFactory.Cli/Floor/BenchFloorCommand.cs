using System.CommandLine;
using System.Diagnostics;
using TokenFactory.Floor;
using TokenFactory.Floor.Budgets;
using TokenFactory.Floor.Identity;
using TokenFactory.Floor.Ledger;

namespace TokenFactory.Cli.Floor;

/// <summary>
/// <c>tokenfactory bench floor</c>: what the factory floor adds to each request, measured on a real store:
/// authenticate a key, admit (rate limits + a reservation against a key and a team budget), settle (release,
/// ledger line, spend). Sequential, so the figures are per-request latency, not throughput.
/// </summary>
internal static class BenchFloorCommand
{
    public static Command Create()
    {
        var requests = new Option<int>("--requests", "-n") { Description = "Requests to run", DefaultValueFactory = _ => 500 };
        var database = new Option<string?>("--database") { Description = "SQLite file to use (default: a new temporary one)" };
        var postgres = new Option<string?>("--postgres") { Description = "PostgreSQL connection string instead of SQLite (it gets a new team and key)" };
        var cmd = new Command("floor", "Per-request cost of keys, budgets and the ledger: authenticate, admit, settle") { requests, database, postgres };
        cmd.SetAction(r => AdminOptions.Run(() => RunAsync(Math.Max(1, r.GetValue(requests)), r.GetValue(database), r.GetValue(postgres))));
        return cmd;
    }

    private static async Task<int> RunAsync(int n, string? database, string? postgres)
    {
        string? temporary = database is null && postgres is null ? Path.Combine(Path.GetTempPath(), $"tokenfactory-bench-floor-{Guid.NewGuid():N}.db") : null;
        await using IFloorStore store = postgres is not null ? new PostgresFloorStore(postgres) : new SqliteFloorStore(database ?? temporary!);
        try
        {
            await store.MigrateAsync();
            var time = TimeProvider.System;
            var floor = new FloorService(store, new FloorOptions(), time);
            string team = "bench-" + Guid.NewGuid().ToString("N")[..8];
            await store.CreateTeamAsync(new Team { Id = team, CreatedAt = time.GetUtcNow(), Limits = new RateLimits(1_000_000, 1_000_000_000) });
            string id = ApiKeySecrets.NewKeyId();
            var (secret, salt, hash) = ApiKeySecrets.Create(id);
            await store.CreateKeyAsync(new ApiKey { Id = id, TeamId = team, Name = "bench", Salt = salt, Hash = hash, CreatedAt = time.GetUtcNow() });
            await store.CreateBudgetAsync(new Budget { Id = "bud_" + id, Scope = BudgetScope.Team, ScopeId = team, Period = BudgetPeriod.Month, Unit = BudgetUnit.Tokens, Hard = 1e15 });
            await store.CreateBudgetAsync(new Budget { Id = "bud_d" + id, Scope = BudgetScope.Key, ScopeId = id, Period = BudgetPeriod.Day, Unit = BudgetUnit.Usd, Hard = 1e12 });

            Stopwatch auth = new(), admit = new(), settle = new();
            for (int i = 0; i < n; i++)
            {
                auth.Start();
                var caller = await floor.AuthenticateAsync("Bearer " + secret);
                auth.Stop();
                admit.Start();
                var admission = await floor.AdmitAsync(caller, "bench", "/v1/chat/completions", 30, 16);
                admit.Stop();
                settle.Start();
                await admission.SettleAsync(new UsageOutcome { RequestId = "bench_" + Guid.NewGuid().ToString("N"), Status = 200, PromptTokens = 30, CompletionTokens = 16 });
                settle.Stop();
            }
            string where = postgres is not null ? "postgresql" : $"sqlite {database ?? temporary}";
            Console.Out.WriteLine($"{n} requests on {where} (one key and one team budget, one rate-limited team), per request:");
            Console.Out.WriteLine($"  authenticate {auth.Elapsed.TotalMilliseconds / n:F3} ms   admit {admit.Elapsed.TotalMilliseconds / n:F3} ms   settle {settle.Elapsed.TotalMilliseconds / n:F3} ms");
            return 0;
        }
        catch (System.Data.Common.DbException e)
        {
            throw new TokenFactoryException($"the store failed: {e.Message}");
        }
        finally
        {
            if (temporary is not null)
            {
                Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                foreach (var f in new[] { temporary, temporary + "-wal", temporary + "-shm" })
                    File.Delete(f);
            }
        }
    }
}
