using TokenFactory.Gguf;
using TokenFactory.Tokenization;

namespace TokenFactory.Tests.Tokenization;

/// <summary>Inconsistent tokenizer metadata must be refused with our exception, not crash later while encoding.</summary>
public sealed class MalformedVocabularyTests
{
    private static GgufMetadata Copy(string vocab, Action<GgufMetadata> change)
    {
        using var f = GgufFile.Open(TestPaths.Vocab(vocab));
        var m = new GgufMetadata("test.gguf");
        foreach (var (k, v) in f.Metadata)
            m.Set(k, v);
        change(m);
        return m;
    }

    public static TheoryData<string, string> Cases() => new()
    {
        { "llama-spm", "short scores" },
        { "llama-spm", "short token types" },
        { "llama-spm", "no tokens" },
        { "gpt-2", "merge of unknown tokens" },
        { "gpt-2", "merge without a space" },
        { "gpt-2", "unknown pre-tokenizer" },
        { "gpt-2", "tokens of wrong type" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Inconsistent_metadata_is_refused_or_tokenizes_safely(string vocab, string corruption)
    {
        var m = Copy(vocab, m =>
        {
            switch (corruption)
            {
                case "short scores": m.Set("tokenizer.ggml.scores", GgufValue.Of(new float[10])); break;
                case "short token types": m.Set("tokenizer.ggml.token_type", GgufValue.Of(new int[10])); break;
                case "no tokens": m.Set("tokenizer.ggml.tokens", GgufValue.Of(Array.Empty<string>())); break;
                case "merge of unknown tokens": m.Set("tokenizer.ggml.merges", GgufValue.Of(["zzzq qqqz", "a b"])); break;
                case "merge without a space": m.Set("tokenizer.ggml.merges", GgufValue.Of(["ab", "Ġ t"])); break;
                case "unknown pre-tokenizer": m.Set("tokenizer.ggml.pre", GgufValue.Of("no-such-pre")); break;
                case "tokens of wrong type": m.Set("tokenizer.ggml.tokens", GgufValue.Of(new float[3])); break;
            }
        });
        try
        {
            var t = Tokenizer.FromMetadata(m);
            var ids = t.Encode("Hello world, ünïcödé 123!");
            Assert.All(ids, id => Assert.InRange(id, 0, t.VocabSize - 1));
            _ = t.Decode(ids);
        }
        catch (TokenFactoryException e)
        {
            Assert.Contains("test.gguf", e.Message);
        }
    }
}
