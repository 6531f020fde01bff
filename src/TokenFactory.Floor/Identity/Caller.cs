namespace TokenFactory.Floor.Identity;

/// <summary>Who is calling: a key of a team, nobody when the server runs without keys, or the fleet's router.</summary>
public sealed record Caller(ApiKey? Key, Team? Team)
{
    public static readonly Caller Anonymous = new(null, null);

    /// <summary>
    /// The fleet's router, which proved it holds the internal token: it admitted and will settle the request on its own
    /// floor (its ledger is the authority), so this process neither admits, reserves nor records it.
    /// </summary>
    public static readonly Caller Internal = new(null, null) { IsInternal = true };

    public bool IsInternal { get; private init; }

    public string? KeyId => Key?.Id;
    public string? TeamId => Team?.Id;
}
