using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using TokenFactory.Server.Api;
using TokenFactory.Server.Contracts;

namespace TokenFactory.Router.Proxy;

/// <summary>
/// Copies a replica's answer to the client event by event, metering it on the way: a stream's usage chunk (which the
/// router always asks for) is read and dropped unless the client asked for it too; the engine's work a replica adds to
/// the usage is read and removed; the ledger is settled before the last byte (<c>[DONE]</c>, or a body's end), as a
/// single server does. A stream the replica stops sending mid-way ends with an OpenAI error event, never a hang.
/// </summary>
internal sealed class UpstreamRelay(ForwardedWork work, RelayedUsage usage, Func<int, Task> settle, IdleTimeout idle)
{
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    /// <summary>How the answer ended: 200, the replica's error status, or 502 when its stream broke off.</summary>
    public int Status { get; private set; } = 200;

    /// <summary>The error code of a replica's error answer or error event, when there was one.</summary>
    public string? ErrorCode { get; private set; }

    /// <summary>The stream broke off before its end (the replica died, or sent nothing for too long).</summary>
    public bool Cut { get; private set; }

    /// <summary>
    /// Why the answer could not be relayed when nothing of it reached the client (it is not an OpenAI answer, or it
    /// broke off before its end): the client gets this error. Recorded rather than thrown inside YARP's callback.
    /// </summary>
    public OpenAiException? Failure { get; private set; }

    /// <summary>
    /// The relay failed inside YARP's callback (the answer was not OpenAI's, the ledger refused its line, a fault):
    /// recorded rather than thrown, since YARP would answer a bare 502 (or, once the stream began, end it without a
    /// word) and the request would be settled as served. <see cref="ForwardedGeneration"/> answers and settles it.
    /// </summary>
    public void Fail(Exception e)
    {
        if (e is OperationCanceledException or IOException or HttpRequestException)
        {
            Cut = true; // the replica went silent or away while its answer was read
            Failure = new OpenAiException(502, "The replica stopped before its answer was complete.", OpenAiErrorTypes.Server, code: CutCode);
        }
        else
        {
            Failure = ErrorMapper.Map(e);
        }
    }

    /// <summary>Whether the failure is the replica's (its answer was garbage or broke off), not the router's own.</summary>
    public bool FailedUpstream => Failure?.Code is BadResponseCode or CutCode;

    /// <summary>Ends a stream that already reached the client with <paramref name="error"/> as an OpenAI error event, then <c>[DONE]</c>.</summary>
    public static async Task EndStreamAsync(HttpContext context, OpenAiException error)
    {
        var body = context.Response.Body;
        await WriteAsync(body, ErrorEvent(error.Message, error.Code ?? "upstream_error"), context.RequestAborted);
        StreamEnd.Mark(context);
        await body.WriteAsync(Done, context.RequestAborted);
        await body.FlushAsync(context.RequestAborted);
    }

    public const string BadResponseCode = "bad_upstream_response";
    public const string CutCode = "upstream_stream_cut";

    public static OpenAiException NotOpenAi(string what) =>
        new(502, $"The replica answered with {what}, which is not an OpenAI answer.", OpenAiErrorTypes.Server, code: BadResponseCode);

    public async Task CopySseAsync(Stream upstream, HttpContext context)
    {
        var reader = PipeReader.Create(upstream);
        var body = context.Response.Body;
        bool done = false;
        try
        {
            while (!done)
            {
                ReadResult result;
                try
                {
                    result = await reader.ReadAsync(idle.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or IOException or HttpRequestException && !context.RequestAborted.IsCancellationRequested)
                {
                    break; // the replica went silent or away
                }
                idle.Rearm();
                var buffer = result.Buffer;
                while (!done && TryReadEvent(ref buffer, out var evt))
                {
                    if (evt.Length > 0 && (done = await RelayEventAsync(evt, body, context.RequestAborted)))
                        StreamEnd.Mark(context);
                }
                bool oversized = buffer.Length > MaxEventBytes;
                reader.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted || oversized)
                    break; // ended, or not server-sent events at all: either way cut below
            }
        }
        finally
        {
            await reader.CompleteAsync();
        }
        if (!done)
        {
            Cut = true;
            Status = 502;
            if (!context.Response.HasStarted)
            {
                // Headers but no event (vLLM and llama.cpp's server send them at once): nothing reached the client, so
                // the request may still go to another replica.
                Failure = new OpenAiException(502, "The replica stopped before its answer began.", OpenAiErrorTypes.Server, code: CutCode);
                return;
            }
            await EndStreamAsync(context, new OpenAiException(502, "The replica serving this stream stopped before its end; the text above is all it produced.",
                OpenAiErrorTypes.Server, code: CutCode));
        }
    }

