namespace TokenFactory.Floor.Budgets;

/// <summary>
/// A request's worst case, held against its key's and team's budgets from admission until it settles.
/// Reservations of a process that died expire at <see cref="ExpiresAt"/> instead of holding budget forever.
/// </summary>
public sealed record Reservation(string Id, string KeyId, string TeamId, long Tokens, double Usd, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt);

/// <summary>
/// What admission found: refused by a budget, or admitted with any soft thresholds already crossed.
/// <see cref="Stored"/> is false when no budget applies (nothing to hold, nothing to release).
/// </summary>
public sealed record ReservationOutcome(bool Admitted, bool Stored, BudgetStatus? Refusing, IReadOnlyList<BudgetStatus> SoftReached);
