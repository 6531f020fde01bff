using System.Net.Http.Json;
using TokenFactory.Server.Generation;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Generation;

/// <summary>What the server asks of the engine for a given API request.</summary>
public sealed class RequestMappingTests : IAsyncLifetime
{
    private readonly RecordingEngine _engine = new();
    private ServerInstance? _server;

    public async Task InitializeAsync() => _server = await ServerInstance.StartAsync(new() { ["TokenFactory:DefaultMaxTokens"] = "0" }, _engine);

    public async Task DisposeAsync() => await _server!.DisposeAsync();

    private async Task<List<Engine.GenerationRequest>> SubmitAsync(object body, string path = "/v1/chat/completions")
    {
        _engine.Requests.Clear();
        using var r = await _server!.Client.PostAsJsonAsync(path, body);
        Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
        return [.. _engine.Requests];
    }

    private static readonly object[] Hi = [new { role = "user", content = "Hi" }];

    [Fact]
    public async Task Sampling_fields_reach_the_engine()
    {
        var r = Assert.Single(await SubmitAsync(new
        {
            messages = Hi, max_tokens = 3, temperature = 0.5, top_p = 0.9, top_k = 7, min_p = 0.1, presence_penalty = 0.25,
            frequency_penalty = -0.5, repeat_penalty = 1.1, seed = 99, logprobs = true, top_logprobs = 4, ignore_eos = true,
        }));
        Assert.Equal(3, r.MaxTokens);
        Assert.Equal(0.5f, r.Sampling.Temperature);
        Assert.Equal(0.9f, r.Sampling.TopP);
        Assert.Equal(7, r.Sampling.TopK);
        Assert.Equal(0.1f, r.Sampling.MinP);
        Assert.Equal(0.25f, r.Sampling.PresencePenalty);
        Assert.Equal(-0.5f, r.Sampling.FrequencyPenalty);
        Assert.Equal(1.1f, r.Sampling.RepetitionPenalty);
        Assert.Equal(99ul, r.Sampling.Seed);
        Assert.Equal(4, r.Logprobs);
        Assert.True(r.IgnoreEndOfGeneration);
        Assert.False(r.EchoLogprobs);
    }

    [Fact]
    public async Task Defaults_follow_OpenAI_and_fill_the_context()
    {
        var r = Assert.Single(await SubmitAsync(new { messages = Hi, max_tokens = (int?)null }));
        Assert.Equal(1f, r.Sampling.Temperature);
        Assert.Equal(1f, r.Sampling.TopP);
        Assert.Null(r.Sampling.Seed);
        Assert.Null(r.Logprobs);
        Assert.Equal(_engine.ContextLength - r.PromptTokens.Count, r.MaxTokens);
    }

    [Fact]
    public async Task ChatML_models_also_stop_at_the_im_end_text()
    {
        var r = Assert.Single(await SubmitAsync(new { messages = Hi, max_tokens = 2, stop = new[] { "x", "y" } }));
        Assert.Equal(["x", "y", "<|im_end|>"], r.Stop);
        var completion = Assert.Single(await SubmitAsync(new { prompt = "Hi", max_tokens = 2 }, "/v1/completions"));
        Assert.Empty(completion.Stop); // no template, no implicit stop
    }

    [Fact]
    public async Task N_choices_are_separate_requests_with_seed_plus_i()
    {
        var rs = await SubmitAsync(new { messages = Hi, max_tokens = 2, n = 3, seed = 10 });
        Assert.Equal([10ul, 11ul, 12ul], rs.Select(r => r.Sampling.Seed!.Value).Order());
        Assert.Single(rs.Select(r => string.Join(',', r.PromptTokens)).Distinct());
    }

    [Fact]
    public async Task Completions_echo_with_logprobs_asks_for_prompt_logprobs()
    {
        var r = Assert.Single(await SubmitAsync(new { prompt = "Once upon a time", max_tokens = 2, echo = true, logprobs = 3 }, "/v1/completions"));
        Assert.True(r.EchoLogprobs);
        Assert.Equal(3, r.Logprobs);
        Assert.Equal(_engine.Tokenizer.Encode("Once upon a time", addSpecial: true, parseSpecial: true), r.PromptTokens);
    }

    [Fact]
    public void A_template_that_writes_BOS_itself_gets_no_second_BOS()
    {
        var tokenizer = _engine.Tokenizer;
        int bos = tokenizer.Bos!.Value;
        Assert.True(tokenizer.Vocabulary.AddBos);
        var withBos = ChatPrompt.Tokenize(tokenizer, "<s>Hello");
        Assert.Equal(bos, withBos[0]);
        Assert.Single(withBos, t => t == bos);
        var without = ChatPrompt.Tokenize(tokenizer, "Hello");
        Assert.Equal(bos, without[0]);
        Assert.Equal(withBos, without);
    }
}
