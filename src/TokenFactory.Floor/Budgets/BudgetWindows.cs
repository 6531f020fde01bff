namespace TokenFactory.Floor.Budgets;

/// <summary>Where a period's current window starts, in UTC: midnight, Monday midnight, the 1st, or the epoch.</summary>
public static class BudgetWindows
{
    public static readonly BudgetPeriod[] All = [BudgetPeriod.Day, BudgetPeriod.Week, BudgetPeriod.Month, BudgetPeriod.Lifetime];

    public static DateTimeOffset Start(BudgetPeriod period, DateTimeOffset now)
    {
        var day = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero);
        return period switch
        {
            BudgetPeriod.Day => day,
            BudgetPeriod.Week => day.AddDays(-(((int)day.DayOfWeek + 6) % 7)),
            BudgetPeriod.Month => new DateTimeOffset(day.Year, day.Month, 1, 0, 0, 0, TimeSpan.Zero),
            _ => DateTimeOffset.UnixEpoch,
        };
    }
}
