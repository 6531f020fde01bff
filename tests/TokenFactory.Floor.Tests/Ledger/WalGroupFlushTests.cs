using TokenFactory.Floor.Ledger;

namespace TokenFactory.Floor.Tests.Ledger;

/// <summary>
/// Group commit of SQLite settlements: a settlement returns only after a flush of the WAL that started after its commit,
/// concurrent settlements share flushes, and a failed flush fails the settlements that waited for it.
/// </summary>
public sealed class WalGroupFlushTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "tokenfactory-tests", Guid.NewGuid().ToString("N"));

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
        return Task.CompletedTask;
    }

    private static UsageRecord Usage(string id) => new()
    {
        RequestId = id, Time = DateTimeOffset.UnixEpoch.AddDays(20000), Model = "m", Endpoint = "/v1/completions", Status = 200,
        PromptTokens = 3, CompletionTokens = 2,
    };

    [Fact]
    public async Task A_settlement_returns_only_after_a_flush_that_began_after_its_commit()
    {
        using var gate = new SemaphoreSlim(0);
        var flushStarts = new List<int>();
        bool hold = false;
        var store = new SqliteFloorStore(Path.Combine(_directory, "floor.db"), path =>
        {
            if (!hold || !path.EndsWith("floor.db-wal", StringComparison.Ordinal))
                return; // the migration's flushes, and a new log's directory entry
            // What is committed when this flush begins: the waiting settlement's line must be there already.
            using (var connection = new Microsoft.Data.Sqlite.SqliteConnection("Data Source=" + Path.Combine(_directory, "floor.db")))
            {
                connection.Open();
                using var count = connection.CreateCommand();
                count.CommandText = "SELECT count(*) FROM floor_usage";
                lock (flushStarts)
                    flushStarts.Add(Convert.ToInt32(count.ExecuteScalar()));
            }
            gate.Wait();
        });
        await using (store)
        {
            await store.MigrateAsync();
            hold = true;
            long before = store.WalFlushes;
            var settle = store.SettleAsync(Usage("a"), null, 0);
            await Task.Delay(300);
            Assert.False(settle.IsCompleted, "returned before its flush ran");
            gate.Release();
            await settle;
            Assert.Equal(before + 1, store.WalFlushes);
            Assert.Equal(1, flushStarts[^1]);
            Assert.NotNull(await store.GetUsageAsync("a"));
        }
    }

    [Fact]
    public async Task Concurrent_settlements_share_flushes_and_all_are_recorded()
    {
        var store = new SqliteFloorStore(Path.Combine(_directory, "floor.db"), _ => Thread.Sleep(5)); // a slow disk
        await using (store)
        {
            await store.MigrateAsync();
            long before = store.WalFlushes;
            await Task.WhenAll(Enumerable.Range(0, 64).Select(i => Task.Run(() => store.SettleAsync(Usage("r" + i), null, 0))));
            long flushes = store.WalFlushes - before;
            Assert.Equal(64, (await store.ListUsageAsync()).Count);
            Assert.InRange(flushes, 1, 48); // one each would be 64
        }
    }

    [Fact]
    public async Task A_flush_that_fails_fails_the_settlements_that_waited_for_it()
    {
        bool fail = false;
        var store = new SqliteFloorStore(Path.Combine(_directory, "floor.db"), _ =>
        {
            if (fail)
                throw new IOException("disk gone");
        });
        await using (store)
        {
            await store.MigrateAsync();
            fail = true;
            var error = await Assert.ThrowsAsync<IOException>(() => store.SettleAsync(Usage("x"), null, 0));
            Assert.Contains("disk gone", error.Message);
            // Fail-stop: a later flush could succeed over the lost pages, so nothing after a failure is confirmed as durable.
            fail = false;
            error = await Assert.ThrowsAsync<IOException>(() => store.SettleAsync(Usage("y"), null, 0));
            Assert.Contains("until the process restarts", error.Message);
        }
    }

    [SkippableFact]
    public async Task A_database_reached_through_a_symbolic_link_has_its_real_wal_flushed()
    {
        Skip.If(OperatingSystem.IsWindows(), "symbolic links need privileges there");
        string real = Path.Combine(_directory, "real", "floor.db"), link = Path.Combine(_directory, "link.db");
        Directory.CreateDirectory(Path.GetDirectoryName(real)!);
        File.WriteAllBytes(real, []);
        File.CreateSymbolicLink(link, real);
        var flushed = new List<string>();
        var store = new SqliteFloorStore(link, path =>
        {
            lock (flushed)
                flushed.Add(path);
        });
        await using (store)
        {
            await store.MigrateAsync();
            await store.SettleAsync(Usage("s"), null, 0);
        }
        Assert.True(File.Exists(real + "-wal") || File.Exists(real), "SQLite keeps the log beside the real file");
        Assert.Contains(real + "-wal", flushed);
        Assert.DoesNotContain(link + "-wal", flushed);
    }

    [Fact]
    public async Task The_real_flush_syncs_the_wal_file_and_a_missing_one_is_nothing_to_flush()
    {
        var store = new SqliteFloorStore(Path.Combine(_directory, "floor.db"));
        await using (store)
        {
            await store.MigrateAsync();
            await store.SettleAsync(Usage("z"), null, 0);
            Assert.True(File.Exists(Path.Combine(_directory, "floor.db-wal")));
            Assert.True(store.WalFlushes >= 2);
        }
        // No log beside the database: it was checkpointed in, and the database file is what gets flushed.
        string checkpointed = Path.Combine(_directory, "checkpointed.db");
        File.WriteAllBytes(checkpointed, [1, 2, 3]);
        var flush = new WalGroupFlush(checkpointed);
        await flush.WaitAsync();
        Assert.Equal(1, flush.Flushes);
    }
}
