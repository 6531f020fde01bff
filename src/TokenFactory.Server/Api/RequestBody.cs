using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using TokenFactory.Server.Contracts;

namespace TokenFactory.Server.Api;

/// <summary>
/// Reads a JSON body, checked once at the edge: 415 unless it is declared <c>application/json</c> (a browser
/// form or <c>text/plain</c> post from another site must not reach the API), 413 past the size limit, 400 for
/// unparsable JSON, a string that is not valid Unicode, a repeated key, a field of the wrong type, or a field
/// the server does not know — each naming the parameter.
/// </summary>
internal static class RequestBody
{
    public static async Task<T> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> type) where T : class =>
        (await ReadWithBytesAsync(context, type, keepBytes: false)).Value;

    /// <summary>The same, and the body's bytes as they came (a router forwards them).</summary>
    public static async Task<(T Value, byte[] Bytes)> ReadWithBytesAsync<T>(HttpContext context, JsonTypeInfo<T> type, bool keepBytes = true) where T : class
    {
        RequireJson(context.Request);
        long limit = context.RequestServices.GetRequiredService<IOptions<ServerOptions>>().Value.MaxRequestBodyBytes;
        var (buffer, length) = await ReadAllAsync(context, limit);
        try
        {
            var json = buffer.AsSpan(0, length);
            JsonBodyValidator.Validate(json);
            T? value;
            try
            {
                value = JsonSerializer.Deserialize(json, type);
            }
            catch (JsonException e)
            {
                throw FromJsonException(e);
            }
            if (value is null)
                throw OpenAiException.Invalid("The request body must be a JSON object.", null, "invalid_json");
            if (value is IRequestBody body)
                RejectUnrecognized(body, "");
            return (value, keepBytes ? json.ToArray() : []);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// <c>application/json</c>, with no charset or UTF-8 (RFC 8259: JSON between systems is UTF-8). Anything else
    /// is what a cross-site form or <c>fetch</c> without a preflight can send, so it never reaches the API.
    /// </summary>
    internal static void RequireJson(HttpRequest request)
    {
        if (MediaTypeHeaderValue.TryParse(request.ContentType, out var media)
            && media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            && (media.Charset.Length == 0 || media.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase)))
            return;
        string given = string.IsNullOrEmpty(request.ContentType) ? "no Content-Type" : $"Content-Type '{request.ContentType}'";
        throw new OpenAiException(415, $"The request body must be JSON sent with 'Content-Type: application/json' (got {given}).",
            OpenAiErrorTypes.InvalidRequest, code: "unsupported_media_type");
    }

    /// <summary>The whole body in a pooled buffer (the caller returns it), within <paramref name="limit"/> bytes.</summary>
    private static async Task<(byte[] Buffer, int Length)> ReadAllAsync(HttpContext context, long limit)
    {
        // Kestrel enforces the limit on the stream too (chunked bodies); checking the header first answers
        // without reading a byte of an oversized upload.
        if (context.Request.ContentLength > limit)
            throw TooLarge(limit);
        var sizeFeature = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (sizeFeature is { IsReadOnly: false })
            sizeFeature.MaxRequestBodySize = limit;
        int initial = (int)Math.Clamp(context.Request.ContentLength ?? 4096, 1, limit + 1);
        var buffer = ArrayPool<byte>.Shared.Rent(initial);
        int length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 2, limit + 1));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }
                int read = await context.Request.Body.ReadAsync(buffer.AsMemory(length), context.RequestAborted);
                if (read == 0)
                    return (buffer, length);
                length += read;
                if (length > limit)
                    throw TooLarge(limit);
            }
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw TooLarge(limit);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    private static void RejectUnrecognized(IRequestBody body, string prefix)
    {
        if (body.Unrecognized is { Count: > 0 } unknown)
        {
            string name = prefix + unknown.Keys.First();
            throw OpenAiException.Invalid($"Unrecognized request argument supplied: {name}", name, "unknown_parameter");
        }
        foreach (var (nestedPrefix, nested) in body.NestedBodies())
            RejectUnrecognized(nested, prefix + nestedPrefix);
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
