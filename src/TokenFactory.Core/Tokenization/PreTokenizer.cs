using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace TokenFactory.Tokenization;

/// <summary>
/// Splits text into words with a sequence of regular expressions, the way llama.cpp does: every pattern is run over each
/// piece left by the previous one as if that piece were the whole input (so <c>(?!\S)</c> and <c>\z</c> see the piece's
/// end), and the text between matches is kept as pieces too.
/// </summary>
internal sealed class PreTokenizer
{
    private readonly Step[] _steps;

    public PreTokenizer(PreTokenizerSpec spec)
    {
        Spec = spec;
        _steps = [.. spec.Patterns.Select(p => new Step(p, spec.AstralLetterRanges))];
    }

    public PreTokenizerSpec Spec { get; }

    /// <summary>Appends the (start, length) of each word of <paramref name="text"/>[start..start+length) to <paramref name="words"/>.</summary>
    public void Split(string text, int start, int length, List<(int Start, int Length)> words, List<(int Start, int Length)> scratch)
    {
        words.Clear();
        words.Add((start, length));
        foreach (var step in _steps)
        {
            scratch.Clear();
            foreach (var (s, l) in words)
                step.Split(text, s, l, scratch);
            words.Clear();
            words.AddRange(scratch);
        }
    }

    private sealed class Step
    {
        private readonly Regex _regex;
        private readonly bool _usesCategories;
        private readonly (int Lo, int Hi)[] _astralLetters;

        public Step(string pattern, (int Lo, int Hi)[] astralLetters)
        {
            _regex = new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);
            _usesCategories = pattern.Contains(@"\p{", StringComparison.Ordinal);
            _astralLetters = astralLetters;
        }

        public void Split(string text, int start, int length, List<(int Start, int Length)> output)
        {
            var span = text.AsSpan(start, length);
            if (span.IndexOfAnyInRange('\uD800', '\uDFFF') >= 0)
            {
                SplitWithSurrogates(span, start, output);
                return;
            }
            int pos = 0;
            foreach (var m in _regex.EnumerateMatches(span))
            {
                Emit(m.Index, m.Length, ref pos, start, output);
            }
            if (pos < length)
                output.Add((start + pos, length - pos));
        }

        private static void Emit(int index, int matchLength, ref int pos, int start, List<(int Start, int Length)> output)
        {
            if (index > pos)
                output.Add((start + pos, index - pos));
            if (matchLength > 0)
                output.Add((start + index, matchLength));
            pos = index + matchLength;
        }

        /// <summary>
        /// .NET matches UTF-16 units, so a supplementary-plane code point would be two surrogates with no letter or digit
        /// category. Match instead on a copy where each code point is one character of the same category (or, for patterns
        /// without categories, one that the pattern's explicit classes treat the same), then map positions back.
        /// </summary>
        private void SplitWithSurrogates(ReadOnlySpan<char> span, int start, List<(int Start, int Length)> output)
        {
            char[] collapsed = ArrayPool<char>.Shared.Rent(span.Length);
            int[] offsets = ArrayPool<int>.Shared.Rent(span.Length + 1);
            try
            {
                int n = 0;
                for (int i = 0; i < span.Length;)
                {
                    offsets[n] = i;
                    if (Rune.DecodeFromUtf16(span[i..], out var rune, out int used) == OperationStatus.Done && used == 2)
                        collapsed[n++] = Represent(rune.Value);
                    else
                        collapsed[n++] = span[i];
                    i += used;
                }
                offsets[n] = span.Length;
                int pos = 0;
                foreach (var m in _regex.EnumerateMatches(collapsed.AsSpan(0, n)))
                {
                    int from = offsets[m.Index], to = offsets[m.Index + m.Length];
                    Emit(from, to - from, ref pos, start, output);
                }
                if (pos < span.Length)
                    output.Add((start + pos, span.Length - pos));
            }
            finally
            {
                ArrayPool<char>.Shared.Return(collapsed);
                ArrayPool<int>.Shared.Return(offsets);
            }
        }

        private char Represent(int codePoint)
        {
            if (!_usesCategories)
            {
                foreach (var (lo, hi) in _astralLetters)
                    if (codePoint >= lo && codePoint <= hi)
                        return 'A';
                return '\uE000'; // private use: outside every explicit class the patterns use
            }
            return CategoryRepresentative(CharUnicodeInfo.GetUnicodeCategory(codePoint));
        }

        /// <summary>A Basic Multilingual Plane character of the given category, not ASCII (patterns single out ASCII).</summary>
        internal static char CategoryRepresentative(UnicodeCategory category) => category switch
        {
            UnicodeCategory.UppercaseLetter => 'À',
            UnicodeCategory.LowercaseLetter => 'à',
            UnicodeCategory.TitlecaseLetter => 'ǅ',
            UnicodeCategory.ModifierLetter => 'ʰ',
            UnicodeCategory.OtherLetter => 'א',
            UnicodeCategory.NonSpacingMark => '\u0300',
            UnicodeCategory.SpacingCombiningMark => '\u0903',
            UnicodeCategory.EnclosingMark => '\u20DD',
            UnicodeCategory.DecimalDigitNumber => '٠',
            UnicodeCategory.LetterNumber => 'Ⅰ',
            UnicodeCategory.OtherNumber => '²',
            UnicodeCategory.ConnectorPunctuation => '‿',
            UnicodeCategory.DashPunctuation => '‐',
            UnicodeCategory.OpenPunctuation => '⁅',
            UnicodeCategory.ClosePunctuation => '⁆',
            UnicodeCategory.InitialQuotePunctuation => '«',
            UnicodeCategory.FinalQuotePunctuation => '»',
            UnicodeCategory.OtherPunctuation => '¡',
            UnicodeCategory.MathSymbol => '¬',
            UnicodeCategory.CurrencySymbol => '¢',
            UnicodeCategory.ModifierSymbol => '¨',
            UnicodeCategory.OtherSymbol => '©',
            UnicodeCategory.Format => '\u00AD',
            UnicodeCategory.PrivateUse => '\uE000',
            _ => '\u0378', // unassigned
        };
    }
}
