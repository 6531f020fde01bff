namespace TokenFactory.Floor.Identity;

/// <summary>
/// An API key as stored: never the secret, only a salted hash of it. The id is public (it is part of the
/// secret's text, so a presented key finds its record without scanning) and names the key in the ledger.
/// </summary>
public sealed record ApiKey
{
    public required string Id { get; init; }
    public required string TeamId { get; init; }
    public required string Name { get; init; }
    public required string Salt { get; init; }
    public required string Hash { get; init; }
    /// <summary>Models this key may use; empty allows every model.</summary>
    public IReadOnlyList<string> AllowedModels { get; init; } = [];
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    public DateTimeOffset? RevokedAt { get; init; }
    public RateLimits Limits { get; init; } = new();
    /// <summary>The key's priority class (<see cref="PriorityClasses"/>); null takes its team's.</summary>
    public string? Priority { get; init; }

    public bool Allows(string model) => AllowedModels.Count == 0 || AllowedModels.Contains(model, StringComparer.OrdinalIgnoreCase);

    public string Status(DateTimeOffset now) => RevokedAt is not null ? "revoked" : ExpiresAt <= now ? "expired" : "active";
}
