using System.Collections.Frozen;
using TokenFactory.Gguf;

namespace TokenFactory.Tokenization;

public sealed partial class Vocabulary
{
    // Token texts llama.cpp treats as end-of-generation markers whatever the metadata says; a marker that is
    // not typed as control is forced to control so that it is only parsed from text with parseSpecial.
    private static readonly string[] s_endOfGenerationTexts =
    [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>", "<|endoftext|>",
        "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    ];

    // Texts llama.cpp accepts as the end-of-turn token when the metadata names none.
    private static readonly string[] s_endOfTurnTexts =
    [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "_<EOT>",
        "<｜end▁of▁sentence｜>", "<end_of_utterance>",
    ];

    /// <summary>Per-model defaults that the metadata may then override (llama.cpp's, so files without the keys behave the same).</summary>
    private void ApplyModelDefaults(GgufMetadata metadata)
    {
        switch (Kind)
        {
            case TokenizerKind.SentencePiece:
                Bos = 1; Eos = 2; Unknown = 0;
                AddBos = true; AddSpacePrefix = true;
                break;
            case TokenizerKind.BytePairEncoding:
                Bos = 11; Eos = 11;
                var spec = PreTokenizerCatalog.Resolve(PreTokenizer, Source);
                AddBos = spec.AddBos;
                IgnoreMerges = spec.IgnoreMerges;
                var merges = metadata.GetArrayOrNull<string>("tokenizer.ggml.merges")
                    ?? throw new TokenFactoryException($"{Source}: BPE vocabulary has no 'tokenizer.ggml.merges'.");
                if (EscapeWhitespace)
                    Bos = Eos = null; // Gemma 4 names its own (llama.cpp has no defaults for it)
                Merges = merges;
                break;
            case TokenizerKind.WordPiece:
                Bos = 101; Unknown = 100; Separator = 102; Padding = 0; Mask = 103;
                AddBos = true; AddSep = true;
                break;
        }
        // Clamp out-of-range defaults (tiny vocabularies) rather than pointing past the end.
        Bos = Valid(Bos); Eos = Valid(Eos); Unknown = Valid(Unknown); Separator = Valid(Separator);
        Padding = Valid(Padding); Mask = Valid(Mask);

        AddSpacePrefix = metadata.GetBoolOrDefault("tokenizer.ggml.add_space_prefix", AddSpacePrefix);
        RemoveExtraWhitespaces = metadata.GetBoolOrDefault("tokenizer.ggml.remove_extra_whitespaces", false);
        AddBos = metadata.GetBoolOrDefault("tokenizer.ggml.add_bos_token", AddBos);
        AddEos = metadata.GetBoolOrDefault("tokenizer.ggml.add_eos_token", AddEos);
        if (EscapeWhitespace)
            AddBos = true; // llama.cpp overrides a Gemma 4 file's add_bos_token = false
        AddSep = metadata.GetBoolOrDefault("tokenizer.ggml.add_sep_token", AddSep);
    }

    private int? Valid(int? id) => id is int v && IsValid(v) ? v : null;

    /// <summary>Ids from metadata; an id past the vocabulary keeps the default, as llama.cpp does.</summary>
    private void LoadSpecialIds(GgufMetadata metadata)
    {
        Bos = ReadId(metadata, "tokenizer.ggml.bos_token_id", Bos);
        Eos = ReadId(metadata, "tokenizer.ggml.eos_token_id", Eos);
        Eot = ReadId(metadata, "tokenizer.ggml.eot_token_id", Eot);
        Eom = ReadId(metadata, "tokenizer.ggml.eom_token_id", Eom);
        Unknown = ReadId(metadata, "tokenizer.ggml.unknown_token_id", Unknown);
        Padding = ReadId(metadata, "tokenizer.ggml.padding_token_id", Padding);
        Separator = ReadId(metadata, "tokenizer.ggml.seperator_token_id", Separator); // sic: the GGUF key is misspelled
        Mask = ReadId(metadata, "tokenizer.ggml.mask_token_id", Mask);
    }

    private int? ReadId(GgufMetadata metadata, string key, int? fallback)
    {
        // Files mark "no such token" as 0xFFFFFFFF (-1 as int32); any id outside the vocabulary keeps the default.
        if (!metadata.TryGetValue(key, out var value) || !value.IsInteger)
            return fallback;
        long v = value.AsInt64Unchecked();
        return v >= 0 && v < Count ? (int)v : fallback;
    }

    /// <summary>llama.cpp gives Phi-3's special tokens right-strip behaviour by model name; we follow.</summary>
    private void ApplyNameBasedAttributes(GgufMetadata metadata)
    {
        string name = (metadata.GetStringOrNull("general.name") ?? "").ToLowerInvariant();
        if (!name.Contains("phi-3", StringComparison.Ordinal) && !name.Contains("phi3", StringComparison.Ordinal))
            return;
        var attrs = (TokenAttributes[])Attributes;
        for (int i = 0; i < attrs.Length; i++)
            if ((attrs[i] & (TokenAttributes.Control | TokenAttributes.UserDefined | TokenAttributes.Unknown)) != 0)
                attrs[i] |= TokenAttributes.RStrip;
        SetStrip("</s>", true);
        foreach (var t in (string[])["<unk>", "<s>", "<|endoftext|>"])
            SetStrip(t, false);

        void SetStrip(string text, bool on)
        {
            if (_tokenToId.TryGetValue(text, out int id))
                attrs[id] = on ? attrs[id] | TokenAttributes.RStrip : attrs[id] & ~TokenAttributes.RStrip;
        }
    }

    private void FindEndOfGeneration()
    {
        var attrs = (TokenAttributes[])Attributes;
        if (Eot is null)
        {
            foreach (var text in s_endOfTurnTexts)
                if (_tokenToId.TryGetValue(text, out int id)) { Eot = id; ForceControl(id); break; }
        }
        if (Eom is null && _tokenToId.TryGetValue("<|eom_id|>", out int eom))
        {
            Eom = eom;
            ForceControl(eom);
        }
        var set = new HashSet<int>();
        foreach (var text in s_endOfGenerationTexts)
            if (_tokenToId.TryGetValue(text, out int id)) { set.Add(id); ForceControl(id); }
        foreach (var id in (int?[])[Eos, Eot, Eom])
            if (id is int v) set.Add(v);

        // gpt-oss's o200k_harmony, as llama.cpp treats it: the harmony markers are rendered as text (the answer's channels are read
        // from them), and where <|return|> and <|call|> end a generation, <|end|> only ends a message, so it is text too.
        foreach (var text in (string[])["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"])
            if (_tokenToId.TryGetValue(text, out int id)) attrs[id] = TokenAttributes.UserDefined;
        if (_tokenToId.TryGetValue("<|return|>", out int ret) && set.Contains(ret) && _tokenToId.TryGetValue("<|call|>", out int call) && set.Contains(call)
            && _tokenToId.TryGetValue("<|end|>", out int end) && set.Remove(end))
            attrs[end] = TokenAttributes.UserDefined;
        EndOfGeneration = set.ToFrozenSet();

        void ForceControl(int id)
        {
            if ((attrs[id] & TokenAttributes.Control) == 0)
                attrs[id] = TokenAttributes.Control | (attrs[id] & (TokenAttributes.LStrip | TokenAttributes.RStrip));
        }
    }
}
