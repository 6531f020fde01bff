namespace TokenFactory.Floor.Ledger;

public abstract partial class SqlFloorStore
{
    public async Task SaveResponseAsync(StoredResponse response, CancellationToken cancellation = default)
    {
        // Not durable: a conversation lost in a crash costs a client its previous_response_id, never a ledger line.
        await using var scope = await BeginWriteAsync(null, durable: false, cancellation);
        await scope.ExecuteAsync("DELETE FROM floor_responses WHERE expires_ms < @now", [("now", Ms(response.CreatedAt))], cancellation);
        await scope.ExecuteAsync("INSERT INTO floor_responses (id, team_id, created_ms, expires_ms, conversation) VALUES (@id, @team, @created, @expires, @conversation)",
            [("id", response.Id), ("team", response.TeamId), ("created", Ms(response.CreatedAt)), ("expires", Ms(response.ExpiresAt)), ("conversation", response.Conversation)],
            cancellation);
        await scope.CommitAsync(cancellation);
    }

    public async Task<int> DeleteExpiredResponsesAsync(DateTimeOffset now, CancellationToken cancellation = default)
    {
        await using var scope = await BeginWriteAsync(null, durable: false, cancellation);
        int deleted = await scope.ExecuteAsync("DELETE FROM floor_responses WHERE expires_ms < @now", [("now", Ms(now))], cancellation);
        await scope.CommitAsync(cancellation);
        return deleted;
    }

    public async Task<StoredResponse?> GetResponseAsync(string id, DateTimeOffset now, CancellationToken cancellation = default) =>
        (await QueryAsync("SELECT id, team_id, created_ms, expires_ms, conversation FROM floor_responses WHERE id = @id AND expires_ms > @now",
            [("id", id), ("now", Ms(now))],
            r => new StoredResponse(r.GetString(0), r.GetString(1), FromMs(Long(r.GetValue(2))), FromMs(Long(r.GetValue(3))), r.GetString(4)), cancellation))
        .SingleOrDefault();
}
