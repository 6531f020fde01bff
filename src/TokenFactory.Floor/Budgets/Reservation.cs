namespace TokenFactory.Floor.Budgets;

/// <summary>
/// A request's worst case, held against its key's and team's budgets from admission until it settles.
/// Reservations of a process that died are released as soon as a live process sees it is gone (see
/// <see cref="Ledger.FloorInstance"/>), and expire at <see cref="ExpiresAt"/> at the latest.
/// </summary>
public sealed record Reservation(string Id, string KeyId, string TeamId, long Tokens, double Usd, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt)
{
    /// <summary>The serving process holding it; when that process dies the reservation is released at once.</summary>
    public string? InstanceId { get; init; }
    /// <summary>What it was held for, so that a request cut off by a crash is recorded as interrupted.</summary>
    public string? RequestId { get; init; }
    public string? Model { get; init; }
    public string? Endpoint { get; init; }
}

/// <summary>
/// What admission found: refused by a budget, or admitted with any soft thresholds already crossed.
/// <see cref="Stored"/> is false when no budget applies (nothing to hold, nothing to release).
/// </summary>
public sealed record ReservationOutcome(bool Admitted, bool Stored, BudgetStatus? Refusing, IReadOnlyList<BudgetStatus> SoftReached);
