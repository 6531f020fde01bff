namespace TokenFactory.Cli;

/// <summary>
/// The <c>TOKENFACTORY_*</c> environment variables the commands read (besides <c>TokenFactory__*</c> configuration keys
/// and the deprecated kernel aliases in <see cref="KernelSettings"/>). Secrets are read only from here, never from the
/// command line, where <c>ps</c> shows them. Deployment manifests are checked against this list.
/// </summary>
public static class EnvironmentVariables
{
    /// <summary>The /admin API's key (<c>serve</c>, and the admin commands' default <c>--admin-key</c>).</summary>
    public const string AdminKey = "TOKENFACTORY_ADMIN_KEY";
    /// <summary>The command center's read-only viewer key (<c>serve</c> and <c>route</c>).</summary>
    public const string ViewerKey = "TOKENFACTORY_VIEWER_KEY";
    /// <summary>A PostgreSQL connection string for the ledger, instead of <c>--postgres</c> (<c>serve</c>; <c>factory up</c> hands it to the router).</summary>
    public const string Postgres = "TOKENFACTORY_POSTGRES";
    /// <summary>The secret a fleet's router and its replicas share (<c>serve</c> as a replica; <c>factory up</c> makes one).</summary>
    public const string InternalToken = "TOKENFACTORY_INTERNAL_TOKEN";
    /// <summary>The server the admin commands talk to.</summary>
    public const string Url = "TOKENFACTORY_URL";
    /// <summary>The default model when none is given.</summary>
    public const string Model = BuiltInModel.EnvironmentVariable;

    public static readonly IReadOnlyList<string> All = [AdminKey, ViewerKey, Postgres, InternalToken, Url, Model];

    /// <summary>The variable's value, or null when it is unset or empty.</summary>
    public static string? Get(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;
}
