using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TokenFactory.Engine;
using TokenFactory.Server.Contracts;
using TokenFactory.Server.Fleet;
using TokenFactory.Server.Generation;
using TokenFactory.Server.Hosting;

namespace TokenFactory.Server.Api;

/// <summary>
/// POST /v1/responses: OpenAI's Responses API over the same planning, engine and readers as chat completions — one
/// answer as output items (a message, function calls), whole or as the API's semantic stream events.
/// </summary>
internal static class ResponsesEndpoint
{
    public static async Task<IResult> PlanAsync(HttpContext context, EngineHost host, TimeProvider time, IOptions<ServerOptions> options, TokenFactory.Floor.FloorService floor)
    {
        long started = time.GetTimestamp();
        var request = await RequestBody.ReadAsync(context, OpenAiJson.Default.ResponsesRequest);
        string team = Floor.CallerFeature.Of(context).TeamId ?? "";
        JsonArray? previous = null;
        if (request.PreviousResponseId is { } previousId)
        {
            // Another team's response reads as missing, so ids cannot be probed.
            var stored = await floor.Store.GetResponseAsync(previousId, time.GetUtcNow(), context.RequestAborted);
            if (stored is null || stored.TeamId != team)
                throw OpenAiException.Invalid($"No response '{previousId}' to continue: it does not exist, has expired, or belongs to another team.",
                    "previous_response_id", "previous_response_not_found");
            previous = JsonNode.Parse(stored.Conversation)!.AsArray();
        }
        var chatRequest = ResponsesRequestMapping.ToChat(request, previous);
        ChatCompletionsEndpoint.ChatPlan chat;
        try
        {
            chat = ChatCompletionsEndpoint.Prepare(host, options.Value, chatRequest, context.RequestAborted);
            if (chat.StrictTools is { } strictTools)
                context.Response.Headers["x-tokenfactory-strict-tools"] = strictTools;
        }
        catch (OpenAiException e) when (e.Param is { } param && Renamed(param) != param)
        {
            // Checked as the chat request it became: the error names the field the client sent.
            throw new OpenAiException(e.Status, e.Message, e.Type, Renamed(param), e.Code) { RetryAfterSeconds = e.RetryAfterSeconds };
        }
        string id = FleetRequest.Of(context)?.RequestId ?? "resp_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var shell = new JsonObject
        {
            ["id"] = id, ["object"] = "response", ["created_at"] = time.GetUtcNow().ToUnixTimeSeconds(), ["status"] = "in_progress",
            ["error"] = null, ["incomplete_details"] = null, ["model"] = host.Source!.Name, ["instructions"] = request.Instructions,
            ["max_output_tokens"] = request.MaxOutputTokens, ["temperature"] = request.Temperature ?? 1.0, ["top_p"] = request.TopP ?? 1.0,
            ["parallel_tool_calls"] = request.ParallelToolCalls ?? true, ["tool_choice"] = request.ToolChoice is { } c ? JsonNode.Parse(c.GetRawText()) : "auto",
            ["tools"] = request.Tools?.DeepClone() ?? new JsonArray(), ["text"] = request.Text?.DeepClone() ?? new JsonObject { ["format"] = new JsonObject { ["type"] = "text" } },
            ["previous_response_id"] = request.PreviousResponseId, ["store"] = request.Store != false, ["metadata"] = new JsonObject(),
            ["output"] = new JsonArray(), ["usage"] = null,
        };
        // What previous_response_id will continue from: this conversation without its instructions, then the answer.
        Func<JsonObject, Task>? save = null;
        if (request.Store != false)
        {
            var conversation = new JsonArray([.. chatRequest.Messages!.Skip(request.Instructions is null ? 0 : 1).Select(m => m?.DeepClone())]);
            save = answer =>
            {
                conversation.Add(answer);
                var now = time.GetUtcNow();
                return floor.Store.SaveResponseAsync(new TokenFactory.Floor.Ledger.StoredResponse(id, team, now,
                    now + TimeSpan.FromHours(Math.Max(0, floor.Options.ResponseRetentionHours)), conversation.ToJsonString()));
            };
        }
        return new Work(chat, id, host.Source.Name, shell, started, request.Stream == true, save) { User = request.User };
    }

    /// <summary>A chat request's field name as the Responses API spells it.</summary>
    private static string Renamed(string param) => param switch
    {
        _ when param.StartsWith("response_format.json_schema.", StringComparison.Ordinal) => "text.format." + param["response_format.json_schema.".Length..],
        "response_format" or "response_format.json_schema" => "text.format",
        _ when param.StartsWith("response_format.", StringComparison.Ordinal) => "text.format." + param["response_format.".Length..],
        "max_completion_tokens" => "max_output_tokens",
        "messages" => "input",
        _ when param.StartsWith("messages[", StringComparison.Ordinal) => "input", // indices differ once instructions and earlier turns are in
        _ when param.StartsWith("tools[", StringComparison.Ordinal) => param.Replace(".function.", ".", StringComparison.Ordinal),
        "tool_choice.function.name" => "tool_choice.name",
        _ => param,
    };

