using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using TokenFactory.Router.Admission;
using TokenFactory.Router.Proxy;
using TokenFactory.Router.Replicas;
using TokenFactory.Router.Routing;
using TokenFactory.Server.Api;
using TokenFactory.Server.Contracts;
using TokenFactory.Server.Floor;
using TokenFactory.Server.Generation;

namespace TokenFactory.Router.Api;

/// <summary>
/// The router's generation endpoints: each request is checked as a single server checks it (the same code), its
/// model resolved among the replicas', its prompt shaped (rendered and tokenized as the replicas will, when the
/// router has the model's tokenizer), its class and deadline set, and a request whose deadline no replica can meet
/// refused at once; what remains goes to the floor to admit, then to a replica.
/// </summary>
internal static class GenerationPlans
{
    public static async Task<IResult> ChatAsync(HttpContext context, ReplicaSet replicas, ModelTokenizers tokenizers, Dispatcher dispatcher, SloClasses classes,
        TimeProvider time, IOptions<RouterOptions> options)
    {
        long started = time.GetTimestamp();
        var (request, raw) = await RequestBody.ReadWithBytesAsync(context, OpenAiJson.Default.ChatCompletionRequest);
        string model = ResolveModel(request.Model, replicas);
        CallerFeature.CheckModel(context, model);
        UnsupportedParameters.Check(request, serviceTiers: true);
        // A schema or tool list the replicas would refuse is refused here, before it queues.
        _ = GrammarParameter.Combine(request.Grammar, ResponseFormat.Parse(request.ResponseFormat), "response_format");
        var tools = Server.Generation.Tools.ToolSet.Parse(request.Tools, request.ToolChoice, request.ParallelToolCalls);
        var (maxTokens, maxTokensParam) = GenerationPlanner.ChatMaxTokens(request.MaxTokens, request.MaxCompletionTokens);
        var plan = GenerationPlanner.Validate(request, maxTokens, maxTokensParam);
        var messages = ChatPrompt.Normalize(request.Messages);
        PromptShape shape;
        if (tokenizers.For(model) is { } entry)
        {
            // The tools are part of the prompt (templates put them first): without them the prefix hashes would not match the replica's.
            var prompt = ChatPrompt.RenderForTokens(entry.Template, entry.Tokenizer, messages, tools is null ? null : request.Tools, addGenerationPrompt: true,
                request.ChatTemplateKwargs);
            var tokens = ChatPrompt.Tokenize(entry.Tokenizer, prompt);
            shape = PromptShape.FromTokens(tokens, tokens.Length);
        }
        else
        {
            // All the text a template may render: each message as sent (content parts, tool calls, names).
            shape = PromptShape.FromText(string.Concat(messages.Select(m => m?.ToJsonString())) + (tools is null ? "" : request.Tools!.ToJsonString()), messages.Count);
        }
        var work = Plan(context, model, "/v1/chat/completions", "chatcmpl-", raw, request, plan, shape, sequences: plan.N, "messages",
            replicas, dispatcher, classes, time, options.Value, started);
        return work;
    }

    public static async Task<IResult> CompletionsAsync(HttpContext context, ReplicaSet replicas, ModelTokenizers tokenizers, Dispatcher dispatcher, SloClasses classes,
        TimeProvider time, IOptions<RouterOptions> options)
    {
        long started = time.GetTimestamp();
        var (request, raw) = await RequestBody.ReadWithBytesAsync(context, OpenAiJson.Default.CompletionRequest);
        string model = ResolveModel(request.Model, replicas);
        CallerFeature.CheckModel(context, model);
        UnsupportedParameters.Check(request, serviceTiers: true);
        _ = GrammarParameter.Parse(request.Grammar); // a grammar the replicas would refuse is refused here, before it queues
        var plan = GenerationPlanner.Validate(request, request.MaxTokens, "max_tokens", minMaxTokens: 0);
        PromptShape shape;
        int prompts;
        if (tokenizers.For(model) is { } entry)
        {
            var parsed = CompletionPrompts.Parse(request.Prompt, entry.Tokenizer);
            prompts = parsed.Count;
            shape = PromptShape.FromTokens(parsed[0].Tokens, parsed.Sum(p => (long)p.Tokens.Length));
        }
        else
        {
            // Token ids are counted exactly (and hashed as text: the blocks are only for routing); text is estimated.
            var shapes = request.Prompt switch
            {
                JsonValue v when v.TryGetValue(out string? text) => [PromptShape.FromText(text)],
                JsonArray a when a.All(x => x is JsonValue xv && xv.TryGetValue(out string? _)) => a.Select(x => PromptShape.FromText(x!.GetValue<string>())).ToList(),
                JsonArray a when a.All(x => x is JsonArray) => a.Select(x => Ids((JsonArray)x!)).ToList(),
                JsonArray a => [Ids(a)],
                _ => throw OpenAiException.Invalid("'prompt' must be a string, an array of strings, an array of token ids, or an array of token-id arrays.", "prompt"),
            };
            if (shapes.Count == 0)
                throw OpenAiException.Invalid("'prompt' must not be empty.", "prompt");
            prompts = shapes.Count;
            shape = shapes[0] with { Tokens = shapes.Sum(p => p.Tokens), MostTokens = shapes.Sum(p => p.MostTokens) };
        }
        if ((long)prompts * plan.N > GenerationPlanner.MaxChoices)
            throw OpenAiException.Invalid($"prompts × n must be at most {GenerationPlanner.MaxChoices}.", "n");
        return Plan(context, model, "/v1/completions", "cmpl-", raw, request, plan, shape, sequences: prompts * plan.N, "prompt",
            replicas, dispatcher, classes, time, options.Value, started);
    }

