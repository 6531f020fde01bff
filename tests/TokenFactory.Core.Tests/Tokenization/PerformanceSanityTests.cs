using System.Text;

namespace TokenFactory.Tests.Tokenization;

/// <summary>Large inputs finish and round-trip (no timing asserts: CI machines vary).</summary>
public sealed class PerformanceSanityTests
{
    private static string HundredKilobytes()
    {
        var sb = new StringBuilder();
        int i = 0;
        while (sb.Length < 100_000)
        {
            sb.Append("Paragraph ").Append(i++).Append(": The quick brown fox jumps over the lazy dog. ");
            sb.Append("Ünïcödé, 中文字符, emoji 🦙, numbers 3.14159 and code `x += y;`\n\t  ");
        }
        return sb.ToString();
    }

    [Theory]
    [InlineData("llama-spm")]
    [InlineData("gpt-2")]
    [InlineData("deepseek-llm")]
    public void Tokenizes_100_KB_and_round_trips(string vocab)
    {
        var tokenizer = TokenizerFixtures.Load(vocab);
        var text = HundredKilobytes();

        var ids = tokenizer.Encode(text, addSpecial: false, parseSpecial: true);

        Assert.True(ids.Length > 10_000);
        Assert.Equal(text, tokenizer.Decode(ids));
    }

    [Fact]
    public void A_long_word_is_encoded_each_time_not_kept_in_the_word_cache()
    {
        var vocabulary = TokenizerFixtures.Load("gpt-2").Vocabulary;
        var encoder = new TokenFactory.Tokenization.BpeEncoder(vocabulary);
        var output = new List<int>();
        string letters = new string('q', 1_000_000); // one pre-tokenizer word: a request body of one run of letters
        encoder.Encode(letters, 0, letters.Length, output);
        Assert.NotEmpty(output);
        Assert.Equal(0, encoder.CachedWords); // a cache of such words would pin megabytes per request
        var again = new List<int>();
        encoder.Encode(letters, 0, letters.Length, again);
        Assert.Equal(output, again); // the same tokens, encoded afresh
        encoder.Encode("hello", 0, 5, again);
        Assert.Equal(1, encoder.CachedWords); // short words are cached as before
    }
}

