using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TokenFactory.Server.Contracts;

// The /admin API's bodies. The CLI reads and writes the same types.

public sealed class TeamBody : IRequestBody
{
    public string? Id { get; set; }
    /// <summary>Requests per minute; 0 or absent is unlimited.</summary>
    public int? Rpm { get; set; }
    public int? Tpm { get; set; }
    /// <summary><c>interactive</c>, <c>standard</c> or <c>batch</c>: the class its keys are served in (fleet routing).</summary>
    public string? Priority { get; set; }
    public DateTimeOffset? CreatedAt { get; set; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unrecognized { get; set; }
}

public sealed class KeyBody : IRequestBody
{
    public string? Id { get; set; }
    public string? Team { get; set; }
    public string? Name { get; set; }
    public List<string>? Models { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }
    public DateTimeOffset? CreatedAt { get; set; }
    public DateTimeOffset? RevokedAt { get; set; }
    public int? Rpm { get; set; }
    public int? Tpm { get; set; }
    public string? Status { get; set; }
    /// <summary><c>interactive</c>, <c>standard</c> or <c>batch</c>; absent takes the team's.</summary>
    public string? Priority { get; set; }
    /// <summary>Only in the answer to a create: the secret, shown this once and never stored.</summary>
    public string? Secret { get; set; }
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unrecognized { get; set; }
}

public sealed class BudgetBody : IRequestBody
{
    public string? Id { get; set; }
    /// <summary><c>key</c> or <c>team</c>.</summary>
    public string? Scope { get; set; }
    public string? ScopeId { get; set; }
    /// <summary><c>day</c>, <c>week</c>, <c>month</c> or <c>lifetime</c>.</summary>
    public string? Period { get; set; }
    /// <summary><c>tokens</c> or <c>usd</c>.</summary>
    public string? Unit { get; set; }
    public double? Hard { get; set; }
    public double? Soft { get; set; }
    public DateTimeOffset? WindowStart { get; set; }
    public double? Spent { get; set; }
    public double? Reserved { get; set; }
    public string? State { get; set; }
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unrecognized { get; set; }
}

public sealed class UsageRowBody
{
    public required string Group { get; set; }
    public long Requests { get; set; }
    /// <summary>Requests refused before they ran (bad input, rate limit, budget, overload).</summary>
    public long Refused { get; set; }
    public long PromptTokens { get; set; }
    public long CachedPromptTokens { get; set; }
    public long CompletionTokens { get; set; }
    public double EnergyJoules { get; set; }
    /// <summary>True when some of the energy is estimated from configured power rather than measured.</summary>
    public bool EnergyEstimated { get; set; }
    public double CostUsd { get; set; }
    public double InputCostUsd { get; set; }
    public double OutputCostUsd { get; set; }
    public double JoulesPerToken { get; set; }
    public double UsdPerMillionInputTokens { get; set; }
    public double UsdPerMillionOutputTokens { get; set; }
}

/// <summary>Refusals of one minute, key, model, endpoint, status and reason (the ledger counts refusals instead of keeping a line each).</summary>
public sealed class RefusalBody
{
    public required DateTimeOffset Minute { get; set; }
    public string? Key { get; set; }
    public string? Team { get; set; }
    public required string Model { get; set; }
    public required string Endpoint { get; set; }
    public int Status { get; set; }
    public required string Reason { get; set; }
    public long Count { get; set; }
}

public sealed class LedgerEntryBody
{
    public required string RequestId { get; set; }
    public DateTimeOffset Time { get; set; }
    public string? Key { get; set; }
    public string? Team { get; set; }
    public required string Model { get; set; }
    public required string Endpoint { get; set; }
    public int Status { get; set; }
    public long PromptTokens { get; set; }
    public long CachedPromptTokens { get; set; }
    public long CompletionTokens { get; set; }
    public double QueueSeconds { get; set; }
    public double TimeToFirstTokenSeconds { get; set; }
    public double DurationSeconds { get; set; }
    public double EnergyJoules { get; set; }
    public bool EnergyEstimated { get; set; }
    public double CostUsd { get; set; }
    /// <summary>The replica that served it (behind a router).</summary>
    public string? Replica { get; set; }
}

public sealed class AdminList<T>
{
    public required List<T> Data { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(TeamBody))]
[JsonSerializable(typeof(KeyBody))]
[JsonSerializable(typeof(BudgetBody))]
[JsonSerializable(typeof(AdminList<TeamBody>))]
[JsonSerializable(typeof(AdminList<KeyBody>))]
[JsonSerializable(typeof(AdminList<BudgetBody>))]
[JsonSerializable(typeof(AdminList<UsageRowBody>))]
[JsonSerializable(typeof(AdminList<LedgerEntryBody>))]
[JsonSerializable(typeof(AdminList<RefusalBody>))]
public sealed partial class AdminJsonContext : JsonSerializerContext
{
    public static AdminJsonContext Relaxed { get; } = new(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        WriteIndented = true,
    });
}
