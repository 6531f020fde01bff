using System.Text.Json;
using System.Text.Json.Nodes;

namespace TokenFactory.Server.Contracts;

public sealed class ChatCompletionRequest : SamplingRequest
{
    /// <summary>Kept as JSON: the chat template sees every field (tool_calls, tool_call_id, name, …).</summary>
    public JsonArray? Messages { get; set; }
    /// <summary>OpenAI's newer name for max_tokens; both given must agree (a 400 names max_tokens otherwise).</summary>
    public int? MaxCompletionTokens { get; set; }
    public bool? Logprobs { get; set; }
    public int? TopLogprobs { get; set; }
    /// <summary>llama.cpp/vLLM extension: extra variables for the chat template (e.g. enable_thinking).</summary>
    public Dictionary<string, JsonNode?>? ChatTemplateKwargs { get; set; }
    /// <summary>
    /// llama.cpp server extension: "auto" (default) or "deepseek" return a reasoning model's thinking in
    /// <c>reasoning_content</c>; "none" leaves the raw text, tags included, in <c>content</c>.
    /// </summary>
    public string? ReasoningFormat { get; set; }

    // Tool calling and structured output are not implemented yet: these are accepted only with values that
    // ask for nothing (no tools, tool_choice "none", response_format "text") and refused by name otherwise.
    public JsonArray? Tools { get; set; }
    public JsonElement? ToolChoice { get; set; }
    public bool? ParallelToolCalls { get; set; }
    public JsonElement? ResponseFormat { get; set; }
    public List<string>? Modalities { get; set; }
    /// <summary>OpenAI's cache-routing hint; prefix caching here is automatic, so any value is honoured.</summary>
    public string? PromptCacheKey { get; set; }
    /// <summary>Like <c>user</c>: an end-user id for abuse monitoring; it does not change the output.</summary>
    public string? SafetyIdentifier { get; set; }
}
