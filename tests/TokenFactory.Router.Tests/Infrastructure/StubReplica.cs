using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace TokenFactory.Router.Tests.Infrastructure;

/// <summary>
/// An OpenAI-compatible upstream the test scripts: real Kestrel on 127.0.0.1, answering /health, /v1/models, (when
/// given a status) /internal/status, and generation with whatever <see cref="Generate"/> does: the well-behaved
/// answer by default, or a refusal, a cut stream, silence, garbage. It records every generation request it received.
/// </summary>
public sealed class StubReplica : IAsyncDisposable
{
    public sealed record Received(string Path, IReadOnlyDictionary<string, string> Headers, JsonObject Body, DateTime At);

    private readonly WebApplication _app;

    private StubReplica(WebApplication app, Uri baseAddress, string model)
    {
        _app = app;
        BaseAddress = baseAddress;
        Model = model;
    }

    public Uri BaseAddress { get; }
    /// <summary>host:port, as the router names it in x-tokenfactory-replica, the ledger and metrics.</summary>
    public string Name => BaseAddress.Authority;
    public string Model { get; }
    public int Port => BaseAddress.Port;
    public ConcurrentQueue<Received> Requests { get; } = new();
    public bool Healthy { get; set; } = true;

    /// <summary>
    /// Frozen, as a process stopped with SIGSTOP or cut off by a partition looks to its peers: connections are still
    /// accepted, but every request that arrives (health, status, models, generation) is held without an answer until
    /// <see cref="Thaw"/>; answers already under way are the handlers' own.
    /// </summary>
    public void Freeze() => Interlocked.CompareExchange(ref _thawed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), null);

    public void Thaw() => Interlocked.Exchange(ref _thawed, null)?.TrySetResult();

    private TaskCompletionSource? _thawed;
    /// <summary>What /internal/status answers (a TokenFactory replica); null: 404, as a third-party server.</summary>
    public Func<JsonObject?> Status { get; set; } = () => null;
    /// <summary>Answers a generation request (the body already read and recorded).</summary>
    public Func<HttpContext, JsonObject, Task> Generate { get; set; } = Answer(3);

    public static async Task<StubReplica> StartAsync(string model = "stub-model", int port = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        StubReplica? stub = null;
        app.Use(async (context, next) =>
        {
            if (Volatile.Read(ref stub!._thawed) is { } thawed)
                await thawed.Task.WaitAsync(context.RequestAborted);
            await next(context);
        });
        app.MapGet("/health", () => stub!.Healthy ? Results.Ok(new { status = "ok" }) : Results.StatusCode(503));
        app.MapGet("/v1/models", () => Results.Json(new { @object = "list", data = new[] { new { id = stub!.Model, @object = "model" } } }));
        app.MapGet("/internal/status", () => stub!.Status() is { } status ? Results.Text(status.ToJsonString(), "application/json") : Results.NotFound());
        app.MapPost("/{**path}", async (HttpContext context) =>
        {
            var body = (await JsonNode.ParseAsync(context.Request.Body))!.AsObject();
            stub!.Requests.Enqueue(new Received(context.Request.Path, context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString()), body, DateTime.UtcNow));
            await stub.Generate(context, body);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        stub = new StubReplica(app, new Uri(address), model);
        return stub;
    }

    /// <summary>
    /// A well-behaved completion of <paramref name="tokens"/> pieces ("t0", "t1", …), streamed when asked (each after
    /// <paramref name="delay"/>), with OpenAI's usage (prompt: 10 tokens) and a TokenFactory replica's engine work.
    /// </summary>
    public static Func<HttpContext, JsonObject, Task> Answer(int tokens, TimeSpan delay = default, Func<Task>? gate = null) => async (context, body) =>
    {
        if (gate is not null)
            await gate();
        bool chat = context.Request.Path.Value!.EndsWith("chat/completions", StringComparison.Ordinal);
        var usage = new JsonObject
        {
            ["prompt_tokens"] = 10, ["completion_tokens"] = tokens, ["total_tokens"] = 10 + tokens,
            ["tokenfactory"] = new JsonObject { ["queue_seconds"] = 0.01, ["prefill_seconds"] = 0.02, ["decode_seconds"] = 0.03, ["energy_joules"] = 5.0, ["energy_estimated"] = true,
                ["time_to_first_token_seconds"] = 0.05 },
        };
        string id = (chat ? "chatcmpl-" : "cmpl-") + "stub";
        if ((bool?)body["stream"] != true)
        {
            string text = string.Concat(Enumerable.Range(0, tokens).Select(i => $"t{i}"));
            var choice = chat
                ? new JsonObject { ["index"] = 0, ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = text }, ["finish_reason"] = "length" }
                : new JsonObject { ["index"] = 0, ["text"] = text, ["finish_reason"] = "length" };
            await Results.Text(new JsonObject { ["id"] = id, ["object"] = chat ? "chat.completion" : "text_completion", ["model"] = body["model"]?.DeepClone(), ["choices"] = new JsonArray(choice), ["usage"] = usage }.ToJsonString(),
                "application/json").ExecuteAsync(context);
            return;
        }
        context.Response.ContentType = "text/event-stream";
        for (int i = 0; i < tokens; i++)
        {
            if (delay > TimeSpan.Zero)
                await Task.Delay(delay, context.RequestAborted);
            await WriteEventAsync(context, Chunk(chat, id, $"t{i}"));
        }
        if ((bool?)body["stream_options"]?["include_usage"] == true)
            await WriteEventAsync(context, new JsonObject { ["id"] = id, ["object"] = chat ? "chat.completion.chunk" : "text_completion", ["choices"] = new JsonArray(), ["usage"] = usage });
        await context.Response.WriteAsync("data: [DONE]\n\n");
    };

    /// <summary>
    /// Streams <paramref name="tokens"/> pieces ("t0", "t1", … or, given <paramref name="piece"/>, its chunks), then drops the
    /// connection (the replica died mid-answer).
    /// </summary>
    public static Func<HttpContext, JsonObject, Task> CutAfter(int tokens, Func<int, JsonObject>? piece = null) => async (context, body) =>
    {
        context.Response.ContentType = "text/event-stream";
        for (int i = 0; i < tokens; i++)
            await WriteEventAsync(context, piece?.Invoke(i) ?? Chunk(true, "chatcmpl-stub", $"t{i}"));
        await Task.Delay(50);
        context.Abort();
    };

    /// <summary>Piece <paramref name="i"/> of one tool call, as a forced call streams it (no text at all).</summary>
    public static JsonObject CallPiece(int i)
    {
        var call = new JsonObject { ["index"] = 0, ["function"] = new JsonObject { ["arguments"] = $"a{i}" } };
        if (i == 0)
        {
            call["id"] = "call_stub";
            call["type"] = "function";
            call["function"]!["name"] = "get_time";
        }
        return new JsonObject
        {
            ["id"] = "chatcmpl-stub", ["object"] = "chat.completion.chunk",
            ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = new JsonObject { ["tool_calls"] = new JsonArray(call) }, ["finish_reason"] = null }),
        };
    }

    /// <summary>Streams <paramref name="tokens"/> pieces, then sends nothing more for a long time.</summary>
    public static Func<HttpContext, JsonObject, Task> SilentAfter(int tokens) => async (context, body) =>
    {
        context.Response.ContentType = "text/event-stream";
        for (int i = 0; i < tokens; i++)
            await WriteEventAsync(context, Chunk(true, "chatcmpl-stub", $"t{i}"));
        await Task.Delay(TimeSpan.FromMinutes(2), context.RequestAborted).ContinueWith(_ => { });
    };

    /// <summary>An OpenAI error answer.</summary>
    public static Func<HttpContext, JsonObject, Task> Error(int status, string code, int? retryAfter = null) => async (context, body) =>
    {
        if (retryAfter is { } seconds)
            context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(new JsonObject { ["error"] = new JsonObject { ["message"] = $"stub refuses: {code}", ["type"] = "invalid_request_error", ["param"] = null, ["code"] = code } }.ToJsonString());
    };

    /// <summary>Drops the connection before any answer (as a process that dies on receipt).</summary>
    public static Func<HttpContext, JsonObject, Task> Drop() => (context, body) =>
    {
        context.Abort();
        return Task.CompletedTask;
    };

    /// <summary>Answers 200 with a body that is not an OpenAI completion.</summary>
    public static Func<HttpContext, JsonObject, Task> Garbage() => (context, body) =>
        context.Response.WriteAsync("<html>gateway</html>");

    /// <summary>A TokenFactory replica's status with these figures (the rest idle).</summary>
    public static JsonObject StatusOf(string model, int maxRunning = 8, long pendingPrefill = 0, double prefillPerSecond = 5000, int running = 0, bool draining = false) => new()
    {
        ["model"] = model, ["state"] = draining ? "draining" : "ready", ["context_length"] = 4096, ["kv_block_size"] = 16, ["kv_blocks_total"] = 1024,
        ["kv_blocks_free"] = 1024, ["running"] = running, ["max_running"] = maxRunning, ["waiting"] = 0, ["waiting_requests"] = 0, ["max_waiting_requests"] = 64,
        ["pending_prefill_tokens"] = pendingPrefill, ["prefill_tokens_per_second"] = prefillPerSecond, ["decode_tokens_per_second"] = 100.0,
        ["prefix_caching"] = true, ["draining"] = draining,
    };

    private static JsonObject Chunk(bool chat, string id, string text) => new()
    {
        ["id"] = id,
        ["object"] = chat ? "chat.completion.chunk" : "text_completion",
        ["choices"] = new JsonArray(chat
            ? new JsonObject { ["index"] = 0, ["delta"] = new JsonObject { ["content"] = text }, ["finish_reason"] = null }
            : new JsonObject { ["index"] = 0, ["text"] = text, ["finish_reason"] = null }),
    };

    private static async Task WriteEventAsync(HttpContext context, JsonObject chunk)
    {
        await context.Response.WriteAsync("data: " + chunk.ToJsonString() + "\n\n");
        await context.Response.Body.FlushAsync();
    }

    private int _stopped;

    /// <summary>Stops at once, dropping every open connection (a process killed with SIGKILL, as far as its peers can tell).</summary>
    public async Task KillAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
            return;
        using var now = new CancellationTokenSource();
        await now.CancelAsync();
        try
        {
            await _app.StopAsync(now.Token);
        }
        catch (OperationCanceledException)
        {
            // the point: nothing is waited for
        }
        await _app.DisposeAsync();
    }

    public async ValueTask DisposeAsync() => await KillAsync();
}
