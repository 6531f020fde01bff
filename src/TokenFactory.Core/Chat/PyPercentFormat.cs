using System.Globalization;
using System.Text;

namespace TokenFactory.Chat;

/// <summary>Python's printf-style <c>str % args</c>, used by the <c>%</c> operator and the <c>format</c> filter.</summary>
internal static class PyPercentFormat
{
    /// <param name="maxChars">Longest result allowed; checked after each field, so a huge result is never built.</param>
    public static string Format(string format, JinjaValue args, int maxChars)
    {
        var positional = args.Kind == JinjaKind.Tuple ? args.AsList : [args];
        var mapping = args.Kind == JinjaKind.Dict ? args.AsDict : null;
        var next = 0;
        var sb = new StringBuilder();
        var i = 0;
        while (i < format.Length)
        {
            var c = format[i++];
            if (c != '%') { sb.Append(c); continue; }
            if (i >= format.Length) throw new TemplateException("incomplete format");
            JinjaValue? keyed = null;
            if (format[i] == '(')
            {
                var close = format.IndexOf(')', i);
                if (close < 0 || mapping is null) throw new TemplateException("format requires a mapping");
                var key = format[(i + 1)..close];
                if (!mapping.TryGetValue(key, out keyed)) throw new TemplateException($"KeyError: '{key}'");
                i = close + 1;
            }
            var flags = "";
            while (i < format.Length && "-+ #0".Contains(format[i])) flags += format[i++];
            var width = ReadNumber(format, ref i, positional, ref next);
            int? precision = null;
            if (i < format.Length && format[i] == '.')
            {
                i++;
                precision = ReadNumber(format, ref i, positional, ref next) ?? 0;
            }
            while (i < format.Length && format[i] is 'h' or 'l' or 'L') i++;
            if (i >= format.Length) throw new TemplateException("incomplete format");
            var conv = format[i++];
            if (conv == '%') { sb.Append('%'); continue; }
            JinjaValue arg;
            if (keyed is not null) arg = keyed;
            else if (mapping is not null && positional.Count == 1 && next == 0) { arg = args; next++; }
            else if (next < positional.Count) arg = positional[next++];
            else throw new TemplateException("not enough arguments for format string");
            sb.Append(Pad(Convert(conv, arg, flags, precision, maxChars), width, flags, conv));
            if (sb.Length > maxChars) throw new TemplateException("string too large");
        }
        if (mapping is null && next < positional.Count)
            throw new TemplateException("not all arguments converted during string formatting");
        return sb.ToString();
    }

    private static int? ReadNumber(string f, ref int i, List<JinjaValue> positional, ref int next)
    {
        if (i < f.Length && f[i] == '*')
        {
            i++;
            if (next >= positional.Count || positional[next].Kind != JinjaKind.Int) throw new TemplateException("* wants int");
            return (int)Math.Clamp(positional[next++].AsInt, 0, 100_000);
        }
        var start = i;
        while (i < f.Length && char.IsAsciiDigit(f[i])) i++;
        if (i == start) return null;
        return int.TryParse(f.AsSpan(start, i - start), out var n) && n <= 100_000 ? n : throw new TemplateException("width too big");
    }

