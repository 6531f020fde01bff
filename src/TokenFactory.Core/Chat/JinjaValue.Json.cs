using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace TokenFactory.Chat;

public sealed partial class JinjaValue
{
    /// <summary>Converts JSON as Python's <c>json.loads</c> would: integers stay ints, numbers with a point or exponent become floats.</summary>
    public static JinjaValue FromJson(JsonNode? node)
    {
        switch (node)
        {
            case null: return None;
            case JsonObject obj:
                var dict = new JinjaDict();
                foreach (var (k, v) in obj) dict[k] = FromJson(v);
                return FromDict(dict);
            case JsonArray arr:
                return FromList(arr.Select(FromJson).ToList());
            default:
                var value = node.AsValue();
                if (value.TryGetValue<JsonElement>(out var element)) return FromJson(element);
                if (value.TryGetValue<string>(out var s)) return FromString(s);
                if (value.TryGetValue<bool>(out var b)) return FromBool(b);
                if (value.TryGetValue<long>(out var l)) return FromInt(l);
                if (value.TryGetValue<int>(out var i)) return FromInt(i);
                if (value.TryGetValue<double>(out var d)) return FromFloat(d);
                return FromJson(JsonDocument.Parse(node.ToJsonString()).RootElement);
        }
    }

    public static JinjaValue FromJson(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var dict = new JinjaDict();
                foreach (var p in element.EnumerateObject()) dict[p.Name] = FromJson(p.Value);
                return FromDict(dict);
            case JsonValueKind.Array:
                return FromList(element.EnumerateArray().Select(FromJson).ToList());
            case JsonValueKind.String: return FromString(element.GetString()!);
            case JsonValueKind.True: return True;
            case JsonValueKind.False: return False;
            case JsonValueKind.Number:
                var raw = element.GetRawText();
                if (raw.AsSpan().IndexOfAny(".eE") < 0 && element.TryGetInt64(out var l)) return FromInt(l);
                return FromFloat(element.GetDouble());
            default: return None;
        }
    }
}

/// <summary>
/// Python's <c>json.dumps(x, ensure_ascii=False, indent=indent, sort_keys=...)</c>, which is what Hugging Face
/// installs as the <c>tojson</c> filter (no HTML escaping, non-ASCII kept).
/// </summary>
internal static class PyJson
{
    private sealed record Style(string? Indent, bool SortKeys, bool EnsureAscii, string ItemSep, string KeySep, int MaxChars);

    /// <exception cref="TemplateException">The JSON would be longer than <paramref name="maxChars"/>; building stops there.</exception>
    public static string Dumps(JinjaValue value, string? indent = null, bool sortKeys = false, bool ensureAscii = false, string? itemSep = null, string keySep = ": ", int maxChars = PyFormat.MaxChars)
    {
        var sb = new StringBuilder();
        Write(sb, value, new Style(indent, sortKeys, ensureAscii, itemSep ?? (indent is null ? ", " : ","), keySep, maxChars), 0);
        if (sb.Length > maxChars) throw new TemplateException("string too large");
        return sb.ToString();
    }

    // Returns early once past the limit, as PyFormat.AppendRepr does, so oversized output is never built in full.
    private static void Write(StringBuilder sb, JinjaValue v, Style style, int level)
    {
        if (sb.Length > style.MaxChars) return;
        var indent = style.Indent;
        if (level > 100) throw new TemplateException("Circular reference detected");
        switch (v.Kind)
        {
            case JinjaKind.None: sb.Append("null"); break;
            case JinjaKind.Bool: sb.Append(v.AsBool ? "true" : "false"); break;
            case JinjaKind.Int: sb.Append(v.AsInt.ToString(CultureInfo.InvariantCulture)); break;
            case JinjaKind.Float:
                var f = v.AsFloat;
                sb.Append(double.IsNaN(f) ? "NaN" : double.IsPositiveInfinity(f) ? "Infinity" : double.IsNegativeInfinity(f) ? "-Infinity" : PyFormat.FloatRepr(f));
                break;
            case JinjaKind.String: WriteString(sb, v.AsString, style.EnsureAscii); break;
            case JinjaKind.List:
            case JinjaKind.Tuple:
                var items = v.AsList;
                if (items.Count == 0) { sb.Append("[]"); break; }
                sb.Append('[');
                for (var i = 0; i < items.Count && sb.Length <= style.MaxChars; i++)
                {
                    if (i > 0) sb.Append(style.ItemSep);
                    NewLine(sb, indent, level + 1);
                    Write(sb, items[i], style, level + 1);
                }
                NewLine(sb, indent, level);
                sb.Append(']');
                break;
            case JinjaKind.Dict:
                var dict = v.AsDict;
                if (dict.Count == 0) { sb.Append("{}"); break; }
                IEnumerable<KeyValuePair<JinjaValue, JinjaValue>> entries = dict;
                if (style.SortKeys) entries = PyOps.Sorted(entries, e => e.Key);
                sb.Append('{');
                var first = true;
                foreach (var (k, val) in entries)
                {
                    if (sb.Length > style.MaxChars) break;
                    if (!first) sb.Append(style.ItemSep);
                    first = false;
                    NewLine(sb, indent, level + 1);
                    WriteString(sb, KeyString(k), style.EnsureAscii);
                    sb.Append(style.KeySep);
                    Write(sb, val, style, level + 1);
                }
                NewLine(sb, indent, level);
                sb.Append('}');
                break;
            default:
                throw new TemplateException($"Object of type {PyOps.TypeName(v)} is not JSON serializable");
        }
    }

    private static string KeyString(JinjaValue k) => k.Kind switch
    {
        JinjaKind.String => k.AsString,
        JinjaKind.None => "null",
        JinjaKind.Bool => k.AsBool ? "true" : "false",
        JinjaKind.Int or JinjaKind.Float => PyFormat.Str(k),
        _ => throw new TemplateException($"keys must be str, int, float, bool or None, not {PyOps.TypeName(k)}"),
    };

    private static void NewLine(StringBuilder sb, string? indent, int level)
    {
        if (indent is null) return;
        sb.Append('\n');
        for (var i = 0; i < level; i++) sb.Append(indent);
    }

    private static void WriteString(StringBuilder sb, string s, bool ensureAscii)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || (ensureAscii && c > 0x7e)) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
