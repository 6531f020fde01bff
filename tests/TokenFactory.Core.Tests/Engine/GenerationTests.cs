using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Models;
using static TokenFactory.Tests.Engine.EngineTestHelpers;

namespace TokenFactory.Tests.Engine;

/// <summary>The engine's token loop for one request: text, stop strings, sampling, logprobs and the checks before a request runs.</summary>
public sealed class GenerationTests : IDisposable
{
    private readonly TransformerModel _model = TransformerModel.Load(TestPaths.Stories260K);
    private readonly BatchingEngine _engine;

    public GenerationTests() => _engine = new BatchingEngine(_model, new EngineOptions { Threads = 2, ContextLength = 256 });

    public void Dispose()
    {
        _engine.Dispose();
        _model.Dispose();
    }

    private GenerationRequest Greedy(string prompt, int max, params string[] stop) => new()
    {
        PromptTokens = _engine.Tokenizer.Encode(prompt),
        MaxTokens = max,
        Sampling = SamplingParameters.Greedy,
        Stop = stop,
    };

    /// <summary>
    /// A grammar no token can continue (an empty choice lets only whitespace through, then nothing) ends the answer as the
    /// valid prefix it is, at Length, with logprobs asked for as without: the exhausted step has no token to score.
    /// </summary>
    [Fact]
    public async Task A_grammar_no_token_can_continue_ends_as_length_with_logprobs_too()
    {
        var request = Greedy("Once upon a time", 32) with { OutputSchema = new TokenFactory.Constraints.AnyOfNode([]), Logprobs = 2 };
        var r = await Collect(_engine, request);
        Assert.Equal(FinishReason.Length, r.Final.FinishReason);
        Assert.InRange(r.Tokens.Count, 1, 13);
        Assert.True(string.IsNullOrWhiteSpace(r.Text));
    }

    [Fact]
    public async Task Greedy_story_continues_like_llama_cpp()
    {
        var r = await Collect(_engine, Greedy("Once upon a time", 20));
        Assert.StartsWith(", there was a little girl named Lily.", r.Text);
        Assert.Equal(FinishReason.Length, r.Final.FinishReason);
        Assert.Equal(20, r.Tokens.Count);
        Assert.Equal(20, r.Final.CompletionTokens);
    }

    [Fact]
    public async Task Stop_string_spanning_tokens_ends_generation_without_being_emitted()
    {
        var r = await Collect(_engine, Greedy("Once upon a time", 60, "named Li"));
        Assert.Equal(FinishReason.Stop, r.Final.FinishReason);
        Assert.Equal("named Li", r.Final.MatchedStop);
        Assert.Equal(", there was a little girl ", r.Text);
    }

    [Fact]
    public async Task Streamed_text_equals_the_decoding_of_the_tokens()
    {
        var r = await Collect(_engine, Greedy("Lily wanted to", 40));
        var prompt = _engine.Tokenizer.Encode("Lily wanted to");
        Assert.EndsWith(r.Text, _engine.Tokenizer.Decode([.. prompt, .. r.Tokens]));
        Assert.True(r.Text.Length > 40);
    }

    [Fact]
    public async Task Seeded_sampling_is_reproducible()
    {
        GenerationRequest Sampled(ulong seed) => Greedy("The little dog", 30) with { Sampling = new SamplingParameters { Temperature = 1.2f, TopK = 40, Seed = seed } };
        var a = await Collect(_engine, Sampled(5));
        var b = await Collect(_engine, Sampled(5));
        var c = await Collect(_engine, Sampled(6));
        Assert.Equal(a.Tokens, b.Tokens);
        Assert.NotEqual(a.Tokens, c.Tokens);
    }

    [Fact]
    public async Task Logprobs_are_normalized_and_the_chosen_greedy_token_is_the_top_alternative()
    {
        var updates = new List<GenerationUpdate>();
        await foreach (var u in _engine.GenerateAsync(Greedy("Once upon a time", 5) with { Logprobs = 3 }))
        {
            if (u.Token >= 0)
                updates.Add(u);
        }
        Assert.Equal(5, updates.Count);
        foreach (var u in updates)
        {
            Assert.NotNull(u.Logprob);
            Assert.True(u.Logprob <= 0);
            Assert.Equal(3, u.TopLogprobs!.Length);
            Assert.Equal(u.Token, u.TopLogprobs[0].Token);
            Assert.Equal(u.Logprob!.Value, u.TopLogprobs[0].Logprob, 5);
        }
    }

    [Fact]
    public async Task Prompt_longer_than_the_context_is_refused_and_the_engine_stays_usable()
    {
        var tooLong = Enumerable.Repeat(400, 300).ToArray();
        var e = await Assert.ThrowsAsync<ContextLengthExceededException>(() => Collect(_engine, new GenerationRequest { PromptTokens = tooLong, MaxTokens = 1 }));
        Assert.Equal(300, e.PromptTokens);
        Assert.Equal(256, e.ContextLength);
        Assert.StartsWith(", there was", (await Collect(_engine, Greedy("Once upon a time", 5))).Text);
    }

    [Fact]
    public async Task Invalid_requests_name_the_parameter_and_nothing_runs()
    {
        async Task<InvalidGenerationRequestException> Refused(GenerationRequest r) =>
            await Assert.ThrowsAsync<InvalidGenerationRequestException>(() => Collect(_engine, r));
        Assert.Equal(GenerationParameter.Prompt, (await Refused(new GenerationRequest { PromptTokens = [] })).Parameter);
        var outside = await Refused(new GenerationRequest { PromptTokens = [1, _model.VocabSize], MaxTokens = 1 });
        Assert.Equal((GenerationParameter.Prompt, (double)_model.VocabSize), (outside.Parameter, outside.Value));
        Assert.Equal(GenerationParameter.MaxTokens, (await Refused(Greedy("Hi", -1))).Parameter);
        Assert.Equal(GenerationParameter.Logprobs, (await Refused(Greedy("Hi", 1) with { Logprobs = 21 })).Parameter);
        var topP = await Refused(Greedy("Hi", 1) with { Sampling = new SamplingParameters { TopP = 1.5f } });
        Assert.Equal((GenerationParameter.TopP, 1.5, "in (0, 1]"), (topP.Parameter, topP.Value, topP.Requirement));
        Assert.Equal(0, _engine.Counters.Steps);
    }
}