    /// <returns>True once the stream's end was relayed.</returns>
    private async Task<bool> RelayEventAsync(ReadOnlySequence<byte> evt, Stream body, CancellationToken aborted)
    {
        // Lines end in LF on the way out, whatever the replica used (SSE allows CRLF and CR too).
        byte[] bytes = evt.ToArray();
        int length = bytes.Length;
        if (bytes.AsSpan().IndexOf((byte)'\r') >= 0)
        {
            length = 0; // compact in place: rare, most servers send LF
            foreach (byte b in bytes)
            {
                if (b != (byte)'\r')
                    bytes[length++] = b;
            }
        }
        while (length > 0 && bytes[length - 1] == (byte)'\n')
            length--;
        if (length < bytes.Length)
            bytes = bytes[..length];
        // One "data:" line (the space after the colon is optional in SSE); anything else passes on as it is.
        if (!bytes.AsSpan().StartsWith("data:"u8) || bytes.AsSpan().IndexOf((byte)'\n') >= 0)
        {
            await WriteAsync(body, bytes, aborted);
            return false;
        }
        var payload = bytes.AsSpan(5).TrimStart((byte)' ');
        if (payload.SequenceEqual("[DONE]"u8))
        {
            // In the ledger before the client can see the end; a stream that was only an error (a vLLM-style replica refusing
            // after its headers) ran nothing: the forwarding withdraws it and counts a refusal instead.
            if (!(Status >= 500 && usage.TokensSeen == 0))
                await settle(Status);
            await body.WriteAsync(Done, aborted);
            await body.FlushAsync(aborted);
            return true;
        }
        JsonObject? chunk;
        try
        {
            chunk = JsonNode.Parse(payload) as JsonObject;
        }
        catch (JsonException)
        {
            chunk = null;
        }
        if (chunk is null)
        {
            await WriteAsync(body, bytes, aborted);
            return false;
        }
        if (chunk["error"] is JsonObject error)
        {
            Status = 502;
            ErrorCode = Text(error["code"]) ?? "upstream_error";
            await WriteAsync(body, bytes, aborted);
            return false;
        }
        int pieces = 0;
        switch (chunk["choices"])
        {
            case null:
                break;
            case JsonArray choices:
                foreach (var choice in choices)
                {
                    // JsonNode's indexers throw on a node of the wrong kind: every level is checked before it is read.
                    if (choice is not JsonObject c || c["delta"] is not (null or JsonObject))
                        throw NotOpenAi("a chunk whose choice or delta is not an object");
                    var delta = c["delta"] as JsonObject;
                    // A forced call streams no text at all: its pieces are tokens generated (and the first one is the first token).
                    string? text = Text(delta?["content"]) ?? Text(delta?["reasoning_content"]) ?? Text(delta?["refusal"]) ?? Text(c["text"]);
                    if (!string.IsNullOrEmpty(text) || delta?["tool_calls"] is JsonArray { Count: > 0 } || delta?["function_call"] is JsonObject)
                        pieces++;
                }
                break;
            default:
                throw NotOpenAi("a chunk whose choices are not a list");
        }
        if (pieces > 0)
            usage.Token(pieces);
        if (chunk["usage"] is JsonObject used)
        {
            usage.Read(used);
            used.Remove("tokenfactory");
            bool usageOnly = chunk["choices"] is JsonArray { Count: 0 };
            if (usageOnly && !work.ClientWantsUsage)
                return false; // the router asked for it to meter; the client did not
            await WriteAsync(body, Encoding.UTF8.GetBytes("data: " + chunk.ToJsonString(OpenAiJson.Default.Options)), aborted);
            return false;
        }
        await WriteAsync(body, bytes, aborted);
        return false;
    }

