namespace TokenFactory.Floor.Identity;

/// <summary>Who is calling: a key of a team, or nobody when the server runs without keys.</summary>
public sealed record Caller(ApiKey? Key, Team? Team)
{
    public static readonly Caller Anonymous = new(null, null);

    public string? KeyId => Key?.Id;
    public string? TeamId => Team?.Id;
}
