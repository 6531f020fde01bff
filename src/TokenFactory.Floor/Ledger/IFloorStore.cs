using TokenFactory.Floor.Budgets;
using TokenFactory.Floor.Identity;

namespace TokenFactory.Floor.Ledger;

/// <summary>
/// Keys, teams, budgets and the ledger, in one database so that admission (check budgets, reserve) and
/// settlement (release, record, charge) are each one transaction. SQLite by default, PostgreSQL for replicas.
/// </summary>
public interface IFloorStore : IAsyncDisposable
{
    /// <summary>"sqlite" or "postgresql".</summary>
    string Kind { get; }

    Task MigrateAsync(CancellationToken cancellation = default);

    /// <returns>False, and nothing changed, when a team with its id exists (another admin may have created it meanwhile).</returns>
    Task<bool> CreateTeamAsync(Team team, CancellationToken cancellation = default);
    Task<Team?> GetTeamAsync(string id, CancellationToken cancellation = default);
    Task<IReadOnlyList<Team>> ListTeamsAsync(CancellationToken cancellation = default);
    Task<bool> UpdateTeamAsync(Team team, CancellationToken cancellation = default);

    Task CreateKeyAsync(ApiKey key, CancellationToken cancellation = default);
    Task<ApiKey?> GetKeyAsync(string id, CancellationToken cancellation = default);
    Task<IReadOnlyList<ApiKey>> ListKeysAsync(string? teamId = null, CancellationToken cancellation = default);
    /// <summary>Updates name, allowed models, expiry, revocation and limits (never the hash).</summary>
    Task<bool> UpdateKeyAsync(ApiKey key, CancellationToken cancellation = default);

    Task CreateBudgetAsync(Budget budget, CancellationToken cancellation = default);
    Task<Budget?> GetBudgetAsync(string id, CancellationToken cancellation = default);
    Task<bool> UpdateBudgetAsync(Budget budget, CancellationToken cancellation = default);
    Task<bool> DeleteBudgetAsync(string id, CancellationToken cancellation = default);
    /// <summary>Budgets (all, or those of one key and its team) with their current windows' spend and reservations.</summary>
    Task<IReadOnlyList<BudgetStatus>> BudgetStatusAsync(DateTimeOffset now, string? keyId = null, string? teamId = null, CancellationToken cancellation = default);

    /// <summary>
    /// Atomically: if spend + live reservations + this reservation stay within every hard limit of the key's
    /// and the team's budgets, stores the reservation. Concurrent admissions of one team are serialized.
    /// </summary>
    Task<ReservationOutcome> TryReserveAsync(Reservation reservation, DateTimeOffset now, CancellationToken cancellation = default);

    /// <summary>Removes a reservation whose request never ran (nothing is recorded or charged). Not durable, like the reservation.</summary>
    Task ReleaseReservationAsync(string reservationId, CancellationToken cancellation = default);

    /// <summary>
    /// Atomically: removes the reservation (if any), appends the record to the ledger and adds its tokens and
    /// <paramref name="chargedUsd"/> to the key's and team's spend. Committed durably before it returns, unless
    /// <paramref name="durable"/> is false (refusals: a flood of them should not cost a disk flush each).
    /// </summary>
    Task SettleAsync(UsageRecord record, string? reservationId, double chargedUsd, CancellationToken cancellation = default, bool durable = true);

    /// <summary>Registers a serving process (or refreshes its heartbeat when it is already registered).</summary>
    Task RegisterInstanceAsync(FloorInstance instance, CancellationToken cancellation = default);

    /// <summary>Moves an instance's heartbeat to <paramref name="now"/>; false when it is not registered (another process released it).</summary>
    Task<bool> HeartbeatAsync(string instanceId, DateTimeOffset now, CancellationToken cancellation = default);

    /// <summary>Moves these reservations' expiry to <paramref name="until"/> (requests still running past their lifetime).</summary>
    Task ExtendReservationsAsync(IReadOnlyCollection<string> reservationIds, DateTimeOffset until, CancellationToken cancellation = default);

    Task<IReadOnlyList<FloorInstance>> ListInstancesAsync(CancellationToken cancellation = default);

    /// <summary>
    /// Atomically: releases every reservation of an instance that is gone, records each request it held as
    /// interrupted (<see cref="UsageRecord.InterruptedStatus"/>, nothing charged), and forgets the instance.
    /// Safe to run from several processes at once: each reservation is released once.
    /// </summary>
    Task<IReadOnlyList<UsageRecord>> ReleaseInstanceAsync(string instanceId, DateTimeOffset now, CancellationToken cancellation = default);

    /// <summary>Adds refusal counts (one batch, not durable: a crash may lose the last batch, never a served request).</summary>
    Task AddRefusalsAsync(IReadOnlyList<RefusalCount> counts, CancellationToken cancellation = default);

    /// <summary>Refusal counts from <paramref name="from"/> on, oldest minute first.</summary>
    Task<IReadOnlyList<RefusalCount>> ListRefusalsAsync(DateTimeOffset? from = null, int limit = 1000, CancellationToken cancellation = default);

    /// <summary>Refusals from <paramref name="from"/> to <paramref name="to"/>, summed by reason and status, most first.</summary>
    Task<IReadOnlyList<(string Reason, int Status, long Count)>> RefusalTotalsAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellation = default);

    /// <summary>Keeps a Responses API conversation until it expires (and drops those that have).</summary>
    Task SaveResponseAsync(StoredResponse response, CancellationToken cancellation = default);

    /// <summary>Drops the conversations that expired before <paramref name="now"/>; returns how many.</summary>
    Task<int> DeleteExpiredResponsesAsync(DateTimeOffset now, CancellationToken cancellation = default);

    /// <summary>A stored conversation that has not expired at <paramref name="now"/>, or null.</summary>
    Task<StoredResponse?> GetResponseAsync(string id, DateTimeOffset now, CancellationToken cancellation = default);

    Task<UsageRecord?> GetUsageAsync(string requestId, CancellationToken cancellation = default);
    Task<IReadOnlyList<UsageRecord>> ListUsageAsync(DateTimeOffset? from = null, int limit = 1000, CancellationToken cancellation = default);
    Task<IReadOnlyList<UsageRow>> QueryUsageAsync(UsageQuery query, CancellationToken cancellation = default);
}
