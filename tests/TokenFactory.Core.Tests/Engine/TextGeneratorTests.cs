using TokenFactory.Engine;
using TokenFactory.Models;
using TokenFactory.Tokenization;

namespace TokenFactory.Tests.Engine;

public sealed class TextGeneratorTests : IDisposable
{
    private readonly TransformerModel _model = TransformerModel.Load(TestPaths.Stories260K);
    private readonly ForwardPass _pass;
    private readonly TextGenerator _generator;
    private readonly Tokenizer _tokenizer;

    public TextGeneratorTests()
    {
        _pass = new ForwardPass(_model, 256, threads: 2);
        _tokenizer = Tokenizer.FromMetadata(_model.File.Metadata);
        _generator = new TextGenerator(_model, _tokenizer, _pass);
    }

    public void Dispose()
    {
        _pass.Dispose();
        _model.Dispose();
    }

    private GenerationRequest Greedy(string prompt, int max, params string[] stop) => new()
    {
        PromptTokens = _tokenizer.Encode(prompt),
        MaxTokens = max,
        Sampling = SamplingParameters.Greedy,
        Stop = stop,
    };

    [Fact]
    public void Greedy_story_continues_like_llama_cpp()
    {
        var r = _generator.Generate(Greedy("Once upon a time", 20));
        Assert.StartsWith(", there was a little girl named Lily.", r.Text);
        Assert.Equal(FinishReason.Length, r.FinishReason);
        Assert.Equal(20, r.Tokens.Count);
    }

    [Fact]
    public void Stop_string_spanning_tokens_ends_generation_without_being_emitted()
    {
        var streamed = new List<string>();
        var r = _generator.Generate(Greedy("Once upon a time", 60, "named Li"), t => streamed.Add(t.Text));
        Assert.Equal(FinishReason.Stop, r.FinishReason);
        Assert.Equal("named Li", r.MatchedStop);
        Assert.Equal(", there was a little girl ", r.Text);
        Assert.Equal(r.Text, string.Concat(streamed));
    }

    [Fact]
    public void Streamed_text_equals_the_final_text_and_decoding_of_the_tokens()
    {
        var streamed = new List<string>();
        var r = _generator.Generate(Greedy("Lily wanted to", 40), t => streamed.Add(t.Text));
        Assert.Equal(r.Text, string.Concat(streamed));
        var prompt = _tokenizer.Encode("Lily wanted to");
        Assert.EndsWith(r.Text, _tokenizer.Decode([.. prompt, .. r.Tokens]));
        Assert.True(r.Text.Length > 40);
    }

    [Fact]
    public void Second_request_reuses_the_cached_prompt_prefix_and_gives_the_same_tokens()
    {
        var first = _generator.Generate(Greedy("Once upon a time, there was a dog", 10));
        var again = _generator.Generate(Greedy("Once upon a time, there was a dog", 10));
        Assert.Equal(first.Tokens, again.Tokens);
        Assert.True(again.CachedPromptTokens >= first.PromptTokens - 1, $"cached {again.CachedPromptTokens} of {again.PromptTokens}");
        var other = _generator.Generate(Greedy("Once upon a time, there was a cat", 10));
        Assert.True(other.CachedPromptTokens > 3 && other.CachedPromptTokens < other.PromptTokens);
    }

    [Fact]
    public void Cancellation_stops_generation_promptly()
    {
        using var cts = new CancellationTokenSource();
        int seen = 0;
        var r = _generator.Generate(Greedy("Once upon a time", 200), _ => { if (++seen == 5) cts.Cancel(); }, cts.Token);
        Assert.Equal(FinishReason.Cancelled, r.FinishReason);
        Assert.Equal(5, r.Tokens.Count);
    }

    [Fact]
    public void Seeded_sampling_is_reproducible()
    {
        GenerationRequest Sampled(ulong seed) => Greedy("The little dog", 30) with { Sampling = new SamplingParameters { Temperature = 1.2f, TopK = 40, Seed = seed } };
        var a = _generator.Generate(Sampled(5));
        var b = _generator.Generate(Sampled(5));
        var c = _generator.Generate(Sampled(6));
        Assert.Equal(a.Tokens, b.Tokens);
        Assert.NotEqual(a.Tokens, c.Tokens);
    }

    [Fact]
    public void Logprobs_are_normalized_and_the_chosen_greedy_token_is_the_top_alternative()
    {
        var updates = new List<GeneratedToken>();
        _generator.Generate(Greedy("Once upon a time", 5) with { Logprobs = 3 }, updates.Add);
        foreach (var u in updates)
        {
            Assert.NotNull(u.Logprob);
            Assert.True(u.Logprob <= 0);
            Assert.Equal(3, u.TopLogprobs!.Length);
            Assert.Equal(u.Id, u.TopLogprobs[0].Token);
            Assert.Equal(u.Logprob!.Value, u.TopLogprobs[0].Logprob, 5);
        }
    }

    [Fact]
    public void Prompt_longer_than_the_context_is_refused_and_the_cache_stays_usable()
    {
        var tooLong = Enumerable.Repeat(400, 300).ToArray();
        Assert.Throws<ContextLengthExceededException>(() => _generator.Generate(new GenerationRequest { PromptTokens = tooLong, MaxTokens = 1 }));
        Assert.StartsWith(", there was", _generator.Generate(Greedy("Once upon a time", 5)).Text);
    }
}