    /// <summary>
    /// POST /v1/embeddings: checked as a server checks it (with the model's tokenizer the inputs are counted exactly and
    /// too-long ones refused here), nothing to generate, no deadline beyond its class's first-token target.
    /// </summary>
    public static async Task<IResult> EmbeddingsAsync(HttpContext context, ReplicaSet replicas, ModelTokenizers tokenizers, Dispatcher dispatcher,
        SloClasses classes, TimeProvider time, IOptions<RouterOptions> options)
    {
        long started = time.GetTimestamp();
        var (request, raw) = await RequestBody.ReadWithBytesAsync(context, OpenAiJson.Default.EmbeddingRequest);
        string model = ResolveModel(request.Model, replicas);
        CallerFeature.CheckModel(context, model);
        if (request.EncodingFormat is not (null or "float" or "base64"))
            throw OpenAiException.Invalid($"'encoding_format' must be 'float' or 'base64', not '{request.EncodingFormat}'.", "encoding_format");
        PromptShape shape;
        int inputs;
        if (tokenizers.For(model) is { } entry)
        {
            int contextLength = replicas.All.Where(r => r.Serves(model)).Select(r => r.ContextLength(options.Value.DefaultContextLength))
                .DefaultIfEmpty(options.Value.DefaultContextLength).Min();
            var parsed = EmbeddingInputs.Parse(request.Input, entry.Tokenizer, contextLength);
            inputs = parsed.Count;
            shape = PromptShape.FromTokens(parsed[0], parsed.Sum(p => (long)p.Length));
        }
        else
        {
            var texts = request.Input switch
            {
                JsonValue v when v.TryGetValue(out string? text) => [PromptShape.FromText(text)],
                JsonArray a when a.Count > 0 && a.All(x => x is JsonValue xv && xv.TryGetValue(out string? _)) => a.Select(x => PromptShape.FromText(x!.GetValue<string>())).ToList(),
                JsonArray a when a.Count > 0 && a.All(x => x is JsonArray) => a.Select(x => Ids((JsonArray)x!)).ToList(),
                JsonArray { Count: > 0 } a => [Ids(a)],
                _ => throw OpenAiException.Invalid("'input' must be a string, an array of strings, an array of token ids, or an array of token-id arrays.", "input"),
            };
            inputs = texts.Count;
            shape = texts[0] with { Tokens = texts.Sum(p => p.Tokens), MostTokens = texts.Sum(p => p.MostTokens) };
        }
        string priority = SloClasses.Resolve(CallerFeature.Of(context), null);
        long deadline = started + (long)(classes[priority].TtftSeconds * time.TimestampFrequency);
        var route = new RouteRequest(model, shape, inputs, priority, deadline);
        return new ForwardedWork("embd-" + Guid.NewGuid().ToString("N"), ForwardedWork.EmbeddingsPath, raw, route, 0, started, stream: false, clientWantsUsage: false)
        {
            User = request.User,
        };
    }

    /// <summary>
    /// The <c>max_tokens</c> sent for a request without one: the context less the prompt's upper bound (exact with the
    /// model's tokenizer). An estimated bound (bytes, plus per-message overheads) can be several times the real prompt, so
    /// where it would leave less than a quarter of the context the estimate is taken instead: a long chat must not be
    /// cut to a token. Either stays within the reservation, which assumed the whole context.
    /// </summary>
    private static int UpstreamLimit(PromptShape shape, long perPrompt, int sequences, int n, int contextLength)
    {
        long prompts = Math.Max(1, sequences / Math.Max(1, n));
        long limit = contextLength - (shape.Exact ? perPrompt : shape.MostTokens / prompts);
        if (!shape.Exact && limit < contextLength / 4)
            limit = contextLength - shape.Tokens / prompts;
        return (int)Math.Max(1, limit);
    }

