using System.Globalization;
using System.Text;

namespace TokenFactory.Tokenization;

/// <summary>
/// WordPiece (<c>tokenizer.ggml.model = bert</c>) as llama.cpp runs it on converted BERT vocabularies, where word-initial
/// pieces carry a U+2581 prefix and continuation pieces have lost their <c>##</c>. Text is NFD-normalized, accents and
/// control characters dropped, lower-cased and split on whitespace, punctuation, ASCII symbols and CJK ideographs; each
/// word is then matched greedily longest-first, and a word with an unmatchable rest becomes the unknown token.
/// NFD needs ICU, so the project does not build with InvariantGlobalization: under it string.Normalize leaves accented
/// letters whole ("Führer" would become [UNK] where llama.cpp gives "fu", "##hrer").
/// </summary>
internal sealed class WordPieceEncoder
{
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly int _unknown;
    private readonly int _maxTokenLength;

    public WordPieceEncoder(Vocabulary vocab)
    {
        _lookup = vocab.TextToId.GetAlternateLookup<ReadOnlySpan<char>>();
        _unknown = vocab.Unknown ?? -1;
        _maxTokenLength = vocab.Tokens.Max(t => t.Length);
    }

    public void Encode(string text, int start, int length, List<int> output)
    {
        foreach (var word in Words(text.Substring(start, length)))
        {
            string w = SpmEncoder.SpaceMarker + word;
            int before = output.Count;
            bool matchedAll = true;
            for (int i = 0; i < w.Length;)
            {
                int found = -1, end = 0;
                for (int j = Math.Min(w.Length, i + _maxTokenLength); j > i; j--)
                {
                    if (_lookup.TryGetValue(w.AsSpan(i, j - i), out int id))
                    {
                        found = id;
                        end = j;
                        break;
                    }
                }
                if (found < 0)
                {
                    matchedAll = false;
                    break;
                }
                output.Add(found);
                i = end;
            }
            if (!matchedAll)
                output.RemoveRange(before, output.Count - before);
            if (output.Count == before && _unknown >= 0)
                output.Add(_unknown);
        }
    }

    private static List<string> Words(string text)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        foreach (var rune in text.Normalize(NormalizationForm.FormD).EnumerateRunes())
        {
            int cp = rune.Value;
            var category = Rune.GetUnicodeCategory(rune);
            if (Rune.IsWhiteSpace(rune))
            {
                Flush();
                continue;
            }
            if (cp == 0 || cp == 0xFFFD || category is UnicodeCategory.Control or UnicodeCategory.Format
                || category == UnicodeCategory.NonSpacingMark)
                continue;
            var lower = Rune.ToLowerInvariant(rune).ToString();
            if (IsPunctuation(category) || (cp < 0x7F && IsSymbol(category)) || IsCjk(cp))
            {
                Flush();
                words.Add(lower);
            }
            else
            {
                current.Append(lower);
            }
        }
        Flush();
        return words;

        void Flush()
        {
            if (current.Length > 0)
                words.Add(current.ToString());
            current.Clear();
        }
    }

    private static bool IsPunctuation(UnicodeCategory c) => c is UnicodeCategory.ConnectorPunctuation
        or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation
        or UnicodeCategory.InitialQuotePunctuation or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;

    private static bool IsSymbol(UnicodeCategory c) => c is UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol
        or UnicodeCategory.ModifierSymbol or UnicodeCategory.OtherSymbol;

    // CJK ideograph blocks, as BERT's basic tokenizer defines them.
    private static bool IsCjk(int cp) => cp is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF
        or >= 0x2A700 and <= 0x2B73F or >= 0x2B740 and <= 0x2B81F or >= 0x2B820 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF
        or >= 0x2F800 and <= 0x2FA1F;
}
