namespace TokenFactory.Floor.Identity;

/// <summary>A group of keys that share team budgets and rate limits. Its id is the name operators give it.</summary>
public sealed record Team
{
    public required string Id { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public RateLimits Limits { get; init; } = new();
    /// <summary>The priority class of its keys that name none (<see cref="PriorityClasses"/>); null is standard.</summary>
    public string? Priority { get; init; }
}

/// <summary>Requests and tokens per minute; null is unlimited.</summary>
public sealed record RateLimits(int? RequestsPerMinute = null, int? TokensPerMinute = null);
