using System.Text;

namespace TokenFactory.Chat;

/// <summary>Python <c>str</c> methods whose exact behaviour differs from .NET's nearest equivalent.</summary>
internal static class PyStr
{
    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || c is >= '\x1c' and <= '\x1f';

    public static string Strip(string s, string? chars, bool left = true, bool right = true)
    {
        var start = 0;
        var end = s.Length;
        bool Drop(char c) => chars is null ? IsSpace(c) : chars.Contains(c);
        if (left) while (start < end && Drop(s[start])) start++;
        if (right) while (end > start && Drop(s[end - 1])) end--;
        return s[start..end];
    }

    public static List<string> Split(string s, string? sep, long maxSplit)
    {
        var result = new List<string>();
        if (sep is null)
        {
            var i = 0;
            while (true)
            {
                while (i < s.Length && IsSpace(s[i])) i++;
                if (i >= s.Length) break;
                if (maxSplit >= 0 && result.Count == maxSplit)
                {
                    result.Add(Strip(s[i..], null, left: false));
                    break;
                }
                var start = i;
                while (i < s.Length && !IsSpace(s[i])) i++;
                result.Add(s[start..i]);
            }
            return result;
        }
        if (sep.Length == 0) throw new TemplateException("empty separator");
        var pos = 0;
        while (maxSplit < 0 || result.Count < maxSplit)
        {
            var idx = s.IndexOf(sep, pos, StringComparison.Ordinal);
            if (idx < 0) break;
            result.Add(s[pos..idx]);
            pos = idx + sep.Length;
        }
        result.Add(s[pos..]);
        return result;
    }

    public static List<string> RSplit(string s, string? sep, long maxSplit)
    {
        if (maxSplit < 0) return Split(s, sep, maxSplit);
        if (sep is null)
        {
            var parts = new List<string>();
            var i = s.Length;
            while (true)
            {
                while (i > 0 && IsSpace(s[i - 1])) i--;
                if (i <= 0) break;
                if (parts.Count == maxSplit)
                {
                    parts.Add(Strip(s[..i], null, right: false));
                    break;
                }
                var end = i;
                while (i > 0 && !IsSpace(s[i - 1])) i--;
                parts.Add(s[i..end]);
            }
            parts.Reverse();
            return parts;
        }
        if (sep.Length == 0) throw new TemplateException("empty separator");
        var result = new List<string>();
        var pos = s.Length;
        while (result.Count < maxSplit)
        {
            var idx = pos - sep.Length < 0 ? -1 : s.LastIndexOf(sep, pos - sep.Length, StringComparison.Ordinal);
            if (idx < 0) break;
            result.Add(s[(idx + sep.Length)..pos]);
            pos = idx;
        }
        result.Add(s[..pos]);
        result.Reverse();
        return result;
    }

    private static bool IsLineBreak(char c) => c is '\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029';

    public static List<string> SplitLines(string s, bool keepEnds = false)
    {
        var lines = new List<string>();
        var start = 0;
        for (var i = 0; i < s.Length; i++)
        {
            if (!IsLineBreak(s[i])) continue;
            var end = i;
            if (s[i] == '\r' && i + 1 < s.Length && s[i + 1] == '\n') i++;
            lines.Add(keepEnds ? s[start..(i + 1)] : s[start..end]);
            start = i + 1;
        }
        if (start < s.Length) lines.Add(s[start..]);
        return lines;
    }

    /// <summary>Python <c>str.title()</c>: a letter is upper-cased after a non-letter, lower-cased after a letter.</summary>
    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        var prevCased = false;
        foreach (var c in s)
        {
            sb.Append(prevCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            prevCased = char.IsLetter(c);
        }
        return sb.ToString();
    }

    public static string Capitalize(string s) =>
        s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    /// <param name="maxChars">Longest result allowed; checked while building, as replacing every char of a 16M-char
    /// string with another 16M-char string would otherwise build 256T chars first.</param>
    public static string Replace(string s, string old, string replacement, long count, int maxChars)
    {
        if (count < 0) count = long.MaxValue;
        if (old.Length == 0) return ReplaceEmpty(s, replacement, count, maxChars);
        var sb = new StringBuilder();
        var pos = 0;
        for (var n = 0L; n < count; n++)
        {
            var idx = s.IndexOf(old, pos, StringComparison.Ordinal);
            if (idx < 0) break;
            sb.Append(s, pos, idx - pos).Append(replacement);
            if (sb.Length > maxChars) throw new TemplateException("string too large");
            pos = idx + old.Length;
        }
        return sb.Append(s, pos, s.Length - pos).ToString();
    }

    // Python inserts the replacement between every character (and at both ends) when the pattern is empty.
    private static string ReplaceEmpty(string s, string replacement, long count, int maxChars)
    {
        var sb = new StringBuilder();
        var n = 0L;
        foreach (var cp in PyOps.CodePoints(s))
        {
            if (n++ < count) sb.Append(replacement);
            sb.Append(cp);
            if (sb.Length > maxChars) throw new TemplateException("string too large");
        }
        if (n < count) sb.Append(replacement);
        return sb.ToString();
    }

    public static long Count(string s, string sub)
    {
        if (sub.Length == 0) return PyOps.Length(JinjaValue.FromString(s)) + 1;
        long n = 0;
        for (var i = s.IndexOf(sub, StringComparison.Ordinal); i >= 0; i = s.IndexOf(sub, i + sub.Length, StringComparison.Ordinal)) n++;
        return n;
    }
}
