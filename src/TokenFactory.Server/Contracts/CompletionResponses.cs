using System.Text.Json.Serialization;

namespace TokenFactory.Server.Contracts;

/// <summary>A legacy completion, and also each streamed chunk (OpenAI uses the same object for both).</summary>
public sealed class TextCompletion
{
    public required string Id { get; init; }
    public string Object { get; init; } = "text_completion";
    public required long Created { get; init; }
    public required string Model { get; init; }
    public required string SystemFingerprint { get; init; }
    public required List<TextChoice> Choices { get; init; }
    public Usage? Usage { get; init; }
}

public sealed class TextChoice
{
    public required int Index { get; init; }
    public required string Text { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public CompletionLogprobs? Logprobs { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? FinishReason { get; init; }
}

/// <summary>The legacy logprobs shape: parallel arrays, the prompt's first token without a logprob.</summary>
public sealed class CompletionLogprobs
{
    public List<string> Tokens { get; init; } = [];
    public List<float?> TokenLogprobs { get; init; } = [];
    public List<Dictionary<string, float>?> TopLogprobs { get; init; } = [];
    public List<int> TextOffset { get; init; } = [];
}
