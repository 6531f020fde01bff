using System.Globalization;
using System.Text.Json.Nodes;

namespace TokenFactory.Server.Generation.Tools;

/// <summary>
/// Gemma 4's notation for call arguments, as its chat template writes them and the model answers: JSON's shape with bare keys
/// (or keys between marks), strings between <c>&lt;|"|&gt;</c> marks with nothing escaped inside, and bare words for
/// numbers, booleans and null. Read into JSON; null when the text is not one whole value.
/// </summary>
internal static class GemmaArguments
{
    public const string Quote = "<|\"|>";

    /// <summary>How deep objects and arrays may nest (as System.Text.Json's default): deeper output is not a call.</summary>
    private const int MaxDepth = 64;

    public static JsonNode? Parse(string text)
    {
        int at = 0;
        try
        {
            var value = Value(text, ref at, 0);
            SkipSpace(text, ref at);
            return at == text.Length ? value : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static JsonNode? Value(string text, ref int at, int depth)
    {
        if (depth > MaxDepth)
            throw new FormatException();
        SkipSpace(text, ref at);
        if (at >= text.Length)
            throw new FormatException();
        if (text.AsSpan(at).StartsWith(Quote, StringComparison.Ordinal))
            return JsonValue.Create(QuotedString(text, ref at));
        char c = text[at];
        if (c == '{')
        {
            at++;
            var obj = new JsonObject();
            SkipSpace(text, ref at);
            if (Peek(text, at) == '}')
            {
                at++;
                return obj;
            }
            while (true)
            {
                SkipSpace(text, ref at);
                string key = text.AsSpan(at).StartsWith(Quote, StringComparison.Ordinal) ? QuotedString(text, ref at) : BareKey(text, ref at);
                SkipSpace(text, ref at);
                Expect(text, ref at, ':');
                obj[key] = Value(text, ref at, depth + 1);
                SkipSpace(text, ref at);
                if (Peek(text, at) == ',')
                {
                    at++;
                    continue;
                }
                Expect(text, ref at, '}');
                return obj;
            }
        }
        if (c == '[')
        {
            at++;
            var array = new JsonArray();
            SkipSpace(text, ref at);
            if (Peek(text, at) == ']')
            {
                at++;
                return array;
            }
            while (true)
            {
                array.Add(Value(text, ref at, depth + 1));
                SkipSpace(text, ref at);
                if (Peek(text, at) == ',')
                {
                    at++;
                    continue;
                }
                Expect(text, ref at, ']');
                return array;
            }
        }
        // A bare word: a number, true, false or null (anything else is read as text, as the model meant a string).
        int start = at;
        while (at < text.Length && text[at] is not (',' or '}' or ']'))
            at++;
        string word = text[start..at].Trim();
        if (word.Length == 0)
            throw new FormatException();
        return word switch
        {
            "true" => JsonValue.Create(true),
            "false" => JsonValue.Create(false),
            "null" => null,
            _ when long.TryParse(word, NumberStyles.Integer, CultureInfo.InvariantCulture, out long l) => JsonValue.Create(l),
            // Only finite numbers: NaN, Infinity and overflowing exponents have no JSON form (read as text).
            _ when double.TryParse(word, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d) => JsonValue.Create(d),
            _ => JsonValue.Create(word),
        };
    }

    private static string QuotedString(string text, ref int at)
    {
        at += Quote.Length;
        int end = text.IndexOf(Quote, at, StringComparison.Ordinal);
        if (end < 0)
            throw new FormatException();
        string value = text[at..end];
        at = end + Quote.Length;
        return value;
    }

    private static string BareKey(string text, ref int at)
    {
        int start = at;
        while (at < text.Length && text[at] != ':' && !char.IsWhiteSpace(text[at]))
            at++;
        if (at == start)
            throw new FormatException();
        return text[start..at];
    }

    private static char Peek(string text, int at) => at < text.Length ? text[at] : '\0';

    private static void Expect(string text, ref int at, char c)
    {
        if (Peek(text, at) != c)
            throw new FormatException();
        at++;
    }

    private static void SkipSpace(string text, ref int at)
    {
        while (at < text.Length && char.IsWhiteSpace(text[at]))
            at++;
    }
}
