using System.Data.Common;

namespace TokenFactory.Floor.Ledger;

/// <summary>
/// The store over plain SQL that SQLite and PostgreSQL both speak (BIGINT, DOUBLE PRECISION, TEXT,
/// INSERT … ON CONFLICT). Times are Unix milliseconds. Subclasses open connections and serialize writers.
/// </summary>
public abstract partial class SqlFloorStore : IFloorStore
{
    public abstract string Kind { get; }

    protected abstract Task<DbConnection> OpenAsync(CancellationToken cancellation);

    /// <summary>
    /// A write transaction; with <paramref name="teamLock"/>, writers of that team (admissions and
    /// settlements) run one at a time, so spend and reservations are never read half-moved.
    /// </summary>
    /// <param name="durable">
    /// False for reservations: losing the last ones in a machine crash is harmless (they would only have
    /// held budget until they expired), so their commit need not wait for the disk. The next durable
    /// commit flushes them anyway. Settlements and admin changes are always durable.
    /// </param>
    protected abstract Task<WriteScope> BeginWriteAsync(string? teamLock, bool durable, CancellationToken cancellation);

    protected Task<WriteScope> BeginWriteAsync(string? teamLock, CancellationToken cancellation) => BeginWriteAsync(teamLock, durable: true, cancellation);

    /// <summary>Statements run before the schema, under a lock where the database needs one.</summary>
    protected abstract Task<WriteScope> BeginMigrationAsync(CancellationToken cancellation);

    private static readonly string[] Schema =
    [
        "CREATE TABLE IF NOT EXISTS floor_teams (id TEXT PRIMARY KEY, created_ms BIGINT NOT NULL, rpm INTEGER, tpm INTEGER)",
        "CREATE TABLE IF NOT EXISTS floor_keys (id TEXT PRIMARY KEY, team_id TEXT NOT NULL, name TEXT NOT NULL, salt TEXT NOT NULL, hash TEXT NOT NULL, "
            + "models TEXT NOT NULL, created_ms BIGINT NOT NULL, expires_ms BIGINT, revoked_ms BIGINT, rpm INTEGER, tpm INTEGER)",
        "CREATE INDEX IF NOT EXISTS floor_keys_team ON floor_keys(team_id)",
        "CREATE TABLE IF NOT EXISTS floor_budgets (id TEXT PRIMARY KEY, scope TEXT NOT NULL, scope_id TEXT NOT NULL, period TEXT NOT NULL, "
            + "unit TEXT NOT NULL, hard DOUBLE PRECISION NOT NULL, soft DOUBLE PRECISION)",
        "CREATE INDEX IF NOT EXISTS floor_budgets_scope ON floor_budgets(scope, scope_id)",
        "CREATE TABLE IF NOT EXISTS floor_spend (scope TEXT NOT NULL, scope_id TEXT NOT NULL, period TEXT NOT NULL, window_ms BIGINT NOT NULL, "
            + "tokens BIGINT NOT NULL, usd DOUBLE PRECISION NOT NULL, PRIMARY KEY (scope, scope_id, period, window_ms))",
        "CREATE TABLE IF NOT EXISTS floor_reservations (id TEXT PRIMARY KEY, key_id TEXT NOT NULL, team_id TEXT NOT NULL, tokens BIGINT NOT NULL, "
            + "usd DOUBLE PRECISION NOT NULL, created_ms BIGINT NOT NULL, expires_ms BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS floor_reservations_team ON floor_reservations(team_id)",
        "CREATE TABLE IF NOT EXISTS floor_usage (request_id TEXT PRIMARY KEY, at_ms BIGINT NOT NULL, key_id TEXT, team_id TEXT, model TEXT NOT NULL, "
            + "endpoint TEXT NOT NULL, status INTEGER NOT NULL, prompt_tokens BIGINT NOT NULL, cached_tokens BIGINT NOT NULL, completion_tokens BIGINT NOT NULL, "
            + "queue_s DOUBLE PRECISION NOT NULL, ttft_s DOUBLE PRECISION NOT NULL, duration_s DOUBLE PRECISION NOT NULL, energy_j DOUBLE PRECISION NOT NULL, "
            + "energy_estimated INTEGER NOT NULL, input_usd DOUBLE PRECISION NOT NULL, output_usd DOUBLE PRECISION NOT NULL)",
        "CREATE INDEX IF NOT EXISTS floor_usage_at ON floor_usage(at_ms)",
        "CREATE TABLE IF NOT EXISTS floor_instances (id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, process_started_ms BIGINT NOT NULL, "
            + "started_ms BIGINT NOT NULL, heartbeat_ms BIGINT NOT NULL)",
        // Responses API conversations, for previous_response_id; dropped once they expire.
        "CREATE TABLE IF NOT EXISTS floor_responses (id TEXT PRIMARY KEY, team_id TEXT NOT NULL, created_ms BIGINT NOT NULL, expires_ms BIGINT NOT NULL, conversation TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS floor_responses_expiry ON floor_responses(expires_ms)",
        // Anonymous refusals use '' for key and team: NULLs would never conflict, so counts would not add up.
        "CREATE TABLE IF NOT EXISTS floor_refusals (minute_ms BIGINT NOT NULL, key_id TEXT NOT NULL, team_id TEXT NOT NULL, model TEXT NOT NULL, "
            + "endpoint TEXT NOT NULL, status INTEGER NOT NULL, reason TEXT NOT NULL, count BIGINT NOT NULL, "
            + "PRIMARY KEY (minute_ms, key_id, team_id, model, endpoint, status, reason))",
    ];

