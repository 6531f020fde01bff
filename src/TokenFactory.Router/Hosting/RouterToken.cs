using Microsoft.Extensions.Configuration;

namespace TokenFactory.Router;

/// <summary>
/// The fleet's internal token (<c>TokenFactory:Fleet:InternalToken</c>; <c>TOKENFACTORY_INTERNAL_TOKEN</c> for the CLI):
/// the router presents it to every replica, which accept only it, so no caller can reach a replica around the
/// router's floor. Null when the replicas take anyone (a development fleet).
/// </summary>
public sealed class RouterToken(IConfiguration configuration)
{
    public const string Key = "TokenFactory:Fleet:InternalToken";

    public string? Value { get; } = configuration[Key] is { Length: > 0 } token ? token : null;
}
