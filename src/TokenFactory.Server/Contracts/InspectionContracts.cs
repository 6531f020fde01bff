using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace TokenFactory.Server.Contracts;

/// <summary>llama.cpp server's POST /tokenize.</summary>
public sealed class TokenizeRequest : IRequestBody
{
    public string? Content { get; set; }
    public bool? AddSpecial { get; set; }
    public bool? ParseSpecial { get; set; }
    public bool? WithPieces { get; set; }
    /// <summary>Optional: when given it must name the served model (and one the caller's key may use).</summary>
    public string? Model { get; set; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unrecognized { get; set; }
}

public sealed class TokenizeResponse
{
    public required int[] Tokens { get; init; }
}

public sealed class TokenizeWithPiecesResponse
{
    public required List<TokenWithPiece> Tokens { get; init; }
}

/// <summary><c>piece</c> is a string when the token's bytes are valid UTF-8, else the byte values (as llama.cpp does).</summary>
public sealed class TokenWithPiece
{
    public required int Id { get; init; }
    public required JsonNode Piece { get; init; }
}

public sealed class DetokenizeRequest : IRequestBody
{
    public int[]? Tokens { get; set; }
    /// <summary>Optional: when given it must name the served model (and one the caller's key may use).</summary>
    public string? Model { get; set; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unrecognized { get; set; }
}

public sealed class DetokenizeResponse
{
    public required string Content { get; init; }
}

public sealed class ApplyTemplateRequest : IRequestBody
{
    public JsonArray? Messages { get; set; }
    public JsonArray? Tools { get; set; }
    public bool? AddGenerationPrompt { get; set; }
    public Dictionary<string, JsonNode?>? ChatTemplateKwargs { get; set; }
    /// <summary>Optional: when given it must name the served model (and one the caller's key may use).</summary>
    public string? Model { get; set; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unrecognized { get; set; }
}

public sealed class ApplyTemplateResponse
{
    public required string Prompt { get; init; }
}

public sealed class HealthResponse
{
    public required string Status { get; init; }
    public string? Message { get; init; }
}
