using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TokenFactory.Chat;
using TokenFactory.Engine;
using TokenFactory.Server.Contracts;
using TokenFactory.Server.Fleet;
using TokenFactory.Server.Generation;
using TokenFactory.Server.Hosting;

namespace TokenFactory.Server.Api;

/// <summary>POST /v1/chat/completions.</summary>
internal static class ChatCompletionsEndpoint
{
    /// <summary>Parses, checks and tokenizes the request; the floor's filter admits and runs what this returns.</summary>
    public static async Task<IResult> PlanAsync(HttpContext context, EngineHost host, TimeProvider time, IOptions<ServerOptions> options)
    {
        long started = time.GetTimestamp();
        var request = await RequestBody.ReadAsync(context, OpenAiJson.Default.ChatCompletionRequest);
        var chat = Prepare(host, options.Value, request, context.RequestAborted);
        if (chat.StrictTools is { } strictTools)
            context.Response.Headers["x-tokenfactory-strict-tools"] = strictTools;
        var info = new ResponseInfo(
            FleetRequest.Of(context)?.RequestId ?? "chatcmpl-" + Guid.NewGuid().ToString("N"),
            time.GetUtcNow().ToUnixTimeSeconds(),
            host.Source!.Name,
            host.SystemFingerprint,
            chat.NewReader);
        return new Work(chat.Engine, chat.Requests, info, chat.PromptTokens, started, chat.N, chat.IgnoreEos,
            request.Stream == true, request.StreamOptions?.IncludeUsage == true) { User = request.User ?? request.SafetyIdentifier };
    }

    /// <summary>A chat request checked, rendered and tokenized: the engine requests, and how each choice's answer is read.</summary>
    /// <param name="StrictTools">The <c>x-tokenfactory-strict-tools</c> header's value: how much of the tools' strict was enforced (null: none asked).</param>
    internal sealed record ChatPlan(IInferenceEngine Engine, IReadOnlyList<GenerationRequest> Requests, int PromptTokens, int N, bool IgnoreEos, Func<ChoiceReader> NewReader,
        string? StrictTools = null);

