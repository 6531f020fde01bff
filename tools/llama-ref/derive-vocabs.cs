#:project ../../src/TokenFactory.Core/TokenFactory.Core.csproj
// Writes the tokenizer vocabularies the tokenizer tests check against llama.cpp for tokenizers the shared fixtures do not
// cover, derived from shared vocabularies (record-tokens.sh then records llama.cpp's tokens for them):
//   ggml-vocab-qwen35.gguf  gpt-2's byte-level BPE, cut to its first 8000 tokens and the merges among them, plus e + U+0301 merges, pre-tokenizer "qwen35";
//   ggml-vocab-gemma4.gguf  llama-spm's SentencePiece pieces as Gemma 4's raw-text BPE (tokenizer model "gemma4"): control and byte
//                           tokens, every one-character piece, then the best-scored longer ones up to 8000, plus newline-run tokens, merges extracted as Hugging Face converts SentencePiece vocabularies (every split of a
//                           piece into two pieces, ordered by the merged piece, then the parts).
// usage: dotnet run tools/llama-ref/derive-vocabs.cs -- SHARED_TOKENIZERS_DIR OUT_DIR
using TokenFactory.Gguf;

if (args.Length != 2)
{
    Console.Error.WriteLine("usage: dotnet run derive-vocabs.cs -- SHARED_TOKENIZERS_DIR OUT_DIR");
    return 2;
}
const int Keep = 8000;
Directory.CreateDirectory(args[1]);

using (var gpt2 = GgufFile.Open(Path.Combine(args[0], "ggml-vocab-gpt-2.gguf")))
{
    // Plus tokens and merges that join a letter with a following combining mark (e + U+0301, in the byte-level alphabet), so the
    // cases with marks tell Qwen3.5's pre-tokenizer (marks stay with their letters) from Qwen2's (which splits before them).
    string acute = string.Concat(System.Text.Encoding.UTF8.GetBytes("\u0301").Select(ByteChar));
    var tokens = gpt2.Metadata.GetArray<string>("tokenizer.ggml.tokens")[..Keep].Append("e" + acute[0]).Append("e" + acute).ToArray();
    var kept = new HashSet<string>(tokens, StringComparer.Ordinal);
    var merges = gpt2.Metadata.GetArray<string>("tokenizer.ggml.merges").Where(m =>
    {
        int sep = m.IndexOf(' ', 1);
        return sep > 0 && kept.Contains(m[..sep]) && kept.Contains(m[(sep + 1)..]) && kept.Contains(m[..sep] + m[(sep + 1)..]);
    }).Append("e " + acute[0]).Append("e" + acute[0] + " " + acute[1]).ToArray();
    Write(gpt2.Metadata, Path.Combine(args[1], "ggml-vocab-qwen35.gguf"), m =>
    {
        m.Set("tokenizer.ggml.pre", GgufValue.Of("qwen35"));
        m.Set("tokenizer.ggml.tokens", GgufValue.Of(tokens));
        m.Set("tokenizer.ggml.merges", GgufValue.Of(merges));
        if (m.ContainsKey("tokenizer.ggml.token_type"))
            m.Set("tokenizer.ggml.token_type", GgufValue.Of(gpt2.Metadata.GetArray<int>("tokenizer.ggml.token_type")[..Keep].Append(1).Append(1).ToArray()));
        foreach (var key in new[] { "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id" })
        {
            if (m.ContainsKey(key) && m.GetInt32(key) >= Keep)
                m.Remove(key);
        }
    });
    Console.WriteLine($"qwen35: {tokens.Length} tokens, {merges.Length} merges");
}

using (var spm = GgufFile.Open(Path.Combine(args[0], "ggml-vocab-llama-spm.gguf")))
{
    var allTokens = spm.Metadata.GetArray<string>("tokenizer.ggml.tokens");
    var allTypes = spm.Metadata.GetArray<int>("tokenizer.ggml.token_type");
    // Control and byte tokens first (ids unchanged), then every one-character piece (merges start from characters), then the
    // best-scored longer pieces up to Keep.
    var order = Enumerable.Range(0, allTokens.Length).Where(i => allTypes[i] != 1)
        .Concat(Enumerable.Range(0, allTokens.Length).Where(i => allTypes[i] == 1 && CharExtensions.IsOneCharacter(allTokens[i])))
        .Concat(Enumerable.Range(0, allTokens.Length).Where(i => allTypes[i] == 1 && !CharExtensions.IsOneCharacter(allTokens[i])))
        .Take(Keep).ToArray();
    // Plus newline-run tokens (Gemma's vocabulary has them; a run of newlines that is a token is taken whole).
    var tokens = order.Select(i => allTokens[i]).Append("\n\n").Append("\n\n\n").ToArray();
    var types = order.Select(i => allTypes[i]).Append(1).Append(1).ToArray();
    var id = new Dictionary<string, int>(StringComparer.Ordinal);
    for (int i = 0; i < tokens.Length; i++)
    {
        if (types[i] == 1) // normal pieces only: control and byte tokens never merge
            id.TryAdd(tokens[i], i);
    }
    var found = new List<(int Result, int Left, int Right, string Text)>();
    foreach (var (piece, result) in id)
    {
        for (int split = 1; split < piece.Length; split++)
        {
            if (char.IsLowSurrogate(piece[split]))
                continue;
            if (id.TryGetValue(piece[..split], out int left) && id.TryGetValue(piece[split..], out int right))
                found.Add((result, left, right, piece[..split] + " " + piece[split..]));
        }
    }
    var merges = found.OrderBy(f => f.Result).ThenBy(f => f.Left).ThenBy(f => f.Right).Select(f => f.Text).ToArray();
    Write(spm.Metadata, Path.Combine(args[1], "ggml-vocab-gemma4.gguf"), m =>
    {
        m.Set("tokenizer.ggml.model", GgufValue.Of("gemma4"));
        m.Set("tokenizer.ggml.tokens", GgufValue.Of(tokens));
        m.Set("tokenizer.ggml.token_type", GgufValue.Of(types));
        m.Set("tokenizer.ggml.merges", GgufValue.Of(merges));
        m.Remove("tokenizer.ggml.scores");
    });
    Console.WriteLine($"gemma4: {tokens.Length} tokens, {merges.Length} merges");
}
return 0;

// GPT-2's byte-to-character alphabet: printable Latin-1 bytes are themselves, the rest take U+0100 onward in byte order.
static char ByteChar(byte b)
{
    static bool Printable(int x) => x is >= 0x21 and <= 0x7E or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
    if (Printable(b))
        return (char)b;
    int n = 0;
    for (int x = 0; x < b; x++)
    {
        if (!Printable(x))
            n++;
    }
    return (char)(256 + n);
}

static void Write(GgufMetadata source, string path, Action<GgufMetadata> edit)
{
    var w = new GgufWriter();
    foreach (var (k, v) in source)
        w.Metadata.Set(k, v);
    edit(w.Metadata);
    File.WriteAllBytes(path, w.ToBytes());
}

static class CharExtensions
{
    /// <summary>Whether the text is exactly one Unicode character (one UTF-16 unit or a surrogate pair).</summary>
    public static bool IsOneCharacter(string text) => text.Length == 1 || (text.Length == 2 && char.IsSurrogatePair(text[0], text[1]));
}
