namespace TokenFactory.Server.Api;

/// <summary>An error the API reports in OpenAI's shape: <c>{"error": {"message", "type", "param", "code"}}</c>.</summary>
public sealed class OpenAiException(int status, string message, string type, string? param = null, string? code = null)
    : Exception(message)
{
    public int Status { get; } = status;
    public string Type { get; } = type;
    public string? Param { get; } = param;
    public string? Code { get; } = code;
    /// <summary>Sent as Retry-After when set (503s).</summary>
    public int? RetryAfterSeconds { get; init; }

    public static OpenAiException Invalid(string message, string? param, string? code = null) =>
        new(400, message, OpenAiErrorTypes.InvalidRequest, param, code);
}

/// <summary>The <c>type</c> values OpenAI uses.</summary>
public static class OpenAiErrorTypes
{
    public const string InvalidRequest = "invalid_request_error";
    public const string Server = "server_error";
    public const string Unavailable = "service_unavailable_error";
    public const string NotFound = "not_found_error";
}
