using Microsoft.Extensions.Time.Testing;
using TokenFactory.Floor.Identity;
using TokenFactory.Floor.Ledger;

namespace TokenFactory.Floor.Tests;

/// <summary>Refusals counted per minute, key and reason on a fake clock, written in batches, kept when a write fails.</summary>
public sealed class RefusalLogTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "tokenfactory-tests", Guid.NewGuid().ToString("N"));
    private SqliteFloorStore _store = null!;

    public async Task InitializeAsync()
    {
        _store = new SqliteFloorStore(Path.Combine(_directory, "floor.db"));
        await _store.MigrateAsync();
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task Refusals_are_counted_per_minute_key_and_reason_and_written_in_one_batch()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 18, 15, 30, 50, TimeSpan.Zero));
        var log = new RefusalLog(_store, clock);
        var key = new Caller(new ApiKey { Id = "key_a", TeamId = "t", Name = "a", Salt = "", Hash = "", CreatedAt = clock.GetUtcNow() }, new Team { Id = "t", CreatedAt = clock.GetUtcNow() });
        for (int i = 0; i < 500; i++)
            log.Record(key, "m", "/v1/completions", 429, "rate_limit_exceeded");
        log.Record(key, "m", "/v1/completions", 400, "invalid_type");
        log.Record(Caller.Anonymous, "m", "/v1/completions", 429, "rate_limit_exceeded");
        clock.Advance(TimeSpan.FromSeconds(15)); // the next minute
        log.Record(key, "m", "/v1/completions", 429, "rate_limit_exceeded");
        Assert.Equal((503, 4), (log.Total, log.PendingRows));

        await log.FlushAsync();
        Assert.Equal(0, log.PendingRows);
        var rows = await _store.ListRefusalsAsync();
        Assert.Equal(4, rows.Count);
        Assert.Equal(500, rows.Single(r => r.KeyId == "key_a" && r.Reason == "rate_limit_exceeded" && r.Minute.Minute == 30).Count);
        Assert.Equal(1, rows.Single(r => r.KeyId == "key_a" && r.Minute.Minute == 31).Count);
        Assert.Null(rows.Single(r => r.KeyId is null).TeamId);
        await log.FlushAsync(); // nothing pending: nothing written twice
        Assert.Equal(503, (await _store.ListRefusalsAsync()).Sum(r => r.Count));
    }

    [Fact]
    public async Task Counts_that_could_not_be_written_are_kept_for_the_next_flush()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 18, 15, 30, 0, TimeSpan.Zero));
        var broken = new SqliteFloorStore(Path.Combine(_directory, "unmigrated.db")); // no tables: every write fails
        var log = new RefusalLog(broken, clock);
        log.Record(Caller.Anonymous, "m", "/v1/completions", 503, "server_overloaded");
        await Assert.ThrowsAnyAsync<System.Data.Common.DbException>(() => log.FlushAsync());
        Assert.Equal(1, log.PendingRows);
        await broken.DisposeAsync();
    }
}
