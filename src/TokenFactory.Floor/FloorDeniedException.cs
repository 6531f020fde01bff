namespace TokenFactory.Floor;

public enum DenialReason
{
    MissingKey,
    InvalidKey,
    RevokedKey,
    ExpiredKey,
    ModelNotAllowed,
    RateLimited,
    QuotaExceeded,
}

/// <summary>A request the floor refuses; hosts map the reason to a status (401, 403, 429).</summary>
public sealed class FloorDeniedException(DenialReason reason, string message) : Exception(message)
{
    public DenialReason Reason { get; } = reason;
    /// <summary>For rate limits: when a retry can succeed.</summary>
    public TimeSpan? RetryAfter { get; init; }
    /// <summary>Rate-limit state to report in headers, also on refusals.</summary>
    public RateLimiting.RateLimitStatus? RateLimit { get; init; }
    /// <summary>For rate limits: <c>requests</c> or <c>tokens</c>, as OpenAI's error type says.</summary>
    public string? LimitKind { get; init; }
}
