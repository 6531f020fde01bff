using System.Text.Json.Nodes;

namespace TokenFactory.Server.Contracts;

public sealed class CompletionRequest : SamplingRequest
{
    /// <summary>A string, an array of strings, an array of token ids, or an array of such arrays.</summary>
    public JsonNode? Prompt { get; set; }
    public bool? Echo { get; set; }
    /// <summary>Number of alternatives per position (0..20); null for none.</summary>
    public int? Logprobs { get; set; }
}
