namespace TokenFactory.Tests;

/// <summary>
/// The PostgreSQL server the ledger tests use: scripts/test starts a throwaway one and passes its connection string
/// in TOKENFACTORY_TEST_POSTGRES. In CI (CI=true) its absence fails the tests; elsewhere they are skipped with the
/// reason (<c>Skip.If(PostgresDatabase.SkipReason is { } why, why)</c> in a <c>[SkippableFact]</c>).
/// </summary>
public static class PostgresDatabase
{
    public const string Variable = "TOKENFACTORY_TEST_POSTGRES";

    public static string? ConnectionString => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } s ? s : null;

    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static string? SkipReason => ConnectionString is null && !InCi
        ? $"PostgreSQL ledger tests need {Variable} (scripts/test installs PostgreSQL, starts a throwaway server and sets it)."
        : null;

    public static string Require() => ConnectionString
        ?? throw new InvalidOperationException($"CI=true but {Variable} is not set: scripts/test must install and start PostgreSQL for the ledger tests.");
}
