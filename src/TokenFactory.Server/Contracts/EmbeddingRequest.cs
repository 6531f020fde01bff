using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace TokenFactory.Server.Contracts;

/// <summary>OpenAI's POST /v1/embeddings body.</summary>
public sealed class EmbeddingRequest : IRequestBody
{
    /// <summary>A string, an array of strings, an array of token ids, or an array of token-id arrays.</summary>
    public JsonNode? Input { get; set; }
    public string? Model { get; set; }
    /// <summary><c>float</c> (default) or <c>base64</c> (little-endian float32s).</summary>
    public string? EncodingFormat { get; set; }
    /// <summary>Leading dimensions to keep (Matryoshka models only; see <see cref="ServerOptions.Matryoshka"/>).</summary>
    public int? Dimensions { get; set; }
    public string? User { get; set; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unrecognized { get; set; }
}
