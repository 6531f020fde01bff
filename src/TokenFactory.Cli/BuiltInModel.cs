using TokenFactory.Gguf;
using TokenFactory.Models.Synthetic;

namespace TokenFactory.Cli;

/// <summary>
/// The model <c>run</c> and <c>serve</c> use when none is given (finding it is the command line's job; the library and
/// the server are always given a path), so the first command in the README works on a fresh machine:
/// <c>$TOKENFACTORY_MODEL</c> if set; else the trained stories260K from a <c>shared/models</c> folder
/// beside the checkout (present on development and CI machines); else a tiny random-weight model with
/// a byte-level vocabulary, written once to the user's cache (it runs, but its text is noise).
/// </summary>
internal static class BuiltInModel
{
    public const string EnvironmentVariable = "TOKENFACTORY_MODEL";

    public sealed record Resolution(string Path, string Description, bool IsRandom);

    public static Resolution Resolve()
    {
        var fromEnv = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnv))
            return new(fromEnv, $"{fromEnv} (from ${EnvironmentVariable})", false);

        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
            {
                var candidate = System.IO.Path.Combine(dir.FullName, "shared", "models", "stories260K.gguf");
                if (File.Exists(candidate))
                    return new(candidate, $"stories260K (a 260K-parameter TinyStories model) from {candidate}", false);
            }
        }

        var cache = System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "tokenfactory");
        var path = System.IO.Path.Combine(cache, "builtin-tiny-random.gguf");
        if (!File.Exists(path))
            SyntheticModelWriter.Write("llama", ModelShape.Find("tiny"), GgmlType.Q8_0, ByteVocabulary(), path, seed: 1);
        return new(path, $"a tiny random-weight model ({path}); its output is noise", true);
    }

    /// <summary>A SentencePiece vocabulary of just the 256 byte tokens plus unk/BOS/EOS: every text tokenizes via byte fallback.</summary>
    public static GgufMetadata ByteVocabulary()
    {
        var tokens = new List<string> { "<unk>", "<s>", "</s>" };
        var types = new List<int> { 2, 3, 3 };
        for (int b = 0; b < 256; b++)
        {
            tokens.Add($"<0x{b:X2}>");
            types.Add(6);
        }
        var m = new GgufMetadata("built-in byte vocabulary");
        m.Set("tokenizer.ggml.model", GgufValue.Of("llama"));
        m.Set("tokenizer.ggml.tokens", GgufValue.Of(tokens.ToArray()));
        m.Set("tokenizer.ggml.scores", GgufValue.Of(new float[tokens.Count]));
        m.Set("tokenizer.ggml.token_type", GgufValue.Of(types.ToArray()));
        m.Set("tokenizer.ggml.bos_token_id", GgufValue.Of(1u));
        m.Set("tokenizer.ggml.eos_token_id", GgufValue.Of(2u));
        m.Set("tokenizer.ggml.unknown_token_id", GgufValue.Of(0u));
        return m;
    }
}