    /// <summary>Everything a chat request becomes before it runs (the Responses API runs its requests through it too).</summary>
    internal static ChatPlan Prepare(EngineHost host, ServerOptions options, ChatCompletionRequest request, CancellationToken cancellation = default)
    {
        var engine = host.GetGeneratingEngine();
        host.EnsureModel(request.Model);
        UnsupportedParameters.Check(request);
        var schema = ResponseFormat.Parse(request.ResponseFormat);
        var tools = Generation.Tools.ToolSet.Parse(request.Tools, request.ToolChoice, request.ParallelToolCalls);
        var syntax = Generation.Tools.ToolCallSyntax.Detect(engine.ChatTemplate.Source);
        if (tools is not null && !engine.ChatTemplate.Source.Contains("tools", StringComparison.Ordinal))
            throw OpenAiException.Invalid("This model's chat template does not describe tools to the model, so it could not know them: serve it with a template that does (--chat-template-file).",
                "tools", "unsupported_parameter");
        if (tools?.ForcedCall(syntax) is { } forced)
        {
            if (schema is not null)
                throw OpenAiException.Invalid("'response_format' cannot be combined with a 'tool_choice' that forces a call: the call's arguments follow the tool's schema.", "response_format");
            schema = forced;
        }
        var strict = tools?.TriggeredCall(syntax) ?? new Generation.Tools.StrictTools(null, null);
        if (strict.Schema is not null && (schema is not null || request.Grammar is not null))
            strict = new Generation.Tools.StrictTools(null, (request.Grammar is not null ? "'grammar'" : "'response_format'") + " constrains the whole answer instead");
        var triggered = strict.Schema;
        schema = GrammarParameter.Combine(request.Grammar, schema, request.ResponseFormat is null ? "tool_choice" : "response_format");

        var (maxTokens, maxTokensParam) = GenerationPlanner.ChatMaxTokens(request.MaxTokens, request.MaxCompletionTokens);
        var plan = GenerationPlanner.Validate(request, maxTokens, maxTokensParam);
        int? logprobs = null;
        if (request.TopLogprobs is int top && (top < 0 || top > LogprobCalculator.MaxTop))
            throw OpenAiException.Invalid($"'top_logprobs' must be between 0 and {LogprobCalculator.MaxTop}.", "top_logprobs");
        if (request.TopLogprobs is not null && request.Logprobs != true)
            throw OpenAiException.Invalid("'top_logprobs' requires 'logprobs' to be true.", "top_logprobs");
        if (request.Logprobs == true)
            logprobs = request.TopLogprobs ?? 0;

        bool splitReasoning = request.ReasoningFormat switch
        {
            null or "auto" or "deepseek" => true,
            "none" => false,
            _ => throw OpenAiException.Invalid("'reasoning_format' must be one of auto, deepseek, none.", "reasoning_format"),
        };
        var messages = ChatPrompt.Normalize(request.Messages);
        var prompt = ChatPrompt.RenderForTokens(engine.ChatTemplate, engine.Tokenizer, messages, tools is null ? null : request.Tools, addGenerationPrompt: true,
            request.ChatTemplateKwargs, cancellation);
        var (openTag, closeTag) = ReasoningSplitter.TagsFor(engine.ChatTemplate.Source);
        bool opensReasoning = ReasoningSplitter.PromptOpensReasoning(prompt.Text, openTag);
        if (opensReasoning && schema is not null)
        {
            // A constraint over the whole answer holds from its first token, and this prompt leaves the model inside its
            // reasoning block: the constrained text would be read as thinking and the answer left empty. The answer
            // starts now, as the template renders it with thinking off (enable_thinking: false), or with the block closed
            // where the template has no such switch.
            var off = new Dictionary<string, JsonNode?>(request.ChatTemplateKwargs ?? []) { ["enable_thinking"] = false };
            var answering = ChatPrompt.RenderForTokens(engine.ChatTemplate, engine.Tokenizer, messages, tools is null ? null : request.Tools, addGenerationPrompt: true,
                off, cancellation);
            prompt = ReasoningSplitter.PromptOpensReasoning(answering.Text, openTag) ? prompt with { Text = prompt.Text + closeTag + "\n" } : answering;
            opensReasoning = false;
        }
        var tokens = ChatPrompt.Tokenize(engine.Tokenizer, prompt);
        var requests = GenerationPlanner.Build(plan, tokens, engine, options, ChatPrompt.TemplateStops(engine), logprobs, echoLogprobs: false, "messages");
        if (schema is not null)
        {
            // A stop string could end the JSON mid-value; the grammar decides where the answer ends.
            if (plan.Stop.Count > 0)
                throw OpenAiException.Invalid("'stop' cannot be combined with structured output, a grammar or a forced tool call: the answer ends where its constraint does.", "stop");
            requests = [.. requests.Select(r => r with { OutputSchema = schema, Stop = [] })];
        }
        if (triggered is not null)
        {
            // A call the model writes while thinking is part of its thought: the watch starts after the block.
            var watched = triggered with { Reasoning = new ReasoningBlock(openTag, closeTag, opensReasoning) };
            requests = [.. requests.Select(r => r with { TriggeredSchema = watched })];
        }

        bool parsesCalls = tools is { ParsesCalls: true };
        // gpt-oss's harmony channels are read whenever its calls are or reasoning is split; with reasoning_format none and no tools the raw text is the content.
        bool harmony = syntax == Generation.Tools.ToolCallSyntax.Harmony;
        IAnswerSplitter? NewSplitter() => harmony
            ? (splitReasoning || parsesCalls ? new HarmonySplitter(callsAsMarkup: parsesCalls) : null)
            : splitReasoning ? new ReasoningSplitter(opensReasoning, openTag, closeTag) : null;
        return new ChatPlan(engine, requests, tokens.Length, plan.N, plan.IgnoreEos,
            () => new ChoiceReader(engine.Tokenizer, NewSplitter(),
                parsesCalls ? new Generation.Tools.ToolCallExtractor(syntax, tools!) : null, parsesCalls ? syntax : null), strict.Header);
    }

    private sealed class Work(IInferenceEngine engine, IReadOnlyList<GenerationRequest> requests, ResponseInfo info, int promptTokens, long started,
        int n, bool ignoreEos, bool stream, bool includeUsage)
        : GenerationWork(engine, requests, n, info.Id, info.Model, promptTokens, started)
    {
        public override bool Streams => stream;

        public override async Task RespondAsync(HttpContext context, ChoiceRunner runner, Settlement settlement)
        {
            if (stream)
            {
                await StreamAsync(context, Engine, runner, info, includeUsage, ignoreEos, settlement);
                return;
            }
            var completion = await CollectAsync(context, Engine, runner, info, ChoicesPerPrompt, ignoreEos);
            await settlement.CompleteAsync();
            await context.Response.WriteAsJsonAsync(completion, OpenAiJson.Default.ChatCompletion, contentType: null, context.RequestAborted);
        }
    }

