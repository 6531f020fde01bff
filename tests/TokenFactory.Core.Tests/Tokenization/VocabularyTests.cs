using TokenFactory.Gguf;
using TokenFactory.Tokenization;

namespace TokenFactory.Tests.Tokenization;

public sealed class VocabularyTests
{
    private static GgufMetadata Minimal(string? model, string? pre = null)
    {
        var m = new GgufMetadata("test");
        if (model is not null)
            m.Set("tokenizer.ggml.model", GgufValue.Of(model));
        if (pre is not null)
            m.Set("tokenizer.ggml.pre", GgufValue.Of(pre));
        m.Set("tokenizer.ggml.tokens", GgufValue.Of(new[] { "a", "b", "ab" }));
        m.Set("tokenizer.ggml.merges", GgufValue.Of(new[] { "a b" }));
        return m;
    }

    [Fact]
    public void Unknown_model_is_a_clear_error_listing_the_supported_ones()
    {
        var ex = Assert.Throws<TokenFactoryException>(() => Tokenizer.FromMetadata(Minimal("rwkv")));
        Assert.Contains("rwkv", ex.Message);
        Assert.Contains("llama", ex.Message);
        Assert.Contains("gpt2", ex.Message);
    }

    [Fact]
    public void Missing_model_is_a_clear_error()
    {
        var ex = Assert.Throws<TokenFactoryException>(() => Tokenizer.FromMetadata(Minimal(null)));
        Assert.Contains("tokenizer.ggml.model", ex.Message);
    }

    [Fact]
    public void Unknown_pre_tokenizer_is_a_clear_error()
    {
        var ex = Assert.Throws<TokenFactoryException>(() => Tokenizer.FromMetadata(Minimal("gpt2", "no-such-pre")));
        Assert.Contains("no-such-pre", ex.Message);
        Assert.Contains("llama-bpe", ex.Message);
    }

    [Theory]
    [InlineData("default")]
    [InlineData("llama-bpe")]
    [InlineData("qwen2")]
    [InlineData("deepseek-llm")]
    [InlineData("deepseek-coder")]
    [InlineData("deepseek-v3")]
    [InlineData("falcon")]
    [InlineData("starcoder")]
    [InlineData("mpt")]
    [InlineData("refact")]
    [InlineData("smollm")]
    [InlineData("gpt-4o")]
    [InlineData("olmo")]
    [InlineData("tekken")]
    [InlineData("chameleon")]
    [InlineData("bloom")]
    [InlineData("viking")]
    [InlineData("superbpe")]
    [InlineData("bailingmoe")]
    [InlineData("seed-coder")]
    public void Every_pre_tokenizer_compiles_and_round_trips(string pre)
    {
        var t = Tokenizer.FromMetadata(Minimal("gpt2", pre));
        Assert.Equal([2, 2], t.Encode("abab", addSpecial: false));
        // Unknown characters have no byte tokens in this toy vocabulary; just make sure every pattern runs on odd input.
        t.Encode("Hi 123456 ...\n\n  x\t𝐀𝟏 🦙 中文 don't", addSpecial: false);
    }

    [Fact]
    public void Llama3_style_pre_tokenizers_ignore_merges_and_add_bos_by_default()
    {
        var v = Vocabulary.FromMetadata(Minimal("gpt2", "llama-bpe"));
        Assert.True(v.IgnoreMerges);
        Assert.True(v.AddBos);
        Assert.False(Vocabulary.FromMetadata(Minimal("gpt2", "gpt-2")).AddBos);
    }

    [Theory]
    [InlineData("baichuan")]
    [InlineData("bert-bge")]
    public void Loads_other_fixture_vocabularies(string name)
    {
        using var file = GgufFile.Open(TestPaths.Vocab(name));
        var v = Vocabulary.FromMetadata(file.Metadata);
        Assert.True(v.Count > 30000);
    }

    [Fact]
    public void Baichuan_tokenizes_with_sentencepiece()
    {
        using var file = GgufFile.Open(TestPaths.Vocab("baichuan"));
        var t = Tokenizer.FromMetadata(file.Metadata);
        const string text = "Hello world, 你好世界!";
        Assert.Equal(text, t.Decode(t.Encode(text, addSpecial: false)));
    }
    /// <summary>gpt-oss's o200k_harmony, as llama.cpp loads it: markers rendered as text, <c>&lt;|end|&gt;</c> not an end of generation.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Harmony_markers_are_text_and_end_only_ends_a_message_where_return_and_call_exist(bool harmony)
    {
        string[] tokens = harmony
            ? ["a", "b", "ab", "<|start|>", "<|channel|>", "<|message|>", "<|constrain|>", "<|end|>", "<|return|>", "<|call|>"]
            : ["a", "b", "ab", "<|end|>", "<|endoftext|>"];
        var m = new GgufMetadata("test");
        m.Set("tokenizer.ggml.model", GgufValue.Of("gpt2"));
        m.Set("tokenizer.ggml.tokens", GgufValue.Of(tokens));
        m.Set("tokenizer.ggml.merges", GgufValue.Of(new[] { "a b" }));
        m.Set("tokenizer.ggml.token_type", GgufValue.Of(tokens.Select(t => t.StartsWith("<|", StringComparison.Ordinal) ? 3 : 1).ToArray()));
        var tokenizer = Tokenizer.FromMetadata(m);
        int end = Array.IndexOf(tokens, "<|end|>");
        if (!harmony)
        {
            // Phi-3 and kin: <|end|> ends the turn, and is not rendered.
            Assert.True(tokenizer.IsEndOfGeneration(end));
            Assert.Equal("", tokenizer.TokenPiece(end, special: false));
            return;
        }
        Assert.False(tokenizer.IsEndOfGeneration(end));
        Assert.True(tokenizer.IsEndOfGeneration(Array.IndexOf(tokens, "<|return|>")));
        Assert.True(tokenizer.IsEndOfGeneration(Array.IndexOf(tokens, "<|call|>")));
        foreach (string marker in (string[])["<|start|>", "<|channel|>", "<|message|>", "<|constrain|>", "<|end|>"])
            Assert.Equal(marker, tokenizer.TokenPiece(Array.IndexOf(tokens, marker), special: false));
        Assert.Equal("", tokenizer.TokenPiece(Array.IndexOf(tokens, "<|return|>"), special: false));
    }
}
