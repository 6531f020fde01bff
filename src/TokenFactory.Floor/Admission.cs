using TokenFactory.Engine;
using TokenFactory.Floor.Budgets;
using TokenFactory.Floor.Identity;
using TokenFactory.Floor.RateLimiting;

namespace TokenFactory.Floor;

/// <summary>What a finished (or failed, or cancelled) request used, as the host measured it.</summary>
public sealed record UsageOutcome
{
    public required string RequestId { get; init; }
    public required int Status { get; init; }
    public long PromptTokens { get; init; }
    public long CachedPromptTokens { get; init; }
    public long CompletionTokens { get; init; }
    public TimeSpan QueueTime { get; init; }
    public TimeSpan TimeToFirstToken { get; init; }
    public TimeSpan Duration { get; init; }
    public WorkShare Work { get; init; }
    /// <summary>The replica that served it (a router's requests).</summary>
    public string? Replica { get; init; }
    /// <summary>The priority class it ran in, when not the caller's own (a router's request that asked for a lower one).</summary>
    public string? Priority { get; init; }
    /// <summary>Whether the energy is an estimate, when whoever measured it said (a replica, for its router); else this floor's meter decides.</summary>
    public bool? EnergyEstimated { get; init; }
}

/// <summary>
/// An admitted request: its reservation and rate-limit state. Settle exactly once, with the real usage;
/// settling releases the reservation, records the ledger line and charges the budgets in one transaction.
/// </summary>
public sealed class Admission(FloorService floor, Caller caller, string model, string endpoint, DateTimeOffset started,
    string? reservationId, long worstTokens, double worstUsd, RateLimitStatus? rateLimit, IReadOnlyList<BudgetStatus> softReached)
{
    private int _settled;

    public Caller Caller { get; } = caller;
    public string Model { get; } = model;
    public string Endpoint { get; } = endpoint;
    public DateTimeOffset Started { get; } = started;
    public string? ReservationId { get; } = reservationId;
    public long WorstTokens { get; } = worstTokens;
    public double WorstUsd { get; } = worstUsd;
    public RateLimitStatus? RateLimit { get; } = rateLimit;
    /// <summary>Budgets whose soft threshold is already crossed (reported to the client in a header).</summary>
    public IReadOnlyList<BudgetStatus> SoftReached { get; } = softReached;
    public bool IsSettled => Volatile.Read(ref _settled) != 0;

    /// <returns>False when it was already settled.</returns>
    public async Task<bool> SettleAsync(UsageOutcome outcome, CancellationToken cancellation = default)
    {
        if (Interlocked.Exchange(ref _settled, 1) != 0)
            return false;
        await floor.SettleAsync(this, outcome, cancellation);
        return true;
    }

    /// <summary>
    /// The request never ran (the engine refused it after the floor admitted it, as when its queue is full): the
    /// reservation is released and the tokens given back to the rate limit, and no ledger line is written; the
    /// caller counts it as a refusal instead.
    /// </summary>
    /// <returns>False when it was already settled.</returns>
    public async Task<bool> WithdrawAsync(CancellationToken cancellation = default)
    {
        if (Interlocked.Exchange(ref _settled, 1) != 0)
            return false;
        await floor.WithdrawAsync(this, cancellation);
        return true;
    }
}
