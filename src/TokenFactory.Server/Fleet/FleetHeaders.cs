using TokenFactory.Engine;

namespace TokenFactory.Server.Fleet;

/// <summary>
/// What a fleet's router tells a replica about a request it forwards, in headers trusted only when the request carries
/// the internal token (<see cref="FleetSettings.InternalToken"/>); a request without it that carries one is refused (400).
/// </summary>
public static class FleetHeaders
{
    /// <summary>Whom the engine shares itself fairly between (the router's API key or team); default: the usual rule.</summary>
    public const string Tenant = "x-tokenfactory-tenant";
    /// <summary><c>interactive</c>, <c>standard</c> or <c>batch</c> (<see cref="PriorityClass"/>); default <c>standard</c>.</summary>
    public const string Priority = "x-tokenfactory-priority";
    /// <summary>The response's <c>id</c>, so the router's ledger line and what the client sees agree; default: a new id.</summary>
    public const string RequestId = "x-tokenfactory-request-id";

    public static readonly IReadOnlyList<string> All = [Tenant, Priority, RequestId];

    /// <summary>The wire name of a class: <c>interactive</c>, <c>standard</c>, <c>batch</c>.</summary>
    public static string Name(PriorityClass priority) => priority switch
    {
        PriorityClass.Interactive => "interactive",
        PriorityClass.Batch => "batch",
        _ => "standard",
    };

    public static bool TryParsePriority(string value, out PriorityClass priority)
    {
        foreach (var candidate in Enum.GetValues<PriorityClass>())
        {
            if (string.Equals(value, Name(candidate), StringComparison.OrdinalIgnoreCase))
            {
                priority = candidate;
                return true;
            }
        }
        priority = PriorityClass.Standard;
        return false;
    }
}
