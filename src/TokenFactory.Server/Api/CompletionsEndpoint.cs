using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using TokenFactory.Engine;
using TokenFactory.Server.Contracts;
using TokenFactory.Server.Fleet;
using TokenFactory.Server.Generation;
using TokenFactory.Server.Hosting;
using TokenFactory.Tokenization;

namespace TokenFactory.Server.Api;

/// <summary>POST /v1/completions (OpenAI's legacy text completions).</summary>
internal static class CompletionsEndpoint
{
    /// <summary>OpenAI's limit for the legacy <c>logprobs</c> (chat's <c>top_logprobs</c> goes to 20).</summary>
    public const int MaxLogprobs = 5;

    /// <summary>Parses, checks and tokenizes the request; the floor's filter admits and runs what this returns.</summary>
    public static async Task<IResult> PlanAsync(HttpContext context, EngineHost host, TimeProvider time, IOptions<ServerOptions> options)
    {
        long started = time.GetTimestamp();
        var request = await RequestBody.ReadAsync(context, OpenAiJson.Default.CompletionRequest);
        var engine = host.GetGeneratingEngine();
        host.EnsureModel(request.Model);
        UnsupportedParameters.Check(request);
        var plan = GenerationPlanner.Validate(request, request.MaxTokens, "max_tokens", minMaxTokens: 0);
        if (request.Logprobs is int lp && (lp < 0 || lp > MaxLogprobs))
            throw OpenAiException.Invalid($"'logprobs' must be between 0 and {MaxLogprobs}.", "logprobs");
        bool echo = request.Echo == true;
        if (echo && request.Logprobs is not null && request.Stream == true)
            throw OpenAiException.Invalid("The prompt's logprobs ('logprobs' with 'echo') are not streamed: ask for them without 'stream'.", "logprobs");
        // Each choice would compute the prompt again for its logprobs (a prompt read for them shares no cache), charged once.
        if (echo && request.Logprobs is not null && request.N is > 1)
            throw OpenAiException.Invalid("The prompt's logprobs ('logprobs' with 'echo') are the same for every choice: ask them with n = 1 (and sample more choices without echo).", "n");
        var prompts = CompletionPrompts.Parse(request.Prompt, engine.Tokenizer);
        if ((long)prompts.Count * plan.N > GenerationPlanner.MaxChoices)
            throw OpenAiException.Invalid($"prompts × n must be at most {GenerationPlanner.MaxChoices}.", "n");

        // Choice index = prompt index × n + i, as OpenAI numbers them.
        var grammar = GrammarParameter.Parse(request.Grammar);
        if (grammar is not null && plan.Stop.Count > 0)
            throw OpenAiException.Invalid("'stop' cannot be combined with a grammar: the answer ends where the grammar does.", "stop");
        var requests = new List<GenerationRequest>();
        foreach (var p in prompts)
            requests.AddRange(GenerationPlanner.Build(plan, p.Tokens, engine, options.Value, [], request.Logprobs, echo && request.Logprobs is not null, "prompt")
                .Select(r => grammar is null ? r : r with { OutputSchema = grammar, Stop = [] }));
        var info = new Info(FleetRequest.Of(context)?.RequestId ?? "cmpl-" + Guid.NewGuid().ToString("N"), time.GetUtcNow().ToUnixTimeSeconds(), host.Source!.Name, host.SystemFingerprint,
            engine.Tokenizer, prompts, plan.N, echo, request.Logprobs is not null, plan.IgnoreEos);
        return new Work(engine, requests, info, prompts.Sum(p => (long)p.Tokens.Length), started, request.Stream == true, request.StreamOptions?.IncludeUsage == true) { User = request.User };
    }

