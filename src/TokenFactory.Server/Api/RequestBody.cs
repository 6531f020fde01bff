using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace TokenFactory.Server.Api;

/// <summary>
/// Reads a JSON body with OpenAI's errors: 413 past the size limit, 400 for unparsable JSON, and 400 naming
/// the parameter whose value has the wrong type.
/// </summary>
internal static class RequestBody
{
    public static async Task<T> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> type) where T : class
    {
        long limit = context.RequestServices.GetRequiredService<IOptions<ServerOptions>>().Value.MaxRequestBodyBytes;
        // Kestrel enforces the limit on the stream too (chunked bodies); checking the header first answers
        // without reading a byte of an oversized upload.
        if (context.Request.ContentLength > limit)
            throw TooLarge(limit);
        var sizeFeature = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (sizeFeature is { IsReadOnly: false })
            sizeFeature.MaxRequestBodySize = limit;

        T? value;
        try
        {
            value = await JsonSerializer.DeserializeAsync(context.Request.Body, type, context.RequestAborted);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw TooLarge(limit);
        }
        catch (JsonException e)
        {
            throw FromJsonException(e);
        }
        return value ?? throw OpenAiException.Invalid("The request body must be a JSON object.", null);
    }

    private static OpenAiException TooLarge(long limit) =>
        new(413, $"The request body is larger than the server's limit of {limit} bytes.", OpenAiErrorTypes.InvalidRequest, code: "request_too_large");

    internal static OpenAiException FromJsonException(JsonException e)
    {
        // The reader's own exceptions (malformed JSON) arrive as the inner exception; conversion failures
        // (a string where a number belongs) have none, or an InvalidOperationException.
        bool malformed = e.InnerException is JsonException || e.Path is null or "$";
        string? param = ParamFromPath(e.Path);
        if (malformed || param is null)
            return OpenAiException.Invalid(
                $"We could not parse the JSON body of your request: {FirstSentence(e.Message)}", null, "invalid_json");
        return OpenAiException.Invalid($"Invalid type for '{param}': {Describe(e)}", param, "invalid_type");
    }

    private static string Describe(JsonException e)
    {
        string message = FirstSentence(e.Message);
        return message.StartsWith("The JSON value could not be converted", StringComparison.Ordinal)
            ? "the value does not have the expected type."
            : message;
    }

    private static string FirstSentence(string message)
    {
        int at = message.IndexOf(" Path:", StringComparison.Ordinal);
        return at > 0 ? message[..at] : message;
    }

    /// <summary><c>$.messages[0].content</c> becomes <c>messages[0].content</c>.</summary>
    internal static string? ParamFromPath(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$")
            return null;
        return path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
    }
}
