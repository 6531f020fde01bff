using System.Text.Json.Serialization;

namespace TokenFactory.Server.Contracts;

/// <summary>Fields chat and legacy completions share. Unknown fields are ignored, as OpenAI does.</summary>
public abstract class SamplingRequest
{
    public string? Model { get; set; }
    public bool? Stream { get; set; }
    public StreamOptions? StreamOptions { get; set; }
    public int? MaxTokens { get; set; }
    public float? Temperature { get; set; }
    public float? TopP { get; set; }
    /// <summary>Not in OpenAI's API; llama.cpp and vLLM accept it.</summary>
    public int? TopK { get; set; }
    public float? MinP { get; set; }
    public float? PresencePenalty { get; set; }
    public float? FrequencyPenalty { get; set; }
    /// <summary>llama.cpp's name for the multiplicative repetition penalty.</summary>
    public float? RepeatPenalty { get; set; }
    public long? Seed { get; set; }

    [JsonConverter(typeof(StringOrArrayConverter))]
    public List<string>? Stop { get; set; }

    public int? N { get; set; }
    public string? User { get; set; }
    /// <summary>llama.cpp's extension: keep generating past end-of-generation tokens.</summary>
    public bool? IgnoreEos { get; set; }
}

public sealed class StreamOptions
{
    public bool? IncludeUsage { get; set; }
}