    private sealed class Work(IInferenceEngine engine, IReadOnlyList<GenerationRequest> requests, Info info, long promptTokens, long started, bool stream, bool includeUsage)
        : GenerationWork(engine, requests, info.N, info.Id, info.Model, promptTokens, started)
    {
        public override bool Streams => stream;

        public override async Task RespondAsync(HttpContext context, ChoiceRunner runner, Settlement settlement)
        {
            if (stream)
            {
                await StreamAsync(context, runner, info, includeUsage, settlement);
                return;
            }
            var completion = await CollectAsync(context, runner, info, Requests.Count);
            await settlement.CompleteAsync();
            await context.Response.WriteAsJsonAsync(completion, OpenAiJson.Default.TextCompletion, contentType: null, context.RequestAborted);
        }
    }

    private sealed record Info(string Id, long Created, string Model, string Fingerprint, ITokenizer Tokenizer,
        List<CompletionPrompt> Prompts, int N, bool Echo, bool Logprobs, bool IgnoreEos)
    {
        public CompletionPrompt PromptOf(int choice) => Prompts[choice / N];
    }

    /// <summary>Builds one choice's text and legacy logprobs as its updates arrive.</summary>
    /// <param name="start">Characters of this choice's text sent before (a stream's earlier chunks): text offsets count from the start of the whole text.</param>
    private sealed class ChoiceState(Info info, int index, int start = 0)
    {
        public StringBuilder Text { get; } = new();
        public CompletionLogprobs? Logprobs { get; } = info.Logprobs ? new CompletionLogprobs() : null;
        public GenerationSummary? Final { get; set; }

        public void AddEcho(GenerationSummary? final)
        {
            var prompt = info.PromptOf(index);
            if (Logprobs is not null && final?.PromptLogprobs is { } promptLogprobs)
            {
                int offset = start + Text.Length;
                for (int i = 0; i < prompt.Tokens.Length && i < promptLogprobs.Count; i++)
                {
                    string piece = info.Tokenizer.TokenPiece(prompt.Tokens[i], special: false);
                    var (logprob, top) = promptLogprobs[i];
                    Add(piece, logprob, top, offset);
                    offset += piece.Length;
                }
            }
            Text.Append(prompt.Text);
        }

        public void Add(GenerationUpdate update)
        {
            if (Logprobs is not null && update.Token >= 0 && update.Logprob is float logprob && (info.IgnoreEos || !info.Tokenizer.IsEndOfGeneration(update.Token)))
                Add(info.Tokenizer.TokenPiece(update.Token), logprob, update.TopLogprobs, start + Text.Length);
            Text.Append(update.Text);
        }

        private void Add(string token, float? logprob, TokenLogprob[]? top, int offset)
        {
            Logprobs!.Tokens.Add(token);
            Logprobs.TokenLogprobs.Add(logprob is float l ? LogprobMapper.Finite(l) : null);
            Logprobs.TopLogprobs.Add(LogprobMapper.TopDictionary(top));
            Logprobs.TextOffset.Add(offset);
        }
    }

    private static async Task<TextCompletion> CollectAsync(HttpContext context, ChoiceRunner runner, Info info, int count)
    {
        var states = Enumerable.Range(0, count).Select(i => new ChoiceState(info, i)).ToArray();
        var updates = Enumerable.Range(0, count).Select(_ => new List<GenerationUpdate>()).ToArray();
        await foreach (var e in runner.Events.ReadAllAsync())
        {
            if (e.Error is not null)
                throw e.Error;
            if (e.Update!.Final is { } final)
            {
                GenerationPlanner.ThrowIfCancelled(context, final);
                states[e.Index].Final = final;
            }
            else
                updates[e.Index].Add(e.Update);
        }
        var choices = new List<TextChoice>(count);
        int prompt = 0, cached = 0, completion = 0;
        for (int i = 0; i < count; i++)
        {
            var s = states[i];
            var final = s.Final ?? throw new InvalidOperationException("The engine ended a generation without its final update.");
            // Prompt echo needs the final update (it carries the prompt's logprobs), so text is assembled here.
            if (info.Echo)
                s.AddEcho(final);
            foreach (var u in updates[i])
                s.Add(u);
            if (i % info.N == 0)
            {
                prompt += final.PromptTokens;
                cached += final.CachedPromptTokens;
            }
            completion += final.CompletionTokens;
            choices.Add(new TextChoice { Index = i, Text = s.Text.ToString(), Logprobs = s.Logprobs, FinishReason = GenerationPlanner.FinishReason(final.FinishReason) });
        }
        return new TextCompletion
        {
            Id = info.Id, Created = info.Created, Model = info.Model, SystemFingerprint = info.Fingerprint, Choices = choices,
            Usage = new Usage
            {
                PromptTokens = prompt, CompletionTokens = completion, TotalTokens = prompt + completion,
                PromptTokensDetails = new PromptTokensDetails { CachedTokens = cached },
                TokenFactory = EngineWorkUsage.For(context, states.Select(s => s.Final!)),
            },
        };
    }