    /// <param name="save">Keeps the conversation and its answer for previous_response_id (null with store: false).</param>
    private sealed class Work(ChatCompletionsEndpoint.ChatPlan chat, string id, string model, JsonObject shell, long started, bool stream, Func<JsonObject, Task>? save)
        : GenerationWork(chat.Engine, chat.Requests, chat.N, id, model, chat.PromptTokens, started)
    {
        public override bool Streams => stream;

        public override async Task RespondAsync(HttpContext context, ChoiceRunner runner, Settlement settlement)
        {
            var output = new ResponseOutput(chat.NewReader());
            var events = stream ? new EventWriter(context) : null;
            // The opening events wait for the engine's first word: a request refused before it ran (displaced from a full
            // queue) is then still an HTTP error with Retry-After, withdrawn from the ledger, as a chat stream's is.
            bool begun = false;
            async Task BeginAsync()
            {
                if (events is null || begun)
                    return;
                begun = true;
                await events.WriteAsync("response.created", new JsonObject { ["response"] = shell.DeepClone() });
                await events.WriteAsync("response.in_progress", new JsonObject { ["response"] = shell.DeepClone() });
            }
            GenerationSummary? final = null;
            await foreach (var e in events is null ? runner.Events.ReadAllAsync(context.RequestAborted) : events.ReadAsync(runner.Events, context.RequestAborted))
            {
                Exception? error = e.Error ?? (e.Update!.Final is { } ended ? GenerationPlanner.Cancellation(context, ended) : null);
                if (error is not null)
                {
                    // Before anything was sent (a keep-alive sends the headers) it is the HTTP answer; after, the stream's end.
                    if (events is null || !events.Started)
                        throw error;
                    settlement.Failed(ErrorMapper.StatusOf(context, error), error);
                    await BeginAsync();
                    await FailAsync(events, error, output);
                    return;
                }
                await BeginAsync();
                if (e.Update!.Final is { } done)
                {
                    final = done;
                    bool cutShort = done.FinishReason == FinishReason.Length;
                    await output.AddAsync(output.Reader.Finish(cutShort), events, end: true, cutShort);
                    continue;
                }
                await output.AddAsync(output.Reader.Read(e.Update), events, end: false);
            }
            var summary = final ?? throw new InvalidOperationException("The engine ended a generation without its final update.");
            var response = (JsonObject)shell.DeepClone();
            bool cut = summary.FinishReason == FinishReason.Length;
            response["status"] = cut ? "incomplete" : "completed";
            response["incomplete_details"] = cut ? new JsonObject { ["reason"] = "max_output_tokens" } : null;
            response["output"] = output.Items();
            var work = EngineWorkUsage.For(context, [summary]);
            response["usage"] = new JsonObject
            {
                ["input_tokens"] = summary.PromptTokens, ["input_tokens_details"] = new JsonObject { ["cached_tokens"] = summary.CachedPromptTokens },
                ["output_tokens"] = summary.CompletionTokens, ["output_tokens_details"] = new JsonObject { ["reasoning_tokens"] = output.Reader.ReasoningTokens },
                ["total_tokens"] = summary.PromptTokens + summary.CompletionTokens,
            };
            if (work is not null)
                response["usage"]!["tokenfactory"] = System.Text.Json.JsonSerializer.SerializeToNode(work, OpenAiJson.Default.TokenFactoryUsage);
            // In the ledger before the client can see the end; a streamed answer whose line the ledger refused ends with that error.
            if (events is null)
                await settlement.CompleteAsync();
            else if (await settlement.TryCompleteAsync(context) is { } refused)
            {
                await FailAsync(events, refused, output);
                return;
            }
            if (save is not null)
            {
                try
                {
                    await save(output.AsChatMessage());
                }
                catch (Exception e) when (e is System.Data.Common.DbException or TimeoutException)
                {
                    // The answer is served and charged: a conversation that could not be kept must not turn it into an error
                    // a client would retry (and pay for twice). It says so instead: store false.
                    response["store"] = false;
                    var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ResponsesEndpoint));
                    Log.ResponseNotStored(logger, Id, e);
                }
            }
            if (events is not null)
                await events.WriteAsync(cut ? "response.incomplete" : "response.completed", new JsonObject { ["response"] = response });
            else
            {
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync(response.ToJsonString(OpenAiJson.Default.Options), context.RequestAborted);
            }
        }

        /// <summary>
        /// A streamed answer that failed after it began: an <c>error</c> event, then <c>response.failed</c> with the response
        /// as it stood (status failed, the error, the output so far), the terminal event the SDKs wait for.
        /// </summary>
        private async Task FailAsync(EventWriter events, Exception error, ResponseOutput output)
        {
            var mapped = ErrorMapper.Map(error);
            await events.WriteAsync("error", new JsonObject { ["code"] = mapped.Code, ["message"] = mapped.Message, ["param"] = mapped.Param });
            var response = (JsonObject)shell.DeepClone();
            response["status"] = "failed";
            response["error"] = new JsonObject { ["code"] = mapped.Code, ["message"] = mapped.Message };
            response["output"] = output.Items();
            await events.WriteAsync("response.failed", new JsonObject { ["response"] = response });
        }
    }

    /// <summary>Server-sent events in the Responses API's form: <c>event: type</c>, then the payload with its type and sequence number.</summary>
    internal sealed class EventWriter(HttpContext context)
    {
        private readonly SseWriter _sse = new(context);
        private int _sequence;

        public bool Started => _sse.Started;

        /// <summary>The run's events, with keep-alive comments while it is silent (<see cref="SseWriter.ReadAsync"/>).</summary>
        public IAsyncEnumerable<ChoiceEvent> ReadAsync(System.Threading.Channels.ChannelReader<ChoiceEvent> events, CancellationToken cancellation) =>
            _sse.ReadAsync(events, cancellation);

        public Task WriteAsync(string type, JsonObject payload)
        {
            payload["type"] = type;
            payload["sequence_number"] = _sequence++;
            return _sse.WriteAsync(payload, OpenAiJson.Default.JsonObject, type);
        }
    }
}
