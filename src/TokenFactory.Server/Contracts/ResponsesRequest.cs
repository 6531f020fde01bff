using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace TokenFactory.Server.Contracts;

/// <summary>POST /v1/responses (OpenAI's Responses API): the fields this server reads; any other is refused by name.</summary>
public sealed class ResponsesRequest : IRequestBody
{
    public string? Model { get; set; }
    /// <summary>A string (one user message) or a list of items: messages, function calls and their outputs.</summary>
    public JsonNode? Input { get; set; }
    public string? Instructions { get; set; }
    public int? MaxOutputTokens { get; set; }
    public double? Temperature { get; set; }
    public double? TopP { get; set; }
    public JsonArray? Tools { get; set; }
    public JsonElement? ToolChoice { get; set; }
    public bool? ParallelToolCalls { get; set; }
    public bool? Stream { get; set; }
    /// <summary><c>{"format": {"type": "text" | "json_object" | "json_schema", …}}</c>.</summary>
    public JsonObject? Text { get; set; }
    public bool? Store { get; set; }
    public string? PreviousResponseId { get; set; }
    public string? Truncation { get; set; }
    public string? User { get; set; }
    public JsonElement? Metadata { get; set; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unrecognized { get; set; }
}
