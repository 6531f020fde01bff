using System.Globalization;
using System.Text;

namespace TokenFactory.Chat;

/// <summary>
/// Splits a template into data and tag tokens with Jinja2's whitespace rules: <c>-</c>/<c>+</c> modifiers,
/// trim_blocks (drop one newline after a block or comment tag) and lstrip_blocks (drop spaces and tabs between the
/// start of a line and a block or comment tag; never for <c>{{ }}</c>).
/// </summary>
internal sealed class JinjaLexer
{
    private static readonly string[] Operators =
        ["**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "[", "]", "(", ")", "{", "}", "<", ">", "=", ".", ":", "|", ",", ";"];

    private readonly string _src;
    private readonly JinjaOptions _options;
    private readonly List<JinjaToken> _tokens = [];
    private readonly List<int> _lineStarts = [0];
    private int _pos;
    private bool _lineStarting = true;

    private JinjaLexer(string source, JinjaOptions options)
    {
        // Jinja normalises newlines and drops a single trailing newline (keep_trailing_newline=False).
        source = source.Replace("\r\n", "\n").Replace('\r', '\n');
        if (source.EndsWith('\n')) source = source[..^1];
        _src = source;
        _options = options;
        for (var i = 0; i < source.Length; i++)
            if (source[i] == '\n') _lineStarts.Add(i + 1);
    }

    public static List<JinjaToken> Tokenize(string source, JinjaOptions options)
    {
        var lexer = new JinjaLexer(source, options);
        lexer.Run();
        return lexer._tokens;
    }

    private void Run()
    {
        while (_pos < _src.Length)
        {
            var start = FindTagStart(_pos);
            if (start < 0)
            {
                Emit(TokenKind.Data, _src[_pos..], _pos);
                break;
            }
            var kind = _src[start + 1];
            var sign = start + 2 < _src.Length && _src[start + 2] is '-' or '+' ? _src[start + 2] : '\0';
            var text = _src[_pos..start];
            if (sign == '-')
                text = text.TrimEnd();
            else if (sign != '+' && _options.LStripBlocks && kind != '{')
            {
                var lineStart = text.LastIndexOf('\n') + 1;
                if ((lineStart > 0 || _lineStarting) && text.AsSpan(lineStart).TrimStart(" \t").IsEmpty)
                    text = text[..lineStart];
            }
            if (text.Length > 0) Emit(TokenKind.Data, text, _pos);
            var bodyStart = start + 2 + (sign != '\0' ? 1 : 0);
            switch (kind)
            {
                case '#': LexComment(bodyStart, start); break;
                case '{': LexTag(bodyStart, start, isBlock: false); break;
                default:
                    if (!TryLexRaw(bodyStart)) LexTag(bodyStart, start, isBlock: true);
                    break;
            }
        }
        Emit(TokenKind.Eof, "", _src.Length);
    }

    private int FindTagStart(int from)
    {
        for (var i = _src.IndexOf('{', from); i >= 0 && i + 1 < _src.Length; i = _src.IndexOf('{', i + 1))
            if (_src[i + 1] is '{' or '%' or '#') return i;
        return -1;
    }

    private void LexComment(int bodyStart, int tagStart)
    {
        var end = _src.IndexOf("#}", bodyStart, StringComparison.Ordinal);
        if (end < 0) throw Error("Missing end of comment tag", tagStart);
        var modifier = end > bodyStart ? _src[end - 1] : '\0';
        _pos = end + 2;
        AfterTagEnd(modifier, trimNewline: true);
    }

    /// <summary>Consumes whitespace after a closing tag per its modifier and records whether a line now starts.</summary>
    private void AfterTagEnd(char modifier, bool trimNewline)
    {
        if (modifier == '-')
            while (_pos < _src.Length && char.IsWhiteSpace(_src[_pos])) _pos++;
        else if (modifier != '+' && trimNewline && _options.TrimBlocks && _pos < _src.Length && _src[_pos] == '\n')
            _pos++;
        _lineStarting = _pos > 0 && _src[_pos - 1] == '\n';
    }

    private bool TryLexRaw(int bodyStart)
    {
        var i = SkipSpaces(bodyStart);
        if (string.CompareOrdinal(_src, i, "raw", 0, 3) != 0) return false;
        i = SkipSpaces(i + 3);
        var stripAfter = false;
        if (i < _src.Length && _src[i] == '-') { stripAfter = true; i++; }
        if (string.CompareOrdinal(_src, i, "%}", 0, 2) != 0) return false;
        _pos = i + 2;
        if (stripAfter) AfterTagEnd('-', false);
        var bodyPos = _pos;
        for (var search = _pos; ;)
        {
            var open = _src.IndexOf("{%", search, StringComparison.Ordinal);
            if (open < 0) throw Error("Missing end of raw directive", bodyPos);
            var sign = open + 2 < _src.Length && _src[open + 2] is '-' or '+' ? _src[open + 2] : '\0';
            var j = SkipSpaces(open + 2 + (sign != '\0' ? 1 : 0));
            if (string.CompareOrdinal(_src, j, "endraw", 0, 6) != 0) { search = open + 2; continue; }
            j = SkipSpaces(j + 6);
            var modifier = '\0';
            if (j < _src.Length && _src[j] is '-' or '+') modifier = _src[j++];
            if (string.CompareOrdinal(_src, j, "%}", 0, 2) != 0) { search = open + 2; continue; }
            var text = _src[bodyPos..open];
            if (sign == '-') text = text.TrimEnd();
            else if (sign != '+' && _options.LStripBlocks)
            {
                var lineStart = text.LastIndexOf('\n') + 1;
                if (lineStart > 0 && text.AsSpan(lineStart).TrimStart(" \t").IsEmpty) text = text[..lineStart];
            }
            if (text.Length > 0) Emit(TokenKind.Data, text, bodyPos);
            _pos = j + 2;
            AfterTagEnd(modifier, trimNewline: true);
            return true;
        }
    }

    private int SkipSpaces(int i)
    {
        while (i < _src.Length && char.IsWhiteSpace(_src[i])) i++;
        return i;
    }

    private void LexTag(int bodyStart, int tagStart, bool isBlock)
    {
        Emit(isBlock ? TokenKind.BlockBegin : TokenKind.VariableBegin, isBlock ? "{%" : "{{", tagStart);
        var close = isBlock ? "%}" : "}}";
        var depth = 0;
        var i = bodyStart;
        while (true)
        {
            i = SkipSpaces(i);
            if (i >= _src.Length) throw Error($"unexpected end of template, expected '{close}'", tagStart);
            if (depth == 0)
            {
                char modifier = '\0';
                var at = i;
                if (_src[at] == '-' || (isBlock && _src[at] == '+')) { modifier = _src[at]; at++; }
                if (string.CompareOrdinal(_src, at, close, 0, 2) == 0)
                {
                    Emit(isBlock ? TokenKind.BlockEnd : TokenKind.VariableEnd, close, i);
                    _pos = at + 2;
                    AfterTagEnd(modifier, trimNewline: isBlock);
                    return;
                }
            }
            var c = _src[i];
            if (char.IsLetter(c) || c == '_')
            {
                var s = i;
                while (i < _src.Length && (char.IsLetterOrDigit(_src[i]) || _src[i] == '_')) i++;
                Emit(TokenKind.Name, _src[s..i], s);
            }
            else if (char.IsAsciiDigit(c))
                i = LexNumber(i);
            else if (c is '\'' or '"')
                i = LexString(i);
            else
            {
                var op = Operators.FirstOrDefault(o => string.CompareOrdinal(_src, i, o, 0, o.Length) == 0)
                    ?? throw Error($"unexpected char '{c}'", i);
                if (op is "(" or "[" or "{") depth++;
                else if (op is ")" or "]" or "}")
                {
                    if (depth == 0) throw Error($"unexpected '{op}'", i);
                    depth--;
                }
                Emit(TokenKind.Operator, op, i);
                i += op.Length;
            }
        }
    }

    private int LexNumber(int i)
    {
        var s = i;
        while (i < _src.Length && (char.IsAsciiDigit(_src[i]) || (_src[i] == '_' && i + 1 < _src.Length && char.IsAsciiDigit(_src[i + 1])))) i++;
        var isFloat = false;
        if (i + 1 < _src.Length && _src[i] == '.' && char.IsAsciiDigit(_src[i + 1]))
        {
            isFloat = true;
            i++;
            while (i < _src.Length && (char.IsAsciiDigit(_src[i]) || _src[i] == '_')) i++;
        }
        if (i < _src.Length && _src[i] is 'e' or 'E')
        {
            var j = i + 1;
            if (j < _src.Length && _src[j] is '+' or '-') j++;
            if (j < _src.Length && char.IsAsciiDigit(_src[j]))
            {
                isFloat = true;
                i = j;
                while (i < _src.Length && char.IsAsciiDigit(_src[i])) i++;
            }
        }
        var text = _src[s..i].Replace("_", "");
        Emit(isFloat ? TokenKind.Float : TokenKind.Integer, text, s);
        return i;
    }

    private int LexString(int i)
    {
        var quote = _src[i];
        var s = i++;
        var sb = new StringBuilder();
        while (true)
        {
            if (i >= _src.Length) throw Error("unexpected end of string", s);
            var c = _src[i++];
            if (c == quote) break;
            if (c != '\\') { sb.Append(c); continue; }
            if (i >= _src.Length) throw Error("unexpected end of string", s);
            var e = _src[i++];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'v': sb.Append('\v'); break;
                case '\n': break;
                case 'x': sb.Append(Hex(ref i, 2, s)); break;
                case 'u': sb.Append(Hex(ref i, 4, s)); break;
                case 'U': sb.Append(Hex(ref i, 8, s)); break;
                case >= '0' and <= '7':
                    var v = e - '0';
                    for (var k = 0; k < 2 && i < _src.Length && _src[i] is >= '0' and <= '7'; k++) v = v * 8 + (_src[i++] - '0');
                    sb.Append((char)v);
                    break;
                default: sb.Append('\\').Append(e); break;
            }
        }
        Emit(TokenKind.String, sb.ToString(), s);
        return i;
    }

    private string Hex(ref int i, int digits, int stringStart)
    {
        if (i + digits > _src.Length || !int.TryParse(_src.AsSpan(i, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var cp)
            || cp > 0x10FFFF || cp is >= 0xD800 and <= 0xDFFF && digits == 8)
            throw Error("truncated escape sequence in string", stringStart);
        i += digits;
        return cp <= 0xFFFF ? ((char)cp).ToString() : char.ConvertFromUtf32(cp);
    }

    private void Emit(TokenKind kind, string value, int offset)
    {
        var (line, col) = Position(offset);
        _tokens.Add(new JinjaToken(kind, value, line, col));
    }

    private (int Line, int Column) Position(int offset)
    {
        var idx = _lineStarts.BinarySearch(offset);
        if (idx < 0) idx = ~idx - 1;
        return (idx + 1, offset - _lineStarts[idx] + 1);
    }

    private TemplateException Error(string message, int offset)
    {
        var (line, col) = Position(offset);
        return new TemplateException(message, line, col);
    }
}