    public async Task CopyJsonAsync(Stream upstream, HttpContext context)
    {
        byte[] bytes;
        try
        {
            bytes = await ReadAllAsync(upstream);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or HttpRequestException && !context.RequestAborted.IsCancellationRequested)
        {
            Cut = true;
            Failure = new OpenAiException(502, "The replica stopped before its answer was complete.", OpenAiErrorTypes.Server, code: CutCode);
            return;
        }
        catch (OpenAiException e)
        {
            Failure = e;
            return;
        }
        JsonObject? answer;
        try
        {
            answer = JsonNode.Parse(bytes) as JsonObject;
        }
        catch (JsonException)
        {
            answer = null;
        }
        // A completion's answer has choices (each counts as a token seen until the usage says more); embeddings have data.
        bool embeddings = work.Path == ForwardedWork.EmbeddingsPath;
        if (answer is null || (embeddings ? answer["data"] is not JsonArray : answer["choices"] is not JsonArray))
        {
            Failure = new OpenAiException(502, $"The replica answered with something that is not an OpenAI {(embeddings ? "embedding list" : "completion")}.",
                OpenAiErrorTypes.Server, code: BadResponseCode);
            return;
        }
        if (answer["usage"] is JsonObject used)
        {
            usage.Read(used);
            used.Remove("tokenfactory");
        }
        usage.Answered(embeddings ? 0 : ((JsonArray)answer["choices"]!).Count);
        await settle(200); // in the ledger before the client can see the answer
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(answer.ToJsonString(OpenAiJson.Default.Options)), context.RequestAborted);
    }

    /// <summary>A replica's error answer (4xx/5xx): relayed as it is, its code kept for the ledger's refusal count.</summary>
    public async Task CopyErrorAsync(Stream upstream, HttpContext context, int status)
    {
        Status = status;
        byte[] bytes;
        try
        {
            bytes = await ReadAllAsync(upstream);
            if (JsonNode.Parse(bytes) is not JsonObject { } answer || answer["error"] is not JsonObject error)
                throw new JsonException("not an OpenAI error");
            ErrorCode = error["code"] is JsonValue code && code.TryGetValue(out string? text) ? text : $"upstream_{status}";
        }
        catch (Exception e) when (e is JsonException or OperationCanceledException or IOException or HttpRequestException or OpenAiException
            && !context.RequestAborted.IsCancellationRequested)
        {
            Failure = new OpenAiException(502, $"The replica answered {status} with a body that is not an OpenAI error.", OpenAiErrorTypes.Server, code: BadResponseCode);
            return;
        }
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(bytes, context.RequestAborted);
    }

    private async Task<byte[]> ReadAllAsync(Stream upstream)
    {
        using var memory = new MemoryStream();
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            int read;
            while ((read = await upstream.ReadAsync(buffer, idle.Token)) > 0)
            {
                idle.Rearm();
                memory.Write(buffer, 0, read);
                if (memory.Length > MaxBodyBytes)
                    throw new OpenAiException(502, "The replica's answer is larger than the router relays.", OpenAiErrorTypes.Server, code: BadResponseCode);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return memory.ToArray();
    }

    /// <summary>An answer the router buffers (not a stream) may be at most this large.</summary>
    private const int MaxBodyBytes = 64 * 1024 * 1024;

    /// <summary>An event is its lines up to a blank one; empty when the buffer starts with a blank line.</summary>
    private static bool TryReadEvent(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> evt)
    {
        var reader = new SequenceReader<byte>(buffer);
        var end = reader.Position;
        while (reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n'))
        {
            if (line.Length == 0 || line.Length == 1 && line.FirstSpan[0] == (byte)'\r')
            {
                evt = buffer.Slice(0, end);
                buffer = buffer.Slice(reader.Position);
                return true;
            }
            end = reader.Position;
        }
        evt = default;
        return false;
    }

    /// <summary>The node's text when it is a JSON string; null for anything else (a replica's odd field never throws here).</summary>
    private static string? Text(JsonNode? node) => node is JsonValue value && value.TryGetValue(out string? text) ? text : null;

    /// <summary>An event may be at most this large; more without a blank line is not a stream of events.</summary>
    private const int MaxEventBytes = 4 * 1024 * 1024;

    private static async Task WriteAsync(Stream body, byte[] eventWithoutEnd, CancellationToken aborted)
    {
        await body.WriteAsync(eventWithoutEnd, aborted);
        await body.WriteAsync(EventEnd, aborted);
        await body.FlushAsync(aborted);
    }

    private static byte[] ErrorEvent(string message, string code) =>
        Encoding.UTF8.GetBytes("data: " + JsonSerializer.Serialize(
            new ErrorResponse { Error = new ErrorBody { Message = message, Type = OpenAiErrorTypes.Server, Code = code } }, OpenAiJson.Default.ErrorResponse));
}
