using System.Collections.Frozen;
using TokenFactory.Gguf;

namespace TokenFactory.Tokenization;

/// <summary>
/// A tokenizer vocabulary as GGUF metadata describes it (<c>tokenizer.ggml.*</c>), with llama.cpp's defaults and
/// fix-ups applied so that every tokenizer built on it behaves like llama.cpp's.
/// </summary>
public sealed partial class Vocabulary
{
    public const string ModelKey = "tokenizer.ggml.model";
    public const string PreKey = "tokenizer.ggml.pre";

    /// <summary>The values of <c>tokenizer.ggml.model</c> this engine can tokenize.</summary>
    public static IReadOnlyList<string> SupportedModels { get; } = ["llama", "gpt2", "gemma4", "bert"];

    private readonly Dictionary<string, int> _tokenToId;

    private Vocabulary(string source, TokenizerKind kind, string modelName, string? pre, string[] tokens)
    {
        Source = source;
        Kind = kind;
        Model = modelName;
        PreTokenizer = pre;
        Tokens = tokens;
        Scores = new float[tokens.Length];
        Attributes = new TokenAttributes[tokens.Length];
        // Later duplicates win, as in llama.cpp's text-to-id map.
        _tokenToId = new Dictionary<string, int>(tokens.Length, StringComparer.Ordinal);
        for (int i = 0; i < tokens.Length; i++)
            _tokenToId[tokens[i]] = i;
    }

    /// <summary>Where the metadata came from, for messages.</summary>
    public string Source { get; }

    public TokenizerKind Kind { get; }

    /// <summary>The raw <c>tokenizer.ggml.model</c> value.</summary>
    public string Model { get; }

    /// <summary>The raw <c>tokenizer.ggml.pre</c> value, or null when absent.</summary>
    public string? PreTokenizer { get; }

    /// <summary>Token texts as stored (byte-level BPE texts are in the GPT-2 byte-to-unicode alphabet).</summary>
    public IReadOnlyList<string> Tokens { get; }

    public IReadOnlyList<float> Scores { get; private set; }

    public IReadOnlyList<TokenAttributes> Attributes { get; }

    /// <summary>BPE merges in rank order (<c>"left right"</c>); empty for other models.</summary>
    public IReadOnlyList<string> Merges { get; private set; } = [];

    public int Count => Tokens.Count;

    public int? Bos { get; private set; }
    public int? Eos { get; private set; }
    public int? Eot { get; private set; }
    public int? Eom { get; private set; }
    public int? Unknown { get; private set; }
    public int? Padding { get; private set; }
    public int? Separator { get; private set; }
    public int? Mask { get; private set; }

    public bool AddBos { get; private set; }
    public bool AddEos { get; private set; }

    /// <summary>WordPiece only: append the separator when adding special tokens.</summary>
    public bool AddSep { get; private set; }

    /// <summary>SentencePiece: prefix raw text with a space (escaped to U+2581) at the start and after special tokens.</summary>
    public bool AddSpacePrefix { get; private set; }

    /// <summary>Read for completeness; llama.cpp does not apply it to SentencePiece (llama) vocabularies, so neither do we.</summary>
    public bool RemoveExtraWhitespaces { get; private set; }

    /// <summary>
    /// BPE over raw UTF-8 with spaces escaped to U+2581 and <c>&lt;0xXX&gt;</c> byte tokens, instead of the GPT-2 byte alphabet
    /// (Gemma 4's <c>tokenizer.ggml.model = gemma4</c>).
    /// </summary>
    public bool EscapeWhitespace => Model == "gemma4";

    /// <summary>Byte-level BPE: a pre-tokenized word that is itself a token skips merging (Llama 3 and others).</summary>
    public bool IgnoreMerges { get; private set; }

    /// <summary>Tokens that end generation: eos, eot, eom and tokens whose text is a known end marker.</summary>
    public FrozenSet<int> EndOfGeneration { get; private set; } = FrozenSet<int>.Empty;

    public bool IsEndOfGeneration(int id) => EndOfGeneration.Contains(id);

    public int? TokenToId(string text) => _tokenToId.TryGetValue(text, out int id) ? id : null;

    internal Dictionary<string, int> TextToId => _tokenToId;

    public bool IsValid(int id) => (uint)id < (uint)Tokens.Count;

    public static Vocabulary FromMetadata(GgufMetadata metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        string source = metadata.Source;
        string? model = metadata.GetStringOrNull(ModelKey);
        if (model is null)
            throw new TokenFactoryException(
                $"{source}: '{ModelKey}' is missing, so the tokenizer is unknown (supported: {string.Join(", ", SupportedModels)}).");
        var kind = model switch
        {
            "llama" => TokenizerKind.SentencePiece,
            "gpt2" or "gemma4" => TokenizerKind.BytePairEncoding,
            "bert" => TokenizerKind.WordPiece,
            _ => throw new TokenFactoryException(
                $"{source}: tokenizer model '{model}' is not supported (supported: {string.Join(", ", SupportedModels)})."),
        };
        var tokens = metadata.GetArrayOrNull<string>("tokenizer.ggml.tokens")
            ?? throw new TokenFactoryException($"{source}: 'tokenizer.ggml.tokens' is missing.");
        if (tokens.Length == 0)
            throw new TokenFactoryException($"{source}: 'tokenizer.ggml.tokens' is empty.");
        // llama.cpp renames empty entries so that they can never match text.
        for (int i = 0; i < tokens.Length; i++)
            if (tokens[i].Length == 0)
                tokens[i] = $"[EMPTY_{i}]";

        // Gemma 4's BPE works on raw UTF-8 with spaces escaped (SentencePiece style); llama.cpp names its pre-tokenizer after it.
        var vocab = new Vocabulary(source, kind, model, model == "gemma4" ? "gemma4" : metadata.GetStringOrNull(PreKey), tokens);
        vocab.LoadScoresAndTypes(metadata);
        vocab.ApplyModelDefaults(metadata);
        vocab.LoadSpecialIds(metadata);
        vocab.FindEndOfGeneration();
        vocab.ApplyNameBasedAttributes(metadata);
        return vocab;
    }

    private void LoadScoresAndTypes(GgufMetadata metadata)
    {
        var scores = metadata.GetArrayOrNull<float>("tokenizer.ggml.scores");
        if (scores is not null)
        {
            if (scores.Length != Tokens.Count)
                throw new TokenFactoryException($"{Source}: {scores.Length} scores for {Tokens.Count} tokens.");
            Scores = scores;
        }
        var types = metadata.GetArrayOrNull<int>("tokenizer.ggml.token_type");
        if (types is not null && types.Length != Tokens.Count)
            throw new TokenFactoryException($"{Source}: {types.Length} token types for {Tokens.Count} tokens.");
        var attrs = (TokenAttributes[])Attributes;
        for (int i = 0; i < attrs.Length; i++)
        {
            attrs[i] = types is null ? TokenAttributes.Normal : types[i] switch
            {
                1 => TokenAttributes.Normal,
                2 => TokenAttributes.Unknown,
                3 => TokenAttributes.Control,
                4 => TokenAttributes.UserDefined,
                5 => TokenAttributes.Unused,
                6 => TokenAttributes.Byte,
                _ => TokenAttributes.Undefined,
            };
        }
    }
}
