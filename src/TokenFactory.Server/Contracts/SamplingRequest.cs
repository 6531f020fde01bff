using System.Text.Json;
using System.Text.Json.Serialization;

namespace TokenFactory.Server.Contracts;

/// <summary>
/// Fields chat and legacy completions share. Numbers that have a range are read as doubles, so that a value
/// just past a bound (2.0000001) is not rounded onto it before the check.
/// </summary>
public abstract class SamplingRequest : IRequestBody
{
    public string? Model { get; set; }
    public bool? Stream { get; set; }
    public StreamOptions? StreamOptions { get; set; }
    public int? MaxTokens { get; set; }
    public double? Temperature { get; set; }
    public double? TopP { get; set; }
    /// <summary>Not in OpenAI's API; llama.cpp and vLLM accept it.</summary>
    public int? TopK { get; set; }
    public double? MinP { get; set; }
    public double? PresencePenalty { get; set; }
    public double? FrequencyPenalty { get; set; }
    /// <summary>llama.cpp's name for the multiplicative repetition penalty.</summary>
    public double? RepeatPenalty { get; set; }
    public long? Seed { get; set; }

    [JsonConverter(typeof(StringOrArrayConverter))]
    public List<string>? Stop { get; set; }

    public int? N { get; set; }
    public string? User { get; set; }
    /// <summary>llama.cpp's extension: keep generating past end-of-generation tokens.</summary>
    public bool? IgnoreEos { get; set; }

    /// <summary>llama.cpp's extension: a GBNF grammar the answer must match (docs/server.md).</summary>
    public string? Grammar { get; set; }

    /// <summary>Token id (as a string key, as OpenAI sends it) to a bias of -100..100 added to its logit.</summary>
    public Dictionary<string, double>? LogitBias { get; set; }

    // Recognized so that they can be refused by name (or accepted where the value asks for nothing).
    public JsonElement? Metadata { get; set; }
    public bool? Store { get; set; }
    public string? ServiceTier { get; set; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unrecognized { get; set; }

    public virtual IEnumerable<(string Prefix, IRequestBody Body)> NestedBodies() =>
        StreamOptions is null ? [] : [("stream_options.", StreamOptions)];
}

public sealed class StreamOptions : IRequestBody
{
    public bool? IncludeUsage { get; set; }
    /// <summary>OpenAI pads streamed chunks with random text when true; refused (nothing is padded), false accepted.</summary>
    public bool? IncludeObfuscation { get; set; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unrecognized { get; set; }
}
