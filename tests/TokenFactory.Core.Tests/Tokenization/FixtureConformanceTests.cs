using TokenFactory.Tokenization;

namespace TokenFactory.Tests.Tokenization;

/// <summary>Every case of every llama.cpp tokenizer fixture, one test row each, compared id for id.</summary>
public sealed class FixtureConformanceTests
{
    public static IEnumerable<object[]> Cases() => TokenizerFixtures.Cases();

    [Theory]
    [MemberData(nameof(Cases))]
    public void Encodes_like_llama_cpp(string vocab, int index)
    {
        var input = TokenizerFixtures.Inputs(vocab)[index];
        var expected = TokenizerFixtures.Outputs(vocab)[index];
        var tokenizer = TokenizerFixtures.Load(vocab);

        var actual = tokenizer.Encode(input, addSpecial: false, parseSpecial: false);

        Assert.Equal(expected, actual);
    }

    public static IEnumerable<object[]> WordPieceCases() => TokenizerFixtures.WordPieceCases();

    /// <summary>WordPiece: every bert-bge case (accent stripping relies on ICU's NFD).</summary>
    [Theory]
    [MemberData(nameof(WordPieceCases))]
    public void WordPiece_encodes_like_llama_cpp(string vocab, int index) => Encodes_like_llama_cpp(vocab, index);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Decodes_back_to_the_input(string vocab, int index)
    {
        var input = TokenizerFixtures.Inputs(vocab)[index];
        var tokenizer = TokenizerFixtures.Load(vocab);

        var decoded = tokenizer.Decode(tokenizer.Encode(input, addSpecial: false, parseSpecial: false));

        Assert.Equal(input, decoded);
    }

    [Theory]
    [MemberData(nameof(FixtureNames))]
    public void Fixture_files_pair_up(string vocab)
    {
        Assert.Equal(TokenizerFixtures.Inputs(vocab).Length, TokenizerFixtures.Outputs(vocab).Length);
    }

    public static IEnumerable<object[]> FixtureNames() => TokenizerFixtures.Tested.Select(n => new object[] { n });
}
