using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace TokenFactory.Server.Generation;

/// <summary>
/// Server-sent events as OpenAI sends them: <c>data: {json}\n\n</c> per chunk, flushed at once so every token
/// reaches the client as it is made, ending with <c>data: [DONE]</c>. Headers go out with the first chunk,
/// so a request that fails before producing anything still gets a normal HTTP error.
/// </summary>
internal sealed class SseWriter(HttpContext context)
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    public bool Started { get; private set; }

    /// <param name="eventName">Written as an <c>event:</c> line before the data (the Responses API and the command
    /// center name their events; chat completions do not).</param>
    public async Task WriteAsync<T>(T chunk, JsonTypeInfo<T> type, string? eventName = null)
    {
        Start();
        var body = context.Response.Body;
        var aborted = context.RequestAborted;
        if (eventName is not null)
            await body.WriteAsync(System.Text.Encoding.UTF8.GetBytes($"event: {eventName}\n"), aborted);
        await body.WriteAsync(DataPrefix, aborted);
        await JsonSerializer.SerializeAsync(body, chunk, type, aborted);
        await body.WriteAsync(EventEnd, aborted);
        await body.FlushAsync(aborted);
    }

    public async Task DoneAsync()
    {
        Start();
        await context.Response.Body.WriteAsync(Done, context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    private void Start()
    {
        if (Started)
            return;
        Started = true;
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no"; // tells nginx-style proxies not to buffer the stream
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
    }
}
