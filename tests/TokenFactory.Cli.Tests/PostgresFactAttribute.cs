namespace TokenFactory.Cli.Tests;

/// <summary>
/// A test against the PostgreSQL server scripts/test starts (TOKENFACTORY_TEST_POSTGRES): skipped with the
/// reason when there is none, except in CI (CI=true), where it runs and fails.
/// </summary>
public sealed class PostgresFactAttribute : FactAttribute
{
    public const string Variable = "TOKENFACTORY_TEST_POSTGRES";

    public PostgresFactAttribute()
    {
        bool ci = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        if (ConnectionString is null && !ci)
            Skip = $"needs {Variable} (scripts/test installs PostgreSQL, starts a throwaway server and sets it)";
    }

    private static string? ConnectionString => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } s ? s : null;

    public static string Require() => ConnectionString
        ?? throw new InvalidOperationException($"CI=true but {Variable} is not set: scripts/test must install and start PostgreSQL.");
}
