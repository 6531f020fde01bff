using Microsoft.Extensions.Logging;

namespace TokenFactory.Server.Hosting;

internal static partial class Log
{
    [LoggerMessage(2, LogLevel.Information, "Loading {Path}; /health answers 503 until it is ready")]
    public static partial void Loading(ILogger logger, string path);

    [LoggerMessage(3, LogLevel.Information, "Serving model '{Name}' from {Path}: architecture {Architecture}, context {ContextLength} tokens, chat template: {Template}")]
    public static partial void Ready(ILogger logger, string name, string path, string architecture, int contextLength, string template);

    [LoggerMessage(4, LogLevel.Critical, "Could not load {Path}: {Message}; stopping")]
    public static partial void LoadFailed(ILogger logger, Exception exception, string path, string message);

    [LoggerMessage(5, LogLevel.Information, "Listening on {Address}; OpenAI base URL: {BaseUrl}")]
    public static partial void Listening(ILogger logger, string address, string baseUrl);

    [LoggerMessage(6, LogLevel.Error, "Unhandled error on {Path}")]
    public static partial void Unhandled(ILogger logger, Exception exception, string path);

    [LoggerMessage(7, LogLevel.Warning, "Generation failed after the response started on {Path}: {Message}")]
    public static partial void StreamFailed(ILogger logger, string path, string message);

    [LoggerMessage(8, LogLevel.Debug, "Client disconnected from {Path}; its generation was cancelled")]
    public static partial void ClientGone(ILogger logger, string path);

    [LoggerMessage(9, LogLevel.Debug, "Refused {Method} {Path}: {Status} {Code}: {Message}")]
    public static partial void Refused(ILogger logger, string method, string path, int status, string code, string message);

    [LoggerMessage(10, LogLevel.Warning, "Response {Id} was served but its conversation could not be kept for previous_response_id")]
    public static partial void ResponseNotStored(ILogger logger, string id, Exception e);
}
