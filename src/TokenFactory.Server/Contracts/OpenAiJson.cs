using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TokenFactory.Server.Contracts;

/// <summary>
/// The serializer context the API uses: <see cref="OpenAiJsonContext"/>'s settings plus relaxed escaping, so
/// quotes and non-ASCII text go out as OpenAI writes them (<c>\"</c>, <c>é</c>) instead of <c>\u0022</c>. Safe
/// here because responses are JSON for API clients, never embedded in HTML.
/// </summary>
public static class OpenAiJson
{
    public static OpenAiJsonContext Default { get; } = new(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
