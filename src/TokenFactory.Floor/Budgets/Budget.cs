namespace TokenFactory.Floor.Budgets;

public enum BudgetScope { Key, Team }

public enum BudgetUnit { Tokens, Usd }

public enum BudgetPeriod { Day, Week, Month, Lifetime }

/// <summary>
/// A limit on what a key or a team may spend in a period: crossing <see cref="Soft"/> is reported, and a
/// request that could take spend past <see cref="Hard"/> is refused before it runs.
/// </summary>
public sealed record Budget
{
    public required string Id { get; init; }
    public required BudgetScope Scope { get; init; }
    /// <summary>The key id or team id.</summary>
    public required string ScopeId { get; init; }
    public required BudgetPeriod Period { get; init; }
    public required BudgetUnit Unit { get; init; }
    public required double Hard { get; init; }
    public double? Soft { get; init; }

    public string Describe() => $"{Scope.ToString().ToLowerInvariant()} {ScopeId} {Period.ToString().ToLowerInvariant()} budget of {BudgetText.Amount(Unit, Hard)}";
}

/// <summary>A budget with what is spent and reserved in its current window.</summary>
public sealed record BudgetStatus(Budget Budget, DateTimeOffset WindowStart, double Spent, double Reserved)
{
    public bool SoftReached => Budget.Soft is double soft && Spent >= soft;
    public bool Exhausted => Spent >= Budget.Hard;
    public string State => Exhausted ? "exhausted" : SoftReached ? "soft_limit_reached" : "ok";
}

public static class BudgetText
{
    public static string Amount(BudgetUnit unit, double value) =>
        unit == BudgetUnit.Usd ? $"${value.ToString("0.######", System.Globalization.CultureInfo.InvariantCulture)}" : $"{value:0} tokens";

    public static BudgetScope ParseScope(string s) => Enum.TryParse<BudgetScope>(s, true, out var v) ? v : throw new ArgumentException($"Unknown budget scope '{s}': use key or team.", "scope");
    public static BudgetUnit ParseUnit(string s) => Enum.TryParse<BudgetUnit>(s, true, out var v) ? v : throw new ArgumentException($"Unknown budget unit '{s}': use tokens or usd.", "unit");
    public static BudgetPeriod ParsePeriod(string s) => Enum.TryParse<BudgetPeriod>(s, true, out var v) ? v : throw new ArgumentException($"Unknown budget period '{s}': use day, week, month or lifetime.", "period");
    public static string Name<T>(T value) where T : Enum => value.ToString().ToLowerInvariant();
}