    /// <summary>Columns added after a table's first version: added to existing databases by <see cref="MigrateAsync"/>.</summary>
    private static readonly (string Table, string Column, string Type)[] AddedColumns =
    [
        ("floor_reservations", "instance_id", "TEXT"),
        ("floor_reservations", "request_id", "TEXT"),
        ("floor_reservations", "model", "TEXT"),
        ("floor_reservations", "endpoint", "TEXT"),
        ("floor_usage", "replica", "TEXT"),
        ("floor_keys", "priority", "TEXT"),
        ("floor_teams", "priority", "TEXT"),
        ("floor_instances", "pid_namespace", "TEXT"),
    ];

    /// <summary>Whether a table or index of this name exists.</summary>
    protected abstract Task<bool> RelationExistsAsync(WriteScope scope, string name, CancellationToken cancellation);

    /// <summary>The table or index a <c>CREATE [UNIQUE] TABLE|INDEX IF NOT EXISTS name …</c> statement creates: the word after EXISTS.</summary>
    private static string CreatedName(string statement)
    {
        string[] words = statement.Split(' ');
        return words[Array.IndexOf(words, "EXISTS") + 1];
    }

    /// <summary>Adds a column unless the table has it already, looking before it takes any lock.</summary>
    protected abstract Task AddColumnIfMissingAsync(WriteScope scope, string table, string column, string type, CancellationToken cancellation);

    public async Task MigrateAsync(CancellationToken cancellation = default)
    {
        await using var scope = await BeginMigrationAsync(cancellation);
        // Only what is missing is created: even CREATE … IF NOT EXISTS and ADD COLUMN IF NOT EXISTS lock their table
        // in PostgreSQL, and a replica starting up while others admit and settle would deadlock with them.
        foreach (string statement in Schema)
            if (!await RelationExistsAsync(scope, CreatedName(statement), cancellation))
                await scope.ExecuteAsync(statement, [], cancellation);
        foreach (var (table, column, type) in AddedColumns)
            await AddColumnIfMissingAsync(scope, table, column, type, cancellation);
        // Reservations of processes that died long ago hold nothing any more; drop their rows.
        await scope.ExecuteAsync("DELETE FROM floor_reservations WHERE expires_ms < @now", [("now", Ms(DateTimeOffset.UtcNow))], cancellation);
        await scope.CommitAsync(cancellation);
    }

    public abstract ValueTask DisposeAsync();

    protected static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();
    protected static DateTimeOffset FromMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);
    protected static DateTimeOffset? FromMs(object value) => value is DBNull ? null : FromMs(Convert.ToInt64(value));
    protected static int? NullableInt(object value) => value is DBNull ? null : Convert.ToInt32(value);
    protected static double? NullableDouble(object value) => value is DBNull ? null : Convert.ToDouble(value);
    protected static long Long(object value) => value is DBNull ? 0 : Convert.ToInt64(value);
    protected static double Double(object value) => value is DBNull ? 0 : Convert.ToDouble(value);

    /// <summary>Reads rows from a fresh connection.</summary>
    protected async Task<List<T>> QueryAsync<T>(string sql, (string Name, object? Value)[] parameters, Func<DbDataReader, T> map, CancellationToken cancellation)
    {
        await using var connection = await OpenAsync(cancellation);
        await using var command = CreateCommand(connection, null, sql, parameters);
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        var rows = new List<T>();
        while (await reader.ReadAsync(cancellation))
            rows.Add(map(reader));
        return rows;
    }

    internal static DbCommand CreateCommand(DbConnection connection, DbTransaction? transaction, string sql, (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var p = command.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            command.Parameters.Add(p);
        }
        return command;
    }
}

/// <summary>A connection with an open write transaction, and whatever lock the store took for it.</summary>
/// <param name="afterCommit">What makes a commit durable when the commit itself does not (SQLite's group flush); run after the
/// lock is released, so other writers commit meanwhile and share the flush.</param>
public sealed class WriteScope(DbConnection connection, DbTransaction transaction, IDisposable? heldLock, Func<Task>? afterCommit = null) : IAsyncDisposable
{
    public DbConnection Connection { get; } = connection;
    public DbTransaction Transaction { get; } = transaction;

    public async Task<int> ExecuteAsync(string sql, (string Name, object? Value)[] parameters, CancellationToken cancellation)
    {
        await using var command = SqlFloorStore.CreateCommand(Connection, Transaction, sql, parameters);
        return await command.ExecuteNonQueryAsync(cancellation);
    }

    public async Task<object?> ScalarAsync(string sql, (string Name, object? Value)[] parameters, CancellationToken cancellation)
    {
        await using var command = SqlFloorStore.CreateCommand(Connection, Transaction, sql, parameters);
        return await command.ExecuteScalarAsync(cancellation);
    }

    public async Task<List<T>> QueryAsync<T>(string sql, (string Name, object? Value)[] parameters, Func<DbDataReader, T> map, CancellationToken cancellation)
    {
        await using var command = SqlFloorStore.CreateCommand(Connection, Transaction, sql, parameters);
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        var rows = new List<T>();
        while (await reader.ReadAsync(cancellation))
            rows.Add(map(reader));
        return rows;
    }

    public async Task CommitAsync(CancellationToken cancellation)
    {
        await Transaction.CommitAsync(cancellation);
        if (afterCommit is null)
            return;
        heldLock?.Dispose();
        await afterCommit();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Transaction.DisposeAsync();
            await Connection.DisposeAsync();
        }
        finally
        {
            heldLock?.Dispose();
        }
    }
}