    private static ForwardedWork Plan(HttpContext context, string model, string path, string idPrefix, byte[] raw, SamplingRequest request,
        GenerationPlanner.Plan plan, PromptShape shape, int sequences, string promptParam, ReplicaSet replicas, Dispatcher dispatcher, SloClasses classes,
        TimeProvider time, RouterOptions options, long started)
    {
        string priority = SloClasses.Resolve(CallerFeature.Of(context), request.ServiceTier);
        int contextLength = replicas.All.Where(r => r.Serves(model)).Select(r => r.ContextLength(options.DefaultContextLength)).DefaultIfEmpty(options.DefaultContextLength).Min();
        long perPrompt = shape.Tokens / Math.Max(1, sequences / Math.Max(1, plan.N));
        // Without max_tokens a sequence may fill the context: the bound the floor reserves (an estimated prompt may be smaller).
        int maxTokens = plan.MaxTokens ?? (int)Math.Max(1, contextLength - (shape.Exact ? perPrompt : 0));
        if (shape.Exact && perPrompt + maxTokens > contextLength)
            throw OpenAiException.Invalid(new TokenFactory.Engine.ContextLengthExceededException((int)perPrompt, maxTokens, contextLength).Message, promptParam, "context_length_exceeded");
        var target = classes[priority];
        long deadline = started + (long)(target.TtftSeconds * time.TimestampFrequency);
        var route = new RouteRequest(model, shape, sequences, priority, deadline);
        var predicted = dispatcher.PredictTtft(route);
        if (predicted != TimeSpan.MaxValue && predicted.TotalSeconds > target.TtftSeconds)
            throw new OpenAiException(503,
                $"The {priority} class's target of {target.TtftSeconds:0.###} s to the first token cannot be met now (about {predicted.TotalSeconds:0.#} s): the fleet is busy. Retry later, or send it as batch (service_tier \"flex\").",
                OpenAiErrorTypes.Unavailable, code: "slo_unattainable")
            {
                RetryAfterSeconds = (int)Math.Clamp(Math.Ceiling(predicted.TotalSeconds - target.TtftSeconds), 1, 60),
            };
        bool stream = request.Stream == true;
        bool clientWantsUsage = request.StreamOptions?.IncludeUsage == true;
        return new ForwardedWork(idPrefix + Guid.NewGuid().ToString("N"), path, UpstreamBody(raw, stream, completionLimit: null), route,
            (long)sequences * maxTokens, started, stream, clientWantsUsage)
        {
            User = request.User ?? (request as ChatCompletionRequest)?.SafetyIdentifier, // OpenAI's successor to user
            // Without a limit of its own a sequence is reserved the context the router knows; a replica whose context is
            // longer (or unknown) is told that limit, so it can never spend past the reservation.
            // The limit leaves the prompt's upper bound room in the context: a server that checks prompt + max_tokens against
            // its context (vLLM) accepts it, and what it generates stays within the reservation (which assumed more).
            Limited = plan.MaxTokens is null ? (UpstreamBody(raw, stream, UpstreamLimit(shape, perPrompt, sequences, plan.N, contextLength)), contextLength) : null,
        };
    }

    private static PromptShape Ids(JsonArray ids) => PromptShape.FromText(string.Join(' ', ids)) with { Tokens = Math.Max(1, ids.Count), MostTokens = ids.Count + 2 };

    /// <summary>
    /// The client's body for the replica: the class travels in a header (not <c>service_tier</c>, which the replica
    /// would refuse), and a stream always asks for its usage chunk (the router meters by it and drops it if the client
    /// did not ask). A <paramref name="completionLimit"/> goes as <c>max_tokens</c>, the field both endpoints take on
    /// every OpenAI-compatible server (TokenFactory, vLLM, llama.cpp's server; <c>max_completion_tokens</c> is not
    /// read by all of them).
    /// </summary>
    private static byte[] UpstreamBody(byte[] raw, bool stream, int? completionLimit)
    {
        var body = (JsonObject)JsonNode.Parse(raw)!;
        body.Remove("service_tier");
        if (completionLimit is { } limit)
            body["max_tokens"] = limit;
        if (stream)
        {
            var streamOptions = body["stream_options"] as JsonObject ?? new JsonObject();
            streamOptions["include_usage"] = true;
            body["stream_options"] = streamOptions;
        }
        return System.Text.Encoding.UTF8.GetBytes(body.ToJsonString());
    }

    /// <summary>The model named, among those the replicas serve; absent names the only one when there is only one.</summary>
    public static string ResolveModel(string? requested, ReplicaSet replicas)
    {
        var models = replicas.Models();
        if (requested is null)
        {
            return models.Count == 1 ? models.Min! : throw OpenAiException.Invalid(
                $"'model' is required: this fleet serves {(models.Count == 0 ? "no model yet (its replicas are starting)" : string.Join(", ", models))}.", "model");
        }
        if (models.TryGetValue(requested, out var actual))
            return actual;
        throw new OpenAiException(404, $"The model '{requested}' does not exist; this fleet serves: {(models.Count == 0 ? "nothing yet (its replicas are starting)" : string.Join(", ", models))}.",
            OpenAiErrorTypes.InvalidRequest, "model", "model_not_found");
    }
}