    /// <param name="NewReader">Makes each choice's reader (reasoning split off, tool calls read).</param>
    private sealed record ResponseInfo(string Id, long Created, string Model, string Fingerprint, Func<ChoiceReader> NewReader);

    private static async Task<ChatCompletion> CollectAsync(HttpContext context, IInferenceEngine engine, ChoiceRunner runner, ResponseInfo info, int n, bool ignoreEos)
    {
        var texts = new StringBuilder[n];
        var thoughts = new StringBuilder[n];
        var readers = new ChoiceReader[n];
        var logprobs = new List<ChatTokenLogprob>?[n];
        var finals = new GenerationSummary?[n];
        for (int i = 0; i < n; i++)
        {
            texts[i] = new StringBuilder();
            thoughts[i] = new StringBuilder();
            readers[i] = info.NewReader();
        }
        await foreach (var e in runner.Events.ReadAllAsync())
        {
            if (e.Error is not null)
                throw e.Error;
            var update = e.Update!;
            if (update.Final is { } final)
            {
                GenerationPlanner.ThrowIfCancelled(context, final);
                finals[e.Index] = final;
                Append(readers[e.Index].Finish(cut: final.FinishReason == Engine.FinishReason.Length), thoughts[e.Index], texts[e.Index]);
                continue;
            }
            Append(readers[e.Index].Read(update), thoughts[e.Index], texts[e.Index]);
            if (LogprobMapper.ForChat(engine.Tokenizer, update, ignoreEos) is { } lp)
                (logprobs[e.Index] ??= []).Add(lp);
        }
        var choices = new List<ChatChoice>(n);
        int completion = 0;
        for (int i = 0; i < n; i++)
        {
            var final = finals[i] ?? throw new InvalidOperationException("The engine ended a generation without its final update.");
            completion += final.CompletionTokens;
            string content = texts[i].ToString();
            List<ToolCall>? calls = readers[i].Calls.Count > 0 ? [.. readers[i].Calls] : null;
            choices.Add(new ChatChoice
            {
                Index = i,
                Message = new ChatMessage
                {
                    Content = calls is not null && content.Length == 0 ? null : content,
                    ReasoningContent = thoughts[i].Length > 0 ? thoughts[i].ToString() : null,
                    ToolCalls = calls,
                },
                Logprobs = logprobs[i] is { } l ? new ChatLogprobs { Content = l } : null,
                FinishReason = FinishReason(final, calls is not null),
            });
        }
        return new ChatCompletion
        {
            Id = info.Id,
            Created = info.Created,
            Model = info.Model,
            SystemFingerprint = info.Fingerprint,
            Choices = choices,
            Usage = Usage(finals[0]!, completion, EngineWorkUsage.For(context, finals!)),
        };
    }

    /// <summary>An answer that stopped on its own after calling tools finishes with <c>tool_calls</c>, as OpenAI's do.</summary>
    private static string FinishReason(GenerationSummary final, bool calledTools) =>
        calledTools && final.FinishReason == Engine.FinishReason.Stop ? "tool_calls" : GenerationPlanner.FinishReason(final.FinishReason);

    private static void Append(ChoiceReader.Piece piece, StringBuilder reasoning, StringBuilder content)
    {
        reasoning.Append(piece.Reasoning);
        content.Append(piece.Content);
    }

