using System.Data.Common;
using Npgsql;

namespace TokenFactory.Floor.Ledger;

/// <summary>
/// The shared store for several replicas: admissions and settlements of one team serialize on a
/// transaction-scoped advisory lock, so replicas never overspend a budget between them.
/// </summary>
public sealed class PostgresFloorStore(string connectionString) : SqlFloorStore
{
    private readonly NpgsqlDataSource _source = NpgsqlDataSource.Create(connectionString);

    public override string Kind => "postgresql";

    protected override async Task<DbConnection> OpenAsync(CancellationToken cancellation) => await _source.OpenConnectionAsync(cancellation);

    protected override async Task<WriteScope> BeginWriteAsync(string? teamLock, bool durable, CancellationToken cancellation)
    {
        var connection = await _source.OpenConnectionAsync(cancellation);
        try
        {
            var transaction = await connection.BeginTransactionAsync(cancellation);
            var scope = new WriteScope(connection, transaction, null);
            if (!durable)
                await scope.ExecuteAsync("SET LOCAL synchronous_commit = off", [], cancellation);
            if (teamLock is not null)
                await scope.ScalarAsync("SELECT pg_advisory_xact_lock(hashtext(@team))", [("team", "tokenfactory-team:" + teamLock)], cancellation);
            return scope;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    protected override async Task<WriteScope> BeginMigrationAsync(CancellationToken cancellation)
    {
        // Concurrent CREATE TABLE IF NOT EXISTS can still collide in the catalog; one migrator at a time.
        var scope = await BeginWriteAsync(null, cancellation);
        await scope.ScalarAsync("SELECT pg_advisory_xact_lock(7262001)", [], cancellation);
        return scope;
    }

    protected override async Task<bool> RelationExistsAsync(WriteScope scope, string name, CancellationToken cancellation) =>
        await scope.ScalarAsync("SELECT to_regclass(@name) IS NOT NULL", [("name", name)], cancellation) is true;

    protected override async Task AddColumnIfMissingAsync(WriteScope scope, string table, string column, string type, CancellationToken cancellation)
    {
        // ALTER TABLE takes an exclusive lock on the table even when the column is there: look first.
        bool present = Convert.ToInt64(await scope.ScalarAsync(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = @table AND column_name = @column",
            [("table", table), ("column", column)], cancellation)) > 0;
        if (!present)
            await scope.ExecuteAsync($"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {type}", [], cancellation);
    }

    public override ValueTask DisposeAsync() => _source.DisposeAsync();
}
