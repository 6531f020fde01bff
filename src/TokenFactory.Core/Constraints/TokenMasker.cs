using System.Runtime.CompilerServices;
using TokenFactory.Tokenization;

namespace TokenFactory.Constraints;

/// <summary>
/// Which tokens of a vocabulary a <see cref="JsonMatcher"/> allows next. Built once per tokenizer: each token's bytes,
/// the vocabulary sorted by them (an implicit trie: a walk tries each shared prefix once and drops a whole subtree at
/// its first refused byte), and for each token the offset from which its bytes are plain string content (inside a
/// string nearly every token is allowed, and these are answered without stepping the parser).
/// </summary>
public sealed class TokenMasker
{
    private static readonly ConditionalWeakTable<ITokenizer, TokenMasker> Cache = new();

    private readonly ITokenizer _tokenizer;
    private readonly byte[][] _pieces;
    private readonly int[] _sorted;
    private readonly int[] _plainFrom;
    private readonly int[] _endOfGeneration;

    private TokenMasker(ITokenizer tokenizer)
    {
        _tokenizer = tokenizer;
        int n = tokenizer.VocabSize;
        _pieces = new byte[n][];
        _plainFrom = new int[n];
        for (int id = 0; id < n; id++)
        {
            _pieces[id] = tokenizer.TokenBytes(id, special: false); // control tokens: empty, never JSON
            _plainFrom[id] = PlainFrom(_pieces[id]);
        }
        _endOfGeneration = [.. Enumerable.Range(0, n).Where(tokenizer.IsEndOfGeneration)];
        // End tokens are allowed by the matcher's CanEnd alone, never as the text some vocabularies give them.
        _sorted = [.. Enumerable.Range(0, n).Where(id => _pieces[id].Length > 0 && !tokenizer.IsEndOfGeneration(id)).Order(Comparer<int>.Create((a, b) => _pieces[a].AsSpan().SequenceCompareTo(_pieces[b])))];
    }

    /// <summary>The masker of this tokenizer (built on first use, then shared).</summary>
    public static TokenMasker For(ITokenizer tokenizer) => Cache.GetValue(tokenizer, t => new TokenMasker(t));

    /// <summary>The matcher after <paramref name="token"/>, or null when it is not allowed (end-of-generation: allowed only at a complete value).</summary>
    public JsonMatcher? Advance(JsonMatcher matcher, int token)
    {
        if (_tokenizer.IsEndOfGeneration(token))
            return matcher.CanEnd ? matcher : null;
        if (matcher.MustEnd)
            return null;
        var piece = (uint)token < (uint)_pieces.Length ? _pieces[token] : [];
        return piece.Length == 0 ? null : matcher.Advance(piece);
    }

    /// <summary>Sets every token <paramref name="matcher"/> does not allow to −∞ in <paramref name="logits"/>; returns how many are allowed.</summary>
    public int Mask(JsonMatcher matcher, Span<float> logits)
    {
        var allowed = System.Buffers.ArrayPool<bool>.Shared.Rent(_pieces.Length);
        try
        {
            Array.Clear(allowed, 0, _pieces.Length);
            Walk(0, _sorted.Length, 0, matcher, allowed);
            if (matcher.CanEnd)
                foreach (int id in _endOfGeneration)
                    allowed[id] = true;
            int known = Math.Min(logits.Length, _pieces.Length), count = 0;
            for (int id = 0; id < known; id++)
            {
                if (!allowed[id])
                    logits[id] = float.NegativeInfinity;
                else
                    count++;
            }
            logits[known..].Fill(float.NegativeInfinity); // rows beyond the vocabulary (padded outputs) are never text
            return count;
        }
        finally
        {
            System.Buffers.ArrayPool<bool>.Shared.Return(allowed);
        }
    }

    /// <summary>The tokens <see cref="_sorted"/>[lo..hi) share their first <paramref name="depth"/> bytes, which took the parser to <paramref name="state"/>.</summary>
    private void Walk(int lo, int hi, int depth, JsonMatcher state, bool[] allowed)
    {
        if (state.InPlainString)
        {
            // Inside a string: a token whose remaining bytes are plain content keeps the same state; only the rest are stepped.
            for (int i = lo; i < hi; i++)
            {
                int id = _sorted[i];
                allowed[id] = _plainFrom[id] <= depth || state.Advance(_pieces[id].AsSpan(depth)) is not null;
            }
            return;
        }
        int at = lo;
        while (at < hi && _pieces[_sorted[at]].Length == depth)
            allowed[_sorted[at++]] = true; // ends here, and every byte of it was allowed
        while (at < hi)
        {
            byte b = _pieces[_sorted[at]][depth];
            int end = at + 1;
            while (end < hi && _pieces[_sorted[end]][depth] == b)
                end++;
            if (state.Step(b) is { } next)
                Walk(at, end, depth + 1, next, allowed);
            at = end;
        }
    }

    /// <summary>The first offset from which the bytes are all plain string content (printable, no quote or backslash, whole UTF-8 characters).</summary>
    private static int PlainFrom(byte[] bytes)
    {
        // Backwards: `from` is the smallest offset whose suffix is plain; a byte extends it only if it joins on.
        int from = bytes.Length;
        for (int i = bytes.Length - 1; i >= 0; i--)
        {
            byte b = bytes[i];
            if ((b & 0xC0) == 0x80)
                continue; // a continuation byte: judged with its lead byte
            int length = b < 0x80 ? 1 : b >= 0xF5 ? 0 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 ? 2 : 0;
            bool plain = length switch
            {
                0 => false,
                1 => b >= 0x20 && b is not (byte)'"' and not (byte)'\\' and not 0x7F,
                _ => i + length <= bytes.Length && Continuations(bytes, i + 1, length - 1),
            };
            if (!plain || from != i + length)
                break;
            from = i;
        }
        return from;
    }

    private static bool Continuations(byte[] bytes, int start, int count)
    {
        for (int k = start; k < start + count; k++)
            if ((bytes[k] & 0xC0) != 0x80)
                return false;
        return true;
    }
}
