namespace TokenFactory.Tokenization;

/// <summary>
/// The regular expressions llama.cpp applies, in sequence, for each <c>tokenizer.ggml.pre</c> value of a byte-level BPE
/// vocabulary, written from the published patterns (Hugging Face tokenizer.json files and llama.cpp's adaptations of them:
/// case-insensitive groups spelled out, possessive quantifiers made greedy, Unicode letter-case classes rewritten with
/// look-aheads). Each pattern splits every piece produced by the previous one; text a pattern does not match stays a piece.
/// </summary>
internal static class PreTokenizerCatalog
{
    private const string Gpt2 = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";

    private const string Llama3 =
        @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private const string Qwen2 =
        @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    // Qwen3.5: Qwen2's with combining marks kept in letter runs and out of punctuation runs.
    private const string Qwen35 =
        @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private const string Contractions = @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";

    // Letters with case, as listed by DeepSeek LLM's tokenizer, escaped (several are canonical singletons that editors
    // silently normalize, e.g. U+212A KELVIN SIGN); the astral ranges are matched separately because .NET
    // character classes work on UTF-16 units (see DeepSeekLetterAstral).
    private const string DeepSeekLetters =
        @"A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293\u0295-\u02AF\u0370-\u0373\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-\u03A1\u03A3-\u03F5\u03F7-\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5\u13F8-\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113\u2115\u2119-\u211D\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139\u213C-\u213F\u2145-\u2149\u214E\u2183\u2184\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D\uA680-\uA69B\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06\uFB13-\uFB17\uFF21-\uFF3A\uFF41-\uFF5A";

    private static readonly (int Lo, int Hi)[] s_deepSeekLetterAstral =
    [
        (0x10400, 0x1044F), (0x104B0, 0x104D3), (0x104D8, 0x104FB), (0x10C80, 0x10CB2), (0x10CC0, 0x10CF2),
        (0x118A0, 0x118DF), (0x1E900, 0x1E943),
    ];

    private static readonly Dictionary<string, PreTokenizerSpec> s_byName = Build();

    /// <summary>Every <c>tokenizer.ggml.pre</c> value understood, for messages and documentation.</summary>
    public static IReadOnlyCollection<string> Names => s_byName.Keys;

    public static PreTokenizerSpec Resolve(string? name, string source)
    {
        // llama.cpp falls back to its default pre-tokenizer (with a warning) when the key is missing.
        if (string.IsNullOrEmpty(name))
            return s_byName["default"];
        return s_byName.TryGetValue(name, out var spec)
            ? spec
            : throw new TokenFactoryException(
                $"{source}: pre-tokenizer '{name}' is not supported (supported: {string.Join(", ", s_byName.Keys.Order(StringComparer.Ordinal))}).");
    }

    private static Dictionary<string, PreTokenizerSpec> Build()
    {
        var map = new Dictionary<string, PreTokenizerSpec>(StringComparer.Ordinal);
        void Add(string[] names, PreTokenizerSpec spec)
        {
            foreach (var n in names)
                map[n] = spec with { Name = n };
        }

        Add(["default"], new("", [@"[\p{P}\$\+<=>\^~\|]+", Gpt2, @"\p{N}+", "[0-9][0-9][0-9]"]));
        Add(["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"],
            new("", [Llama3]) { IgnoreMerges = true, AddBos = true });
        Add(["dbrx", "smaug-bpe", "chatglm-bpe", "glm4"], new("", [Llama3]));
        Add(["deepseek-llm"], new("",
            ["[\r\n]", @"\s?[" + DeepSeekLetters + "]+", @"\s?[!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002]+", @"\s+\z", @"[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+", @"\p{N}+"])
        {
            AstralLetterRanges = s_deepSeekLetterAstral,
        });
        Add(["deepseek-coder"], new("", ["[\r\n]", @"\s?\p{L}+", @"\s?\p{P}+", @"[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+", @"\p{N}"]));
        Add(["deepseek-v3"], new("",
        [
            @"\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+",
            @"[!""#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        ]));
        Add(["falcon"], new("", [@"[\p{P}\$\+<=>\^~\|`]+", Gpt2, "[0-9][0-9][0-9]"]));
        Add(["starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"], new("", [@"\p{N}", Gpt2]));
        Add(["gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en", "jina-v2-es", "jina-v2-de", "jina-v2-code",
             "roberta-bpe", "mpt", "olmo", "jais", "trillion", "granite-docling"], new("", [Gpt2]));
        Add(["qwen2", "qwen2.5", "qwen-2.5", "deepseek-r1-qwen", "stablelm2", "megrez", "hunyuan", "grok-2"], new("", [Qwen2]));
        Add(["qwen35"], new("", [Qwen35]));
        // Gemma 4 (tokenizer model gemma4): raw UTF-8 BPE over whole lines, newline runs apart.
        Add(["gemma4"], new("", ["[^\n]+|[\n]+"]) { RawText = true, AddBos = true });
        Add(["poro-chat", "bloom", "gpt3-finnish"], new("", [@" ?[^(\s|.,!?…。，、।۔،)]+"]));
        Add(["viking"], new("", [@" ?[^(\s|.,!?…。，、।۔،)]+", @"\p{N}"]));
        Add(["tekken"], new("",
        [
            @"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        ]) { IgnoreMerges = true, AddBos = true });
        Add(["chameleon"], new("",
        [
            "<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", @"([\t\n]|    |  )", @"\p{N}", @"[\p{P}!-/:-@\[-`{-~]", Gpt2,
        ]) { AddBos = true });
        Add(["gpt-4o", "llama4", "minimax-m2"], new("",
        [
            @"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+" + Contractions +
            @"?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*" + Contractions +
            @"?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        ]));
        Add(["superbpe"], new("", [@"\p{N}+", @"(?=(\d{3})+(?!\d))"]));
        Add(["bailingmoe", "llada-moe"], new("",
        [
            @"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+",
        ]));
        Add(["seed-coder"], new("",
        [
            Contractions + @"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+",
        ]));
        return map;
    }
}

/// <summary>A named pre-tokenizer: its patterns and the llama.cpp flags that come with the name.</summary>
internal sealed record PreTokenizerSpec(string Name, string[] Patterns)
{
    /// <summary>A word that is itself a token is emitted as is, without merging.</summary>
    public bool IgnoreMerges { get; init; }

    /// <summary>Default for <c>add_bos_token</c> when the metadata does not say.</summary>
    public bool AddBos { get; init; }

    /// <summary>
    /// Merge raw UTF-8 characters (spaces already escaped to U+2581), not the GPT-2 byte alphabet; a run of newlines that is a token
    /// is that token; characters left without a token fall back to <c>&lt;0xXX&gt;</c> byte tokens (Gemma 4).
    /// </summary>
    public bool RawText { get; init; }

    /// <summary>Supplementary-plane code points that the explicit letter class of a pattern includes (DeepSeek LLM).</summary>
    public (int Lo, int Hi)[] AstralLetterRanges { get; init; } = [];
}
