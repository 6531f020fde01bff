using System.Buffers;
using System.Collections.Concurrent;
using System.Text;

namespace TokenFactory.Tokenization;

/// <summary>
/// Byte-level BPE (<c>tokenizer.ggml.model = gpt2</c>): pre-tokenize with the vocabulary's regular expressions, then merge
/// each word's bytes pairwise, lowest merge rank first (leftmost on ties), as llama.cpp does.
/// </summary>
internal sealed class BpeEncoder
{
    private const int MaxCachedWords = 1 << 16;

    private readonly Vocabulary _vocab;
    private readonly BpeMergeTable _merges;
    private readonly PreTokenizer _pre;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheLookup;

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
            EncodeWord(word, output);
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
        int n = bytes.Length;
        if (n == 0)
            return;
        var symbols = new int[n];
        var prev = new int[n];
        var next = new int[n];
        for (int i = 0; i < n; i++)
        {
            symbols[i] = _merges.ByteSymbols[bytes[i]];
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
            Emit(symbols[i], output);

        void AddPair(int left, int right)
        {
            if (left < 0 || right < 0)
                return;
            if (_merges.TryGetMerge(symbols[left], symbols[right], out int rank, out int result))
                queue.Enqueue((left, right, symbols[left], symbols[right], result), ((long)rank << 32) | (uint)left);
        }
    }

    /// <summary>
    /// A merge result that is not in the vocabulary falls back, as in llama.cpp, to the tokens of the single UTF-8 bytes
    /// of its byte-level text (only ASCII ones can exist).
    /// </summary>
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
