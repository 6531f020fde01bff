namespace TokenFactory.Floor.Ledger;

/// <summary>One ledger line: a request, who made it, what it used, how long it took, what it cost.</summary>
public sealed record UsageRecord
{
    /// <summary>
    /// The status of a request no response was completed for because its server process stopped (a crash,
    /// <c>kill -9</c>): recorded from its reservation by the next start or a live replica. As HTTP clients and
    /// load tools report a request that got no response.
    /// </summary>
    public const int InterruptedStatus = 0;

    /// <summary>The response id the client saw (chatcmpl-…, cmpl-…), or a generated one for refused requests.</summary>
    public required string RequestId { get; init; }
    public required DateTimeOffset Time { get; init; }
    public string? KeyId { get; init; }
    public string? TeamId { get; init; }
    public required string Model { get; init; }
    public required string Endpoint { get; init; }
    public int Status { get; init; }
    public long PromptTokens { get; init; }
    public long CachedPromptTokens { get; init; }
    public long CompletionTokens { get; init; }
    public double QueueSeconds { get; init; }
    public double TimeToFirstTokenSeconds { get; init; }
    public double DurationSeconds { get; init; }
    public double EnergyJoules { get; init; }
    public bool EnergyEstimated { get; init; }
    public double InputCostUsd { get; init; }
    public double OutputCostUsd { get; init; }
    /// <summary>The replica that served it, when a router forwarded it (null on a single server).</summary>
    public string? Replica { get; init; }

    public long TotalTokens => PromptTokens + CompletionTokens;
    public double CostUsd => InputCostUsd + OutputCostUsd;
}
