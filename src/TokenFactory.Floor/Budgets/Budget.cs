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

    public static BudgetScope ParseScope(string s) => Parse<BudgetScope>(s, "scope", "key or team");
    public static BudgetUnit ParseUnit(string s) => Parse<BudgetUnit>(s, "unit", "tokens or usd");
    public static BudgetPeriod ParsePeriod(string s) => Parse<BudgetPeriod>(s, "period", "day, week, month or lifetime");

    /// <summary>
    /// A value as the ledger stored it. Lenient, unlike the Parse methods: a budget an older version stored with a
    /// number still lists (and can be deleted) instead of breaking every read of the budgets.
    /// </summary>
    internal static T Stored<T>(string s) where T : struct, Enum => Enum.Parse<T>(s, ignoreCase: true);

    /// <summary>
    /// Names only. Enum.TryParse also takes numbers ("9") and comma lists ("day,week"): a budget stored with one has a
    /// period or scope no request matches, so it would never be enforced.
    /// </summary>
    private static T Parse<T>(string s, string param, string names) where T : struct, Enum
    {
        foreach (var value in Enum.GetValues<T>())
        {
            if (string.Equals(Name(value), s.Trim(), StringComparison.OrdinalIgnoreCase))
                return value;
        }
        throw new ArgumentException($"Unknown budget {param} '{s}': use {names}.", param);
    }

    public static string Name<T>(T value) where T : Enum => value.ToString().ToLowerInvariant();
}
