namespace TokenFactory.Floor.Ledger;

/// <summary>
/// Requests refused before they ran (bad input, rate limit, budget, overload), counted per minute, key,
/// model, endpoint, status and reason: one ledger row however many refusals, so a refusal storm cannot grow
/// the ledger by a row per request.
/// </summary>
public sealed record RefusalCount
{
    /// <summary>The start of the UTC minute the refusals fell in.</summary>
    public required DateTimeOffset Minute { get; init; }
    public string? KeyId { get; init; }
    public string? TeamId { get; init; }
    public required string Model { get; init; }
    public required string Endpoint { get; init; }
    public required int Status { get; init; }
    /// <summary>The error code the client got (<c>rate_limit_exceeded</c>, <c>insufficient_quota</c>, <c>invalid_type</c>, …).</summary>
    public required string Reason { get; init; }
    public required long Count { get; init; }
}
