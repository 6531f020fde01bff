using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace TokenFactory.Floor.Ledger;

/// <summary>
/// The embedded store: one SQLite file in WAL mode. A durable write (a settlement) returns once its transaction is on disk,
/// so it survives a crash of the process or the machine: it commits without a flush of its own and waits for a group flush
/// of the WAL (<see cref="WalGroupFlush"/>) that commits arriving meanwhile share. Writers in this process queue on one lock
/// instead of spinning on SQLITE_BUSY; other processes (the CLI) wait up to the busy timeout.
/// </summary>
public sealed class SqliteFloorStore : SqlFloorStore
{
    private readonly string _connectionString;
    private readonly SemaphoreSlim _writer = new(1, 1);
    private readonly Action<string>? _flush;
    private WalGroupFlush _walFlush;
    // Set by the migration (which every store runs first): whether the database is in WAL mode, which the group flush needs.
    private bool _walMode;

    public SqliteFloorStore(string path) : this(path, null)
    {
    }

    /// <param name="flush">Flushes the WAL file at the path given (tests observe or hold it); null: fsync.</param>
    internal SqliteFloorStore(string path, Action<string>? flush)
    {
        if (System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) is { } directory)
            Directory.CreateDirectory(directory);
        Path = path;
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true, DefaultTimeout = 30 }.ToString();
        _flush = flush;
        _walFlush = new WalGroupFlush(System.IO.Path.GetFullPath(path), flush); // replaced by the migration with the path SQLite resolved
    }

    public string Path { get; }

    /// <summary>Group flushes of the WAL so far: fewer than durable commits under concurrent load.</summary>
    public long WalFlushes => _walFlush.Flushes;

    public override string Kind => "sqlite";

    protected override async Task<DbConnection> OpenAsync(CancellationToken cancellation)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellation);
        await using var pragma = connection.CreateCommand();
        // WAL + NORMAL: a commit is written to the WAL in order, not flushed; durable writes then wait for the group flush.
        pragma.CommandText = "PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;";
        await pragma.ExecuteNonQueryAsync(cancellation);
        return connection;
    }

    protected override async Task<WriteScope> BeginWriteAsync(string? teamLock, bool durable, CancellationToken cancellation)
    {
        await _writer.WaitAsync(cancellation);
        var release = new Release(_writer);
        try
        {
            var connection = (SqliteConnection)await OpenAsync(cancellation);
            if (durable && !_walMode)
            {
                await using var full = connection.CreateCommand();
                full.CommandText = "PRAGMA synchronous=FULL;";
                await full.ExecuteNonQueryAsync(cancellation);
            }
            // BEGIN IMMEDIATE: the write lock is taken now, so the reads inside see what the write will be based on.
            var transaction = connection.BeginTransaction(deferred: false);
            return new WriteScope(connection, transaction, release, durable && _walMode ? _walFlush.WaitAsync : null);
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
            // A file system without the shared memory WAL needs keeps the rollback journal: then durable commits flush themselves.
            _walMode = string.Equals(Convert.ToString(await wal.ExecuteScalarAsync(cancellation)), "wal", StringComparison.OrdinalIgnoreCase);
            // SQLite keeps the WAL beside the database file it resolved (symbolic links followed): flush that one, not a name that
            // never exists beside the link.
            wal.CommandText = "SELECT file FROM pragma_database_list WHERE name = 'main'";
            if (await wal.ExecuteScalarAsync(cancellation) is string { Length: > 0 } file && file != _walFlush.DatabasePath)
                _walFlush = new WalGroupFlush(file, _flush);
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
