using System.Text.Json.Serialization;

namespace TokenFactory.Server.Contracts;

public sealed class ChatCompletion
{
    public required string Id { get; init; }
    public string Object { get; init; } = "chat.completion";
    public required long Created { get; init; }
    public required string Model { get; init; }
    public required string SystemFingerprint { get; init; }
    public required List<ChatChoice> Choices { get; init; }
    public required Usage Usage { get; init; }
}

public sealed class ChatChoice
{
    public required int Index { get; init; }
    public required ChatMessage Message { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public ChatLogprobs? Logprobs { get; init; }
    public required string FinishReason { get; init; }
}

public sealed class ChatMessage
{
    public string Role { get; init; } = "assistant";
    /// <summary>The text; null (written as null, as OpenAI does) when the answer is only tool calls.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.Never)]
    public required string? Content { get; init; }
    public List<ToolCall>? ToolCalls { get; init; }
    /// <summary>A reasoning model's thinking (the text between &lt;think&gt; and &lt;/think&gt;), as vLLM and llama.cpp return it.</summary>
    public string? ReasoningContent { get; init; }
}

public sealed class ChatCompletionChunk
{
    public required string Id { get; init; }
    public string Object { get; init; } = "chat.completion.chunk";
    public required long Created { get; init; }
    public required string Model { get; init; }
    public required string SystemFingerprint { get; init; }
    public required List<ChatChunkChoice> Choices { get; init; }
    public Usage? Usage { get; init; }
}

public sealed class ChatChunkChoice
{
    public required int Index { get; init; }
    public required ChatDelta Delta { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public ChatLogprobs? Logprobs { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? FinishReason { get; init; }
}

public sealed class ChatDelta
{
    public string? Role { get; init; }
    public string? Content { get; init; }
    public string? ReasoningContent { get; init; }
    public List<ToolCallDelta>? ToolCalls { get; init; }
}

/// <summary>A function call the model made (OpenAI's shape); <see cref="ToolCallFunction.Arguments"/> is JSON text.</summary>
public sealed class ToolCall
{
    public required string Id { get; init; }
    public string Type { get; init; } = "function";
    public required ToolCallFunction Function { get; init; }
}

public sealed class ToolCallFunction
{
    public string? Name { get; init; }
    public string? Arguments { get; init; }
}

/// <summary>A streamed piece of a tool call: the first of a call carries its id, type and name; later ones only arguments.</summary>
public sealed class ToolCallDelta
{
    public required int Index { get; init; }
    public string? Id { get; init; }
    public string? Type { get; init; }
    public required ToolCallFunction Function { get; init; }
}

public sealed class ChatLogprobs
{
    public required List<ChatTokenLogprob> Content { get; init; }
}

public sealed class ChatTokenLogprob
{
    public required string Token { get; init; }
    public required float Logprob { get; init; }
    public required int[] Bytes { get; init; }
    public List<ChatTopLogprob>? TopLogprobs { get; init; }
}

public sealed class ChatTopLogprob
{
    public required string Token { get; init; }
    public required float Logprob { get; init; }
    public required int[] Bytes { get; init; }
}

public sealed class Usage
{
    public required int PromptTokens { get; init; }
    public required int CompletionTokens { get; init; }
    public required int TotalTokens { get; init; }
    public PromptTokensDetails? PromptTokensDetails { get; init; }
    /// <summary>The engine's measured work, for the fleet's router only (never sent to other callers).</summary>
    [JsonPropertyName("tokenfactory")]
    public TokenFactoryUsage? TokenFactory { get; init; }
}

public sealed class PromptTokensDetails
{
    public required int CachedTokens { get; init; }
}
