using System.Globalization;
using System.Text;
using static TokenFactory.Chat.JinjaArgs;

namespace TokenFactory.Chat;

internal sealed partial class JinjaInterpreter
{
    private delegate JinjaValue FilterFn(JinjaInterpreter self, JinjaValue value, List<JinjaValue> args, Dictionary<string, JinjaValue> kwargs);

    private static readonly Dictionary<string, FilterFn> Filters = new(StringComparer.Ordinal)
    {
        ["abs"] = (_, v, _, _) => v.Kind == JinjaKind.Float ? JinjaValue.FromFloat(Math.Abs(v.AsFloat))
            : v.IsNumber && v.AsInt != long.MinValue ? JinjaValue.FromInt(Math.Abs(v.AsInt))
            : throw new TemplateException($"bad operand type for abs(): '{PyOps.TypeName(v)}'"),
        // attr() is getattr only: unlike `.name` it never falls back to a dict item.
        ["attr"] = (s, v, a, k) => String(Get(a, k, 0, "name"), "name") is var name && v.Kind is JinjaKind.Dict or JinjaKind.String or JinjaKind.List or JinjaKind.Tuple
            ? s.BindMethod(v, name) ?? JinjaValue.UndefinedAttribute(v, name)
            : s.GetAttr(v, name),
        ["batch"] = (s, v, a, k) => Batch(v, Int(Get(a, k, 0, "linecount"), "linecount"), Get(a, k, 1, "fill_with", JinjaValue.None), s._options.MaxOutputChars),
        ["capitalize"] = (s, v, _, _) => PyStr.Capitalize(s.ToStr(v)),
        ["center"] = (s, v, a, k) => s.Justify(s.ToStr(v), "center", Int(Get(a, k, 0, "width", 80L), "width"), " "),
        ["count"] = (_, v, _, _) => PyOps.Length(v),
        ["default"] = Default,
        ["d"] = Default,
        ["dictsort"] = (_, v, a, k) => DictSort(v, Get(a, k, 0, "case_sensitive", false).IsTruthy, String(Get(a, k, 1, "by", "key"), "by"), Get(a, k, 2, "reverse", false).IsTruthy),
        ["escape"] = (s, v, _, _) => v.IsMarkup ? v : JinjaValue.FromMarkup(PyOps.HtmlEscape(s.ToStr(v))),
        ["e"] = (s, v, _, _) => v.IsMarkup ? v : JinjaValue.FromMarkup(PyOps.HtmlEscape(s.ToStr(v))),
        ["forceescape"] = (s, v, _, _) => JinjaValue.FromMarkup(PyOps.HtmlEscape(s.ToStr(v))),
        ["first"] = (_, v, _, _) => PyOps.Iterate(v) is { Count: > 0 } items ? items[0] : JinjaValue.UndefinedWithMessage("No first item, sequence was empty."),
        ["last"] = (_, v, _, _) => PyOps.Iterate(v) is { Count: > 0 } items ? items[^1] : JinjaValue.UndefinedWithMessage("No last item, sequence was empty."),
        ["float"] = (_, v, a, k) => ToFloat(v, Get(a, k, 0, "default", 0.0)),
        ["format"] = (s, v, a, k) => s.Check(PyPercentFormat.Format(s.ToStr(v), k.Count > 0 ? JinjaValue.FromDict(ToDict(k)) : JinjaValue.FromTuple(a), s._options.MaxOutputChars)),
        ["indent"] = (s, v, a, k) => Indent(s.ToStr(v), v.IsMarkup, s._options.MaxOutputChars, Get(a, k, 0, "width", 4L), Get(a, k, 1, "first", false).IsTruthy, Get(a, k, 2, "blank", false).IsTruthy),
        ["int"] = (_, v, a, k) => ToInt(v, Get(a, k, 0, "default", 0L), Int(Get(a, k, 1, "base", 10L), "base")),
        ["items"] = (_, v, _, _) => v.IsUndefined ? JinjaValue.FromList([])
            : v.Kind == JinjaKind.Dict ? JinjaValue.FromList(v.AsDict.Select(e => JinjaValue.FromTuple([e.Key, e.Value])))
            : throw new TemplateException("Can only get item pairs from a mapping."),
        ["join"] = (s, v, a, k) =>
        {
            var items = PyOps.Iterate(v);
            var attribute = Get(a, k, 1, "attribute", JinjaValue.None);
            if (!attribute.IsNone) items = items.Select(i => s.GetPath(i, attribute)).ToList();
            return s.Check(Join(items, s.ToStr(Get(a, k, 0, "d", "")), s._options.MaxOutputChars).ToString());
        },
        ["length"] = (_, v, _, _) => PyOps.Length(v),
        ["list"] = (_, v, _, _) => JinjaValue.FromList(PyOps.Iterate(v)),
        ["lower"] = (s, v, _, _) => s.ToStr(v).ToLowerInvariant(),
        ["map"] = (s, v, a, k) => s.Map(v, a, k),
        ["max"] = (s, v, a, k) => s.MinMax(v, a, k, max: true),
        ["min"] = (s, v, a, k) => s.MinMax(v, a, k, max: false),
        ["reject"] = (s, v, a, k) => s.Select(v, a, k, attr: false, keep: false),
        ["rejectattr"] = (s, v, a, k) => s.Select(v, a, k, attr: true, keep: false),
        ["replace"] = (s, v, a, k) => s.Check(PyStr.Replace(s.ToStr(v), s.ToStr(Get(a, k, 0, "old")), s.ToStr(Get(a, k, 1, "new")), Get(a, k, 2, "count", JinjaValue.None) is { IsNone: false } c ? Int(c, "count") : -1, s._options.MaxOutputChars)),
        ["reverse"] = (_, v, _, _) => v.IsString ? string.Concat(PyOps.CodePoints(v.AsString).AsEnumerable().Reverse()) : JinjaValue.FromList(PyOps.Iterate(v).AsEnumerable().Reverse()),
        ["round"] = (_, v, a, k) => Round(v, Int(Get(a, k, 0, "precision", 0L), "precision"), String(Get(a, k, 1, "method", "common"), "method")),
        ["safe"] = (s, v, _, _) => v.IsMarkup ? v : JinjaValue.FromMarkup(s.ToStr(v)),
        ["select"] = (s, v, a, k) => s.Select(v, a, k, attr: false, keep: true),
        ["selectattr"] = (s, v, a, k) => s.Select(v, a, k, attr: true, keep: true),
        ["sort"] = (s, v, a, k) => JinjaValue.FromList(s.Sorted(PyOps.Iterate(v), Get(a, k, 1, "case_sensitive", false).IsTruthy, Get(a, k, 2, "attribute", JinjaValue.None), Get(a, k, 0, "reverse", false).IsTruthy)),
        ["string"] = (s, v, _, _) => v.IsString ? v : JinjaValue.FromString(s.ToStr(v)),
        ["sum"] = (s, v, a, k) =>
        {
            var attribute = Get(a, k, 0, "attribute", JinjaValue.None);
            var total = Get(a, k, 1, "start", 0L);
            foreach (var item in PyOps.Iterate(v)) total = PyOps.Add(total, attribute.IsNone ? item : s.GetPath(item, attribute), s._options.MaxOutputChars);
            return total;
        },
        ["title"] = (s, v, _, _) => JinjaTitle(s.ToStr(v)),
        ["tojson"] = (s, v, a, k) => ToJson(v, a, k, s._options.MaxOutputChars),
        ["trim"] = (s, v, a, k) => PyStr.Strip(s.ToStr(v), OptString(Get(a, k, 0, "chars", JinjaValue.None), "chars")),
        ["truncate"] = (s, v, a, k) => Truncate(s.ToStr(v), Int(Get(a, k, 0, "length", 255L), "length"), Get(a, k, 1, "killwords", false).IsTruthy, s.ToStr(Get(a, k, 2, "end", "...")), Get(a, k, 3, "leeway", 5L)),
        ["unique"] = (s, v, a, k) => s.Unique(v, Get(a, k, 0, "case_sensitive", false).IsTruthy, Get(a, k, 1, "attribute", JinjaValue.None)),
        ["upper"] = (s, v, _, _) => s.ToStr(v).ToUpperInvariant(),
        ["wordcount"] = (s, v, _, _) => (long)System.Text.RegularExpressions.Regex.Count(s.ToStr(v), @"\w+"),
    };

