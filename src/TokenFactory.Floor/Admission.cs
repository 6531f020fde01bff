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
    private const int Open = 0, Settling = 1, Settled = 2;
    private int _state;

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
    /// <summary>Settled or withdrawn: the ledger has what it will get and the reservation is released.</summary>
    public bool IsSettled => Volatile.Read(ref _state) == Settled;

    /// <returns>False when it was already settled (or is being settled).</returns>
    /// <remarks>
    /// Settled only once the ledger took the line: when the write fails the admission stays open (its reservation
    /// held, nothing recorded), so the caller can settle it again rather than leak the reservation and lose the line.
    /// </remarks>
    public Task<bool> SettleAsync(UsageOutcome outcome, CancellationToken cancellation = default) =>
        OnceAsync(() => floor.SettleAsync(this, outcome, cancellation));

    /// <summary>
    /// The request never ran (the engine refused it after the floor admitted it, as when its queue is full): the
    /// reservation is released and the tokens given back to the rate limit, and no ledger line is written; the
    /// caller counts it as a refusal instead.
    /// </summary>
    /// <returns>False when it was already settled (or is being settled); it stays open when the release fails.</returns>
    public Task<bool> WithdrawAsync(CancellationToken cancellation = default) =>
        OnceAsync(() => floor.WithdrawAsync(this, cancellation));

    /// <summary>
    /// For a settlement the ledger just refused: tries again in the background after 1, 2, 4, 8 and 16 s (tracked, so
    /// shutdown waits for it), so a ledger that recovers gets the line and the reservation is released with it.
    /// <paramref name="gaveUp"/> gets the last failure when every try failed: the reservation is then released when this
    /// process stops (the request recorded as interrupted), or after its hour.
    /// </summary>
    public void SettleLater(UsageOutcome outcome, Action<Exception> gaveUp, Action? settled = null) =>
        floor.RetryInBackground(() => SettleAsync(outcome), GivenUp(gaveUp), settled);

    /// <summary>As <see cref="SettleLater"/>, for a withdrawal whose release the ledger refused.</summary>
    public void WithdrawLater(Action<Exception> gaveUp) => floor.RetryInBackground(() => WithdrawAsync(), GivenUp(gaveUp), null);

    /// <summary>Retries that gave up leave the reservation to lapse after its hour (the heartbeat stops extending it).</summary>
    private Action<Exception> GivenUp(Action<Exception> gaveUp) => e =>
    {
        floor.StopExtending(ReservationId);
        gaveUp(e);
    };

    private async Task<bool> OnceAsync(Func<Task> settle)
    {
        if (Interlocked.CompareExchange(ref _state, Settling, Open) != Open)
            return false;
        try
        {
            await settle();
        }
        catch
        {
            Volatile.Write(ref _state, Open);
            throw;
        }
        Volatile.Write(ref _state, Settled);
        return true;
    }
}
