namespace TokenFactory.Tokenization;

/// <summary>
/// Byte-level BPE merges keyed by symbol-id pairs. Every string that can appear during merging gets an id: vocabulary
/// texts keep their token id, other merge parts and results get ids after the vocabulary, so merging is integer work.
/// </summary>
internal sealed class BpeMergeTable
{
    private readonly Dictionary<long, (int Rank, int Result)> _merges;
    private readonly Dictionary<string, int> _virtualIds = new(StringComparer.Ordinal);
    private readonly List<string> _virtualTexts = [];
    private readonly Dictionary<string, int> _textToId;
    private readonly int _vocabSize;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _textLookup, _virtualLookup;

    public BpeMergeTable(Vocabulary vocab)
    {
        _textToId = vocab.TextToId;
        _vocabSize = vocab.Count;
        _textLookup = _textToId.GetAlternateLookup<ReadOnlySpan<char>>();
        _virtualLookup = _virtualIds.GetAlternateLookup<ReadOnlySpan<char>>();
        for (int b = 0; b < 256; b++)
            ByteSymbols[b] = Intern(ByteLevel.ToChar((byte)b).ToString());
        _merges = new Dictionary<long, (int, int)>(vocab.Merges.Count);
        for (int rank = 0; rank < vocab.Merges.Count; rank++)
        {
            string merge = vocab.Merges[rank];
            // The separator is the first space after the first character (a part may itself be a space in some vocabularies).
            int sep = merge.Length > 1 ? merge.IndexOf(' ', 1) : -1;
            if (sep < 0)
                continue;
            string left = merge[..sep], right = merge[(sep + 1)..];
            int l = Intern(left), r = Intern(right);
            // The first (best-ranked) entry of a repeated pair wins.
            _merges.TryAdd(Key(l, r), (rank, Intern(left + right)));
        }
    }

    /// <summary>The symbol of each single byte.</summary>
    public int[] ByteSymbols { get; } = new int[256];

    public bool TryGetMerge(int left, int right, out int rank, out int result)
    {
        if (_merges.TryGetValue(Key(left, right), out var m))
        {
            (rank, result) = m;
            return true;
        }
        rank = result = 0;
        return false;
    }

    public bool IsToken(int symbol) => symbol < _vocabSize;

    /// <summary>
    /// The symbol of a text (its token id when it is a token; else its id as a merge part), or -1 when no token or merge has it:
    /// raw-text BPE starts from each character's. Read-only, so encoders on many threads may share the table.
    /// </summary>
    public int SymbolOf(ReadOnlySpan<char> text) =>
        _textLookup.TryGetValue(text, out int id) || _virtualLookup.TryGetValue(text, out id) ? id : -1;

    /// <summary>The byte-level text of a symbol that is not a vocabulary token.</summary>
    public string VirtualText(int symbol) => _virtualTexts[symbol - _vocabSize];

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    private int Intern(string text)
    {
        if (_textToId.TryGetValue(text, out int id))
            return id;
        if (_virtualIds.TryGetValue(text, out id))
            return id;
        id = _vocabSize + _virtualTexts.Count;
        _virtualTexts.Add(text);
        _virtualIds.Add(text, id);
        return id;
    }
}