    private static string Convert(char conv, JinjaValue arg, string flags, int? precision, int maxChars)
    {
        switch (conv)
        {
            case 's':
            case 'r':
            case 'a':
                var s = conv == 's' ? PyFormat.Str(arg, maxChars) : PyFormat.Repr(arg, maxChars);
                return precision is { } p && p < s.Length ? s[..p] : s;
            case 'd':
            case 'i':
            case 'u':
                var n = ToNumber(arg, conv);
                var l = n.Kind == JinjaKind.Float ? (long)Math.Truncate(n.AsFloat) : n.AsInt;
                return Sign(l < 0, flags) + Math.Abs((decimal)l).ToString(CultureInfo.InvariantCulture);
            case 'x':
            case 'X':
            case 'o':
                var v = ToNumber(arg, conv);
                if (v.Kind == JinjaKind.Float) throw new TemplateException($"%{conv} format: an integer is required, not float");
                var abs = (ulong)Math.Abs((decimal)v.AsInt);
                var digits = conv == 'o' ? System.Convert.ToString((long)abs, 8) : abs.ToString(conv == 'x' ? "x" : "X", CultureInfo.InvariantCulture);
                var prefix = flags.Contains('#') ? (conv == 'o' ? "0o" : conv == 'x' ? "0x" : "0X") : "";
                return Sign(v.AsInt < 0, flags) + prefix + digits;
            case 'f':
            case 'F':
            case 'e':
            case 'E':
            case 'g':
            case 'G':
                var d = ToNumber(arg, conv).AsFloat;
                var prec = precision ?? 6;
                string body;
                if (double.IsNaN(d) || double.IsInfinity(d)) body = double.IsNaN(d) ? "nan" : "inf";
                else if (conv is 'f' or 'F') body = Math.Abs(d).ToString("F" + prec, CultureInfo.InvariantCulture);
                else if (conv is 'e' or 'E') body = ExpForm(Math.Abs(d), prec);
                else body = GeneralForm(Math.Abs(d), prec == 0 ? 1 : prec, flags.Contains('#'));
                if (char.IsUpper(conv)) body = body.ToUpperInvariant();
                return Sign(double.IsNegative(d) && !double.IsNaN(d), flags) + body;
            case 'c':
                if (arg.IsString && PyOps.Length(arg) == 1) return arg.AsString;
                // Python's chr() accepts lone surrogates, which ConvertFromUtf32 rejects.
                if (arg.Kind == JinjaKind.Int && arg.AsInt is >= 0 and <= 0xFFFF) return ((char)arg.AsInt).ToString();
                if (arg.Kind == JinjaKind.Int && arg.AsInt is > 0xFFFF and <= 0x10FFFF) return char.ConvertFromUtf32((int)arg.AsInt);
                throw new TemplateException("%c requires int or char");
            default:
                throw new TemplateException($"unsupported format character '{conv}'");
        }
    }

    private static string ExpForm(double d, int prec)
    {
        var s = d.ToString((prec == 0 ? "0" : "0." + new string('0', prec)) + "e+00", CultureInfo.InvariantCulture);
        return s;
    }

    private static string GeneralForm(double d, int prec, bool alt)
    {
        if (d == 0) return alt ? "0." + new string('0', prec - 1) : "0";
        var exp = (int)Math.Floor(Math.Log10(double.Parse(d.ToString("E" + (prec - 1), CultureInfo.InvariantCulture), CultureInfo.InvariantCulture)));
        string s;
        if (exp < -4 || exp >= prec)
        {
            s = ExpForm(d, prec - 1);
            if (!alt)
            {
                var e = s.IndexOf('e');
                var mant = s[..e];
                if (mant.Contains('.')) mant = mant.TrimEnd('0').TrimEnd('.');
                s = mant + s[e..];
            }
        }
        else
        {
            s = d.ToString("F" + Math.Max(0, prec - 1 - exp), CultureInfo.InvariantCulture);
            if (!alt && s.Contains('.')) s = s.TrimEnd('0').TrimEnd('.');
        }
        return s;
    }

    private static string Sign(bool negative, string flags) => negative ? "-" : flags.Contains('+') ? "+" : flags.Contains(' ') ? " " : "";

    private static JinjaValue ToNumber(JinjaValue arg, char conv)
    {
        if (arg.IsNumber) return arg;
        throw new TemplateException($"%{conv} format: a real number is required, not {PyOps.TypeName(arg)}");
    }

    private static string Pad(string s, int? width, string flags, char conv)
    {
        if (width is not { } w || s.Length >= w) return s;
        if (flags.Contains('-')) return s.PadRight(w);
        if (flags.Contains('0') && conv is not ('s' or 'r' or 'a' or 'c'))
        {
            var signLen = s.Length > 0 && s[0] is '-' or '+' or ' ' ? 1 : 0;
            return s[..signLen] + new string('0', w - s.Length) + s[signLen..];
        }
        return s.PadLeft(w);
    }
}
