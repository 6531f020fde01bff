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
    private static readonly byte[] KeepAliveComment = ": keep-alive\n\n"u8.ToArray();

    public bool Started { get; private set; }

    /// <summary>How long a stream may be silent before a keep-alive comment (<see cref="ServerOptions.StreamKeepAliveSeconds"/>).</summary>
    public TimeSpan KeepAliveInterval { get; } = ServerOptions.KeepAliveInterval(
        context.RequestServices?.GetService(typeof(Microsoft.Extensions.Options.IOptions<ServerOptions>)) is Microsoft.Extensions.Options.IOptions<ServerOptions> o ? o.Value.StreamKeepAliveSeconds : 0);

    /// <summary><paramref name="events"/> with keep-alive comments at <see cref="KeepAliveInterval"/>.</summary>
    public IAsyncEnumerable<T> ReadAsync<T>(System.Threading.Channels.ChannelReader<T> events, CancellationToken cancellation) =>
        ReadWithKeepAliveAsync(events, KeepAliveInterval, cancellation);

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
        _lastWrite = System.Diagnostics.Stopwatch.GetTimestamp();
    }

    /// <summary>An SSE comment (readers skip it): traffic for proxies while there is nothing to send.</summary>
    public async Task KeepAliveAsync()
    {
        Start();
        await context.Response.Body.WriteAsync(KeepAliveComment, context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
        _lastWrite = System.Diagnostics.Stopwatch.GetTimestamp();
    }

    /// <summary>When anything last went out (ticks of <see cref="System.Diagnostics.Stopwatch"/>): keep-alives count silence from it.</summary>
    private long _lastWrite = System.Diagnostics.Stopwatch.GetTimestamp();

    /// <summary>
    /// <paramref name="events"/> as they come, with a keep-alive comment written whenever nothing has gone out for
    /// <paramref name="interval"/> (none when it is zero). Silence counts from the last write, not the last event: events
    /// whose text is held back (a pending stop string, a tool call sent whole at its end) send nothing. One timer serves the
    /// whole stream, moved by each wait, so a token costs no allocation here.
    /// </summary>
    public async IAsyncEnumerable<T> ReadWithKeepAliveAsync<T>(System.Threading.Channels.ChannelReader<T> events, TimeSpan interval,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellation = default)
    {
        if (interval <= TimeSpan.Zero)
        {
            await foreach (var item in events.ReadAllAsync(cancellation))
                yield return item;
            yield break;
        }
        var quiet = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        try
        {
            while (true)
            {
                while (events.TryRead(out var ready))
                    yield return ready;
                var silentFor = System.Diagnostics.Stopwatch.GetElapsedTime(_lastWrite);
                if (silentFor >= interval)
                {
                    await KeepAliveAsync();
                    continue;
                }
                quiet.CancelAfter(interval - silentFor);
                bool more;
                try
                {
                    more = await events.WaitToReadAsync(quiet.Token);
                }
                catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
                {
                    // The quiet timer fired: a fresh one for the next wait (a fired source cannot be reset).
                    quiet.Dispose();
                    quiet = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
                    continue;
                }
                if (!more)
                    yield break;
            }
        }
        finally
        {
            quiet.Dispose();
        }
    }

    public async Task DoneAsync()
    {
        Api.StreamEnd.Mark(context);
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
