using System.Text.Json.Nodes;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Api;

[Collection(StoriesServerCollection.Name)]
public sealed class CompletionsTests(StoriesServerFixture fixture)
{
    private ServerInstance Server => fixture.Server;

    private async Task<JsonObject> PostAsync(object body)
    {
        using var response = await Server.PostJsonAsync("/v1/completions", body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonNode.Parse(text)!.AsObject();
    }

    [Fact]
    public async Task Greedy_continuation_of_stories260K_is_the_known_story()
    {
        var r = await PostAsync(new { model = "stories260K", prompt = "Once upon a time", max_tokens = 12, temperature = 0 });
        Assert.StartsWith("cmpl-", (string)r["id"]!);
        Assert.Equal("text_completion", (string)r["object"]!);
        var choice = r["choices"]![0]!;
        // llama.cpp's greedy continuation (shared/README.md).
        Assert.StartsWith(", there was a little girl named Lily.", (string)choice["text"]!);
        Assert.Equal("length", (string)choice["finish_reason"]!);
        Assert.Equal(12, (int)r["usage"]!["completion_tokens"]!);
        Assert.Equal(5, (int)r["usage"]!["prompt_tokens"]!); // BOS + 4 tokens
    }

    [Fact]
    public async Task A_prompt_that_begins_with_the_bos_text_gets_one_bos()
    {
        var plain = await PostAsync(new { prompt = "Once upon a time", max_tokens = 4, temperature = 0 });
        var written = await PostAsync(new { prompt = "<s>Once upon a time", max_tokens = 4, temperature = 0 });
        Assert.Equal(5, (int)written["usage"]!["prompt_tokens"]!); // not BOS, BOS + 4
        Assert.Equal((string)plain["choices"]![0]!["text"]!, (string)written["choices"]![0]!["text"]!);
    }

    [Fact]
    public async Task Usage_reports_the_prompt_tokens_found_in_the_prefix_cache_streamed_or_not()
    {
        string prompt = $"The {Guid.NewGuid():N} dragon slept under the old mountain while the village below prepared for the harvest festival";
        var first = await PostAsync(new { prompt, max_tokens = 2, temperature = 0 });
        Assert.Equal(0, (int)first["usage"]!["prompt_tokens_details"]!["cached_tokens"]!);
        var again = await PostAsync(new { prompt = prompt + " again", max_tokens = 2, temperature = 0 });
        int cached = (int)again["usage"]!["prompt_tokens_details"]!["cached_tokens"]!;
        Assert.True(cached >= 16 && cached % 16 == 0, $"{cached} cached tokens"); // whole blocks of the shared prefix
        using var streamed = await Server.PostJsonAsync("/v1/completions",
            new { prompt = prompt + " once more", max_tokens = 2, temperature = 0, stream = true, stream_options = new { include_usage = true } });
        var usage = (await Sse.ReadAllAsync(streamed)).Chunks.Single(c => c["usage"] is JsonObject)["usage"]!;
        Assert.Equal(cached, (int)usage["prompt_tokens_details"]!["cached_tokens"]!);
    }

    [Fact]
    public async Task Array_of_prompts_gives_one_choice_per_prompt_in_order()
    {
        var single = await PostAsync(new { prompt = "One day", max_tokens = 6, temperature = 0 });
        var r = await PostAsync(new { prompt = new[] { "Once upon a time", "One day" }, max_tokens = 6, temperature = 0 });
        var choices = r["choices"]!.AsArray();
        Assert.Equal([0, 1], choices.Select(c => (int)c!["index"]!));
        Assert.Equal((string)single["choices"]![0]!["text"]!, (string)choices[1]!["text"]!);
        Assert.Equal(12, (int)r["usage"]!["completion_tokens"]!);
    }

    [Fact]
    public async Task Token_id_prompt_equals_its_text()
    {
        var tokens = Server.Engine.Tokenizer.Encode("Once upon a time", addSpecial: true);
        var a = await PostAsync(new { prompt = tokens, max_tokens = 6, temperature = 0 });
        var b = await PostAsync(new { prompt = "Once upon a time", max_tokens = 6, temperature = 0 });
        Assert.Equal((string)b["choices"]![0]!["text"]!, (string)a["choices"]![0]!["text"]!);
    }

    [Fact]
    public async Task Echo_prepends_the_prompt()
    {
        var r = await PostAsync(new { prompt = "Once upon a time", max_tokens = 4, temperature = 0, echo = true });
        Assert.StartsWith("Once upon a time, there", (string)r["choices"]![0]!["text"]!);
    }

    [Fact]
    public async Task Logprobs_have_the_legacy_shape()
    {
        var r = await PostAsync(new { prompt = "Once upon a time", max_tokens = 5, temperature = 0, logprobs = 2 });
        var lp = r["choices"]![0]!["logprobs"]!;
        var tokens = lp["tokens"]!.AsArray();
        Assert.Equal(5, tokens.Count);
        Assert.Equal((string)r["choices"]![0]!["text"]!, string.Concat(tokens.Select(t => (string)t!)));
        Assert.Equal(5, lp["token_logprobs"]!.AsArray().Count);
        Assert.All(lp["top_logprobs"]!.AsArray(), t => Assert.Equal(2, t!.AsObject().Count));
        var offsets = lp["text_offset"]!.AsArray().Select(o => (int)o!).ToList();
        Assert.Equal(0, offsets[0]);
        Assert.Equal(offsets.Order(), offsets);
    }

    [Fact]
    public async Task Echo_with_logprobs_reports_the_prompt_tokens_first_without_a_logprob()
    {
        var r = await PostAsync(new { prompt = "Once upon a time", max_tokens = 3, temperature = 0, logprobs = 1, echo = true });
        var lp = r["choices"]![0]!["logprobs"]!;
        Assert.Equal(5 + 3, lp["tokens"]!.AsArray().Count);
        Assert.Null(lp["token_logprobs"]![0]);
        Assert.Null(lp["top_logprobs"]![0]);
        Assert.All(lp["token_logprobs"]!.AsArray().Skip(1), v => Assert.True((float)v! <= 0));
    }

    [Fact]
    public async Task Streamed_logprobs_carry_the_same_tokens_and_offsets_as_the_whole_answer()
    {
        var whole = await PostAsync(new { prompt = "Once upon a time", max_tokens = 6, temperature = 0, logprobs = 1, echo = true });
        using var streamed = await Server.PostJsonAsync("/v1/completions", new { prompt = "Once upon a time", max_tokens = 6, temperature = 0, logprobs = 1, stream = true });
        var chunks = (await Sse.ReadAllAsync(streamed)).Chunks.Where(c => c["choices"]!.AsArray().Count > 0 && c["choices"]![0]!["logprobs"] is JsonObject).ToList();
        var offsets = chunks.SelectMany(c => c["choices"]![0]!["logprobs"]!["text_offset"]!.AsArray().Select(o => (int)o!)).ToList();
        var tokens = chunks.SelectMany(c => c["choices"]![0]!["logprobs"]!["tokens"]!.AsArray().Select(t => (string)t!)).ToList();
        // Offsets count from the start of the whole text, as the unstreamed answer's do (there after the 16-character prompt).
        var lp = whole["choices"]![0]!["logprobs"]!;
        Assert.Equal(lp["tokens"]!.AsArray().Skip(5).Select(t => (string)t!), tokens);
        Assert.Equal(lp["text_offset"]!.AsArray().Skip(5).Select(o => (int)o! - "Once upon a time".Length), offsets);
        Assert.True(offsets.Distinct().Count() > 1, string.Join(",", offsets));
    }

    [Fact]
    public async Task The_prompts_logprobs_are_not_streamed_so_asking_is_a_400()
    {
        using var r = await Server.PostJsonAsync("/v1/completions", new { prompt = "Once upon a time", max_tokens = 2, logprobs = 1, echo = true, stream = true });
        await ErrorTests.AssertErrorAsync(r, System.Net.HttpStatusCode.BadRequest, "logprobs");
        using var many = await Server.PostJsonAsync("/v1/completions", new { prompt = "Once upon a time", max_tokens = 0, logprobs = 1, echo = true, n = 4 });
        await ErrorTests.AssertErrorAsync(many, System.Net.HttpStatusCode.BadRequest, "n");
        using var textOnly = await Server.PostJsonAsync("/v1/completions", new { prompt = "Once upon a time", max_tokens = 2, echo = true, stream = true });
        Assert.StartsWith("Once upon a time", string.Concat((await Sse.ReadAllAsync(textOnly)).Chunks.Where(c => c["choices"]!.AsArray().Count > 0).Select(c => (string)c["choices"]![0]!["text"]!)));
    }
}
