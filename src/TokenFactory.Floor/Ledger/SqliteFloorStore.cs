using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace TokenFactory.Floor.Ledger;

/// <summary>
/// The embedded store: one SQLite file in WAL mode with synchronous=FULL, so a committed settlement survives
/// a crash of the process or the machine. Writers in this process queue on one lock instead of spinning on
/// SQLITE_BUSY; other processes (the CLI) wait up to the busy timeout.
/// </summary>
public sealed class SqliteFloorStore : SqlFloorStore
{
    private readonly string _connectionString;
    private readonly SemaphoreSlim _writer = new(1, 1);

    public SqliteFloorStore(string path)
    {
        if (System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) is { } directory)
            Directory.CreateDirectory(directory);
        Path = path;
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true, DefaultTimeout = 30 }.ToString();
    }

    public string Path { get; }

    public override string Kind => "sqlite";

    protected override async Task<DbConnection> OpenAsync(CancellationToken cancellation) => await OpenAsync(durable: true, cancellation);

    private async Task<SqliteConnection> OpenAsync(bool durable, CancellationToken cancellation)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellation);
        await using var pragma = connection.CreateCommand();
        // WAL + FULL: a commit returns once it is on disk. NORMAL (WAL order kept, no fsync) only for reservations.
        pragma.CommandText = durable ? "PRAGMA synchronous=FULL; PRAGMA busy_timeout=30000;" : "PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;";
        await pragma.ExecuteNonQueryAsync(cancellation);
        return connection;
    }

    protected override async Task<WriteScope> BeginWriteAsync(string? teamLock, bool durable, CancellationToken cancellation)
    {
        await _writer.WaitAsync(cancellation);
        var release = new Release(_writer);
        try
        {
            var connection = await OpenAsync(durable, cancellation);
            // BEGIN IMMEDIATE: the write lock is taken now, so the reads inside see what the write will be based on.
            var transaction = connection.BeginTransaction(deferred: false);
            return new WriteScope(connection, transaction, release);
        }
        catch
        {
            release.Dispose();
            throw;
        }
    }

    protected override async Task<WriteScope> BeginMigrationAsync(CancellationToken cancellation)
    {
        await using (var connection = await OpenAsync(cancellation))
        await using (var wal = connection.CreateCommand())
        {
            wal.CommandText = "PRAGMA journal_mode=WAL;";
            await wal.ExecuteNonQueryAsync(cancellation);
        }
        return await BeginWriteAsync(null, cancellation);
    }

    protected override async Task<bool> RelationExistsAsync(WriteScope scope, string name, CancellationToken cancellation) =>
        Convert.ToInt64(await scope.ScalarAsync("SELECT count(*) FROM sqlite_master WHERE name = @name", [("name", name)], cancellation)) > 0;

    protected override async Task AddColumnIfMissingAsync(WriteScope scope, string table, string column, string type, CancellationToken cancellation)
    {
        var columns = await scope.QueryAsync($"SELECT name FROM pragma_table_info('{table}')", [], r => r.GetString(0), cancellation);
        if (!columns.Contains(column, StringComparer.OrdinalIgnoreCase))
            await scope.ExecuteAsync($"ALTER TABLE {table} ADD COLUMN {column} {type}", [], cancellation);
    }

    public override ValueTask DisposeAsync()
    {
        _writer.Dispose();
        return ValueTask.CompletedTask;
    }

    private sealed class Release(SemaphoreSlim semaphore) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
                semaphore.Release();
        }
    }
}