    private JinjaValue ApplyFilter(FilterExpr f, JinjaValue input)
    {
        if (!Filters.TryGetValue(f.Name, out var filter))
            throw new TemplateException($"No filter named '{f.Name}' found.");
        var (args, kwargs) = EvalArgs(f.Args);
        return filter(this, input, args, kwargs);
    }

    internal static bool HasFilter(string name) => Filters.ContainsKey(name);

    private static JinjaDict ToDict(IReadOnlyDictionary<string, JinjaValue> kwargs)
    {
        var d = new JinjaDict();
        foreach (var (k, v) in kwargs) d[k] = v;
        return d;
    }

    private static JinjaValue Default(JinjaInterpreter _, JinjaValue v, List<JinjaValue> a, Dictionary<string, JinjaValue> k)
    {
        var fallback = Get(a, k, 0, "default_value", "");
        var boolean = Get(a, k, 1, "boolean", false).IsTruthy;
        return v.IsUndefined || (boolean && !v.IsTruthy) ? fallback : v;
    }

    /// <summary>Follows a dotted attribute path ("a.b" or "0") like Jinja's <c>make_attrgetter</c>.</summary>
    private JinjaValue GetPath(JinjaValue item, JinjaValue attribute)
    {
        if (attribute.Kind == JinjaKind.Int) return GetItem(item, attribute);
        foreach (var part in ToStr(attribute).Split('.'))
            item = long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var idx) ? GetItem(item, idx) : GetItem(item, part);
        return item;
    }

    private static JinjaValue Batch(JinjaValue v, long size, JinjaValue fill, int maxItems)
    {
        if (size <= 0) throw new TemplateException("batch size must be positive");
        var result = new List<JinjaValue>();
        var items = PyOps.Iterate(v);
        // Padding the last batch to the requested size is the only way batch can outgrow its input.
        if (!fill.IsNone && items.Count % size != 0 && size > maxItems)
            throw new TemplateException("batch size too large to pad the last batch");
        for (var i = 0; i < items.Count; i += (int)Math.Min(size, int.MaxValue))
        {
            var chunk = items.GetRange(i, (int)Math.Min(size, items.Count - i));
            if (chunk.Count < size && !fill.IsNone)
                while (chunk.Count < size) chunk.Add(fill);
            result.Add(JinjaValue.FromList(chunk));
        }
        return JinjaValue.FromList(result);
    }

    private static JinjaValue DictSort(JinjaValue v, bool caseSensitive, string by, bool reverse)
    {
        if (v.Kind != JinjaKind.Dict) throw new TemplateException("dictsort expects a mapping");
        var pos = by switch { "key" => 0, "value" => 1, _ => throw new TemplateException("You can only sort by either \"key\" or \"value\"") };
        var pairs = v.AsDict.Select(e => new[] { e.Key, e.Value }).ToList();
        var sorted = PyOps.Sorted(pairs, p => SortKey(p[pos], caseSensitive));
        if (reverse) sorted.Reverse();
        return JinjaValue.FromList(sorted.Select(p => JinjaValue.FromTuple(p)));
    }

    private static JinjaValue SortKey(JinjaValue v, bool caseSensitive) =>
        !caseSensitive && v.IsString ? v.AsString.ToLowerInvariant() : v;

    private List<JinjaValue> Sorted(List<JinjaValue> items, bool caseSensitive, JinjaValue attribute, bool reverse)
    {
        JinjaValue Key(JinjaValue item) => SortKey(attribute.IsNone ? item : GetPath(item, attribute), caseSensitive);
        var keyed = items.Select(i => (Key: Key(i), Item: i)).ToList();
        // Python's sort is stable, and reverse=True keeps equal elements in their original order too.
        return PyOps.Sorted(keyed, x => x.Key, reverse).Select(x => x.Item).ToList();
    }

    private JinjaValue Unique(JinjaValue v, bool caseSensitive, JinjaValue attribute)
    {
        var seen = new HashSet<JinjaValue>();
        var result = new List<JinjaValue>();
        foreach (var item in PyOps.Iterate(v))
        {
            var key = RequireHashable(SortKey(attribute.IsNone ? item : GetPath(item, attribute), caseSensitive));
            if (seen.Add(key)) result.Add(item);
        }
        return JinjaValue.FromList(result);
    }

    private JinjaValue MinMax(JinjaValue v, List<JinjaValue> a, Dictionary<string, JinjaValue> k, bool max)
    {
        var items = PyOps.Iterate(v);
        if (items.Count == 0) return JinjaValue.UndefinedWithMessage($"No aggregated item, sequence was empty.");
        var sorted = Sorted(items, Get(a, k, 0, "case_sensitive", false).IsTruthy, Get(a, k, 1, "attribute", JinjaValue.None), false);
        if (!max) return sorted[0];
        // max() returns the first of equal maxima, as Python's max does.
        var attribute = Get(a, k, 1, "attribute", JinjaValue.None);
        var cs = Get(a, k, 0, "case_sensitive", false).IsTruthy;
        var best = items[0];
        foreach (var item in items.Skip(1))
            if (PyOps.Compare(SortKey(attribute.IsNone ? item : GetPath(item, attribute), cs), SortKey(attribute.IsNone ? best : GetPath(best, attribute), cs)) > 0) best = item;
        return best;
    }

    private JinjaValue Map(JinjaValue v, List<JinjaValue> a, Dictionary<string, JinjaValue> k)
    {
        var items = PyOps.Iterate(v);
        if (k.TryGetValue("attribute", out var attribute))
        {
            var fallback = k.GetValueOrDefault("default");
            return JinjaValue.FromList(items.Select(i =>
            {
                var r = GetPath(i, attribute);
                return r.IsUndefined && fallback is not null ? fallback : r;
            }).ToList());
        }
        if (a.Count == 0) return JinjaValue.FromList(items);
        var name = String(a[0], "filter name");
        if (!Filters.TryGetValue(name, out var filter)) throw new TemplateException($"No filter named '{name}'.");
        var rest = a.Skip(1).ToList();
        return JinjaValue.FromList(items.Select(i => filter(this, i, rest, k)).ToList());
    }

    private JinjaValue Select(JinjaValue v, List<JinjaValue> a, Dictionary<string, JinjaValue> k, bool attr, bool keep)
    {
        // Jinja2 filters nothing out of a falsy input (none included) rather than iterating it: Functionary's template runs
        // `tools | selectattr(...)` with tools set to none.
        var items = v.IsTruthy ? PyOps.Iterate(v) : [];
        var offset = 0;
        JinjaValue? attribute = null;
        if (attr)
        {
            if (a.Count == 0) throw new TemplateException("Missing parameter for attribute name");
            attribute = a[0];
            offset = 1;
        }
        Func<JinjaValue, bool> predicate = x => x.IsTruthy;
        if (a.Count > offset)
        {
            var testName = String(a[offset], "test name");
            if (!Tests.TryGetValue(testName, out var test)) throw new TemplateException($"No test named '{testName}'.");
            var testArgs = a.Skip(offset + 1).ToList();
            predicate = x => test(this, x, testArgs);
        }
        return JinjaValue.FromList(items.Where(i => predicate(attribute is null ? i : GetPath(i, attribute)) == keep).ToList());
    }

    private static JinjaValue ToFloat(JinjaValue v, JinjaValue fallback)
    {
        if (v.IsNumber) return v.AsFloat;
        if (v.IsString && double.TryParse(PyStr.Strip(v.AsString, null).Replace("_", ""), NumberStyles.Float, CultureInfo.InvariantCulture, out var d)) return d;
        if (v.IsString && PyStr.Strip(v.AsString, null).ToLowerInvariant() is var t && t is "inf" or "+inf" or "infinity" or "-inf" or "-infinity" or "nan")
            return t.StartsWith('-') ? double.NegativeInfinity : t == "nan" ? double.NaN : double.PositiveInfinity;
        return fallback;
    }

    private static JinjaValue ToInt(JinjaValue v, JinjaValue fallback, long numberBase)
    {
        if (v.Kind is JinjaKind.Int or JinjaKind.Bool) return v.AsInt;
        if (v.Kind == JinjaKind.Float)
            return double.IsFinite(v.AsFloat) && Math.Abs(v.AsFloat) < 9.2e18 ? (long)Math.Truncate(v.AsFloat) : fallback;
        if (!v.IsString) return fallback;
        var s = PyStr.Strip(v.AsString, null).Replace("_", "");
        try
        {
            if (numberBase == 10 && long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l)) return l;
            if (numberBase is 2 or 8 or 16)
            {
                var neg = s.StartsWith('-');
                var body = s.TrimStart('+', '-');
                if (body.Length > 2 && body[0] == '0' && char.ToLowerInvariant(body[1]) is 'x' or 'o' or 'b') body = body[2..];
                var parsed = Convert.ToInt64(body, (int)numberBase);
                return neg ? -parsed : parsed;
            }
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException) { }
        // Jinja falls back to int(float(value)).
        return ToFloat(v, JinjaValue.None) is { Kind: JinjaKind.Float } f && double.IsFinite(f.AsFloat) && Math.Abs(f.AsFloat) < 9.2e18
            ? (long)Math.Truncate(f.AsFloat) : fallback;
    }

    private static JinjaValue Round(JinjaValue v, long precision, string method)
    {
        if (!v.IsNumber) throw new TemplateException($"type {PyOps.TypeName(v)} doesn't define __round__ method");
        precision = Math.Clamp(precision, -300, 300);
        if (method == "common")
        {
            if (v.Kind != JinjaKind.Float) return v.Kind == JinjaKind.Bool ? v.AsInt : v;
            var x = v.AsFloat;
            if (!double.IsFinite(x)) return x;
            return precision is >= 0 and <= 15 ? Math.Round(x, (int)precision, MidpointRounding.ToEven)
                : Math.Round(x / Math.Pow(10, -precision), MidpointRounding.ToEven) * Math.Pow(10, -precision);
        }
        if (method is not ("ceil" or "floor")) throw new TemplateException("method must be 'common', 'ceil' or 'floor'");
        var scale = Math.Pow(10, precision);
        var scaled = v.AsFloat * scale;
        return (method == "ceil" ? Math.Ceiling(scaled) : Math.Floor(scaled)) / scale;
    }

    private static JinjaValue Indent(string text, bool markup, int maxChars, JinjaValue width, bool first, bool blank)
    {
        var indentation = width.IsString ? width.AsString : new string(' ', (int)Math.Clamp(Int(width, "width"), 0, 10_000));
        var s = text + "\n";
        string rv;
        var lines = PyStr.SplitLines(s);
        // Each line gains at most one indentation: check before building (a 16M-line string indented by 10,000 is 160G).
        if (s.Length + (lines.Count + 1L) * indentation.Length > maxChars) throw new TemplateException("string too large");
        if (blank) rv = string.Join("\n" + indentation, lines);
        else
        {
            var sb = new StringBuilder(lines.Count > 0 ? lines[0] : "");
            if (lines.Count > 1)
                sb.Append('\n').Append(string.Join("\n", lines.Skip(1).Select(l => l.Length > 0 ? indentation + l : l)));
            rv = sb.ToString();
        }
        if (first) rv = indentation + rv;
        return markup ? JinjaValue.FromMarkup(rv) : rv;
    }

    /// <summary>Jinja's <c>title</c> filter: capitalise after whitespace, '-', and opening brackets (not after every non-letter).</summary>
    private static string JinjaTitle(string s)
    {
        var parts = System.Text.RegularExpressions.Regex.Split(s, @"([-\s({\[<]+)");
        var sb = new StringBuilder();
        foreach (var p in parts)
            if (p.Length > 0) sb.Append(char.ToUpperInvariant(p[0])).Append(p[1..].ToLowerInvariant());
        return sb.ToString();
    }

    private static JinjaValue Truncate(string s, long length, bool killwords, string end, JinjaValue leewayValue)
    {
        var leeway = leewayValue.IsNone ? 5 : Int(leewayValue, "leeway");
        if (length < end.Length) throw new TemplateException($"expected length >= {end.Length}, got {length}");
        if (leeway < 0) throw new TemplateException($"expected leeway >= 0, got {leeway}");
        // length + leeway can overflow; s.Length - length cannot (length is at least end.Length, so not negative).
        if (s.Length - length <= leeway) return s;
        var cut = (int)(length - end.Length);
        if (killwords) return s[..cut] + end;
        var head = s[..cut];
        var space = head.LastIndexOf(' ');
        return (space >= 0 ? head[..space] : head) + end;
    }

    /// <summary>Hugging Face's <c>tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)</c>.</summary>
    private static JinjaValue ToJson(JinjaValue v, List<JinjaValue> a, Dictionary<string, JinjaValue> k, int maxChars)
    {
        var ensureAscii = Get(a, k, 0, "ensure_ascii", false).IsTruthy;
        var indentValue = Get(a, k, 1, "indent", JinjaValue.None);
        var separators = Get(a, k, 2, "separators", JinjaValue.None);
        var sortKeys = Get(a, k, 3, "sort_keys", false).IsTruthy;
        string? indent = indentValue.Kind switch
        {
            JinjaKind.None => null,
            JinjaKind.String => indentValue.AsString,
            JinjaKind.Int or JinjaKind.Bool => new string(' ', (int)Math.Clamp(indentValue.AsInt, 0, 1000)),
            _ => throw new TemplateException("indent must be an int or str"),
        };
        string itemSep = indent is null ? ", " : ",", keySep = ": ";
        if (!separators.IsNone)
        {
            if (!separators.IsSequence || separators.AsList.Count != 2) throw new TemplateException("separators must be a (item_separator, key_separator) pair");
            itemSep = String(separators.AsList[0], "item_separator");
            keySep = String(separators.AsList[1], "key_separator");
        }
        return PyJson.Dumps(v, indent, sortKeys, ensureAscii, itemSep, keySep, maxChars);
    }
}