    private static async Task StreamAsync(HttpContext context, IInferenceEngine engine, ChoiceRunner runner, ResponseInfo info, bool includeUsage, bool ignoreEos, Settlement settlement)
    {
        var sse = new SseWriter(context);
        var readers = new Dictionary<int, ChoiceReader>();
        var finals = new List<GenerationSummary>();
        int completion = 0;
        await foreach (var e in sse.ReadAsync(runner.Events, context.RequestAborted))
        {
            Exception? error = e.Error ?? (e.Update!.Final is { } ended ? GenerationPlanner.Cancellation(context, ended) : null);
            if (error is not null)
            {
                if (!sse.Started)
                    throw error; // nothing sent yet: a proper HTTP error
                settlement.Failed(ErrorMapper.StatusOf(context, error), error);
                await WriteErrorAsync(context, sse, error);
                return;
            }
            var update = e.Update!;
            if (!readers.TryGetValue(e.Index, out var reader))
            {
                await sse.WriteAsync(Chunk(info, e.Index, new ChatDelta { Role = "assistant", Content = "" }), OpenAiJson.Default.ChatCompletionChunk);
                readers[e.Index] = reader = info.NewReader();
            }
            if (update.Final is { } final)
            {
                await WriteAsync(sse, info, e.Index, reader.Finish(cut: final.FinishReason == Engine.FinishReason.Length), null);
                finals.Add(final);
                completion += final.CompletionTokens;
                await sse.WriteAsync(Chunk(info, e.Index, new ChatDelta(), finish: FinishReason(final, reader.Calls.Count > 0)), OpenAiJson.Default.ChatCompletionChunk);
                continue;
            }
            await WriteAsync(sse, info, e.Index, reader.Read(update), LogprobMapper.ForChat(engine.Tokenizer, update, ignoreEos));
        }
        // In the ledger before the client can see the end of the stream; a line the ledger refused ends it with that error.
        if (await settlement.TryCompleteAsync(context) is { } refused)
        {
            await WriteErrorAsync(context, sse, refused);
            return;
        }
        if (includeUsage && finals.Count > 0)
            await sse.WriteAsync(new ChatCompletionChunk
            {
                Id = info.Id, Created = info.Created, Model = info.Model, SystemFingerprint = info.Fingerprint, Choices = [],
                Usage = Usage(finals[0], completion, EngineWorkUsage.For(context, finals)),
            }, OpenAiJson.Default.ChatCompletionChunk);
        await sse.DoneAsync();
    }

    /// <summary>
    /// One piece of a choice: its reasoning and content, its logprobs, then its tool-call pieces (OpenAI's shape: a call's
    /// first delta has its id, type and name; the arguments follow in pieces). Nothing is written while text is still
    /// pending (part of a character, of a possible stop string, of a &lt;think&gt; tag or of a call's markup).
    /// </summary>
    private static async Task WriteAsync(SseWriter sse, ResponseInfo info, int index, ChoiceReader.Piece piece, ChatTokenLogprob? lp)
    {
        if (piece.Reasoning.Length > 0 || piece.Content.Length > 0 || lp is not null)
            await sse.WriteAsync(Chunk(info, index, Delta((piece.Reasoning, piece.Content)), lp is null ? null : new ChatLogprobs { Content = [lp] }),
                OpenAiJson.Default.ChatCompletionChunk);
        foreach (var call in piece.Calls)
        {
            var delta = new ToolCallDelta
            {
                Index = call.Index, Id = call.Id, Type = call.Id is null ? null : "function",
                Function = new ToolCallFunction { Name = call.Name, Arguments = call.Arguments },
            };
            await sse.WriteAsync(Chunk(info, index, new ChatDelta { ToolCalls = [delta] }), OpenAiJson.Default.ChatCompletionChunk);
        }
    }

    /// <summary>A content delta, with <c>reasoning_content</c> only when there is thinking in it.</summary>
    private static ChatDelta Delta((string Reasoning, string Content) piece) =>
        piece.Reasoning.Length > 0
            ? new ChatDelta { ReasoningContent = piece.Reasoning, Content = piece.Content.Length > 0 ? piece.Content : null }
            : new ChatDelta { Content = piece.Content };

    /// <summary>After the stream started the status is already 200: the error goes out as an event, as vLLM does.</summary>
    internal static async Task WriteErrorAsync(HttpContext context, SseWriter sse, Exception error)
    {
        var mapped = ErrorMapper.Map(error);
        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ChatCompletionsEndpoint));
        Log.StreamFailed(logger, context.Request.Path, mapped.Message);
        await sse.WriteAsync(ErrorHandlingMiddleware.ToBody(mapped), OpenAiJson.Default.ErrorResponse);
        await sse.DoneAsync();
    }

    private static ChatCompletionChunk Chunk(ResponseInfo info, int index, ChatDelta delta, ChatLogprobs? logprobs = null, string? finish = null) => new()
    {
        Id = info.Id,
        Created = info.Created,
        Model = info.Model,
        SystemFingerprint = info.Fingerprint,
        Choices = [new ChatChunkChoice { Index = index, Delta = delta, Logprobs = logprobs, FinishReason = finish }],
    };

    /// <summary>The prompt is counted once however many choices share it, as OpenAI does.</summary>
    internal static Usage Usage(GenerationSummary first, int completion, TokenFactoryUsage? work) => new()
    {
        PromptTokens = first.PromptTokens,
        CompletionTokens = completion,
        TotalTokens = first.PromptTokens + completion,
        PromptTokensDetails = new PromptTokensDetails { CachedTokens = first.CachedPromptTokens },
        TokenFactory = work,
    };
}
