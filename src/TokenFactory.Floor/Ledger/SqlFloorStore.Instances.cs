namespace TokenFactory.Floor.Ledger;

public abstract partial class SqlFloorStore
{
    private const string InstanceColumns = "id, host, pid, process_started_ms, started_ms, heartbeat_ms, pid_namespace";

    public async Task RegisterInstanceAsync(FloorInstance instance, CancellationToken cancellation = default)
    {
        await using var scope = await BeginWriteAsync(null, cancellation);
        await scope.ExecuteAsync($"INSERT INTO floor_instances ({InstanceColumns}) VALUES (@id, @host, @pid, @process, @started, @heartbeat, @namespace) "
            + "ON CONFLICT (id) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms",
            [("id", instance.Id), ("host", instance.Host), ("pid", instance.Pid), ("process", Ms(instance.ProcessStarted)),
             ("started", Ms(instance.Started)), ("heartbeat", Ms(instance.Heartbeat)), ("namespace", instance.PidNamespace)], cancellation);
        await scope.CommitAsync(cancellation);
    }

    public async Task<bool> HeartbeatAsync(string instanceId, DateTimeOffset now, CancellationToken cancellation = default)
    {
        await using var scope = await BeginWriteAsync(null, durable: false, cancellation);
        int rows = await scope.ExecuteAsync("UPDATE floor_instances SET heartbeat_ms = @now WHERE id = @id", [("id", instanceId), ("now", Ms(now))], cancellation);
        await scope.CommitAsync(cancellation);
        return rows > 0;
    }

    public async Task ExtendReservationsAsync(IReadOnlyCollection<string> reservationIds, DateTimeOffset until, CancellationToken cancellation = default)
    {
        if (reservationIds.Count == 0)
            return;
        await using var scope = await BeginWriteAsync(null, durable: false, cancellation);
        foreach (string id in reservationIds)
            await scope.ExecuteAsync("UPDATE floor_reservations SET expires_ms = @until WHERE id = @id", [("id", id), ("until", Ms(until))], cancellation);
        await scope.CommitAsync(cancellation);
    }

    public async Task<IReadOnlyList<FloorInstance>> ListInstancesAsync(CancellationToken cancellation = default) =>
        await QueryAsync($"SELECT {InstanceColumns} FROM floor_instances ORDER BY started_ms", [], r => new FloorInstance(
            r.GetString(0), r.GetString(1), Convert.ToInt32(r.GetValue(2)), FromMs(Long(r.GetValue(3))), FromMs(Long(r.GetValue(4))), FromMs(Long(r.GetValue(5))))
            {
                PidNamespace = r.IsDBNull(6) ? null : r.GetString(6),
            },
            cancellation);

    public async Task<IReadOnlyList<UsageRecord>> ReleaseInstanceAsync(string instanceId, DateTimeOffset now, CancellationToken cancellation = default)
    {
        await using var scope = await BeginWriteAsync(null, cancellation);
        long? heartbeat = await scope.ScalarAsync("SELECT heartbeat_ms FROM floor_instances WHERE id = @id", [("id", instanceId)], cancellation) is { } h and not DBNull
            ? Convert.ToInt64(h) : null;
        var held = await scope.QueryAsync(
            "SELECT id, key_id, team_id, created_ms, request_id, model, endpoint FROM floor_reservations WHERE instance_id = @instance",
            [("instance", instanceId)], r => (Id: r.GetString(0), Key: r.GetString(1), Team: r.GetString(2), Created: Long(r.GetValue(3)),
                Request: r.IsDBNull(4) ? null : r.GetString(4), Model: r.IsDBNull(5) ? null : r.GetString(5), Endpoint: r.IsDBNull(6) ? null : r.GetString(6)),
            cancellation);
        var interrupted = new List<UsageRecord>();
        foreach (var r in held)
        {
            // Another process releasing the same instance at the same time deletes each row once.
            int deleted = await scope.ExecuteAsync("DELETE FROM floor_reservations WHERE id = @id", [("id", r.Id)], cancellation);
            if (deleted == 0 || r.Request is null)
                continue;
            // It ran at most until the process's last heartbeat; nothing is charged (what it generated is unknown).
            var record = new UsageRecord
            {
                RequestId = r.Request, Time = FromMs(r.Created), KeyId = r.Key, TeamId = r.Team, Model = r.Model ?? "", Endpoint = r.Endpoint ?? "",
                Status = UsageRecord.InterruptedStatus, DurationSeconds = Math.Max(0, ((heartbeat ?? Ms(now)) - r.Created) / 1000.0),
            };
            await scope.ExecuteAsync(
                "INSERT INTO floor_usage (request_id, at_ms, key_id, team_id, model, endpoint, status, prompt_tokens, cached_tokens, completion_tokens, "
                + "queue_s, ttft_s, duration_s, energy_j, energy_estimated, input_usd, output_usd) VALUES (@id, @at, @key, @team, @model, @endpoint, @status, "
                + "0, 0, 0, 0, 0, @duration, 0, 0, 0, 0) ON CONFLICT (request_id) DO NOTHING",
                [("id", record.RequestId), ("at", Ms(record.Time)), ("key", record.KeyId), ("team", record.TeamId), ("model", record.Model),
                 ("endpoint", record.Endpoint), ("status", record.Status), ("duration", record.DurationSeconds)], cancellation);
            interrupted.Add(record);
        }
        await scope.ExecuteAsync("DELETE FROM floor_instances WHERE id = @id", [("id", instanceId)], cancellation);
        await scope.CommitAsync(cancellation);
        return interrupted;
    }
}
