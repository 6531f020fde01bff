using System.Collections.Concurrent;
using TokenFactory.Gguf;
using TokenFactory.Tokenization;

namespace TokenFactory.Tests.Tokenization;

/// <summary>Loads llama.cpp's tokenizer conformance fixtures (ggml-vocab-NAME.gguf with .inp/.out) and caches tokenizers.</summary>
public static class TokenizerFixtures
{
    public const string Separator = "__ggml_vocab_test__";

    /// <summary>Vocabularies with .inp/.out conformance cases.</summary>
    public static readonly string[] Tested = ["llama-spm", "phi-3", "gpt-2", "falcon", "starcoder", "deepseek-llm", "qwen35", "gemma4"];

    /// <summary>
    /// Vocabularies the shared fixtures lack, derived from them and committed with llama.cpp's tokens for them
    /// (tools/llama-ref/derive-vocabs.cs, record-tokens.mjs): Qwen3.5's pre-tokenizer, Gemma 4's raw-text BPE.
    /// </summary>
    private static readonly string[] s_derived = ["qwen35", "gemma4"];

    private static string VocabPath(string name) =>
        s_derived.Contains(name) ? TestPaths.Fixture("tokenizers", $"ggml-vocab-{name}.gguf") : TestPaths.Vocab(name);

    private static readonly ConcurrentDictionary<string, Lazy<Tokenizer>> s_tokenizers = new();

    public static Tokenizer Load(string name) =>
        s_tokenizers.GetOrAdd(name, n => new Lazy<Tokenizer>(() =>
        {
            using var file = GgufFile.Open(VocabPath(n));
            return Tokenizer.FromMetadata(file.Metadata);
        })).Value;

    /// <summary>The test strings of a .inp file: each ends at a separator line, without the newline before it.</summary>
    public static string[] Inputs(string name)
    {
        string all = File.ReadAllText(VocabPath(name) + ".inp");
        var parts = all.Split("\n" + Separator + "\n");
        // The last separator ends the file (possibly without a trailing newline).
        var last = parts[^1];
        if (last.EndsWith("\n" + Separator, StringComparison.Ordinal))
            parts[^1] = last[..^(Separator.Length + 1)];
        else if (last.Length == 0)
            parts = parts[..^1];
        return parts;
    }

    public static int[][] Outputs(string name) =>
        [.. File.ReadAllLines(VocabPath(name) + ".out")
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray())];

    public static IEnumerable<object[]> WordPieceCases()
    {
        int n = File.ReadAllLines(TestPaths.Vocab("bert-bge") + ".out").Length;
        for (int i = 0; i < n; i++)
            yield return ["bert-bge", i];
    }

    public static IEnumerable<object[]> Cases()
    {
        foreach (var name in Tested)
        {
            int n = File.ReadAllLines(VocabPath(name) + ".out").Length;
            for (int i = 0; i < n; i++)
                yield return [name, i];
        }
    }
}
