using System.Text;
using TokenFactory.Constraints;
using TokenFactory.Gguf;
using TokenFactory.Tokenization;

namespace TokenFactory.Tests.Constraints;

public sealed class TokenMaskerTests
{
    private static readonly Lazy<Tokenizer> Stories = new(() =>
    {
        using var file = GgufFile.Open(TestPaths.Stories260K);
        return Tokenizer.FromMetadata(file.Metadata);
    });

    /// <summary>States a generation passes through: structure, keys, plain string content, an escape, a number, the end.</summary>
    public static TheoryData<string> States() => new(["", "{", "{\"a\"", "{\"a\":", "{\"a\":\"x", "{\"a\":\"x\\", "{\"a\":\"\\u00", "{\"a\":12", "{\"a\":[", "{\"a\":[tr", "{\"a\":1}"]);

    [Theory]
    [MemberData(nameof(States))]
    public void The_mask_allows_exactly_the_tokens_that_parse(string prefix)
    {
        var tokenizer = Stories.Value;
        var masker = TokenMasker.For(tokenizer);
        var state = JsonMatcher.Start(JsonSchemaCompiler.AnyObject).Advance(Encoding.UTF8.GetBytes(prefix))!;
        Assert.NotNull(state);
        var logits = new float[tokenizer.VocabSize];
        masker.Mask(state, logits);
        int allowed = 0;
        for (int id = 0; id < tokenizer.VocabSize; id++)
        {
            // The brute-force answer: the token's own bytes through the parser (end-of-generation only at a complete value).
            var bytes = tokenizer.TokenBytes(id, special: false);
            bool expected = tokenizer.IsEndOfGeneration(id) ? state.CanEnd : bytes.Length > 0 && state.Advance(bytes) is not null;
            Assert.True(expected == !float.IsNegativeInfinity(logits[id]), $"token {id} '{tokenizer.TokenPiece(id)}' after '{prefix}': expected {(expected ? "allowed" : "refused")}");
            Assert.Equal(expected, masker.Advance(state, id) is not null);
            allowed += expected ? 1 : 0;
        }
        Assert.True(allowed > 0 || prefix.EndsWith('}'), "some token continues every open document");
    }
}
