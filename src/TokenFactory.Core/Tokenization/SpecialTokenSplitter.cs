using System.Buffers;
using System.Text;

namespace TokenFactory.Tokenization;

/// <summary>
/// Cuts special-token texts out of the input before ordinary tokenization, reproducing llama.cpp's partitioning:
/// candidate tokens are tried longest (in UTF-8 bytes) first, each over every remaining raw-text fragment from left to
/// right, so a longer token wins over a shorter one wherever they overlap. Control and unknown tokens are only candidates
/// when parsing special tokens; user-defined tokens always are (as in llama.cpp and Hugging Face "added tokens").
/// Tokens flagged LStrip/RStrip swallow the whitespace beside them.
/// </summary>
internal sealed class SpecialTokenSplitter
{
    private readonly Vocabulary _vocab;
    private readonly Candidates? _all;
    private readonly Candidates? _userDefined;
    private readonly Candidates? _control;

    public SpecialTokenSplitter(Vocabulary vocab)
    {
        _vocab = vocab;
        var special = new List<int>();
        var user = new List<int>();
        for (int id = 0; id < vocab.Count; id++)
        {
            var a = vocab.Attributes[id];
            if ((a & (TokenAttributes.Control | TokenAttributes.UserDefined | TokenAttributes.Unknown)) == 0)
                continue;
            special.Add(id);
            if ((a & (TokenAttributes.Control | TokenAttributes.Unknown)) == 0)
                user.Add(id);
        }
        _all = special.Count > 0 ? new Candidates(vocab, special) : null;
        _userDefined = user.Count > 0 ? new Candidates(vocab, user) : null;
        var control = special.Except(user).ToList();
        _control = control.Count > 0 ? new Candidates(vocab, control) : null;
    }

    /// <summary>A piece of input: either a token id, or raw text [Start, Start+Length).</summary>
    public readonly record struct Fragment(int Token, int Start, int Length)
    {
        public bool IsToken => Token >= 0;
    }

    /// <summary>Whether <paramref name="text"/> contains a control (or unknown) token's text.</summary>
    public bool Mentions(string text) => _control is { } control && text.AsSpan().IndexOfAny(control.Search) >= 0;

    /// <param name="textOnly">
    /// Ranges read as with <paramref name="parseSpecial"/> false: no control token whose text overlaps one is recognized there
    /// (user-defined tokens still are, as they always are).
    /// </param>
    public List<Fragment> Split(string text, bool parseSpecial, IReadOnlyList<Range>? textOnly = null)
    {
        var result = new List<Fragment>();
        var candidates = parseSpecial ? _all : _userDefined;
        if (candidates is null || text.Length == 0)
        {
            if (text.Length > 0)
                result.Add(new Fragment(-1, 0, text.Length));
            return result;
        }

        // Find every occurrence of every candidate, then accept them in llama.cpp's order: token priority, then position.
        var found = candidates.FindAll(text);
        if (found.Count == 0)
        {
            result.Add(new Fragment(-1, 0, text.Length));
            return result;
        }
        found.Sort(static (a, b) => a.Priority != b.Priority ? a.Priority.CompareTo(b.Priority) : a.Start.CompareTo(b.Start));
        // 0 = raw text, 1 = consumed by a token or stripped; tokenAt marks where an accepted token starts.
        var used = new byte[text.Length];
        var tokenAt = new Dictionary<int, (int Id, int Length)>();
        foreach (var (priority, start) in found)
        {
            int id = candidates.Ids[priority];
            int len = candidates.Texts[priority].Length;
            if (used.AsSpan(start, len).IndexOfAnyExcept((byte)0) >= 0
                || ((_vocab.Attributes[id] & (TokenAttributes.Control | TokenAttributes.Unknown)) != 0 && Overlaps(textOnly, text.Length, start, len)))
                continue;
            used.AsSpan(start, len).Fill(1);
            tokenAt[start] = (id, len);
            var attrs = _vocab.Attributes[id];
            if ((attrs & TokenAttributes.LStrip) != 0)
                for (int i = start - 1; i >= 0 && used[i] == 0 && IsSpace(text[i]); i--)
                    used[i] = 1;
            if ((attrs & TokenAttributes.RStrip) != 0)
                for (int i = start + len; i < text.Length && used[i] == 0 && IsSpace(text[i]); i++)
                    used[i] = 1;
        }

        for (int i = 0; i < text.Length;)
        {
            if (tokenAt.TryGetValue(i, out var t))
            {
                result.Add(new Fragment(t.Id, i, t.Length));
                i += t.Length;
            }
            else if (used[i] != 0)
            {
                i++; // stripped whitespace
            }
            else
            {
                int end = i;
                while (end < text.Length && used[end] == 0)
                    end++;
                result.Add(new Fragment(-1, i, end - i));
                i = end;
            }
        }
        return result;
    }

    private static bool Overlaps(IReadOnlyList<Range>? ranges, int textLength, int start, int length)
    {
        if (ranges is null)
            return false;
        foreach (var r in ranges)
        {
            var (from, count) = r.GetOffsetAndLength(textLength);
            if (start < from + count && from < start + length)
                return true;
        }
        return false;
    }

    // C isspace: the whitespace llama.cpp strips beside LStrip/RStrip tokens.
    private static bool IsSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';

    /// <summary>A set of token texts ordered by priority (longest UTF-8 first, then lowest id) with a fast multi-string scan.</summary>
    private sealed class Candidates
    {
        private readonly SearchValues<string> _search;
        private readonly Dictionary<char, int[]> _byFirstChar;

        public Candidates(Vocabulary vocab, List<int> ids)
        {
            Ids = [.. ids.OrderByDescending(id => Encoding.UTF8.GetByteCount(vocab.Tokens[id])).ThenBy(id => id)];
            Texts = [.. Ids.Select(id => vocab.Tokens[id])];
            _search = SearchValues.Create(Texts.Distinct(StringComparer.Ordinal).ToArray(), StringComparison.Ordinal);
            _byFirstChar = Enumerable.Range(0, Ids.Length)
                .GroupBy(p => Texts[p][0])
                .ToDictionary(g => g.Key, g => g.ToArray());
        }

        public int[] Ids { get; }
        public string[] Texts { get; }
        public SearchValues<string> Search => _search;

        public List<(int Priority, int Start)> FindAll(string text)
        {
            var found = new List<(int, int)>();
            var span = text.AsSpan();
            int pos = 0;
            while (pos < span.Length)
            {
                int hit = span[pos..].IndexOfAny(_search);
                if (hit < 0)
                    break;
                int at = pos + hit;
                foreach (int p in _byFirstChar[span[at]])
                    if (span[at..].StartsWith(Texts[p], StringComparison.Ordinal))
                        found.Add((p, at));
                pos = at + 1;
            }
            return found;
        }
    }
}