    private static async Task StreamAsync(HttpContext context, ChoiceRunner runner, Info info, bool includeUsage, Settlement settlement)
    {
        var sse = new SseWriter(context);
        var echoed = new HashSet<int>();
        var sent = new int[info.Prompts.Count * info.N]; // characters of each choice's text streamed so far
        var finals = new List<GenerationSummary>();
        int prompt = 0, cached = 0, completion = 0;
        await foreach (var e in sse.ReadAsync(runner.Events, context.RequestAborted))
        {
            Exception? error = e.Error ?? (e.Update!.Final is { } ended ? GenerationPlanner.Cancellation(context, ended) : null);
            if (error is not null)
            {
                if (!sse.Started)
                    throw error;
                settlement.Failed(ErrorMapper.StatusOf(context, error), error);
                await ChatCompletionsEndpoint.WriteErrorAsync(context, sse, error);
                return;
            }
            var update = e.Update!;
            var state = new ChoiceState(info, e.Index, sent[e.Index]);
            // The prompt's logprobs arrive only with the final update, so a streamed echo carries the text alone (with logprobs it is refused).
            if (info.Echo && echoed.Add(e.Index))
                state.AddEcho(null);
            if (update.Final is { } final)
            {
                finals.Add(final);
                if (e.Index % info.N == 0)
                {
                    prompt += final.PromptTokens;
                    cached += final.CachedPromptTokens;
                }
                completion += final.CompletionTokens;
                await sse.WriteAsync(Chunk(info, e.Index, state.Text.ToString(), null, GenerationPlanner.FinishReason(final.FinishReason)), OpenAiJson.Default.TextCompletion);
                continue;
            }
            state.Add(update);
            if (state.Text.Length == 0 && state.Logprobs is not { Tokens.Count: > 0 })
                continue;
            await sse.WriteAsync(Chunk(info, e.Index, state.Text.ToString(), state.Logprobs, null), OpenAiJson.Default.TextCompletion);
            sent[e.Index] += state.Text.Length;
        }
        // In the ledger before the client can see the end of the stream; a line the ledger refused ends it with that error.
        if (await settlement.TryCompleteAsync(context) is { } refused)
        {
            await ChatCompletionsEndpoint.WriteErrorAsync(context, sse, refused);
            return;
        }
        if (includeUsage)
            await sse.WriteAsync(new TextCompletion
            {
                Id = info.Id, Created = info.Created, Model = info.Model, SystemFingerprint = info.Fingerprint, Choices = [],
                Usage = new Usage
                {
                    PromptTokens = prompt, CompletionTokens = completion, TotalTokens = prompt + completion,
                    PromptTokensDetails = new PromptTokensDetails { CachedTokens = cached },
                    TokenFactory = EngineWorkUsage.For(context, finals),
                },
            }, OpenAiJson.Default.TextCompletion);
        await sse.DoneAsync();
    }

    private static TextCompletion Chunk(Info info, int index, string text, CompletionLogprobs? logprobs, string? finish) => new()
    {
        Id = info.Id, Created = info.Created, Model = info.Model, SystemFingerprint = info.Fingerprint,
        Choices = [new TextChoice { Index = index, Text = text, Logprobs = logprobs, FinishReason = finish }],
    };
}
