using System.Text.Json.Serialization;

namespace TokenFactory.Server.Contracts;

public sealed class ErrorResponse
{
    public required ErrorBody Error { get; init; }
}

/// <summary>OpenAI always sends all four fields; param and code may be null.</summary>
public sealed class ErrorBody
{
    public required string Message { get; init; }
    public required string Type { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? Param { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? Code { get; init; }
}
