using System.Text.Json.Nodes;

namespace TokenFactory.Server.Contracts;

public sealed class CompletionRequest : SamplingRequest
{
    /// <summary>A string, an array of strings, an array of token ids, or an array of such arrays.</summary>
    public JsonNode? Prompt { get; set; }
    public bool? Echo { get; set; }
    /// <summary>Number of alternatives per position (0..5, as OpenAI); null for none.</summary>
    public int? Logprobs { get; set; }
    /// <summary>Text after the insertion point (fill-in-the-middle): refused unless empty.</summary>
    public string? Suffix { get; set; }
    /// <summary>Candidates to generate and rank server-side: accepted only when it equals <c>n</c> (no ranking).</summary>
    public int? BestOf { get; set; }
}
