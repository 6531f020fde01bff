using System.Buffers;
using System.Collections.Concurrent;
using System.Text;

namespace TokenFactory.Tokenization;

/// <summary>
/// Byte-level BPE (<c>tokenizer.ggml.model = gpt2</c>): pre-tokenize with the vocabulary's regular expressions, then merge
/// each word's bytes pairwise, lowest merge rank first (leftmost on ties), as llama.cpp does. Gemma 4's BPE
/// (<see cref="PreTokenizerSpec.RawText"/>) merges the characters of raw text instead, spaces escaped to U+2581, with
/// <c>&lt;0xXX&gt;</c> byte tokens for characters no token covers.
/// </summary>
internal sealed class BpeEncoder
{
    private const int MaxCachedWords = 1 << 16;

    /// <summary>Longer words are encoded every time, not cached (as Hugging Face's tokenizers skip words over 256 characters).</summary>
    internal const int MaxCachedWordLength = 256;

    private readonly Vocabulary _vocab;
    private readonly BpeMergeTable _merges;
    private readonly PreTokenizer _pre;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheLookup;

    /// <summary>Words held by the cache now.</summary>
    internal int CachedWords => _cache.Count;

    public BpeEncoder(Vocabulary vocab)
    {
        _vocab = vocab;
        _merges = new BpeMergeTable(vocab);
        _pre = new PreTokenizer(PreTokenizerCatalog.Resolve(vocab.PreTokenizer, vocab.Source));
        _lookup = vocab.TextToId.GetAlternateLookup<ReadOnlySpan<char>>();
        _cacheLookup = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public string PreTokenizerName => _pre.Spec.Name;

    public void Encode(string text, int start, int length, List<int> output)
    {
        var words = new List<(int Start, int Length)>();
        var scratch = new List<(int Start, int Length)>();
        if (_pre.Spec.RawText)
        {
            // Escaped before splitting, as llama.cpp escapes the fragment: the words then hold U+2581 for every space.
            text = text.Substring(start, length).Replace(' ', SpmEncoder.SpaceMarker);
            (start, length) = (0, text.Length);
        }
        _pre.Split(text, start, length, words, scratch);
        foreach (var (s, l) in words)
        {
            var word = text.AsSpan(s, l);
            if (_cacheLookup.TryGetValue(word, out var cached))
            {
                output.AddRange(cached);
                continue;
            }
            int before = output.Count;
            if (_pre.Spec.RawText)
                EncodeRawWord(word, output);
            else
                EncodeWord(word, output);
            // Words repeat when they are short; a long run (a request of one 4 MB "word") would only pin its megabytes.
            if (word.Length > MaxCachedWordLength)
                continue;
            if (_cache.Count >= MaxCachedWords)
                _cache.Clear();
            _cache.TryAdd(word.ToString(), output.GetRange(before, output.Count - before).ToArray());
        }
    }

    private void EncodeWord(ReadOnlySpan<char> word, List<int> output)
    {
        int byteCount = Encoding.UTF8.GetByteCount(word);
        byte[]? rented = null;
        Span<byte> bytes = byteCount <= 256 ? stackalloc byte[256] : (rented = ArrayPool<byte>.Shared.Rent(byteCount));
        bytes = bytes[..Encoding.UTF8.GetBytes(word, bytes)];
        try
        {
            if (_vocab.IgnoreMerges && TryWholeWord(bytes, output))
                return;
            Merge(bytes, output);
        }
        finally
        {
            if (rented is not null)
                ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Gemma 4: a run of newlines that is a token is that token; otherwise the word's characters (surrogate pairs kept
    /// together) merge by rank, and each result without a token becomes the byte tokens of its UTF-8.
    /// </summary>
    private void EncodeRawWord(ReadOnlySpan<char> word, List<int> output)
    {
        if (!word.ContainsAnyExcept('\n') && _lookup.TryGetValue(word, out int newlines))
        {
            output.Add(newlines);
            return;
        }
        var symbols = new List<int>(word.Length);
        List<string>? unknown = null; // characters no token or merge has: symbols -1, -2, ... (they never merge)
        for (int i = 0; i < word.Length; i++)
        {
            int w = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            int symbol = _merges.SymbolOf(word.Slice(i, w));
            if (symbol < 0)
            {
                (unknown ??= []).Add(word.Slice(i, w).ToString());
                symbol = -unknown.Count;
            }
            symbols.Add(symbol);
            i += w - 1;
        }
        MergeSymbols([.. symbols], output, unknown ?? []);
    }

    /// <summary>With ignore_merges, a word whose byte-level text is a token is that token.</summary>
    private bool TryWholeWord(ReadOnlySpan<byte> bytes, List<int> output)
    {
        char[]? rented = null;
        Span<char> chars = bytes.Length <= 256 ? stackalloc char[256] : (rented = ArrayPool<char>.Shared.Rent(bytes.Length));
        try
        {
            for (int i = 0; i < bytes.Length; i++)
                chars[i] = ByteLevel.ToChar(bytes[i]);
            if (!_lookup.TryGetValue(chars[..bytes.Length], out int id))
                return false;
            output.Add(id);
            return true;
        }
        finally
        {
            if (rented is not null)
                ArrayPool<char>.Shared.Return(rented);
        }
    }

    private void Merge(ReadOnlySpan<byte> bytes, List<int> output)
    {
        var symbols = new int[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
            symbols[i] = _merges.ByteSymbols[bytes[i]];
        MergeSymbols(symbols, output, rawTextUnknown: null);
    }

    /// <param name="rawTextUnknown">Raw-text BPE: the texts of the negative symbols (characters without a symbol); null: byte-level BPE.</param>
    private void MergeSymbols(int[] symbols, List<int> output, List<string>? rawTextUnknown)
    {
        int n = symbols.Length;
        if (n == 0)
            return;
        var prev = new int[n];
        var next = new int[n];
        for (int i = 0; i < n; i++)
        {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        // Priority: rank, then position of the left symbol; the entry remembers both symbols to detect stale pairs.
        var queue = new PriorityQueue<(int Left, int Right, int LeftSym, int RightSym, int Result), long>();
        for (int i = 0; i + 1 < n; i++)
            AddPair(i, i + 1);
        while (queue.TryDequeue(out var e, out _))
        {
            if (symbols[e.Left] != e.LeftSym || symbols[e.Right] != e.RightSym || next[e.Left] != e.Right)
                continue;
            symbols[e.Left] = e.Result;
            symbols[e.Right] = -1;
            int after = next[e.Right];
            next[e.Left] = after;
            if (after >= 0)
                prev[after] = e.Left;
            AddPair(prev[e.Left], e.Left);
            AddPair(e.Left, after);
        }
        for (int i = 0; i >= 0; i = next[i])
        {
            if (rawTextUnknown != null)
                EmitRaw(symbols[i] < 0 ? rawTextUnknown[-symbols[i] - 1] : null, symbols[i], output);
            else
                Emit(symbols[i], output);
        }

        void AddPair(int left, int right)
        {
            if (left < 0 || right < 0 || symbols[left] < 0 || symbols[right] < 0)
                return;
            if (_merges.TryGetMerge(symbols[left], symbols[right], out int rank, out int result))
                queue.Enqueue((left, right, symbols[left], symbols[right], result), ((long)rank << 32) | (uint)left);
        }
    }

    /// <summary>
    /// A merge result that is not in the vocabulary falls back, as in llama.cpp, to the tokens of the single UTF-8 bytes
    /// of its byte-level text (only ASCII ones can exist).
    /// </summary>
    /// <summary>A raw-text symbol: its token, or the <c>&lt;0xXX&gt;</c> tokens of its UTF-8 bytes (those that exist).</summary>
    private void EmitRaw(string? unknownText, int symbol, List<int> output)
    {
        if (unknownText == null && _merges.IsToken(symbol))
        {
            output.Add(symbol);
            return;
        }
        Span<char> name = ['<', '0', 'x', '0', '0', '>'];
        foreach (byte b in Encoding.UTF8.GetBytes(unknownText ?? _merges.VirtualText(symbol)))
        {
            name[3] = "0123456789ABCDEF"[b >> 4];
            name[4] = "0123456789ABCDEF"[b & 15];
            if (_lookup.TryGetValue(name, out int id))
                output.Add(id);
        }
    }

    private void Emit(int symbol, List<int> output)
    {
        if (_merges.IsToken(symbol))
        {
            output.Add(symbol);
            return;
        }
        foreach (char c in _merges.VirtualText(symbol))
            if (c < 0x80 && _lookup.TryGetValue([c], out int id))
                output.Add(id);
    }
}
