using System.Data.Common;
using TokenFactory.Floor.Identity;

namespace TokenFactory.Floor.Ledger;

public abstract partial class SqlFloorStore
{
    private const string TeamColumns = "id, created_ms, rpm, tpm, priority";
    private const string KeyColumns = "id, team_id, name, salt, hash, models, created_ms, expires_ms, revoked_ms, rpm, tpm, priority";

    public async Task<bool> CreateTeamAsync(Team team, CancellationToken cancellation = default)
    {
        await using var scope = await BeginWriteAsync(null, cancellation);
        // ON CONFLICT rather than a look first: two creations racing would otherwise meet the primary key as an error.
        int rows = await scope.ExecuteAsync($"INSERT INTO floor_teams ({TeamColumns}) VALUES (@id, @created, @rpm, @tpm, @priority) ON CONFLICT (id) DO NOTHING",
            [("id", team.Id), ("created", Ms(team.CreatedAt)), ("rpm", team.Limits.RequestsPerMinute), ("tpm", team.Limits.TokensPerMinute), ("priority", team.Priority)], cancellation);
        await scope.CommitAsync(cancellation);
        return rows > 0;
    }

    public async Task<Team?> GetTeamAsync(string id, CancellationToken cancellation = default) =>
        (await QueryAsync($"SELECT {TeamColumns} FROM floor_teams WHERE id = @id", [("id", id)], ReadTeam, cancellation)).FirstOrDefault();

    public async Task<IReadOnlyList<Team>> ListTeamsAsync(CancellationToken cancellation = default) =>
        await QueryAsync($"SELECT {TeamColumns} FROM floor_teams ORDER BY id", [], ReadTeam, cancellation);

    public async Task<bool> UpdateTeamAsync(Team team, CancellationToken cancellation = default)
    {
        await using var scope = await BeginWriteAsync(null, cancellation);
        int rows = await scope.ExecuteAsync("UPDATE floor_teams SET rpm = @rpm, tpm = @tpm, priority = @priority WHERE id = @id",
            [("id", team.Id), ("rpm", team.Limits.RequestsPerMinute), ("tpm", team.Limits.TokensPerMinute), ("priority", team.Priority)], cancellation);
        await scope.CommitAsync(cancellation);
        return rows > 0;
    }

    public async Task CreateKeyAsync(ApiKey key, CancellationToken cancellation = default)
    {
        await using var scope = await BeginWriteAsync(null, cancellation);
        await scope.ExecuteAsync($"INSERT INTO floor_keys ({KeyColumns}) VALUES (@id, @team, @name, @salt, @hash, @models, @created, @expires, @revoked, @rpm, @tpm, @priority)",
            KeyParameters(key), cancellation);
        await scope.CommitAsync(cancellation);
    }

    public async Task<ApiKey?> GetKeyAsync(string id, CancellationToken cancellation = default) =>
        (await QueryAsync($"SELECT {KeyColumns} FROM floor_keys WHERE id = @id", [("id", id)], ReadKey, cancellation)).FirstOrDefault();

    public async Task<IReadOnlyList<ApiKey>> ListKeysAsync(string? teamId = null, CancellationToken cancellation = default) => teamId is null
        ? await QueryAsync($"SELECT {KeyColumns} FROM floor_keys ORDER BY team_id, created_ms", [], ReadKey, cancellation)
        : await QueryAsync($"SELECT {KeyColumns} FROM floor_keys WHERE team_id = @team ORDER BY created_ms", [("team", teamId)], ReadKey, cancellation);

    /// <remarks>
    /// A revocation is never undone: an update read before a concurrent revoke committed carries no revocation, and writing
    /// it back as it was read would bring the key back to life.
    /// </remarks>
    public async Task<bool> UpdateKeyAsync(ApiKey key, CancellationToken cancellation = default)
    {
        await using var scope = await BeginWriteAsync(null, cancellation);
        int rows = await scope.ExecuteAsync(
            "UPDATE floor_keys SET name = @name, models = @models, expires_ms = @expires, revoked_ms = COALESCE(revoked_ms, @revoked), rpm = @rpm, tpm = @tpm, priority = @priority WHERE id = @id",
            KeyParameters(key), cancellation);
        await scope.CommitAsync(cancellation);
        return rows > 0;
    }

    private static (string, object?)[] KeyParameters(ApiKey key) =>
    [
        ("id", key.Id), ("team", key.TeamId), ("name", key.Name), ("salt", key.Salt), ("hash", key.Hash),
        ("models", string.Join(',', key.AllowedModels)), ("created", Ms(key.CreatedAt)),
        ("expires", key.ExpiresAt is { } e ? Ms(e) : null), ("revoked", key.RevokedAt is { } r ? Ms(r) : null),
        ("rpm", key.Limits.RequestsPerMinute), ("tpm", key.Limits.TokensPerMinute), ("priority", key.Priority),
    ];

    private static Team ReadTeam(DbDataReader r) => new()
    {
        Id = r.GetString(0),
        CreatedAt = FromMs(Long(r.GetValue(1))),
        Limits = new RateLimits(NullableInt(r.GetValue(2)), NullableInt(r.GetValue(3))),
        Priority = r.IsDBNull(4) ? null : r.GetString(4),
    };

    private static ApiKey ReadKey(DbDataReader r) => new()
    {
        Id = r.GetString(0),
        TeamId = r.GetString(1),
        Name = r.GetString(2),
        Salt = r.GetString(3),
        Hash = r.GetString(4),
        AllowedModels = r.GetString(5).Split(',', StringSplitOptions.RemoveEmptyEntries),
        CreatedAt = FromMs(Long(r.GetValue(6))),
        ExpiresAt = FromMs(r.GetValue(7)),
        RevokedAt = FromMs(r.GetValue(8)),
        Limits = new RateLimits(NullableInt(r.GetValue(9)), NullableInt(r.GetValue(10))),
        Priority = r.IsDBNull(11) ? null : r.GetString(11),
    };
}
