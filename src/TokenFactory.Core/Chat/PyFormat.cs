using System.Globalization;
using System.Text;

namespace TokenFactory.Chat;

/// <summary>Python's <c>str()</c> and <c>repr()</c> for Jinja values, byte for byte.</summary>
internal static class PyFormat
{
    /// <summary>
    /// The default size limit: a little under the longest string .NET can hold, so an oversized repr fails with a
    /// <see cref="TemplateException"/> rather than an <see cref="OutOfMemoryException"/>. The interpreter passes its
    /// (much smaller) output limit instead.
    /// </summary>
    public const int MaxChars = 1 << 29;

    public static string Str(JinjaValue v, int maxChars = MaxChars) => v.Kind switch
    {
        JinjaKind.Undefined => "",
        JinjaKind.String => v.AsString,
        _ => Repr(v, maxChars),
    };

    /// <exception cref="TemplateException">The repr would be longer than <paramref name="maxChars"/>; building stops there.</exception>
    public static string Repr(JinjaValue v, int maxChars = MaxChars)
    {
        var sb = new StringBuilder();
        AppendRepr(sb, v, 0, maxChars);
        if (sb.Length > maxChars) throw new TemplateException("string too large");
        return sb.ToString();
    }

    /// <summary>A repr for error messages: cut at 200 characters, so quoting a huge value cannot itself blow up.</summary>
    public static string Brief(JinjaValue v)
    {
        const int limit = 200;
        var sb = new StringBuilder();
        AppendRepr(sb, v, 0, limit);
        return sb.Length > limit ? sb.ToString(0, limit) + "..." : sb.ToString();
    }

    // Returns early once the builder is past maxChars: a list holding the same 16M-char string a thousand times, or
    // one sharing its halves, would otherwise build gigabytes before anything looked at the length.
    private static void AppendRepr(StringBuilder sb, JinjaValue v, int depth, int maxChars)
    {
        if (sb.Length > maxChars) return;
        if (depth > 100)
            throw new TemplateException("maximum recursion depth exceeded while getting the repr of an object");
        switch (v.Kind)
        {
            case JinjaKind.Undefined: break;
            case JinjaKind.None: sb.Append("None"); break;
            case JinjaKind.Bool: sb.Append(v.AsBool ? "True" : "False"); break;
            case JinjaKind.Int: sb.Append(v.AsInt.ToString(CultureInfo.InvariantCulture)); break;
            case JinjaKind.Float: sb.Append(FloatRepr(v.AsFloat)); break;
            case JinjaKind.String: AppendStringRepr(sb, v.AsString); break;
            case JinjaKind.List:
            case JinjaKind.Tuple:
                var items = v.AsList;
                sb.Append(v.Kind == JinjaKind.List ? '[' : '(');
                for (var i = 0; i < items.Count && sb.Length <= maxChars; i++)
                {
                    if (i > 0) sb.Append(", ");
                    AppendRepr(sb, items[i], depth + 1, maxChars);
                }
                if (v.Kind == JinjaKind.Tuple && items.Count == 1) sb.Append(',');
                sb.Append(v.Kind == JinjaKind.List ? ']' : ')');
                break;
            case JinjaKind.Dict:
            case JinjaKind.Namespace:
                if (v.Kind == JinjaKind.Namespace) sb.Append("<Namespace ");
                sb.Append('{');
                var first = true;
                foreach (var (k, val) in v.AsDict)
                {
                    if (sb.Length > maxChars) break;
                    if (!first) sb.Append(", ");
                    first = false;
                    AppendRepr(sb, k, depth + 1, maxChars);
                    sb.Append(": ");
                    AppendRepr(sb, val, depth + 1, maxChars);
                }
                sb.Append('}');
                if (v.Kind == JinjaKind.Namespace) sb.Append('>');
                break;
            case JinjaKind.Callable:
                sb.Append("<function ").Append(v.AsCallable.Name).Append('>');
                break;
        }
    }

    /// <summary>Python <c>repr(float)</c>: shortest round-trip digits, scientific outside 1e-4 &lt;= |x| &lt; 1e16.</summary>
    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsPositiveInfinity(d)) return "inf";
        if (double.IsNegativeInfinity(d)) return "-inf";
        if (d == 0) return double.IsNegative(d) ? "-0.0" : "0.0";

        // "E16" is not shortest; "R" is, so decompose the shortest form into digits and a decimal exponent.
        var r = Math.Abs(d).ToString("R", CultureInfo.InvariantCulture);
        var exp = 0;
        var e = r.IndexOfAny(['E', 'e']);
        if (e >= 0)
        {
            exp = int.Parse(r.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            r = r[..e];
        }
        var dot = r.IndexOf('.');
        var intPart = dot >= 0 ? r[..dot] : r;
        var fracPart = dot >= 0 ? r[(dot + 1)..] : "";
        var digits = (intPart + fracPart).TrimStart('0');
        // Position of the decimal point relative to the first significant digit.
        var pointPos = intPart.TrimStart('0').Length + exp;
        if (intPart.TrimStart('0').Length == 0)
            pointPos = exp - (fracPart.Length - fracPart.TrimStart('0').Length);
        digits = digits.TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        var sci = pointPos - 1;
        var sb = new StringBuilder();
        if (d < 0) sb.Append('-');
        if (sci < -4 || sci >= 16)
        {
            sb.Append(digits[0]);
            if (digits.Length > 1) sb.Append('.').Append(digits, 1, digits.Length - 1);
            sb.Append('e').Append(sci < 0 ? '-' : '+').Append(Math.Abs(sci).ToString("00", CultureInfo.InvariantCulture));
        }
        else if (pointPos <= 0)
        {
            sb.Append("0.").Append('0', -pointPos).Append(digits);
        }
        else if (pointPos >= digits.Length)
        {
            sb.Append(digits).Append('0', pointPos - digits.Length).Append(".0");
        }
        else
        {
            sb.Append(digits, 0, pointPos).Append('.').Append(digits, pointPos, digits.Length - pointPos);
        }
        return sb.ToString();
    }

    public static void AppendStringRepr(StringBuilder sb, string s)
    {
        var quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        sb.Append(quote);
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c == quote) sb.Append('\\').Append(c);
                    else if (c < 0x20 || c == 0x7f) sb.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    else if (c is >= '\u0080' and <= '\u00a0' || c == '\u00ad') sb.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    else if (char.IsSurrogate(c) && !(char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])))
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else if (c is '\u2028' or '\u2029') sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append(quote);
    }
}
