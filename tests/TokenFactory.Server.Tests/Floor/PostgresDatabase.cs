using Xunit.Abstractions;
using Xunit.Sdk;

namespace TokenFactory.Server.Tests.Floor;

/// <summary>
/// The PostgreSQL server the tests use: scripts/test starts a throwaway one and passes its connection string
/// in TOKENFACTORY_TEST_POSTGRES. In CI (CI=true) its absence fails the tests; elsewhere they are skipped.
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

/// <summary>
/// A fact of <see cref="LedgerTests"/>: it runs once per store, and the PostgreSQL run is skipped (with the reason)
/// outside CI when no PostgreSQL server was provided.
/// </summary>
[XunitTestCaseDiscoverer("TokenFactory.Server.Tests.Floor.LedgerFactDiscoverer", "TokenFactory.Server.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class LedgerFactAttribute : FactAttribute;

public sealed class LedgerFactDiscoverer(IMessageSink diagnosticMessageSink) : IXunitTestCaseDiscoverer
{
    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute)
    {
        bool postgres = testMethod.TestClass.Class.Name == typeof(PostgresLedgerTests).FullName;
        yield return new SkippableTestCase(diagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(),
            testMethod, postgres ? PostgresDatabase.SkipReason : null);
    }
}

public sealed class SkippableTestCase : XunitTestCase
{
    private string? _skip;

    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes", error: true)]
    public SkippableTestCase()
    {
    }

    public SkippableTestCase(IMessageSink sink, TestMethodDisplay display, TestMethodDisplayOptions options, ITestMethod method, string? skip)
        : base(sink, display, options, method) => _skip = skip;

    protected override string GetSkipReason(IAttributeInfo factAttribute) => _skip ?? base.GetSkipReason(factAttribute);

    public override void Serialize(IXunitSerializationInfo data)
    {
        base.Serialize(data);
        data.AddValue("Skip", _skip);
    }

    public override void Deserialize(IXunitSerializationInfo data)
    {
        _skip = data.GetValue<string>("Skip");
        base.Deserialize(data);
    }
}
