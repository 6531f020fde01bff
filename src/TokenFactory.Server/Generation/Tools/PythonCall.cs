using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace TokenFactory.Server.Generation.Tools;

/// <summary>
/// Llama 3.x's built-in tool form, written after <c>&lt;|python_tag|&gt;</c>: <c>brave_search.call(query="...")</c>. Read as
/// a call of the function of that name, keyword arguments becoming its JSON arguments (strings, numbers, True/False/None).
/// </summary>
internal static partial class PythonCall
{
    [GeneratedRegex(@"^\s*([A-Za-z_]\w*)\.call\((.*)\)\s*$", RegexOptions.Singleline | RegexOptions.CultureInvariant)]
    private static partial Regex Whole();

    /// <summary>Whether <paramref name="text"/> is (so far) the start of <c>name.call(</c> for one of <paramref name="names"/>.</summary>
    public static bool MayStart(string text, IEnumerable<string> names)
    {
        string trimmed = text.TrimStart();
        foreach (string name in names)
        {
            string head = name + ".call(";
            if (trimmed.StartsWith(head, StringComparison.Ordinal) || head.StartsWith(trimmed, StringComparison.Ordinal))
                return true;
        }
        return false;
    }

    /// <summary>The function's name and its arguments object, or null when the text is not one such call.</summary>
    public static (string Name, JsonObject Arguments)? Parse(string text)
    {
        var match = Whole().Match(text);
        if (!match.Success)
            return null;
        var arguments = new JsonObject();
        string list = match.Groups[2].Value;
        int at = 0;
        while (true)
        {
            Skip(list, ref at);
            if (at == list.Length)
                break;
            int start = at;
            while (at < list.Length && (char.IsAsciiLetterOrDigit(list[at]) || list[at] == '_'))
                at++;
            if (at == start)
                return null;
            string key = list[start..at];
            Skip(list, ref at);
            if (at == list.Length || list[at] != '=')
                return null;
            at++;
            Skip(list, ref at);
            if (Value(list, ref at) is not { } value || arguments.ContainsKey(key))
                return null;
            arguments[key] = value.Node;
            Skip(list, ref at);
            if (at < list.Length && list[at] == ',')
                at++;
            else if (at != list.Length)
                return null;
        }
        return (match.Groups[1].Value, arguments);
    }

    private sealed record Parsed(JsonNode? Node);

    private static Parsed? Value(string s, ref int at)
    {
        char c = s[at];
        if (c is '"' or '\'')
        {
            var text = new StringBuilder();
            for (at++; at < s.Length; at++)
            {
                if (s[at] == c)
                {
                    at++;
                    return new Parsed(JsonValue.Create(text.ToString()));
                }
                if (s[at] == '\\' && at + 1 < s.Length)
                {
                    at++;
                    text.Append(s[at] switch { 'n' => '\n', 't' => '\t', 'r' => '\r', var other => other });
                }
                else
                    text.Append(s[at]);
            }
            return null;
        }
        int start = at;
        while (at < s.Length && s[at] is not (',' or ' ' or '\t' or '\n'))
            at++;
        string word = s[start..at];
        return word switch
        {
            "True" => new Parsed(JsonValue.Create(true)),
            "False" => new Parsed(JsonValue.Create(false)),
            "None" => new Parsed(null),
            _ when long.TryParse(word, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long n) => new Parsed(JsonValue.Create(n)),
            _ when double.TryParse(word, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d) => new Parsed(JsonValue.Create(d)),
            _ => null,
        };
    }

    private static void Skip(string s, ref int at)
    {
        while (at < s.Length && char.IsWhiteSpace(s[at]))
            at++;
    }
}
