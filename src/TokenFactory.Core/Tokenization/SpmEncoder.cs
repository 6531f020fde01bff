using System.Buffers;
using System.Text;

namespace TokenFactory.Tokenization;

/// <summary>
/// SentencePiece-style encoding (<c>tokenizer.ggml.model = llama</c>) as llama.cpp implements it: spaces become U+2581,
/// the text starts as one symbol per code point, and the adjacent pair whose concatenation is the best-scoring token is
/// merged repeatedly (leftmost on ties). Symbols left that are not tokens fall back to <c>&lt;0xNN&gt;</c> byte tokens.
/// </summary>
internal sealed class SpmEncoder
{
    public const char SpaceMarker = '\u2581';

    private readonly float[] _scores;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly int[] _byteTokens = new int[256];

    public SpmEncoder(Vocabulary vocab)
    {
        _scores = vocab.Scores as float[] ?? [.. vocab.Scores];
        _lookup = vocab.TextToId.GetAlternateLookup<ReadOnlySpan<char>>();
        for (int b = 0; b < 256; b++)
        {
            // llama.cpp falls back to the byte's own one-character text when there is no <0xNN> token.
            _byteTokens[b] = vocab.TokenToId($"<0x{b:X2}>")
                ?? (b < 0x80 ? vocab.TokenToId(((char)b).ToString()) : null)
                ?? vocab.Unknown ?? -1;
        }
    }

    /// <summary>Encodes a raw-text fragment; <paramref name="spacePrefix"/> puts the escaped space in front.</summary>
    public void Encode(string text, int start, int length, bool spacePrefix, List<int> output)
    {
        int n = length + (spacePrefix ? 1 : 0);
        if (n == 0)
            return;
        char[] buffer = ArrayPool<char>.Shared.Rent(n);
        try
        {
            int k = 0;
            if (spacePrefix)
                buffer[k++] = SpaceMarker;
            foreach (char c in text.AsSpan(start, length))
                buffer[k++] = c == ' ' ? SpaceMarker : c;
            Merge(buffer.AsSpan(0, n), output);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }

    private void Merge(ReadOnlySpan<char> text, List<int> output)
    {
        // Symbols are code points: a surrogate pair is one symbol.
        var start = new int[text.Length];
        var len = new int[text.Length];
        int count = 0;
        for (int i = 0; i < text.Length;)
        {
            int w = char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
            start[count] = i;
            len[count++] = w;
            i += w;
        }
        var prev = new int[count];
        var next = new int[count];
        for (int i = 0; i < count; i++)
        {
            prev[i] = i - 1;
            next[i] = i + 1 < count ? i + 1 : -1;
        }

        var queue = new PriorityQueue<(int Left, int Right, int Size), (float Score, int Left)>(ScoreOrder.Instance);
        for (int i = 1; i < count; i++)
            TryAddPair(i - 1, i, text);
        while (queue.TryDequeue(out var e, out _))
        {
            // Stale when either side was merged away or grew since the pair was queued.
            if (len[e.Left] == 0 || len[e.Right] == 0 || len[e.Left] + len[e.Right] != e.Size)
                continue;
            len[e.Left] += len[e.Right];
            len[e.Right] = 0;
            next[e.Left] = next[e.Right];
            if (next[e.Right] >= 0)
                prev[next[e.Right]] = e.Left;
            TryAddPair(prev[e.Left], e.Left, text);
            TryAddPair(e.Left, next[e.Left], text);
        }

        for (int i = 0; i >= 0; i = next[i])
        {
            var piece = text.Slice(start[i], len[i]);
            if (_lookup.TryGetValue(piece, out int id))
                output.Add(id);
            else
                EmitBytes(piece, output);
        }

        void TryAddPair(int left, int right, ReadOnlySpan<char> text)
        {
            if (left < 0 || right < 0)
                return;
            if (!_lookup.TryGetValue(text.Slice(start[left], len[left] + len[right]), out int id))
                return;
            queue.Enqueue((left, right, len[left] + len[right]), (_scores[id], left));
        }
    }

    private void EmitBytes(ReadOnlySpan<char> piece, List<int> output)
    {
        Span<byte> bytes = piece.Length <= 8 ? stackalloc byte[32] : new byte[Encoding.UTF8.GetByteCount(piece)];
        int n = Encoding.UTF8.GetBytes(piece, bytes);
        for (int i = 0; i < n; i++)
            if (_byteTokens[bytes[i]] >= 0)
                output.Add(_byteTokens[bytes[i]]);
    }

    /// <summary>Highest score first, then leftmost.</summary>
    private sealed class ScoreOrder : IComparer<(float Score, int Left)>
    {
        public static readonly ScoreOrder Instance = new();

        public int Compare((float Score, int Left) x, (float Score, int Left) y)
        {
            int c = y.Score.CompareTo(x.Score);
            return c != 0 ? c : x.Left.CompareTo(y.Left);
        }
    }
}
