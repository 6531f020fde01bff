using TokenFactory.Floor.Budgets;

namespace TokenFactory.Floor.Tests.Budgets;

public sealed class BudgetWindowTests
{
    [Theory]
    [InlineData("2026-11-18T15:30:00Z", "2026-11-18", "2026-11-16", "2026-11-01")] // a Wednesday
    [InlineData("2026-11-16T00:00:00Z", "2026-11-16", "2026-11-16", "2026-11-01")] // Monday midnight opens the week
    [InlineData("2026-11-22T23:59:59Z", "2026-11-22", "2026-11-16", "2026-11-01")] // Sunday still belongs to it
    [InlineData("2027-01-01T08:00:00+09:00", "2026-12-31", "2026-12-28", "2026-12-01")] // windows are UTC, not local
    public void Windows_start_at_UTC_midnight_Monday_and_the_first(string now, string day, string week, string month)
    {
        var t = DateTimeOffset.Parse(now, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(DateTimeOffset.Parse(day + "T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture), BudgetWindows.Start(BudgetPeriod.Day, t));
        Assert.Equal(DateTimeOffset.Parse(week + "T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture), BudgetWindows.Start(BudgetPeriod.Week, t));
        Assert.Equal(DateTimeOffset.Parse(month + "T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture), BudgetWindows.Start(BudgetPeriod.Month, t));
        Assert.Equal(DateTimeOffset.UnixEpoch, BudgetWindows.Start(BudgetPeriod.Lifetime, t));
    }
}
