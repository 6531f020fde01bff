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
}
