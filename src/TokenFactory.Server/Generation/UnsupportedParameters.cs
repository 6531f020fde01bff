using System.Text.Json;
using TokenFactory.Server.Api;
using TokenFactory.Server.Contracts;

namespace TokenFactory.Server.Generation;

/// <summary>
/// OpenAI parameters this server recognizes but does not implement (yet). Each is accepted only with a value
/// that asks for nothing (no tools, <c>response_format: text</c>, <c>store: false</c>, …) and otherwise refused
/// with a 400 naming it, so a client never gets free text where it asked for JSON or a tool call.
/// </summary>
internal static class UnsupportedParameters
{
    /// <param name="serviceTiers">Whether <c>service_tier</c>'s classes are honoured here (a fleet router); else only auto/default.</param>
    public static void Check(SamplingRequest r, bool serviceTiers = false)
    {
        if (r.StreamOptions is not null && r.Stream != true)
            throw OpenAiException.Invalid("'stream_options' is only allowed when 'stream' is true.", "stream_options");
        if (r.StreamOptions?.IncludeObfuscation == true)
            throw NotSupported("stream_options.include_obfuscation", "streamed chunks are not padded; send false or leave it out");
        if (r.Store == true)
            throw NotSupported("store", "this server does not store completions for later retrieval");
        if (r.Metadata is { } metadata && !IsEmpty(metadata))
            throw NotSupported("metadata", "metadata belongs to stored completions, which this server does not keep");
        if (!serviceTiers && r.ServiceTier is not (null or "auto" or "default"))
            throw NotSupported("service_tier", $"'{r.ServiceTier}' is not offered; this server has one tier ('auto' or 'default')");
    }

    public static void Check(ChatCompletionRequest r, bool serviceTiers = false)
    {
        Check((SamplingRequest)r, serviceTiers);
        if (r.Modalities is { } modalities && modalities.Any(m => m != "text"))
            throw NotSupported("modalities", "this server produces text only; send [\"text\"] or leave it out");
    }

    public static void Check(CompletionRequest r, bool serviceTiers = false)
    {
        Check((SamplingRequest)r, serviceTiers);
        if (!string.IsNullOrEmpty(r.Suffix))
            throw NotSupported("suffix", "fill-in-the-middle completions are not implemented");
        if (r.BestOf is int bestOf && bestOf != (r.N ?? 1))
            throw NotSupported("best_of", "server-side ranking of candidates is not implemented; best_of may only equal n");
    }

    private static OpenAiException NotSupported(string param, string why) =>
        OpenAiException.Invalid($"'{param}' is not supported by this server: {why}.", param, "unsupported_parameter");

    private static bool IsNull(JsonElement e) => e.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined;

    private static bool IsEmpty(JsonElement e) =>
        IsNull(e) || (e.ValueKind == JsonValueKind.Object && !e.EnumerateObject().Any());
}
